//! The API Gateway Management API on the gateway's port: `POST|GET|DELETE
//! /{stage}/@connections/{connectionId}`, with the error shapes the AWS SDK understands.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::json;

use crate::App;
use crate::events;

/// PostToConnection's largest payload: API Gateway's message limit, which the server's frames
/// are held to as well.
pub(crate) const MAX_POST_BYTES: usize = starling_shared::protocol::MAX_FRAME_BYTES;

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, [("x-amzn-ErrorType", kind)], axum::Json(json!({ "message": message }))).into_response()
}

fn gone(id: &str) -> Response {
    aws_error(StatusCode::GONE, "GoneException", &format!("Connection {id} is gone"))
}

fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// PostToConnection.
pub(crate) async fn post(State(app): State<Arc<App>>, Path(id): Path<String>, body: Bytes) -> Response {
    if body.len() > MAX_POST_BYTES {
        return aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            &format!("Payload is {} bytes; the limit is {MAX_POST_BYTES}", body.len()),
        );
    }
    match app.registry.get(&id) {
        Some(conn) if conn.post(body.to_vec()) => StatusCode::OK.into_response(),
        _ => gone(&id),
    }
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
