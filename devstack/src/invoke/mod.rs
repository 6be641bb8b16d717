//! How the gateway and the event source mapping run a function: the [`Invoker`] port, with the
//! handlers of `starling_shared` called in-process ([`InProcess`], the default) or the real
//! functions called through the Lambda Invoke API ([`LambdaInvoker`], `--lambda-endpoint`).
//! Either way the caller gets the `aws_lambda_events` response type, or an [`InvokeError`] that
//! API Gateway and the event source mapping treat the same way whichever side failed.

mod in_process;
mod lambda;
mod target;

use async_trait::async_trait;
use serde::Deserialize;
use starling_shared::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse, ApiGatewayProxyResponse,
    ApiGatewayWebsocketProxyRequest,
};
use starling_shared::aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

pub(crate) use in_process::InProcess;
pub(crate) use lambda::LambdaInvoker;
pub use target::{Endpoint, FunctionFlag, FunctionTarget, Functions, LambdaFunctions, Role, TargetError};

use crate::events::Event;

/// The authorizer's request event.
pub(crate) type AuthorizerRequest = ApiGatewayCustomAuthorizerRequestTypeRequest;
/// The authorizer's answer.
pub(crate) type AuthorizerResponse = ApiGatewayCustomAuthorizerResponse;
/// A `$connect`, `$disconnect` or message event.
pub(crate) type WebsocketRequest = ApiGatewayWebsocketProxyRequest;

/// Runs Starling's functions for the gateway and the mapping. One method per function, each
/// taking the event API Gateway (or the SQS event source mapping) builds and answering what
/// the function returned.
#[async_trait]
pub(crate) trait Invoker: Send + Sync + std::fmt::Debug {
    /// The `$connect` REQUEST authorizer.
    async fn authorize(&self, event: Event<AuthorizerRequest>) -> Result<AuthorizerResponse, InvokeError>;
    /// `$connect`.
    async fn connect(&self, event: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError>;
    /// `$disconnect`.
    async fn disconnect(&self, event: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError>;
    /// A message route.
    async fn send(&self, event: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError>;
    /// The fanout, with one batch; the mapping bounds it with the function's timeout.
    async fn fanout(&self, event: Event<SqsEvent>) -> Result<SqsBatchResponse, InvokeError>;
}

/// Why an invocation produced no response. API Gateway and the event source mapping react to
/// every variant alike (the handshake is refused with 500, the client gets the integration
/// error frame, the whole batch comes back), except [`InvokeError::Unauthorized`], the
/// authorizer's refusal, which refuses the handshake with 401.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvokeError {
    /// The authorizer refused the token: in-process its typed `Unauthorized`, through the
    /// Invoke API a function error whose message is exactly `Unauthorized`, which API Gateway
    /// answers with 401.
    #[error("the authorizer refused the connection (Unauthorized)")]
    Unauthorized,
    /// The function failed: the handler returned an error, or the runtime or the emulator
    /// reported one (`X-Amz-Function-Error`, a 5xx, or Lambda's error document). The function's
    /// own logs say why.
    #[error("the {role} function failed ({error_type}): {message}")]
    Function {
        /// Which function.
        role: Role,
        /// Lambda's `errorType` (or `HTTP 500` when an emulator gave none).
        error_type: String,
        /// Lambda's `errorMessage`.
        message: String,
    },
    /// The fanout invocation was ended by an injected crash (in-process only).
    #[error("the {role} invocation crashed (injected)")]
    Crashed {
        /// Which function.
        role: Role,
    },
    /// The Invoke request itself failed: nothing listening at the endpoint, no such function,
    /// a refused request. Check the endpoint and function name flags.
    #[error("invoking the {role} function {name:?} failed")]
    Transport {
        /// Which function.
        role: Role,
        /// The name it was invoked by.
        name: String,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The function answered with JSON that is not its response type.
    #[error("the {role} function answered with something that is not its response")]
    Response {
        /// Which function.
        role: Role,
        /// Why the JSON could not be read.
        #[source]
        source: serde_json::Error,
    },
}

/// Lambda's error document, as the runtime reports a failed invocation and the Invoke API
/// (or an emulator) answers it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorDocument {
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
}

impl ErrorDocument {
    /// The document in `body`, if it is one: an object with `errorType` or `errorMessage`.
    fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body).ok().filter(|d| d.error_type.is_some() || d.error_message.is_some())
    }

    fn into_error(self, role: Role, fallback_type: &str) -> InvokeError {
        let message = self.error_message.unwrap_or_default();
        // API Gateway answers 401 to an authorizer that fails with exactly this message.
        if role == Role::Authorizer && message == "Unauthorized" {
            return InvokeError::Unauthorized;
        }
        InvokeError::Function { role, error_type: self.error_type.unwrap_or_else(|| fallback_type.to_owned()), message }
    }
}
