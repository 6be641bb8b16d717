//! The API Gateway Management API on the gateway's port: `POST|GET|DELETE
//! /{stage}/@connections/{connectionId}`, with the error shapes the AWS SDK understands.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::json;

use crate::App;
use crate::events;
use crate::post::{MAX_POST_BYTES, Posted};

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, [("x-amzn-ErrorType", kind)], axum::Json(json!({ "message": message }))).into_response()
}

fn gone(id: &str) -> Response {
    aws_error(StatusCode::GONE, "GoneException", &format!("Connection {id} is gone"))
}

fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Whether a peer may use the management API and `/_devstack/*`: loopback (an IPv4-mapped
/// one included), or anyone when `allow_remote` (`--allow-remote-admin`).
pub(crate) fn admits_admin(peer: SocketAddr, allow_remote: bool) -> bool {
    allow_remote || peer.ip().to_canonical().is_loopback()
}

/// Refuses non-loopback peers with 403: these endpoints have no credential of their own, and
/// `--host 0.0.0.0` must not hand every connection to the network.
pub(crate) async fn loopback_only(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if admits_admin(peer, app.config.allow_remote_admin) {
        return next.run(request).await;
    }
    tracing::warn!(%peer, path = %request.uri().path(), "refused a management request from a non-loopback peer");
    aws_error(
        StatusCode::FORBIDDEN,
        "ForbiddenException",
        "the devstack's management API answers loopback only; start it with --allow-remote-admin",
    )
}

/// PostToConnection.
pub(crate) async fn post(State(app): State<Arc<App>>, Path(id): Path<String>, body: Bytes) -> Response {
    let bytes = body.len();
    match app.poster.post(&id, body.to_vec()).await {
        Posted::Sent => StatusCode::OK.into_response(),
        Posted::Gone => gone(&id),
        Posted::TooLarge => aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            &format!("Payload is {bytes} bytes; the limit is {MAX_POST_BYTES}"),
        ),
        Posted::OutboxFull => aws_error(
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            &format!("Connection {id} is not reading; it is being closed"),
        ),
        Posted::Injected(status) => injected(status),
    }
}

/// The answer of a planned `post` fault, in the Management API's error shape.
fn injected(status: u16) -> Response {
    let (kind, message) = match status {
        403 => ("ForbiddenException", "Forbidden (injected)"),
        410 => ("GoneException", "Connection is gone (injected)"),
        413 => ("PayloadTooLargeException", "Payload too large (injected)"),
        429 => ("LimitExceededException", "Rate exceeded (injected)"),
        _ => ("InternalServerErrorException", "Internal server error (injected)"),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    aws_error(status, kind, message)
}

/// GetConnection.
pub(crate) async fn get(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.registry.get(&id) {
        Some(conn) => axum::Json(json!({
            "connectedAt": iso(conn.meta.connected_at_ms),
            "identity": events::identity(&conn.meta),
            "lastActiveAt": iso(conn.last_active_ms()),
        }))
        .into_response(),
        None => gone(&id),
    }
}

/// DeleteConnection: the client gets close 1000 and `$disconnect` runs.
pub(crate) async fn delete(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.registry.get(&id) {
        Some(conn) => {
            conn.delete();
            StatusCode::NO_CONTENT.into_response()
        }
        None => gone(&id),
    }
}

/// `GET /{stage}/_devstack/dlq`: what the event source mapping gave up on.
pub(crate) async fn dlq(State(app): State<Arc<App>>) -> Response {
    match app.source.dlq().await {
        Ok(messages) => axum::Json(json!({ "messages": messages })).into_response(),
        Err(e) => aws_error(StatusCode::BAD_GATEWAY, "DevstackError", &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_peers_are_admitted_unless_remote_admin_is_allowed() {
        let peer = |s: &str| s.parse::<SocketAddr>().unwrap();
        for local in ["127.0.0.1:5000", "127.8.9.10:1", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
            assert!(admits_admin(peer(local), false), "{local}");
        }
        for remote in ["192.168.1.20:5000", "10.0.0.1:1", "0.0.0.0:1", "[2001:db8::1]:5000", "[::ffff:10.0.0.1]:1"] {
            assert!(!admits_admin(peer(remote), false), "{remote}");
            assert!(admits_admin(peer(remote), true), "{remote} with --allow-remote-admin");
        }
    }
}
