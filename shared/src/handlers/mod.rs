//! The Lambda handlers: an AWS event in, a service call, an AWS response out. They translate
//! and log; the logic lives in `service`. The binaries in `functions/` and the devstack both call
//! these, so each function's behaviour exists once.

mod authorizer;
mod connection;
mod fanout;
mod send;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequestContext};
use aws_lambda_events::encodings::Body;
use serde_json::Value;

use crate::domain::Connection;

pub use authorizer::{BATCH_PARAMETER, TOKEN_PARAMETER, Unauthorized, authorize};
pub use connection::{connect, disconnect};
pub use fanout::fanout;
pub use send::send;

/// The authorizer context key that carries the user id to every later route.
pub const USER_CONTEXT_KEY: &str = "user";
/// The authorizer context key that carries the client's `messages` frame opt-in: the authorizer
/// sees the handshake's query, and its context reaches every route of the connection.
pub const BATCH_CONTEXT_KEY: &str = "batch";

pub(crate) fn status(code: i64, body: Option<String>) -> ApiGatewayProxyResponse {
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

pub(crate) fn connection_of(ctx: &ApiGatewayWebsocketProxyRequestContext) -> Option<Connection> {
    Some(Connection {
        id: ctx.connection_id.clone().filter(|c| !c.is_empty())?,
        user: user_of(ctx)?,
        connected_at_ms: ctx.connected_at,
        batch: batch_of(ctx),
    })
}

/// Whether the authorizer recorded the client's `batch=1` opt-in. API Gateway may hand context
/// values over as strings, so `"true"` counts as well as `true`.
fn batch_of(ctx: &ApiGatewayWebsocketProxyRequestContext) -> bool {
    match ctx.authorizer.fields.get(BATCH_CONTEXT_KEY) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// `https://{domainName}/{stage}`: where the Management API of this connection's API lives.
pub fn endpoint_of(ctx: &ApiGatewayWebsocketProxyRequestContext) -> Option<String> {
    let domain = ctx.domain_name.as_deref().filter(|d| !d.is_empty())?;
    let stage = ctx.stage.as_deref().filter(|s| !s.is_empty())?;
    Some(format!("https://{domain}/{stage}"))
}
