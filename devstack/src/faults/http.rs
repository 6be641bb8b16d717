//! `POST|GET|DELETE /{stage}/_devstack/faults`: plan, list and clear faults over HTTP. Routed
//! only when the devstack runs with `--faults`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Fault, FaultError};
use crate::App;
use crate::config::Backend;

fn refused(e: &FaultError) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": e.to_string() }))).into_response()
}

/// Plans the fault in the body; answers 201 with its id, or 400 saying what is wrong.
pub(crate) async fn add(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return refused(&FaultError::Json(e)),
    };
    if matches!(fault, Fault::Dynamo { .. }) && matches!(app.config.backend, Backend::Memory) {
        return refused(&FaultError::NeedsSdkBackend);
    }
    match app.faults.add(fault) {
        Ok(id) => (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response(),
        Err(e) => refused(&e),
    }
}

/// The planned faults, with how often each fired and how often it still will.
pub(crate) async fn list(State(app): State<Arc<App>>) -> Response {
    axum::Json(json!({ "faults": app.faults.active() })).into_response()
}

/// Clears every fault.
pub(crate) async fn clear(State(app): State<Arc<App>>) -> Response {
    app.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}
