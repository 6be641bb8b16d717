//! The Lambda Invoke mode: each function is invoked by name through the Invoke API
//! (RequestResponse) with the exact event JSON AWS sends, and its answer read into the response
//! type the in-process handler returns.
//!
//! A failed invocation is reported three ways, all read as [`InvokeError::Function`]: AWS's
//! Invoke API answers 200 with `X-Amz-Function-Error` and Lambda's error document;
//! `cargo lambda watch` answers HTTP 500 (and the Runtime Interface Emulator 502 when the
//! runtime dies); the Runtime Interface Emulator answers a handler's error with 200 and the
//! error document alone, as it does not pass the header on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::retry::RetryConfig;
use serde::de::DeserializeOwned;
use serde_json::Value;
use starling_shared::aws_lambda_events::apigw::ApiGatewayProxyResponse;
use starling_shared::aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::{
    AuthorizerRequest, AuthorizerResponse, ErrorDocument, InvokeError, Invoker, LambdaFunctions, Role, WebsocketRequest,
};
use crate::backend::sdk_config;
use crate::events::Event;

/// One function: its name, the client of its endpoint, and its turns when its concurrency is
/// limited.
#[derive(Debug, Clone)]
struct Function {
    name: String,
    client: aws_sdk_lambda::Client,
    turns: Option<Arc<Semaphore>>,
}

/// The five functions behind the Invoke API.
#[derive(Debug, Clone)]
pub(crate) struct LambdaInvoker {
    functions: HashMap<Role, Function>,
}

impl LambdaInvoker {
    /// One Lambda client per distinct endpoint, with the devstack's SDK config (region and
    /// credentials from the environment, else dummy ones, as for moto).
    pub(crate) async fn new(targets: &LambdaFunctions) -> Self {
        let mut clients: HashMap<String, aws_sdk_lambda::Client> = HashMap::new();
        let mut functions = HashMap::new();
        for role in Role::ALL {
            let target = targets.target(role);
            let endpoint = target.endpoint.as_str();
            let client = match clients.get(endpoint) {
                Some(c) => c.clone(),
                None => {
                    let client = client(&sdk_config(Some(endpoint)).await);
                    clients.insert(endpoint.to_owned(), client.clone());
                    client
                }
            };
            let turns = targets.concurrency().map(|n| Arc::new(Semaphore::new(n.get())));
            functions.insert(role, Function { name: target.name.clone(), client, turns });
        }
        Self { functions }
    }

    /// Every role on one client, by its default name (the adapter tests' mocked client).
    #[cfg(test)]
    pub(crate) fn on(client: &aws_sdk_lambda::Client) -> Self {
        let functions = Role::ALL
            .into_iter()
            .map(|r| (r, Function { name: r.default_name(), client: client.clone(), turns: None }))
            .collect();
        Self { functions }
    }

    async fn invoke<R: DeserializeOwned>(&self, role: Role, event: &Value) -> Result<R, InvokeError> {
        let function = &self.functions[&role];
        // The semaphore is never closed, so acquiring only fails if it were: then go ahead.
        let _turn = match &function.turns {
            Some(turns) => turns.acquire().await.ok(),
            None => None,
        };
        let started = Instant::now();
        let answer = self.call(role, function, event).await;
        let latency_ms = started.elapsed().as_millis();
        match &answer {
            Ok(_) => debug!(function = %function.name, %role, latency_ms, "invoked"),
            Err(InvokeError::Unauthorized) => debug!(function = %function.name, %role, latency_ms, "refused"),
            Err(e) => {
                warn!(function = %function.name, %role, latency_ms, error = %DisplayErrorContext(e), "invocation failed");
            }
        }
        answer
    }

    async fn call<R: DeserializeOwned>(
        &self,
        role: Role,
        function: &Function,
        event: &Value,
    ) -> Result<R, InvokeError> {
        let payload = Blob::new(event.to_string());
        let sent = function
            .client
            .invoke()
            .function_name(&function.name)
            .invocation_type(InvocationType::RequestResponse)
            .payload(payload)
            .send()
            .await;
        let output = match sent {
            Ok(output) => output,
            Err(SdkError::ServiceError(e)) if e.raw().status().is_server_error() => {
                let status = e.raw().status().as_u16();
                let body = e.raw().body().bytes().unwrap_or_default();
                return Err(server_error(role, status, body));
            }
            Err(e) => return Err(InvokeError::Transport { role, name: function.name.clone(), source: Box::new(e) }),
        };
        let body = output.payload().map(Blob::as_ref).unwrap_or_default();
        if let Some(kind) = output.function_error() {
            let doc = ErrorDocument::parse(body).unwrap_or(ErrorDocument { error_type: None, error_message: None });
            return Err(doc.into_error(role, kind));
        }
        if let Some(doc) = ErrorDocument::parse(body) {
            return Err(doc.into_error(role, "Unhandled"));
        }
        serde_json::from_slice(body).map_err(|source| InvokeError::Response { role, source })
    }
}

/// A 5xx from the endpoint: the emulators' way of reporting a failed invocation, with Lambda's
/// error document when they have one.
fn server_error(role: Role, status: u16, body: &[u8]) -> InvokeError {
    let fallback = format!("HTTP {status}");
    match ErrorDocument::parse(body) {
        Some(doc) => doc.into_error(role, &fallback),
        None => {
            InvokeError::Function { role, error_type: fallback, message: String::from_utf8_lossy(body).into_owned() }
        }
    }
}

/// The Invoke API client's config: no SDK retries, as API Gateway and the event source mapping
/// do not invoke again after a failed synchronous invocation (and a function must not run twice
/// for one frame because an emulator answered 500).
fn configured(builder: aws_sdk_lambda::config::Builder) -> aws_sdk_lambda::config::Builder {
    builder.retry_config(RetryConfig::disabled())
}

fn client(sdk: &aws_config::SdkConfig) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::from_conf(configured(aws_sdk_lambda::config::Builder::from(sdk)).build())
}

#[async_trait]
impl Invoker for LambdaInvoker {
    async fn authorize(&self, event: Event<AuthorizerRequest>) -> Result<AuthorizerResponse, InvokeError> {
        self.invoke(Role::Authorizer, &event.json).await
    }

    async fn connect(&self, event: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError> {
        self.invoke(Role::Connect, &event.json).await
    }

    async fn disconnect(&self, event: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError> {
        self.invoke(Role::Disconnect, &event.json).await
    }

    async fn send(&self, event: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError> {
        self.invoke(Role::Send, &event.json).await
    }

    async fn fanout(&self, event: Event<SqsEvent>) -> Result<SqsBatchResponse, InvokeError> {
        self.invoke(Role::Fanout, &event.json).await
    }
}

#[cfg(test)]
#[path = "lambda_tests.rs"]
mod tests;
