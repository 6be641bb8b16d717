//! The one place that turns a store, a queue and a pusher into each function's dependencies.
//! The binaries, the devstack, the tests and the benches all wire through here, so a new port
//! or a new dependency is added once.
//!
//! Ports are injected as `Arc<dyn Trait>` (as axum injects state): one store value serves every
//! store port, the same code runs on DynamoDB and in memory, and the cost of a dynamic call is
//! nothing next to the network call behind it. Every function starts on the system clock; tests
//! replace `clock` on what these return.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::adapters::apigw::ManagementApiPusher;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::sqs::{SqsDeadLetters, SqsQueue};
use crate::clock::SystemClock;
use crate::config::{ConfigError, ConnectionConfig, FanoutConfig, SendConfig};
use crate::ports::{DeadLetters, FanoutLedger, Pusher, Queue, Store};
use crate::service::Stores;
use crate::service::connection::ConnectionDeps;
use crate::service::fanout::{FanoutDeps, FanoutSettings};
use crate::service::send::{SendDeps, SendLimits};

/// What `$connect` and `$disconnect` need.
pub fn connection(store: Arc<dyn Store>, queue: Arc<dyn Queue>) -> ConnectionDeps {
    ConnectionDeps { stores: Stores::new(store), queue, clock: Arc::new(SystemClock) }
}

/// What the `send` function needs.
pub fn send(
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    pusher: Arc<dyn Pusher>,
    limits: SendLimits,
    endpoint_override: Option<String>,
) -> SendDeps {
    SendDeps { stores: Stores::new(store), queue, pusher, clock: Arc::new(SystemClock), limits, endpoint_override }
}

/// What the fanout needs: the store also keeps its ledger (failure counts, delivery
/// checkpoints).
pub fn fanout(
    store: Arc<dyn Store>,
    pusher: Arc<dyn Pusher>,
    dead_letters: Arc<dyn DeadLetters>,
    settings: FanoutSettings,
) -> FanoutDeps {
    let ledger: Arc<dyn FanoutLedger> = store.clone();
    let stores = Stores::new(store);
    FanoutDeps { stores, ledger, dead_letters, pusher, deliveries: None, clock: Arc::new(SystemClock), settings }
}

/// The AWS adapters, each client built once from the function's SDK config.
pub mod aws {
    use super::*;

    /// DynamoDB, single table.
    pub fn store(sdk: &SdkConfig, table: impl Into<String>) -> Arc<DynamoStore> {
        Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table.into()))
    }

    /// SQS FIFO.
    pub fn queue(sdk: &SdkConfig, url: impl Into<String>) -> Arc<SqsQueue> {
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url))
    }

    /// The FIFO dead-letter queue the fanout sends what it gives up on.
    pub fn dead_letters(sdk: &SdkConfig, url: impl Into<String>) -> Arc<SqsDeadLetters> {
        Arc::new(SqsDeadLetters::new(aws_sdk_sqs::Client::new(sdk), url))
    }

    /// The Management API, one client per endpoint.
    pub fn pusher(sdk: &SdkConfig) -> Arc<ManagementApiPusher> {
        Arc::new(ManagementApiPusher::new(sdk.clone()))
    }

    /// `$connect` and `$disconnect` on AWS.
    pub fn connection_deps(sdk: &SdkConfig, config: ConnectionConfig) -> ConnectionDeps {
        super::connection(store(sdk, config.table), queue(sdk, config.queue_url))
    }

    /// The `send` function on AWS.
    pub fn send_deps(sdk: &SdkConfig, config: SendConfig) -> SendDeps {
        let (limits, endpoint) = (config.limits, config.endpoint_override);
        super::send(store(sdk, config.table), queue(sdk, config.queue_url), pusher(sdk), limits, endpoint)
    }

    /// The fanout on AWS.
    pub fn fanout_deps(sdk: &SdkConfig, config: FanoutConfig) -> FanoutDeps {
        let mut deps =
            super::fanout(store(sdk, config.table), pusher(sdk), dead_letters(sdk, config.dlq_url), config.settings);
        deps.deliveries = config.deliver_queue_url.map(|url| queue(sdk, url) as Arc<dyn Queue>);
        deps
    }

    // The binaries' init: the configuration is read before any client is built, so a missing
    // variable fails init with its name and nothing else runs.

    /// `$connect`'s and `$disconnect`'s init.
    pub async fn connection_from_env() -> Result<ConnectionDeps, ConfigError> {
        let config = ConnectionConfig::from_env()?;
        Ok(connection_deps(&crate::sdk::from_env().await, config))
    }

    /// The `send` function's init.
    pub async fn send_from_env() -> Result<SendDeps, ConfigError> {
        let config = SendConfig::from_env()?;
        Ok(send_deps(&crate::sdk::from_env().await, config))
    }

    /// The fanout's init.
    pub async fn fanout_from_env() -> Result<FanoutDeps, ConfigError> {
        let config = FanoutConfig::from_env()?;
        Ok(fanout_deps(&crate::sdk::from_env().await, config))
    }
}
