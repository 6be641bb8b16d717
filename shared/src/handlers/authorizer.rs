//! The `$connect` REQUEST authorizer.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use tracing::{error, info};

use super::{BATCH_CONTEXT_KEY, USER_CONTEXT_KEY};
use crate::auth::{AuthError, TokenVerifier};

/// The authorizer's refusal. API Gateway answers the handshake with 401 when the authorizer
/// fails with exactly the message "Unauthorized", which is this type's `Display`; the devstack
/// recognises the refusal by downcasting to this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Unauthorized")]
pub struct Unauthorized;

/// The query parameter the token travels in: the authorizer's identity source in
/// `infra/contract.json` is `route.request.querystring.{TOKEN_PARAMETER}`.
pub const TOKEN_PARAMETER: &str = "token";

/// The query parameter that opts a connection in to `messages` frames: `batch=1` (or `true`).
pub const BATCH_PARAMETER: &str = "batch";

/// Whether the handshake asked for `messages` frames. Any other value (or none) keeps the
/// one-`message`-per-post frames every client understands.
fn batch_of(req: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> bool {
    matches!(req.query_string_parameters.first(BATCH_PARAMETER), Some("1" | "true"))
}

/// The token, from the query only. API Gateway refuses a handshake that lacks an identity source
/// before the authorizer runs, so a token elsewhere (an `Authorization` header) could never work
/// when deployed; reading only the query keeps the devstack the same. Browsers cannot set
/// headers on a WebSocket handshake anyway.
fn token_of(req: &ApiGatewayCustomAuthorizerRequestTypeRequest) -> Option<String> {
    req.query_string_parameters.first(TOKEN_PARAMETER).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// The REQUEST authorizer of `$connect`: a valid token gets an Allow policy with the user in
/// the context; anything else fails with "Unauthorized", which API Gateway answers with 401,
/// except an issuer whose keys cannot be fetched, which fails the invocation (500: retry).
pub async fn authorize(
    verifier: &TokenVerifier,
    event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>,
) -> Result<ApiGatewayCustomAuthorizerResponse, Error> {
    let req = event.payload;
    let request_id = req.request_context.request_id.clone().unwrap_or_default();
    let verified = match token_of(&req) {
        Some(t) => verifier.user_of(&t).await,
        None => Err(AuthError::Missing),
    };
    let user = match verified {
        Ok(user) => user,
        Err(e @ AuthError::KeysUnavailable(_)) => {
            error!(request_id, route = "$connect", outcome = "error", error = %e, source = ?std::error::Error::source(&e), "invocation");
            return Err(Box::new(e));
        }
        Err(e) => {
            info!(request_id, route = "$connect", outcome = "unauthorized", reason = %e, "invocation");
            return Err(Box::new(Unauthorized));
        }
    };
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = IamPolicyEffect::Allow;
    statement.resource = vec![req.method_arn.clone().unwrap_or_else(|| "*".to_owned())];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::<Value>::default();
    response.principal_id = Some(user.clone());
    response.policy_document = policy;
    info!(request_id, route = "$connect", user = %user, outcome = "allow", "invocation");
    response.context = json!({ USER_CONTEXT_KEY: user, BATCH_CONTEXT_KEY: batch_of(&req) });
    Ok(response)
}
