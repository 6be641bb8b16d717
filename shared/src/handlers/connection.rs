//! `$connect` and `$disconnect`.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{Error, LambdaEvent};
use tracing::{info, warn};

use super::{connection_of, endpoint_of, status};
use crate::service::connection::{self, ConnectionDeps};

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
    connection::open(deps, &conn, endpoint_of(ctx)).await?;
    info!(connection_id = %conn.id, user = %conn.user, route = "$connect", outcome = "ok", "invocation");
    Ok(status(200, None))
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
    let removed = connection::close(deps, id, endpoint_of(ctx)).await?;
    info!(
        connection_id = %id, route = "$disconnect", rooms = removed.rooms.len(),
        reason = ?ctx.disconnect_reason, outcome = "ok", "invocation"
    );
    Ok(status(200, None))
}
