//! The default invoker: the handlers of `starling_shared`, called in the devstack's process
//! with the deps `App` wired over the devstack's ports (and its faults), each as its function for
//! the metrics page (`metrics_page::as_function`).

use std::time::Duration;

use async_trait::async_trait;
use starling_shared::auth::TokenVerifier;
use starling_shared::aws_lambda_events::apigw::ApiGatewayProxyResponse;
use starling_shared::aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use starling_shared::handlers::{self, Unauthorized};
use starling_shared::lambda_runtime::{self, Context, LambdaEvent};
use starling_shared::service::connection::ConnectionDeps;
use starling_shared::service::fanout::FanoutDeps;
use starling_shared::service::send::SendDeps;
use starling_shared::telemetry::metric::Function;

use super::{AuthorizerRequest, AuthorizerResponse, InvokeError, Invoker, Role, WebsocketRequest};
use crate::events::Event;
use crate::faults::invocation;
use crate::metrics_page::as_function;

/// Every handler with its deps, as each Lambda holds its own.
#[derive(Debug)]
pub(crate) struct InProcess {
    pub(crate) verifier: TokenVerifier,
    pub(crate) connection: ConnectionDeps,
    pub(crate) action: SendDeps,
    pub(crate) fanout: FanoutDeps,
    /// The fanout's timeout: its `Context::deadline` is this far ahead, as in Lambda.
    pub(crate) fanout_timeout: Duration,
}

/// A handler's error as the Invoke API would report it.
fn failed(role: Role, e: &lambda_runtime::Error) -> InvokeError {
    InvokeError::Function { role, error_type: "Handler".to_owned(), message: e.to_string() }
}

/// The authorizer's typed refusal is the 401; any other error, even one that merely says
/// "Unauthorized", is a failure.
fn authorizer_error(e: &lambda_runtime::Error) -> InvokeError {
    if e.downcast_ref::<Unauthorized>().is_some() { InvokeError::Unauthorized } else { failed(Role::Authorizer, e) }
}

#[async_trait]
impl Invoker for InProcess {
    async fn authorize(&self, event: Event<AuthorizerRequest>) -> Result<AuthorizerResponse, InvokeError> {
        let event = LambdaEvent::new(event.payload, Context::default());
        as_function(Function::Authorizer, handlers::authorize(&self.verifier, event))
            .await
            .map_err(|e| authorizer_error(&e))
    }

    async fn connect(&self, event: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError> {
        let event = LambdaEvent::new(event.payload, Context::default());
        as_function(Function::Connect, handlers::connect(&self.connection, event))
            .await
            .map_err(|e| failed(Role::Connect, &e))
    }

    async fn disconnect(&self, event: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError> {
        let event = LambdaEvent::new(event.payload, Context::default());
        as_function(Function::Disconnect, handlers::disconnect(&self.connection, event))
            .await
            .map_err(|e| failed(Role::Disconnect, &e))
    }

    async fn send(&self, event: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError> {
        let event = LambdaEvent::new(event.payload, Context::default());
        as_function(Function::Send, handlers::send(&self.action, event)).await.map_err(|e| failed(Role::Send, &e))
    }

    /// Runs inside a crash scope, so an injected crash ends it wherever it fires.
    async fn fanout(&self, event: Event<SqsEvent>) -> Result<SqsBatchResponse, InvokeError> {
        let mut context = Context::default();
        let deadline = chrono::Utc::now() + self.fanout_timeout;
        context.deadline = u64::try_from(deadline.timestamp_millis()).unwrap_or_default();
        let handler = handlers::fanout(&self.fanout, LambdaEvent::new(event.payload, context));
        match invocation::run(as_function(Function::Fanout, handler)).await {
            None => Err(InvokeError::Crashed { role: Role::Fanout }),
            Some(answer) => answer.map_err(|e| failed(Role::Fanout, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_typed_refusal_is_unauthorized() {
        let typed: lambda_runtime::Error = Box::new(Unauthorized);
        assert!(matches!(authorizer_error(&typed), InvokeError::Unauthorized));
        let says_so: lambda_runtime::Error = "Unauthorized".into();
        assert!(matches!(
            authorizer_error(&says_so),
            InvokeError::Function { role: Role::Authorizer, ref message, .. } if message == "Unauthorized"
        ));
    }
}
