//! The API Gateway Management API adapter of the `Pusher` port.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

use super::is_throttle;
use crate::ports::{PushError, Pusher};
use crate::protocol::MAX_FRAME_BYTES;

/// Posts through `@connections`, with one client per management endpoint (one per API stage,
/// in practice one), built on first use from the shared SDK config.
#[derive(Debug)]
pub struct ManagementApiPusher {
    config: SdkConfig,
    interceptors: Vec<SharedInterceptor>,
    clients: Mutex<HashMap<String, Client>>,
}

impl ManagementApiPusher {
    /// A pusher that builds its clients from `config` (credentials, region, retries) on the first
    /// post to each endpoint. Clients are made lazily because the endpoint is only known from
    /// each event or message (or the `STARLING_WS_ENDPOINT` override).
    pub fn new(config: SdkConfig) -> Self {
        Self { config, interceptors: Vec::new(), clients: Mutex::default() }
    }

    /// Adds `interceptor` to every client this pusher builds (the cost benchmark counts posts
    /// with one).
    pub fn with_interceptor(mut self, interceptor: SharedInterceptor) -> Self {
        self.interceptors.push(interceptor);
        self
    }

    /// Uses `client` for `endpoint` (tests inject mocked clients this way).
    pub fn with_client(self, endpoint: &str, client: Client) -> Self {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).insert(endpoint.to_owned(), client);
        self
    }

    fn client(&self, endpoint: &str) -> Client {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(endpoint.to_owned())
            .or_insert_with(|| {
                // The callers retry posts with their `PushPolicy`, one bounded loop; the SDK's own
                // retries (seconds of back-off each) would multiply it, and one subscriber whose
                // posts fail would hold up its room's whole fanout.
                let mut conf = aws_sdk_apigatewaymanagement::config::Builder::from(&self.config)
                    .endpoint_url(endpoint)
                    .retry_config(RetryConfig::disabled());
                for interceptor in &self.interceptors {
                    conf.push_interceptor(interceptor.clone());
                }
                Client::from_conf(conf.build())
            })
            .clone()
    }
}

#[async_trait]
impl Pusher for ManagementApiPusher {
    async fn post(&self, endpoint: &str, connection_id: &str, data: &[u8]) -> Result<(), PushError> {
        if data.len() > MAX_FRAME_BYTES {
            // AWS would answer 413 after the upload; refusing here saves the round trip.
            return Err(PushError::TooLarge { bytes: data.len() });
        }
        let result =
            self.client(endpoint).post_to_connection().connection_id(connection_id).data(Blob::new(data)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(PostToConnectionError::GoneException(_)) => Err(PushError::Gone(connection_id.to_owned())),
                Some(PostToConnectionError::PayloadTooLargeException(_)) => {
                    Err(PushError::TooLarge { bytes: data.len() })
                }
                _ if is_throttle(e.code()) => Err(PushError::Throttled(Box::new(e))),
                _ => Err(PushError::Failed(Box::new(e))),
            },
        }
    }
}
