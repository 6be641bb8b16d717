//! The Lambda handlers: AWS event in, AWS response out. The binaries in `functions/` and the
//! devstack both call these, so the service logic exists once.

use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest, ApiGatewayWebsocketProxyRequestContext,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::auth::JwtVerifier;
use crate::model::{Clock, Connection, Envelope, PresenceNotice};
use crate::ports::{ConnectionStore, Presence, PresenceStore, Queue};
use crate::protocol::{ErrorCode, ServerFrame};
use crate::service::actions::{self, ActionDeps, Caller, Reply};
use crate::service::fanout::{self, FanoutDeps, Record};

/// The authorizer context key that carries the user id to every later route.
pub const USER_CONTEXT_KEY: &str = "user";

/// The authorizer's refusal. API Gateway answers the handshake with 401 when the authorizer
/// fails with exactly the message "Unauthorized", which is this type's `Display`; the devstack
/// recognises the refusal by downcasting to this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Unauthorized")]
pub struct Unauthorized;

/// What `connect` and `disconnect` need.
#[derive(Clone)]
pub struct ConnectionDeps {
    pub connections: Arc<dyn ConnectionStore>,
    pub presence: Arc<dyn PresenceStore>,
    /// Where presence transitions go, for the fanout to announce.
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
}

impl ConnectionDeps {
    /// The AWS wiring of `connect` and `disconnect`: DynamoDB for connections and presence, SQS
    /// for presence notices.
    pub fn on_aws(sdk: &aws_config::SdkConfig, table: String, queue_url: String) -> Self {
        let store = Arc::new(crate::adapters::dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table));
        Self {
            connections: store.clone(),
            presence: store,
            queue: Arc::new(crate::adapters::sqs::SqsQueue::new(aws_sdk_sqs::Client::new(sdk), queue_url)),
            clock: Arc::new(crate::model::SystemClock),
        }
    }
}

impl std::fmt::Debug for ConnectionDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionDeps").finish_non_exhaustive()
    }
}

fn token_of(req: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> Option<String> {
    if let Some(t) = req.query_string_parameters.first("token").filter(|t| !t.is_empty()) {
        return Some(t.to_owned());
    }
    let header = req.headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The REQUEST authorizer of `$connect`: a valid token gets an Allow policy with the user in
/// the context; anything else fails with "Unauthorized", which API Gateway answers with 401.
pub async fn authorize(
    verifier: &JwtVerifier,
    event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>,
) -> Result<ApiGatewayCustomAuthorizerResponse, Error> {
    let req = event.payload;
    let request_id = req.request_context.request_id.clone().unwrap_or_default();
    let verified = token_of(&req).ok_or(crate::auth::AuthError::Missing).and_then(|t| verifier.verify(&t));
    let claims = match verified {
        Ok(c) => c,
        Err(e) => {
            info!(request_id, route = "$connect", outcome = "unauthorized", reason = %e, "invocation");
            return Err(Box::new(Unauthorized));
        }
    };
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![req.method_arn.clone().unwrap_or_else(|| "*".to_owned())];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::<Value>::default();
    response.principal_id = Some(claims.sub.clone());
    response.policy_document = policy;
    response.context = json!({ USER_CONTEXT_KEY: claims.sub });
    info!(request_id, route = "$connect", user = %claims.sub, outcome = "allow", "invocation");
    Ok(response)
}

fn status(code: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = code;
    r.body = body.map(Body::Text);
    r
}

fn user_of(ctx: &ApiGatewayWebsocketProxyRequestContext) -> Option<String> {
    let fields = &ctx.authorizer.fields;
    fields
        .get(USER_CONTEXT_KEY)
        .or_else(|| fields.get("principalId"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

fn connection_of(ctx: &ApiGatewayWebsocketProxyRequestContext) -> Option<Connection> {
    Some(Connection {
        id: ctx.connection_id.clone().filter(|c| !c.is_empty())?,
        user: user_of(ctx)?,
        connected_at_ms: ctx.connected_at,
    })
}

/// `https://{domainName}/{stage}`: where the Management API of this connection's API lives.
pub fn endpoint_of(ctx: &ApiGatewayWebsocketProxyRequestContext) -> Option<String> {
    let domain = ctx.domain_name.as_deref().filter(|d| !d.is_empty())?;
    let stage = ctx.stage.as_deref().filter(|s| !s.is_empty())?;
    Some(format!("https://{domain}/{stage}"))
}

/// `$connect`: registers the connection under the user the authorizer vouched for.
pub async fn connect(
    deps: &ConnectionDeps,
    event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Error> {
    let ctx = &event.payload.request_context;
    let Some(conn) = connection_of(ctx) else {
        info!(connection_id = ?ctx.connection_id, route = "$connect", outcome = "unauthorized", "invocation");
        return Ok(status(401, Some("no authorized user on this connection".into())));
    };
    deps.connections.register(&conn).await?;
    let now = deps.clock.now();
    let transition = deps.presence.connection_opened(&conn, now.timestamp()).await;
    announce(deps, transition, now.timestamp_millis(), endpoint_of(ctx)).await;
    info!(connection_id = %conn.id, user = %conn.user, route = "$connect", outcome = "ok", "invocation");
    Ok(status(200, None))
}

/// Queues a presence transition for the fanout to announce. Presence is secondary to the
/// connection itself, so a failure here is logged, not returned: the connection stands.
async fn announce(
    deps: &ConnectionDeps,
    transition: Result<Option<Presence>, crate::ports::StoreError>,
    at_ms: i64,
    endpoint: Option<String>,
) {
    let presence = match transition {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, "presence update failed");
            return;
        }
    };
    let notice =
        PresenceNotice { user: presence.user, status: presence.status, last_seen: presence.last_seen, at_ms, endpoint };
    if let Err(e) = deps.queue.enqueue(&Envelope::Presence(notice)).await {
        warn!(error = %e, "queueing a presence change failed");
    }
}

/// `$disconnect`: removes the connection and its subscriptions. Idempotent, since AWS may
/// deliver it late, twice or never (TTL sweeps what is never removed).
pub async fn disconnect(
    deps: &ConnectionDeps,
    event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Error> {
    let ctx = &event.payload.request_context;
    let Some(id) = ctx.connection_id.as_deref().filter(|c| !c.is_empty()) else {
        warn!(route = "$disconnect", outcome = "bad_request", "invocation without a connection id");
        return Ok(status(400, None));
    };
    let removed = deps.connections.remove(id).await?;
    if let Some(conn) = &removed.connection {
        let now = deps.clock.now();
        let transition = deps.presence.connection_closed(conn, now.timestamp()).await;
        announce(deps, transition, now.timestamp_millis(), endpoint_of(ctx)).await;
    }
    info!(
        connection_id = %id, route = "$disconnect", rooms = removed.rooms.len(),
        reason = ?ctx.disconnect_reason, outcome = "ok", "invocation"
    );
    Ok(status(200, None))
}

/// `$default` and every action: the reply frame is the response body, which API Gateway sends
/// back to the caller through the route response.
pub async fn message(
    deps: &ActionDeps,
    event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Error> {
    let payload = event.payload;
    let ctx = &payload.request_context;
    let route = ctx.route_key.clone().unwrap_or_else(|| "$default".to_owned());
    let reply = match connection_of(ctx) {
        None => Reply {
            action: None,
            room: None,
            frame: Some(ServerFrame::error(ErrorCode::Unauthorized, "this connection has no authorized user")),
        },
        Some(_) if payload.is_base64_encoded => Reply {
            action: None,
            room: None,
            frame: Some(ServerFrame::error(ErrorCode::BadRequest, "binary frames are not supported; send JSON text")),
        },
        Some(connection) => {
            let caller = Caller { connection, endpoint: endpoint_of(ctx) };
            actions::handle_frame(deps, &caller, payload.body.as_deref().unwrap_or("")).await
        }
    };
    info!(
        connection_id = ?ctx.connection_id, route = %route, action = ?reply.action, room = ?reply.room,
        outcome = reply.outcome(), "invocation"
    );
    Ok(status(200, reply.frame.map(|f| f.to_json())))
}

/// The queue consumer: reports partial batch failures so only failed records (and, for FIFO
/// order, the later records of their groups) come back.
pub async fn fanout(deps: &FanoutDeps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let records: Vec<Record> = event
        .payload
        .records
        .into_iter()
        .map(|r| Record {
            id: r.message_id.unwrap_or_default(),
            group: r.attributes.get("MessageGroupId").cloned(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let total = records.len();
    let failed = fanout::process_batch(deps, records).await;
    info!(
        route = "fanout",
        records = total,
        failed = failed.len(),
        outcome = if failed.is_empty() { "ok" } else { "partial" },
        "invocation"
    );
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Ok(response)
}
