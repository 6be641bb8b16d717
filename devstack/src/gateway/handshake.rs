//! `GET /{stage}` with an upgrade: the authorizer, then `$connect`, then the upgrade, refused
//! with the statuses API Gateway answers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};
use starling_shared::aws_lambda_events::apigw::ApiGatewayProxyResponse;
use starling_shared::aws_lambda_events::encodings::Body;
use tracing::{info, warn};

use super::query::parse_query;
use super::{CLOSE_ABNORMAL, authorizer, integration, socket};
use crate::App;
use crate::events::{self, ConnectionMeta};
use crate::ids::gateway_id;

/// A refused handshake, answered as API Gateway answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The devstack is shutting down.
    Unavailable,
    /// The authorizer refused the token.
    Unauthorized,
    /// The authorizer's policy does not allow `execute-api:Invoke`.
    Forbidden,
    /// The authorizer or `$connect` failed, or their event could not be built.
    Internal,
    /// `$connect` answered non-2xx: its status and body go to the client.
    Connect { status: StatusCode, body: String },
}

impl Refusal {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Connect { status, .. } => *status,
        }
    }

    /// What `$connect`'s non-2xx answer becomes; a status HTTP cannot carry becomes 500.
    fn from_connect(response: ApiGatewayProxyResponse) -> Self {
        let status = u16::try_from(response.status_code)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match response.body {
            Some(Body::Text(t)) => t,
            _ => status.canonical_reason().unwrap_or("Refused").to_owned(),
        };
        Self::Connect { status, body }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match self {
            Self::Connect { body, .. } => return (status, body).into_response(),
            Self::Unavailable => "Service Unavailable",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::Internal => "Internal server error",
        };
        (status, axum::Json(json!({ "message": message }))).into_response()
    }
}

/// What the authorizer and `$connect` events are built from.
#[derive(Debug)]
pub(super) struct HandshakeRequest {
    pub(super) meta: ConnectionMeta,
    pub(super) headers: HeaderMap,
    pub(super) query: Vec<(String, String)>,
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
        return Refusal::Unavailable.into_response();
    }
    let meta = connection_meta(&app, peer, &headers);
    let request = HandshakeRequest { meta, headers, query: parse_query(query.as_deref()) };
    match admit(&app, &request).await {
        Ok(authorizer) => open(app, ws, request.meta, authorizer),
        Err(refusal) => refusal.into_response(),
    }
}

fn connection_meta(app: &App, peer: SocketAddr, headers: &HeaderMap) -> ConnectionMeta {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    ConnectionMeta {
        connection_id: gateway_id(),
        connected_at_ms: Utc::now().timestamp_millis(),
        source_ip: peer.ip().to_string(),
        user_agent: header("user-agent"),
        domain_name: header("host").unwrap_or_else(|| app.local_addr.to_string()),
        stage: app.config.stage.clone(),
        api_id: app.api_id.clone(),
    }
}

/// The authorizer, then `$connect`; the authorizer's flattened context when both let the
/// client in.
async fn admit(app: &App, request: &HandshakeRequest) -> Result<Map<String, Value>, Refusal> {
    let authorizer = authorizer::authorize(app, request).await?;
    connect(app, request, &authorizer).await?;
    Ok(authorizer)
}

async fn connect(app: &App, request: &HandshakeRequest, authorizer: &Map<String, Value>) -> Result<(), Refusal> {
    let connection_id = &request.meta.connection_id;
    let event = events::connect_event(&request.meta, &request.headers, &request.query, authorizer).map_err(|e| {
        warn!(connection_id = %connection_id, error = %e, "could not build the $connect event");
        Refusal::Internal
    })?;
    match app.invoker.connect(event).await {
        Ok(r) if (200..300).contains(&r.status_code) => Ok(()),
        Ok(r) => {
            let refusal = Refusal::from_connect(r);
            info!(connection_id = %connection_id, status = refusal.status().as_u16(), "handshake refused by $connect");
            Err(refusal)
        }
        Err(e) => {
            warn!(connection_id = %connection_id, error = %e, source = ?std::error::Error::source(&e), "$connect failed");
            Err(Refusal::Internal)
        }
    }
}

/// Registers the connection and completes the upgrade. `$disconnect` runs when the socket
/// ends, or at once if the upgrade fails after `$connect` succeeded.
fn open(app: Arc<App>, ws: WebSocketUpgrade, meta: ConnectionMeta, authorizer: Map<String, Value>) -> Response {
    let (conn, rx) = app.registry.new_conn(meta, app.config.limits.outbox_bytes);
    app.registry.insert(conn.clone());
    let user = authorizer.get(starling_shared::handlers::USER_CONTEXT_KEY).and_then(Value::as_str).unwrap_or("");
    info!(connection_id = %conn.meta.connection_id, user, "connected");

    let on_failure = {
        let (app, conn, authorizer) = (app.clone(), conn.clone(), authorizer.clone());
        move |e: axum::Error| {
            warn!(connection_id = %conn.meta.connection_id, error = %e, "upgrade failed after $connect; running $disconnect");
            app.registry.remove(&conn.meta.connection_id);
            tokio::spawn(async move {
                integration::disconnect(&app, &conn.meta, &authorizer, CLOSE_ABNORMAL, "Upgrade failed").await;
            });
        }
    };
    let limits = &app.config.limits;
    let tracker = app.sockets.clone();
    ws.max_frame_size(limits.max_frame_bytes)
        .max_message_size(limits.max_message_bytes)
        .on_failed_upgrade(on_failure)
        .on_upgrade(move |socket| tracker.track_future(socket::run(app, conn, authorizer, socket, rx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_refusals_pass_status_and_body_through() {
        let mut r = ApiGatewayProxyResponse::default();
        r.status_code = 429;
        r.body = Some(Body::Text("slow down".into()));
        assert_eq!(
            Refusal::from_connect(r),
            Refusal::Connect { status: StatusCode::TOO_MANY_REQUESTS, body: "slow down".into() }
        );
        let mut odd = ApiGatewayProxyResponse::default();
        odd.status_code = 99;
        assert_eq!(Refusal::from_connect(odd).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
