//! The WebSocket side of API Gateway: the handshake (authorizer, then `$connect`), route
//! selection on `action`, `$disconnect`, the limits, and the connections the management API
//! posts to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use starling_shared::aws_lambda_events::encodings::Body;
use starling_shared::handlers;
use starling_shared::lambda_runtime::{Context, LambdaEvent};
use tokio::sync::{Notify, mpsc};
use tracing::{debug, info, warn};

use crate::App;
use crate::events::{self, ConnectionMeta};
use crate::ids::gateway_id;

/// Close codes API Gateway uses.
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_ABNORMAL: u16 = 1006;
pub const CLOSE_TOO_BIG: u16 = 1009;

/// What is sent to a client.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(String),
    Binary(Vec<u8>),
}

/// One open connection, as the management API sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) meta: ConnectionMeta,
    tx: mpsc::UnboundedSender<Outbound>,
    last_active_ms: AtomicI64,
    /// Set by `DELETE @connections/{id}`.
    kill: Notify,
}

impl Conn {
    pub(crate) fn post(&self, data: Vec<u8>) -> bool {
        let out = match String::from_utf8(data) {
            Ok(text) => Outbound::Text(text),
            Err(e) => Outbound::Binary(e.into_bytes()),
        };
        self.tx.send(out).is_ok()
    }

    pub(crate) fn last_active_ms(&self) -> i64 {
        self.last_active_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn delete(&self) {
        self.kill.notify_one();
    }
}

/// The open connections by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    conns: Mutex<HashMap<String, Arc<Conn>>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Conn>> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn insert(&self, conn: Arc<Conn>) {
        self.lock().insert(conn.meta.connection_id.clone(), conn);
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// The route key of a frame, by the route selection expression `$request.body.action`:
/// the action if it has a route, else `$default`.
pub(crate) fn route_key(routes: &[String], body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned))
        .filter(|a| routes.iter().any(|r| r == a))
        .unwrap_or_else(|| "$default".to_owned())
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// `GET /{stage}` with an upgrade: the handshake.
pub(crate) async fn handshake(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    if app.closing.is_cancelled() {
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let meta = ConnectionMeta {
        connection_id: gateway_id(),
        connected_at_ms: Utc::now().timestamp_millis(),
        source_ip: peer.ip().to_string(),
        user_agent: header("user-agent"),
        domain_name: header("host").unwrap_or_else(|| app.local_addr.to_string()),
        stage: app.config.stage.clone(),
        api_id: app.api_id.clone(),
    };
    let query = events::parse_query(query.as_deref());

    // The REQUEST authorizer.
    let auth_event = match events::authorizer_request(&meta, &headers, &query) {
        Ok(e) => e,
        Err(e) => {
            warn!(error = %e, "could not build the authorizer event");
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        }
    };
    let started = std::time::Instant::now();
    let authorized = handlers::authorize(&app.verifier, LambdaEvent::new(auth_event, Context::default())).await;
    let latency = started.elapsed().as_millis();
    let response = match authorized {
        Ok(r) => r,
        Err(e) if e.downcast_ref::<starling_shared::handlers::Unauthorized>().is_some() => {
            info!(connection_id = %meta.connection_id, "handshake refused by the authorizer: 401");
            return refusal(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        Err(e) => {
            warn!(error = %e, "authorizer failed");
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        }
    };
    let allowed = response.policy_document.statement.iter().any(|s| {
        matches!(s.effect, starling_shared::aws_lambda_events::iam::IamPolicyEffect::Allow)
            && s.action.iter().any(|a| a == "execute-api:Invoke" || a == "execute-api:*" || a == "*")
    });
    if !allowed {
        return refusal(StatusCode::FORBIDDEN, "Forbidden");
    }
    // API Gateway flattens the authorizer's context next to principalId and integrationLatency.
    let mut authorizer = Map::new();
    if let Value::Object(ctx) = &response.context {
        for (k, v) in ctx {
            // Only strings, numbers and booleans survive in a context, as in AWS.
            if v.is_string() || v.is_number() || v.is_boolean() {
                authorizer.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(p) = &response.principal_id {
        authorizer.insert("principalId".into(), json!(p));
    }
    authorizer.insert("integrationLatency".into(), json!(latency));

    // $connect
    let connect_event = match events::connect_event(&meta, &headers, &query, &authorizer) {
        Ok(e) => e,
        Err(e) => {
            warn!(error = %e, "could not build the $connect event");
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        }
    };
    match handlers::connect(&app.connection_deps, LambdaEvent::new(connect_event, Context::default())).await {
        Ok(r) if (200..300).contains(&r.status_code) => {}
        Ok(r) => {
            let status = u16::try_from(r.status_code)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            info!(connection_id = %meta.connection_id, status = status.as_u16(), "handshake refused by $connect");
            let body = match r.body {
                Some(Body::Text(t)) => t,
                _ => status.canonical_reason().unwrap_or("Refused").to_owned(),
            };
            return (status, body).into_response();
        }
        Err(e) => {
            warn!(error = %e, "$connect failed");
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        }
    }

    let (tx, rx) = mpsc::unbounded_channel();
    let conn = Arc::new(Conn {
        meta: meta.clone(),
        tx,
        last_active_ms: AtomicI64::new(meta.connected_at_ms),
        kill: Notify::new(),
    });
    app.registry.insert(conn.clone());
    info!(connection_id = %meta.connection_id, user = authorizer.get("user").and_then(serde_json::Value::as_str).unwrap_or(""), "connected");

    let limits = &app.config.limits;
    let on_fail_app = app.clone();
    let on_fail_conn = conn.clone();
    let on_fail_auth = authorizer.clone();
    let tracker = app.sockets.clone();
    ws.max_frame_size(limits.max_frame_bytes)
        .max_message_size(limits.max_message_bytes)
        .on_failed_upgrade(move |e| {
            warn!(error = %e, "upgrade failed after $connect; running $disconnect");
            on_fail_app.registry.remove(&on_fail_conn.meta.connection_id);
            tokio::spawn(async move {
                run_disconnect(&on_fail_app, &on_fail_conn.meta, &on_fail_auth, CLOSE_ABNORMAL, "Upgrade failed").await;
            });
        })
        .on_upgrade(move |socket| tracker.track_future(run_socket(app, conn, authorizer, socket, rx)))
}

/// Why a connection ended: the close code and reason that `$disconnect` reports.
struct Ending {
    code: u16,
    reason: String,
    /// A close frame to send to the client, when the server ends the connection.
    send_close: bool,
}

fn is_capacity_error(e: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            return matches!(t, tokio_tungstenite::tungstenite::Error::Capacity(_));
        }
        source = s.source();
    }
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big")
}

async fn run_socket(
    app: Arc<App>,
    conn: Arc<Conn>,
    authorizer: Map<String, Value>,
    socket: WebSocket,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
) {
    let id = conn.meta.connection_id.clone();
    // The idle clock starts when the connection is open, not when the handshake began.
    conn.last_active_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (close_tx, mut close_rx) = mpsc::unbounded_channel::<(u16, String)>();
    // The writer: posts and replies in order, then at most one close frame.
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                out = rx.recv() => match out {
                    Some(Outbound::Text(t)) => {
                        if sink.send(Message::Text(t.into())).await.is_err() { break; }
                    }
                    Some(Outbound::Binary(b)) => {
                        if sink.send(Message::Binary(b.into())).await.is_err() { break; }
                    }
                    None => break,
                },
                close = close_rx.recv() => {
                    if let Some((code, reason)) = close {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    }
                    break;
                }
            }
        }
        let _ = sink.flush().await;
    });

    let limits = app.config.limits.clone();
    let max_deadline = tokio::time::Instant::now() + limits.max_connection_duration;
    let ending = loop {
        let idle_for =
            Duration::from_millis(u64::try_from(Utc::now().timestamp_millis() - conn.last_active_ms()).unwrap_or(0));
        let idle_deadline = tokio::time::Instant::now() + limits.idle_timeout.saturating_sub(idle_for);
        let frame = tokio::select! {
            f = stream.next() => f,
            _ = tokio::time::sleep_until(idle_deadline) => {
                break Ending { code: CLOSE_GOING_AWAY, reason: "Going away: idle timeout".into(), send_close: true };
            }
            _ = tokio::time::sleep_until(max_deadline) => {
                break Ending { code: CLOSE_GOING_AWAY, reason: "Going away: maximum connection duration".into(), send_close: true };
            }
            _ = app.closing.cancelled() => {
                break Ending { code: CLOSE_GOING_AWAY, reason: "Going away: the devstack is shutting down".into(), send_close: true };
            }
            _ = conn.kill.notified() => {
                break Ending { code: CLOSE_NORMAL, reason: "Connection deleted".into(), send_close: true };
            }
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                conn.last_active_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
                route(&app, &conn, &authorizer, text.as_str().to_owned(), false).await;
            }
            Some(Ok(Message::Binary(bytes))) => {
                conn.last_active_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
                let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
                route(&app, &conn, &authorizer, encoded, true).await;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                conn.last_active_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
            }
            Some(Ok(Message::Close(frame))) => {
                break match frame {
                    Some(f) => Ending { code: f.code, reason: f.reason.as_str().to_owned(), send_close: false },
                    None => Ending {
                        code: 1005,
                        reason: "Client-side close frame status not set".into(),
                        send_close: false,
                    },
                };
            }
            Some(Err(e)) if is_capacity_error(&e) => {
                info!(connection_id = %id, error = %e, "frame or message over the limit; closing with 1009");
                break Ending { code: CLOSE_TOO_BIG, reason: "Message too big".into(), send_close: true };
            }
            Some(Err(e)) => {
                debug!(connection_id = %id, error = %e, "connection error");
                break Ending { code: CLOSE_ABNORMAL, reason: "Connection lost".into(), send_close: false };
            }
            None => break Ending { code: CLOSE_ABNORMAL, reason: "Connection lost".into(), send_close: false },
        }
    };

    // From here on, posts to this connection answer 410.
    app.registry.remove(&id);
    if ending.send_close {
        let _ = close_tx.send((ending.code, ending.reason.clone()));
    }
    drop(close_tx);
    // Let the close handshake finish (the client's close frame, or the reply to it).
    let _ =
        tokio::time::timeout(Duration::from_secs(1), async { while let Some(Ok(_)) = stream.next().await {} }).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    run_disconnect(&app, &conn.meta, &authorizer, ending.code, &ending.reason).await;
}

async fn route(app: &App, conn: &Conn, authorizer: &Map<String, Value>, body: String, is_base64: bool) {
    let route_key = if is_base64 { "$default".to_owned() } else { route_key(&app.config.routes, &body) };
    let event = match events::message_event(&conn.meta, &route_key, body, is_base64, authorizer) {
        Ok(e) => e,
        Err(e) => {
            warn!(error = %e, "could not build the message event");
            return;
        }
    };
    let request_id = event.request_context.request_id.clone().unwrap_or_default();
    match handlers::send(&app.action_deps, LambdaEvent::new(event, Context::default())).await {
        Ok(r) => {
            if let Some(Body::Text(t)) = r.body {
                let _ = conn.tx.send(Outbound::Text(t));
            }
        }
        Err(e) => {
            warn!(error = %e, "message handler failed");
            // What API Gateway sends when the integration fails.
            let frame = json!({
                "message": "Internal server error",
                "connectionId": conn.meta.connection_id,
                "requestId": request_id,
            });
            let _ = conn.tx.send(Outbound::Text(frame.to_string()));
        }
    }
}

async fn run_disconnect(app: &App, meta: &ConnectionMeta, authorizer: &Map<String, Value>, code: u16, reason: &str) {
    let event = match events::disconnect_event(meta, authorizer, code, reason) {
        Ok(e) => e,
        Err(e) => {
            warn!(error = %e, "could not build the $disconnect event");
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
