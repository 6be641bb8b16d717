//! `$default`: every client frame, answered through the route response.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{Error, LambdaEvent};
use tracing::info;

use super::{connection_of, endpoint_of, status};
use crate::protocol::{ErrorCode, ServerFrame, WireFrame};
use crate::service::send::{self, Caller, Reply, SendDeps};
use crate::telemetry;

/// `$default` and every action: the reply frame is the response body, which API Gateway sends
/// back to the caller through the route response.
pub async fn send(
    deps: &SendDeps,
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
            send::handle_frame(deps, &caller, payload.body.as_deref().unwrap_or("")).await
        }
    };
    info!(
        connection_id = ?ctx.connection_id, route = %route, action = ?reply.action, room = ?reply.room,
        outcome = reply.outcome(), "invocation"
    );
    if let Some(frame) = &reply.frame {
        telemetry::metric::served(frame);
    }
    // Every reply goes through the one size check: over 128 KiB, API Gateway would not deliver it.
    let body = reply.frame.map(|f| WireFrame::encode_or_error(&f, reply.action.as_deref()).into_string());
    Ok(status(200, body))
}
