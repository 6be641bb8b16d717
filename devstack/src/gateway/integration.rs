//! The integrations of an open connection: route selection and the message route, and
//! `$disconnect`.

use serde_json::{Map, Value, json};
use starling_shared::aws_lambda_events::encodings::Body;
use starling_shared::handlers;
use starling_shared::lambda_runtime::{Context, LambdaEvent};
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
    let request_id = event.request_context.request_id.clone().unwrap_or_default();
    match handlers::send(&app.action_deps, LambdaEvent::new(event, Context::default())).await {
        Ok(r) => {
            if let Some(Body::Text(t)) = r.body {
                conn.reply(t);
            }
        }
        Err(e) => {
            warn!(connection_id = %conn.meta.connection_id, error = %e, "message handler failed");
            // What API Gateway sends when the integration fails.
            let frame = json!({
                "message": "Internal server error",
                "connectionId": conn.meta.connection_id,
                "requestId": request_id,
            });
            conn.reply(frame.to_string());
        }
    }
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
    match handlers::disconnect(&app.connection_deps, LambdaEvent::new(event, Context::default())).await {
        Ok(_) => info!(connection_id = %meta.connection_id, code, reason, "disconnected"),
        Err(e) => warn!(connection_id = %meta.connection_id, error = %e, "$disconnect failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_select_on_action() {
        let routes = vec!["send".to_owned()];
        assert_eq!(route_key(&routes, r#"{"action":"send"}"#), "send");
        assert_eq!(route_key(&routes, r#"{"action":"join"}"#), "$default");
        assert_eq!(route_key(&routes, "not json"), "$default");
        assert_eq!(route_key(&[], r#"{"action":"send"}"#), "$default");
    }
}
