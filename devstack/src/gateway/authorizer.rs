//! The REQUEST authorizer of `$connect`, and what API Gateway makes of its answer.

use std::time::Instant;

use serde_json::{Map, Value, json};
use starling_shared::aws_lambda_events::apigw::ApiGatewayCustomAuthorizerResponse;
use starling_shared::aws_lambda_events::iam::IamPolicyEffect;
use tracing::{info, warn};

use super::handshake::{HandshakeRequest, Refusal};
use crate::App;
use crate::events;
use crate::invoke::InvokeError;

/// Runs the authorizer; its context, flattened as API Gateway passes it to every integration
/// of the connection, when it allows the connection.
pub(super) async fn authorize(app: &App, request: &HandshakeRequest) -> Result<Map<String, Value>, Refusal> {
    let connection_id = &request.meta.connection_id;
    let event = events::authorizer_request(&request.meta, &request.headers, &request.query).map_err(|e| {
        warn!(connection_id = %connection_id, error = %e, "could not build the authorizer event");
        Refusal::Internal
    })?;
    let started = Instant::now();
    let answer = app.invoker.authorize(event).await;
    outcome(connection_id, answer, started.elapsed().as_millis())
}

/// API Gateway's reading of an authorizer's answer: the refusal `Unauthorized` is 401, any
/// other failure (of the function or of its invocation) 500, a policy that does not allow
/// invoking 403.
fn outcome(
    connection_id: &str,
    answer: Result<ApiGatewayCustomAuthorizerResponse, InvokeError>,
    latency_ms: u128,
) -> Result<Map<String, Value>, Refusal> {
    let refused = |refusal: Refusal| {
        info!(connection_id, status = refusal.status().as_u16(), "handshake refused by the authorizer");
        Err(refusal)
    };
    let response = match answer {
        Ok(r) => r,
        Err(InvokeError::Unauthorized) => return refused(Refusal::Unauthorized),
        Err(e) => {
            warn!(connection_id, error = %e, source = ?std::error::Error::source(&e), "authorizer failed");
            return Err(Refusal::Internal);
        }
    };
    if !allows_invoke(&response) {
        return refused(Refusal::Forbidden);
    }
    Ok(flattened_context(&response, latency_ms))
}

fn allows_invoke(response: &ApiGatewayCustomAuthorizerResponse) -> bool {
    response.policy_document.statement.iter().any(|s| {
        matches!(s.effect, IamPolicyEffect::Allow)
            && s.action.iter().any(|a| a == "execute-api:Invoke" || a == "execute-api:*" || a == "*")
    })
}

/// The context next to `principalId` and `integrationLatency`, as API Gateway flattens it.
fn flattened_context(response: &ApiGatewayCustomAuthorizerResponse, latency_ms: u128) -> Map<String, Value> {
    let mut authorizer = Map::new();
    if let Value::Object(ctx) = &response.context {
        // Only strings, numbers and booleans survive in a context, as in AWS.
        let scalars = ctx.iter().filter(|(_, v)| v.is_string() || v.is_number() || v.is_boolean());
        authorizer.extend(scalars.map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(p) = &response.principal_id {
        authorizer.insert("principalId".into(), json!(p));
    }
    authorizer.insert("integrationLatency".into(), json!(latency_ms));
    authorizer
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, StatusCode};
    use starling_shared::auth::JwtVerifier;
    use starling_shared::aws_lambda_events::apigw::ApiGatewayCustomAuthorizerPolicy;
    use starling_shared::aws_lambda_events::iam::IamPolicyStatement;
    use starling_shared::handlers::{self, Unauthorized};
    use starling_shared::lambda_runtime::{Context, LambdaEvent};

    use super::*;
    use crate::events::ConnectionMeta;
    use crate::invoke::Role;

    fn policy(effect: IamPolicyEffect) -> ApiGatewayCustomAuthorizerResponse {
        let mut statement = IamPolicyStatement::default();
        statement.action = vec!["execute-api:Invoke".to_owned()];
        statement.effect = effect;
        let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
        policy.statement = vec![statement];
        let mut response = ApiGatewayCustomAuthorizerResponse::default();
        response.principal_id = Some("alice".into());
        response.policy_document = policy;
        response.context = json!({ "user": "alice", "n": 1, "nested": { "no": true } });
        response
    }

    fn status(outcome: Result<Map<String, Value>, Refusal>) -> StatusCode {
        outcome.err().map_or(StatusCode::OK, |r| r.status())
    }

    #[tokio::test]
    async fn a_bad_token_is_401() {
        let meta = ConnectionMeta::sample();
        let query = vec![("token".to_owned(), "not.a.jwt".to_owned())];
        let event = events::authorizer_request(&meta, &HeaderMap::new(), &query).unwrap();
        let verifier: starling_shared::auth::TokenVerifier = JwtVerifier::new(b"secret").into();
        let answer = handlers::authorize(&verifier, LambdaEvent::new(event.payload, Context::default())).await;
        let refusal = answer.expect_err("a bad token is refused");
        assert!(refusal.downcast_ref::<Unauthorized>().is_some());
        assert_eq!(status(outcome("c", Err(InvokeError::Unauthorized), 0)), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn any_other_authorizer_failure_is_500() {
        let failure = InvokeError::Function {
            role: Role::Authorizer,
            error_type: "Handler".into(),
            message: "the authorizer's secret could not be read".into(),
        };
        assert_eq!(status(outcome("c", Err(failure), 0)), StatusCode::INTERNAL_SERVER_ERROR);
        let crashed = InvokeError::Function {
            role: Role::Authorizer,
            error_type: "Runtime.ExitError".into(),
            message: "Unauthorized".into(),
        };
        assert_eq!(status(outcome("c", Err(crashed), 0)), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_deny_policy_is_403() {
        assert_eq!(status(outcome("c", Ok(policy(IamPolicyEffect::Deny)), 0)), StatusCode::FORBIDDEN);
    }

    #[test]
    fn an_allow_policy_flattens_the_scalar_context() {
        let ctx = outcome("c", Ok(policy(IamPolicyEffect::Allow)), 7).unwrap();
        assert_eq!(
            Value::Object(ctx),
            json!({ "user": "alice", "n": 1, "principalId": "alice", "integrationLatency": 7 })
        );
    }
}
