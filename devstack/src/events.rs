//! The events API Gateway and the SQS event source mapping hand to Lambda, built in the exact
//! JSON shape AWS sends and then deserialized into the `aws_lambda_events` types, so a shape the
//! types cannot read fails here, as it would in AWS.

use chrono::{DateTime, TimeZone, Utc};
use http::HeaderMap;
use serde_json::{Map, Value, json};
use starling_shared::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use starling_shared::aws_lambda_events::sqs::SqsEvent;

use crate::ids::gateway_id;
use crate::mapping::QueueRecord;

/// An event as it is handed to a function: the JSON AWS sends (what the Lambda Invoke mode
/// posts, byte for byte) and the same read as the `aws_lambda_events` type (what the
/// in-process handlers take).
#[derive(Debug, Clone)]
pub(crate) struct Event<T> {
    pub(crate) json: Value,
    pub(crate) payload: T,
}

impl<T: serde::de::DeserializeOwned> Event<T> {
    /// Reads `json` as `T`; a shape the type cannot read fails here, as it would in AWS.
    fn read(json: Value) -> Result<Self, serde_json::Error> {
        let payload = T::deserialize(&json)?;
        Ok(Self { json, payload })
    }
}

/// The account in ARNs; the devstack has no real account.
const ACCOUNT_ID: &str = "000000000000";
/// The region in ARNs, and the SDK's when the environment names none.
pub(crate) const REGION: &str = "us-east-1";

/// What API Gateway knows about one connection and puts in every event of it.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionMeta {
    pub(crate) connection_id: String,
    /// Epoch milliseconds.
    pub(crate) connected_at_ms: i64,
    pub(crate) source_ip: String,
    pub(crate) user_agent: Option<String>,
    /// The Host the client connected to (`127.0.0.1:3001`); `https://{domainName}/{stage}` is
    /// the management endpoint, as in AWS.
    pub(crate) domain_name: String,
    pub(crate) stage: String,
    pub(crate) api_id: String,
}

#[cfg(test)]
impl ConnectionMeta {
    /// A connection as the tests of events and handshakes use it.
    pub(crate) fn sample() -> Self {
        Self {
            connection_id: "L0SM9cOFvHcCIhw=".into(),
            connected_at_ms: 1_700_000_000_000,
            source_ip: "127.0.0.1".into(),
            user_agent: Some("test".into()),
            domain_name: "127.0.0.1:3001".into(),
            stage: "local".into(),
            api_id: "abcd123456".into(),
        }
    }
}

fn request_time(t: DateTime<Utc>) -> String {
    t.format("%d/%b/%Y:%H:%M:%S %z").to_string()
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// `headers` (last value of each name) and `multiValueHeaders`, plus the X-Forwarded-* headers
/// API Gateway adds.
fn header_maps(headers: &HeaderMap, meta: &ConnectionMeta) -> (Map<String, Value>, Map<String, Value>) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in headers {
        // Non-UTF-8 header values are passed lossily rather than refused.
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        single.insert(name.as_str().to_owned(), Value::String(v.clone()));
        match multi.get_mut(name.as_str()) {
            Some(Value::Array(vs)) => vs.push(Value::String(v)),
            _ => {
                multi.insert(name.as_str().to_owned(), json!([v]));
            }
        }
    }
    for (k, v) in
        [("X-Forwarded-For", meta.source_ip.as_str()), ("X-Forwarded-Port", "443"), ("X-Forwarded-Proto", "https")]
    {
        if !single.keys().any(|n| n.eq_ignore_ascii_case(k)) {
            single.insert(k.to_owned(), json!(v));
            multi.insert(k.to_owned(), json!([v]));
        }
    }
    (single, multi)
}

/// `queryStringParameters` (last value) and `multiValueQueryStringParameters`; both `null` when
/// there is no query, as in AWS.
fn query_maps(query: &[(String, String)]) -> (Value, Value) {
    if query.is_empty() {
        return (Value::Null, Value::Null);
    }
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (k, v) in query {
        single.insert(k.clone(), json!(v));
        match multi.get_mut(k) {
            Some(Value::Array(vs)) => vs.push(json!(v)),
            _ => {
                multi.insert(k.clone(), json!([v]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

/// `requestContext.identity`; GetConnection answers the same object.
pub(crate) fn identity(meta: &ConnectionMeta) -> Value {
    let mut id = json!({ "sourceIp": meta.source_ip });
    if let (Some(ua), Some(obj)) = (&meta.user_agent, id.as_object_mut()) {
        obj.insert("userAgent".into(), json!(ua));
    }
    id
}

fn base_context(meta: &ConnectionMeta, route_key: &str, event_type: &str) -> Map<String, Value> {
    let now = now_ms();
    let request_id = gateway_id();
    let mut ctx = Map::new();
    ctx.insert("routeKey".into(), json!(route_key));
    ctx.insert("eventType".into(), json!(event_type));
    ctx.insert("extendedRequestId".into(), json!(request_id));
    ctx.insert("requestTime".into(), json!(request_time(ms_to_time(now))));
    ctx.insert("messageDirection".into(), json!("IN"));
    ctx.insert("stage".into(), json!(meta.stage));
    ctx.insert("connectedAt".into(), json!(meta.connected_at_ms));
    ctx.insert("requestTimeEpoch".into(), json!(now));
    ctx.insert("identity".into(), identity(meta));
    ctx.insert("requestId".into(), json!(request_id));
    ctx.insert("domainName".into(), json!(meta.domain_name));
    ctx.insert("connectionId".into(), json!(meta.connection_id));
    ctx.insert("apiId".into(), json!(meta.api_id));
    ctx
}

/// The `methodArn` of `$connect` on this API and stage.
fn method_arn(meta: &ConnectionMeta) -> String {
    format!("arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{}/{}/$connect", meta.api_id, meta.stage)
}

/// The REQUEST authorizer's event for `$connect`.
pub(crate) fn authorizer_request(
    meta: &ConnectionMeta,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<Event<ApiGatewayCustomAuthorizerRequestTypeRequest>, serde_json::Error> {
    let (h, mh) = header_maps(headers, meta);
    let (q, mq) = query_maps(query);
    let event = json!({
        "type": "REQUEST",
        "methodArn": method_arn(meta),
        "headers": h,
        "multiValueHeaders": mh,
        "queryStringParameters": if q.is_null() { json!({}) } else { q },
        "multiValueQueryStringParameters": if mq.is_null() { json!({}) } else { mq },
        "stageVariables": {},
        "requestContext": base_context(meta, "$connect", "CONNECT"),
    });
    Event::read(event)
}

/// The `$connect` event; `authorizer` is the context the authorizer returned, flattened with
/// `principalId` and `integrationLatency` as API Gateway does.
pub(crate) fn connect_event(
    meta: &ConnectionMeta,
    headers: &HeaderMap,
    query: &[(String, String)],
    authorizer: &Map<String, Value>,
) -> Result<Event<ApiGatewayWebsocketProxyRequest>, serde_json::Error> {
    let (h, mh) = header_maps(headers, meta);
    let (q, mq) = query_maps(query);
    let mut ctx = base_context(meta, "$connect", "CONNECT");
    ctx.insert("authorizer".into(), Value::Object(authorizer.clone()));
    let mut event = json!({
        "headers": h,
        "multiValueHeaders": mh,
        "requestContext": ctx,
        "isBase64Encoded": false,
    });
    if let Some(obj) = event.as_object_mut().filter(|_| !q.is_null()) {
        obj.insert("queryStringParameters".into(), q);
        obj.insert("multiValueQueryStringParameters".into(), mq);
    }
    Event::read(event)
}

/// A `MESSAGE` event for `route_key`; binary frames arrive base64-encoded.
pub(crate) fn message_event(
    meta: &ConnectionMeta,
    route_key: &str,
    body: String,
    is_base64: bool,
    authorizer: &Map<String, Value>,
) -> Result<Event<ApiGatewayWebsocketProxyRequest>, serde_json::Error> {
    let mut ctx = base_context(meta, route_key, "MESSAGE");
    ctx.insert("messageId".into(), json!(gateway_id()));
    ctx.insert("authorizer".into(), Value::Object(authorizer.clone()));
    Event::read(json!({ "requestContext": ctx, "body": body, "isBase64Encoded": is_base64 }))
}

/// The `$disconnect` event, with the close code and reason.
pub(crate) fn disconnect_event(
    meta: &ConnectionMeta,
    authorizer: &Map<String, Value>,
    status_code: u16,
    reason: &str,
) -> Result<Event<ApiGatewayWebsocketProxyRequest>, serde_json::Error> {
    let mut ctx = base_context(meta, "$disconnect", "DISCONNECT");
    ctx.insert("disconnectStatusCode".into(), json!(status_code));
    ctx.insert("disconnectReason".into(), json!(reason));
    ctx.insert("authorizer".into(), Value::Object(authorizer.clone()));
    let host = meta.domain_name.clone();
    Event::read(json!({
        "headers": { "Host": host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": "" },
        "multiValueHeaders": { "Host": [host], "x-api-key": [""], "X-Forwarded-For": [""], "x-restapi": [""] },
        "requestContext": ctx,
        "isBase64Encoded": false,
    }))
}

/// The SQS event of one batch, with the attributes a FIFO queue's records carry.
pub(crate) fn sqs_event(queue_name: &str, records: &[QueueRecord]) -> Result<Event<SqsEvent>, serde_json::Error> {
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_name}");
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "messageId": r.message_id,
                "receiptHandle": r.receipt_handle,
                "body": r.body,
                "attributes": {
                    "ApproximateReceiveCount": r.receive_count.to_string(),
                    "SentTimestamp": r.sent_at_ms.to_string(),
                    "SenderId": "AIDADEVSTACK",
                    "ApproximateFirstReceiveTimestamp": r.first_received_at_ms.to_string(),
                    "MessageGroupId": r.group_id,
                    "MessageDeduplicationId": r.dedup_id,
                    "SequenceNumber": r.sequence_number,
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    Event::read(json!({ "Records": records }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorizer() -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("user".into(), json!("alice"));
        m.insert("principalId".into(), json!("alice"));
        m
    }

    #[test]
    fn events_deserialize_into_the_aws_types() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:3001".parse().unwrap());
        let query = vec![("token".to_owned(), "abc".to_owned())];
        let auth = authorizer_request(&ConnectionMeta::sample(), &headers, &query).unwrap().payload;
        assert_eq!(auth.query_string_parameters.first("token"), Some("abc"));
        assert_eq!(
            auth.method_arn.as_deref(),
            Some("arn:aws:execute-api:us-east-1:000000000000:abcd123456/local/$connect")
        );

        let connect = connect_event(&ConnectionMeta::sample(), &headers, &query, &authorizer()).unwrap().payload;
        assert_eq!(connect.request_context.route_key.as_deref(), Some("$connect"));
        assert_eq!(connect.request_context.event_type.as_deref(), Some("CONNECT"));
        assert_eq!(connect.request_context.authorizer.fields.get("user"), Some(&json!("alice")));
        assert_eq!(connect.query_string_parameters.first("token"), Some("abc"));

        let msg =
            message_event(&ConnectionMeta::sample(), "$default", "{}".into(), false, &authorizer()).unwrap().payload;
        assert_eq!(msg.request_context.event_type.as_deref(), Some("MESSAGE"));
        assert_eq!(msg.request_context.connection_id.as_deref(), Some("L0SM9cOFvHcCIhw="));
        assert_eq!(msg.request_context.domain_name.as_deref(), Some("127.0.0.1:3001"));
        assert_eq!(msg.request_context.identity.source_ip.as_deref(), Some("127.0.0.1"));
        assert!(msg.request_context.message_id.is_some());
        assert_eq!(msg.request_context.connected_at, 1_700_000_000_000);

        let bye = disconnect_event(&ConnectionMeta::sample(), &authorizer(), 1001, "Going away").unwrap().payload;
        assert_eq!(bye.request_context.disconnect_status_code, Some(1001));
    }

    #[test]
    fn sqs_events_carry_the_group() {
        let r = QueueRecord {
            message_id: "m1".into(),
            receipt_handle: "h1".into(),
            body: "{}".into(),
            group_id: "lobby".into(),
            dedup_id: "d".into(),
            sequence_number: "1".into(),
            receive_count: 1,
            sent_at_ms: 1,
            first_received_at_ms: 2,
        };
        let e = sqs_event("q.fifo", &[r]).unwrap().payload;
        assert_eq!(e.records[0].attributes.get("MessageGroupId").map(String::as_str), Some("lobby"));
        assert_eq!(e.records[0].message_id.as_deref(), Some("m1"));
    }
}
