//! The Lambda handlers fed with event JSON in the shapes AWS sends, through `aws_lambda_events`.

mod common;

use common::World;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use starling_shared::auth::{JwtVerifier, OidcConfig, OidcVerifier, TokenVerifier, mint};
use starling_shared::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use starling_shared::aws_lambda_events::encodings::Body;
use starling_shared::aws_lambda_events::sqs::SqsEvent;
use starling_shared::envelope::{Envelope, Publish};
use starling_shared::handlers::{self, Unauthorized};
use starling_shared::ports::{ConnectionStore, StoreError, SubscriptionStore};
use starling_shared::protocol::ServerFrame;

const SECRET: &[u8] = b"handler-test-secret";
const CONN_ID: &str = "Qx7Y2cPQoAMCJ1A=";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn event<T: serde::de::DeserializeOwned>(json: &str) -> LambdaEvent<T> {
    LambdaEvent::new(
        serde_json::from_str(json).expect("fixture matches the aws_lambda_events type"),
        Context::default(),
    )
}

fn ws_event(name: &str) -> LambdaEvent<ApiGatewayWebsocketProxyRequest> {
    event(&fixture(name))
}

fn message_event(body: &str) -> LambdaEvent<ApiGatewayWebsocketProxyRequest> {
    let mut v: Value = serde_json::from_str(&fixture("message.json")).unwrap();
    v["body"] = Value::String(body.into());
    event(&v.to_string())
}

fn authorizer_event(
    token: Option<&str>,
    header: Option<&str>,
) -> LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest> {
    let mut v: Value = serde_json::from_str(&fixture("authorizer-connect.json")).unwrap();
    match token {
        Some(t) => {
            v["queryStringParameters"]["token"] = Value::String(t.into());
            v["multiValueQueryStringParameters"]["token"] = serde_json::json!([t]);
        }
        None => {
            v["queryStringParameters"] = serde_json::json!({});
            v["multiValueQueryStringParameters"] = serde_json::json!({});
        }
    }
    if let Some(h) = header {
        v["headers"]["Authorization"] = Value::String(h.into());
        v["multiValueHeaders"]["Authorization"] = serde_json::json!([h]);
    }
    event(&v.to_string())
}

fn body_frame(r: &ApiGatewayProxyResponse) -> ServerFrame {
    match &r.body {
        Some(Body::Text(t)) => serde_json::from_str(t).unwrap(),
        other => panic!("no text body: {other:?}"),
    }
}

fn valid_token(user: &str) -> String {
    mint(SECRET, user, u64::try_from(chrono::Utc::now().timestamp()).unwrap() + 600).unwrap()
}

#[tokio::test]
async fn authorizer_allows_a_valid_query_token_and_passes_the_user_on() {
    let verifier: TokenVerifier = JwtVerifier::new(SECRET).into();
    let token = valid_token("alice");
    let response = handlers::authorize(&verifier, authorizer_event(Some(&token), None)).await.unwrap();
    assert_eq!(response.principal_id.as_deref(), Some("alice"));
    assert_eq!(response.context["user"], "alice");
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(json["policyDocument"]["Statement"][0]["Action"], serde_json::json!(["execute-api:Invoke"]));
    assert_eq!(
        json["policyDocument"]["Statement"][0]["Resource"],
        serde_json::json!(["arn:aws:execute-api:us-east-1:123456789012:abc123defg/prod/$connect"])
    );
}

#[tokio::test]
async fn authorizer_records_the_batch_opt_in_only_for_batch_1_or_true() {
    let verifier: TokenVerifier = JwtVerifier::new(SECRET).into();
    for (value, expected) in
        [(Some("1"), true), (Some("true"), true), (Some("yes"), false), (Some("0"), false), (None, false)]
    {
        let mut e = authorizer_event(Some(&valid_token("alice")), None);
        if let Some(v) = value {
            let q = serde_json::json!({"token": e.payload.query_string_parameters.first("token"), "batch": v});
            e.payload.query_string_parameters = serde_json::from_value(q).unwrap();
        }
        let response = handlers::authorize(&verifier, e).await.unwrap();
        assert_eq!(response.context["batch"], expected, "batch={value:?}");
    }
}

#[tokio::test]
async fn a_connection_whose_context_carries_the_opt_in_subscribes_for_messages_frames() {
    // API Gateway may hand the authorizer's context over as strings.
    for (context, expected) in [(Value::Bool(true), true), (Value::from("true"), true), (Value::Null, false)] {
        let w = World::new();
        let with_context = |name: &str| {
            let mut v: Value = serde_json::from_str(&fixture(name)).unwrap();
            v["requestContext"]["authorizer"]["batch"] = context.clone();
            event::<ApiGatewayWebsocketProxyRequest>(&v.to_string())
        };
        handlers::connect(&w.connection_deps(), with_context("connect.json")).await.unwrap();
        handlers::send(&w.send_deps, with_context("message.json")).await.unwrap();
        let page = w.store.subscribers("lobby", None).await.unwrap();
        assert_eq!(page.items.iter().map(|s| s.batch).collect::<Vec<_>>(), [expected], "context {context}");
    }
}

#[tokio::test]
async fn authorizer_refuses_a_bearer_header_without_a_query_token_as_the_deployed_api_does() {
    let verifier: TokenVerifier = JwtVerifier::new(SECRET).into();
    let header = format!("Bearer {}", valid_token("bob"));
    let err = handlers::authorize(&verifier, authorizer_event(None, Some(&header))).await.unwrap_err();
    assert!(err.downcast_ref::<Unauthorized>().is_some(), "{err}");
}

#[test]
fn the_authorizer_reads_the_token_where_the_deployed_identity_source_points() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/contract.json");
    let contract: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let sources = &contract["api"]["authorizer"]["identitySource"];
    assert_eq!(sources, &serde_json::json!([format!("route.request.querystring.{}", handlers::TOKEN_PARAMETER)]));
}

#[tokio::test]
async fn authorizer_refuses_a_subject_that_cannot_be_a_key() {
    let verifier: TokenVerifier = JwtVerifier::new(SECRET).into();
    for user in ["a#b".to_owned(), "x".repeat(129)] {
        let token = valid_token(&user);
        let err = handlers::authorize(&verifier, authorizer_event(Some(&token), None)).await.unwrap_err();
        assert!(err.downcast_ref::<Unauthorized>().is_some(), "{user}: {err}");
    }
}

#[tokio::test]
async fn authorizer_refuses_missing_expired_and_forged_tokens_with_unauthorized() {
    let verifier: TokenVerifier = JwtVerifier::new(SECRET).into();
    let expired = mint(SECRET, "alice", 1_000).unwrap();
    let forged = mint(b"someone-elses-secret", "alice", u64::MAX / 2).unwrap();
    for (token, header) in [
        (None, None),
        (Some(expired.as_str()), None),
        (Some(forged.as_str()), None),
        (Some("garbage"), None),
        (None, Some("Basic YWxpY2U6cGFzcw==")),
    ] {
        let err = handlers::authorize(&verifier, authorizer_event(token, header)).await.unwrap_err();
        assert_eq!(err.to_string(), "Unauthorized", "API Gateway maps exactly this message to 401");
    }
}

/// An OIDC issuer's verifier over `keys`, and an ID token of it for `sub`.
fn oidc(source: std::sync::Arc<starling_shared::adapters::memory::MemoryKeySource>) -> TokenVerifier {
    let config = OidcConfig::new("https://issuer.example", "app", None, "sub").unwrap();
    OidcVerifier::with_source(config, source).into()
}

fn id_token(key: &starling_shared::auth::testing::TestKey, sub: &str) -> String {
    let exp = chrono::Utc::now().timestamp() + 600;
    key.sign(&serde_json::json!({ "sub": sub, "iss": "https://issuer.example", "aud": "app", "exp": exp }))
}

#[tokio::test]
async fn authorizer_with_an_oidc_issuer_allows_its_tokens_and_refuses_hs256_ones() {
    use starling_shared::auth::testing::{TestKey, jwks};
    let key = TestKey::rsa("k1");
    let verifier = oidc(std::sync::Arc::new(starling_shared::adapters::memory::MemoryKeySource::new(jwks(&[&key]))));
    let response =
        handlers::authorize(&verifier, authorizer_event(Some(&id_token(&key, "alice")), None)).await.unwrap();
    assert_eq!(response.principal_id.as_deref(), Some("alice"));
    assert_eq!(response.context["user"], "alice");
    for token in [valid_token("alice"), id_token(&TestKey::ec("k1"), "alice"), id_token(&key, "a#b")] {
        let err = handlers::authorize(&verifier, authorizer_event(Some(&token), None)).await.unwrap_err();
        assert_eq!(err.to_string(), "Unauthorized");
    }
}

#[tokio::test(start_paused = true)]
async fn authorizer_fails_rather_than_refuses_when_the_issuers_keys_cannot_be_fetched() {
    use starling_shared::auth::testing::{TestKey, jwks};
    let key = TestKey::ec("k1");
    let source = std::sync::Arc::new(starling_shared::adapters::memory::MemoryKeySource::new(jwks(&[&key])));
    source.fail(true);
    let verifier = oidc(source.clone());
    let err = handlers::authorize(&verifier, authorizer_event(Some(&id_token(&key, "alice")), None)).await.unwrap_err();
    assert!(err.downcast_ref::<Unauthorized>().is_none(), "API Gateway answers 500, so the client retries: {err}");
    assert_ne!(err.to_string(), "Unauthorized");
    source.fail(false);
    // Until the next fetch may start, the last failure stands: still 500, never 401.
    let err = handlers::authorize(&verifier, authorizer_event(Some(&id_token(&key, "alice")), None)).await.unwrap_err();
    let recent = matches!(
        err.downcast_ref::<starling_shared::auth::AuthError>(),
        Some(starling_shared::auth::AuthError::KeysUnavailable(starling_shared::auth::jwks::JwksError::Recent { .. }))
    );
    assert!(recent, "{err:?}");
    assert_eq!(source.fetches(), 1);
    tokio::time::advance(std::time::Duration::from_secs(31)).await;
    let response =
        handlers::authorize(&verifier, authorizer_event(Some(&id_token(&key, "alice")), None)).await.unwrap();
    assert_eq!(response.principal_id.as_deref(), Some("alice"), "the next handshake fetches again");
}

#[tokio::test]
async fn connect_registers_the_authorized_user() {
    let w = World::new();
    let deps = w.connection_deps();
    let response = handlers::connect(&deps, ws_event("connect.json")).await.unwrap();
    assert_eq!(response.status_code, 200);
    let conn = w.store.get(CONN_ID).await.unwrap().expect("registered");
    assert_eq!((conn.user.as_str(), conn.connected_at_ms), ("alice", 1_795_381_200_000));
    assert_eq!(w.store.connections_of("alice"), [CONN_ID]);
}

#[tokio::test]
async fn connect_without_an_authorizer_context_is_refused() {
    let w = World::new();
    let deps = w.connection_deps();
    let mut v: Value = serde_json::from_str(&fixture("connect.json")).unwrap();
    v["requestContext"].as_object_mut().unwrap().remove("authorizer");
    let response = handlers::connect(&deps, event(&v.to_string())).await.unwrap();
    assert_eq!(response.status_code, 401);
    assert!(w.store.get(CONN_ID).await.unwrap().is_none());
}

#[tokio::test]
async fn disconnect_removes_the_connection_and_its_subscriptions_and_may_repeat() {
    let w = World::new();
    let deps = w.connection_deps();
    handlers::connect(&deps, ws_event("connect.json")).await.unwrap();
    let joined = handlers::send(&w.send_deps, ws_event("message.json")).await.unwrap();
    assert!(matches!(body_frame(&joined), ServerFrame::Joined { .. }));
    assert!(w.store.is_subscribed("lobby", CONN_ID).await.unwrap());
    for _ in 0..2 {
        let response = handlers::disconnect(&deps, ws_event("disconnect.json")).await.unwrap();
        assert_eq!(response.status_code, 200);
    }
    assert!(w.store.get(CONN_ID).await.unwrap().is_none());
    assert!(!w.store.is_subscribed("lobby", CONN_ID).await.unwrap());
}

#[tokio::test]
async fn message_replies_in_the_body_and_queues_the_send_with_the_event_endpoint() {
    let w = World::new();
    let deps = w.connection_deps();
    handlers::connect(&deps, ws_event("connect.json")).await.unwrap();
    let notices = w.queue.drain();
    let [Envelope::Presence(n)] = notices.as_slice() else { panic!("expected the online notice, got {notices:?}") };
    assert_eq!((n.user.as_str(), n.status), ("alice", starling_shared::protocol::Status::Online));
    let joined = handlers::send(&w.send_deps, ws_event("message.json")).await.unwrap();
    assert_eq!(
        (joined.status_code, body_frame(&joined)),
        (200, ServerFrame::Joined { room: "lobby".into(), last_seq: 0 })
    );
    let sent = handlers::send(
        &w.send_deps,
        message_event(r#"{"action":"send","room":"lobby","body":"hi","clientMsgId":"c-1"}"#),
    )
    .await
    .unwrap();
    assert!(matches!(body_frame(&sent), ServerFrame::Accepted { .. }));
    let queued = w.queue.drain();
    let [Envelope::Publish(p)] = queued.as_slice() else { panic!("expected one publish, got {queued:?}") };
    assert_eq!(p.endpoint.as_deref(), Some("https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"));
    assert_eq!((p.from.as_str(), p.room.as_str(), p.body.as_str()), ("alice", "lobby", "hi"));
}

#[tokio::test]
async fn a_bad_frame_gets_an_error_body_and_a_200_so_the_connection_stays() {
    let w = World::new();
    for (body, code) in [("{", "bad_request"), (r#"{"action":"fly"}"#, "unknown_action"), ("", "bad_request")] {
        let response = handlers::send(&w.send_deps, message_event(body)).await.unwrap();
        assert_eq!(response.status_code, 200);
        assert_eq!(common::error_code(&body_frame(&response)), Some(code), "{body:?}");
    }
    assert!(w.queue.is_empty());
}

#[tokio::test]
async fn a_message_from_a_connection_without_a_user_is_unauthorized() {
    let w = World::new();
    let mut v: Value = serde_json::from_str(&fixture("message.json")).unwrap();
    v["requestContext"].as_object_mut().unwrap().remove("authorizer");
    let response = handlers::send(&w.send_deps, event(&v.to_string())).await.unwrap();
    assert_eq!(common::error_code(&body_frame(&response)), Some("unauthorized"));
}

#[tokio::test]
async fn a_binary_frame_is_a_bad_request() {
    let w = World::new();
    let mut v: Value = serde_json::from_str(&fixture("message.json")).unwrap();
    v["isBase64Encoded"] = Value::Bool(true);
    let response = handlers::send(&w.send_deps, event(&v.to_string())).await.unwrap();
    assert_eq!(common::error_code(&body_frame(&response)), Some("bad_request"));
}

fn publish_json(id: &str, body: &str) -> String {
    Envelope::Publish(Publish {
        connection_id: None,
        welcome: None,
        id: id.into(),
        room: "lobby".into(),
        from: "alice".into(),
        body: body.into(),
        client_msg_id: None,
        sent_at: "2026-11-22T21:00:05.120Z".into(),
        endpoint: Some(common::ENDPOINT.into()),
    })
    .to_json()
}

fn sqs_event(body1: &str, body2: &str) -> LambdaEvent<SqsEvent> {
    let mut v: Value = serde_json::from_str(&fixture("sqs-fanout.json")).unwrap();
    v["Records"][0]["body"] = Value::String(body1.into());
    v["Records"][1]["body"] = Value::String(body2.into());
    event(&v.to_string())
}

#[tokio::test]
async fn fanout_delivers_an_sqs_batch_and_reports_no_failures() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    let response =
        handlers::fanout(&w.fanout, sqs_event(&publish_json("01A", "one"), &publish_json("01B", "two"))).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let got: Vec<(u64, String)> = w.received(&alice).into_iter().map(|m| (m.seq, m.body)).collect();
    assert_eq!(got, [(1, "one".to_owned()), (2, "two".to_owned())]);
}

#[tokio::test]
async fn fanout_dead_letters_a_poison_record_and_goes_on_with_its_group() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    let response =
        handlers::fanout(&w.fanout, sqs_event("not an envelope", &publish_json("01B", "two"))).await.unwrap();
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let letters = w.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].record_id, "2e1424d4-f796-459a-8184-9c92662be6da");
    assert_eq!(w.received(&alice).len(), 1);
}

#[tokio::test]
async fn fanout_reads_the_receive_count_of_each_record() {
    let mut w = World::new();
    w.fanout.settings.receive_ceiling = 7;
    let mut v: Value = serde_json::from_str(&fixture("sqs-fanout.json")).unwrap();
    // The store refuses both: the first, on its 7th receive (the ceiling), is dead-lettered; the
    // second, on its 1st, is retried.
    v["Records"][0]["body"] = Value::String(publish_json("01A", "one"));
    v["Records"][0]["attributes"]["ApproximateReceiveCount"] = Value::String("7".into());
    v["Records"][1]["body"] = Value::String(publish_json("01B", "two"));
    w.fanout.stores.messages = std::sync::Arc::new(RefusingStore);
    let response = handlers::fanout(&w.fanout, event(&v.to_string())).await.unwrap();
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["2e1424d4-f796-459a-8184-9c92662be6db"], "only the record under the ceiling is retried");
    let letters = w.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.starts_with("gave up after 7 receives"), "{}", letters[0].reason);
}

#[tokio::test]
async fn fanout_starts_nothing_past_the_invocation_deadline() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    let mut e = sqs_event(&publish_json("01A", "one"), &publish_json("01B", "two"));
    // Already within the margin of the deadline.
    e.context.deadline = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap() + 1_000;
    let response = handlers::fanout(&w.fanout, e).await.unwrap();
    assert_eq!(response.batch_item_failures.len(), 2);
    assert!(w.received(&alice).is_empty());
}

/// A message store whose appends always fail.
#[derive(Debug)]
struct RefusingStore;

#[async_trait::async_trait]
impl starling_shared::ports::MessageStore for RefusingStore {
    async fn append(
        &self,
        _: starling_shared::domain::NewMessage,
    ) -> Result<starling_shared::domain::Appended, StoreError> {
        Err(StoreError::Failed("injected".into()))
    }
    async fn last_seq(&self, _: &str) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn room_epoch(&self, _: &str) -> Result<starling_shared::domain::RoomEpoch, StoreError> {
        Err(StoreError::Failed("unused".into()))
    }
    async fn admit(&self, _: &str, _: &[String]) -> Result<(), StoreError> {
        Err(StoreError::Failed("unused".into()))
    }
    async fn history(
        &self,
        _: &str,
        _: Option<u64>,
        _: u32,
        _: i64,
    ) -> Result<starling_shared::domain::HistoryPage, StoreError> {
        Err(StoreError::Failed("unused".into()))
    }
    async fn since(&self, _: &str, _: u64, _: usize, _: i64) -> Result<starling_shared::domain::SyncPage, StoreError> {
        Err(StoreError::Failed("unused".into()))
    }
}
