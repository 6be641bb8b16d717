//! The integrations of an open connection: route selection and the message route, and
//! `$disconnect`.

use serde_json::{Map, Value, json};
use starling_shared::aws_lambda_events::encodings::Body;
use starling_shared::protocol::MAX_FRAME_BYTES;
use tracing::{info, warn};

use super::registry::Conn;
use crate::App;
use crate::events::{self, ConnectionMeta};

/// The route key of a frame, by the route selection expression `$request.body.action`:
/// the action if it has a route, else `$default`.
pub(crate) fn route_key(routes: &[String], body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned))
        .filter(|a| routes.iter().any(|r| r == a))
        .unwrap_or_else(|| "$default".to_owned())
}

/// Invokes the message integration with one frame; binary frames arrive base64-encoded and
/// always take `$default`, as the selection expression cannot read them.
pub(crate) async fn route(app: &App, conn: &Conn, authorizer: &Map<String, Value>, body: String, is_base64: bool) {
    let route_key = if is_base64 { "$default".to_owned() } else { route_key(&app.config.routes, &body) };
    let event = match events::message_event(&conn.meta, &route_key, body, is_base64, authorizer) {
        Ok(e) => e,
        Err(e) => {
            warn!(connection_id = %conn.meta.connection_id, error = %e, "could not build the message event");
            return;
        }
    };
    let request_id = event.payload.request_context.request_id.clone().unwrap_or_default();
    match app.invoker.send(event).await {
        Ok(r) => {
            if let Some(Body::Text(t)) = r.body {
                conn.reply(route_reply(t, &conn.meta.connection_id, &request_id));
            }
        }
        Err(e) => {
            warn!(
                connection_id = %conn.meta.connection_id, request_id, error = %e,
                source = ?std::error::Error::source(&e), "message integration failed"
            );
            conn.reply(integration_error(&conn.meta.connection_id, &request_id));
        }
    }
}

/// What API Gateway sends when the integration fails.
fn integration_error(connection_id: &str, request_id: &str) -> String {
    json!({ "message": "Internal server error", "connectionId": connection_id, "requestId": request_id }).to_string()
}

/// The route response as the client gets it. API Gateway's message payload quota (128 KB)
/// applies to what it sends back too, and AWS does not document a way for a larger route
/// response to reach the client; the devstack treats it as a failed integration, so a client
/// (and a test) sees a failure instead of a reply AWS would not deliver.
pub(crate) fn route_reply(text: String, connection_id: &str, request_id: &str) -> String {
    if text.len() <= MAX_FRAME_BYTES {
        return text;
    }
    warn!(
        connection_id,
        bytes = text.len(),
        limit = MAX_FRAME_BYTES,
        "route response over the message limit; not sent"
    );
    integration_error(connection_id, request_id)
}

/// Invokes `$disconnect` with the close code and reason the connection ended with.
pub(crate) async fn disconnect(
    app: &App,
    meta: &ConnectionMeta,
    authorizer: &Map<String, Value>,
    code: u16,
    reason: &str,
) {
    let event = match events::disconnect_event(meta, authorizer, code, reason) {
        Ok(e) => e,
        Err(e) => {
            warn!(connection_id = %meta.connection_id, error = %e, "could not build the $disconnect event");
            return;
        }
    };
    match app.invoker.disconnect(event).await {
        Ok(_) => info!(connection_id = %meta.connection_id, code, reason, "disconnected"),
        Err(e) => {
            warn!(connection_id = %meta.connection_id, error = %e, source = ?std::error::Error::source(&e), "$disconnect failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_reply_over_the_message_limit_is_refused_as_a_failed_integration() {
        let at_limit = format!(r#"{{"type":"pong","pad":"{}"}}"#, "x".repeat(MAX_FRAME_BYTES - 24));
        assert_eq!(at_limit.len(), MAX_FRAME_BYTES);
        assert_eq!(route_reply(at_limit.clone(), "c1=", "r1"), at_limit, "exactly at the limit is sent");

        let over = format!("{at_limit} ");
        let sent = route_reply(over, "c1=", "r1");
        let frame: Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(frame, json!({"message": "Internal server error", "connectionId": "c1=", "requestId": "r1"}));
        assert!(frame.get("type").is_none(), "API Gateway's own frame has no type");
    }

    #[test]
    fn routes_select_on_action() {
        let routes = vec!["send".to_owned()];
        assert_eq!(route_key(&routes, r#"{"action":"send"}"#), "send");
        assert_eq!(route_key(&routes, r#"{"action":"join"}"#), "$default");
        assert_eq!(route_key(&routes, "not json"), "$default");
        assert_eq!(route_key(&[], r#"{"action":"send"}"#), "$default");
    }
}
