//! The one place that turns a store, a queue and a pusher into each function's dependencies.
//! The binaries, the devstack, the tests and the benches all wire through here, so a new port
//! or a new dependency is added once.
//!
//! Ports are injected as `Arc<dyn Trait>` (as axum injects state): one store value serves every
//! store port, the same code runs on DynamoDB and in memory, and the cost of a dynamic call is
//! nothing next to the network call behind it.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::adapters::apigw::ManagementApiPusher;
use crate::adapters::dynamo::DynamoStore;
use crate::adapters::sqs::SqsQueue;
use crate::clock::{Clock, SystemClock};
use crate::config::{ConnectionConfig, FanoutConfig, SendConfig};
use crate::ports::{ConnectionStore, MessageStore, PresenceStore, Pusher, Queue, RateLimiter, SubscriptionStore};
use crate::service::connection::ConnectionDeps;
use crate::service::fanout::{FanoutDeps, FanoutSettings};
use crate::service::send::{SendDeps, SendLimits};

/// Every store port at once: what `DynamoStore` and `MemoryStore` each implement.
pub trait Store: ConnectionStore + SubscriptionStore + MessageStore + PresenceStore + RateLimiter {}

impl<T> Store for T where T: ConnectionStore + SubscriptionStore + MessageStore + PresenceStore + RateLimiter {}

/// A store, a queue, a pusher and a clock: everything the functions are built from.
#[derive(Clone)]
pub struct Ports {
    /// Every store port.
    pub store: Arc<dyn Store>,
    /// Between `send`/`$connect`/`$disconnect` and the fanout.
    pub queue: Arc<dyn Queue>,
    /// Posts to connections.
    pub pusher: Arc<dyn Pusher>,
    /// Now.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").field("clock", &self.clock).finish_non_exhaustive()
    }
}

impl Ports {
    /// The ports on the system clock.
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>, pusher: Arc<dyn Pusher>) -> Self {
        Self { store, queue, pusher, clock: Arc::new(SystemClock) }
    }

    /// The same ports on another clock (tests).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// What `$connect` and `$disconnect` need.
    pub fn connection(&self) -> ConnectionDeps {
        connection(self.store.clone(), self.queue.clone(), self.clock.clone())
    }

    /// What the `send` function needs.
    pub fn send(&self, limits: SendLimits, endpoint_override: Option<String>) -> SendDeps {
        send(self.store.clone(), self.queue.clone(), self.pusher.clone(), self.clock.clone(), limits, endpoint_override)
    }

    /// What the fanout needs.
    pub fn fanout(&self, settings: FanoutSettings) -> FanoutDeps {
        fanout(self.store.clone(), self.pusher.clone(), self.clock.clone(), settings)
    }
}

fn connection(store: Arc<dyn Store>, queue: Arc<dyn Queue>, clock: Arc<dyn Clock>) -> ConnectionDeps {
    ConnectionDeps { connections: store.clone(), presence: store, queue, clock }
}

fn send(
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    pusher: Arc<dyn Pusher>,
    clock: Arc<dyn Clock>,
    limits: SendLimits,
    endpoint_override: Option<String>,
) -> SendDeps {
    SendDeps {
        subscriptions: store.clone(),
        messages: store.clone(),
        limiter: store.clone(),
        presence: store,
        queue,
        pusher,
        clock,
        limits,
        endpoint_override,
    }
}

fn fanout(
    store: Arc<dyn Store>,
    pusher: Arc<dyn Pusher>,
    clock: Arc<dyn Clock>,
    settings: FanoutSettings,
) -> FanoutDeps {
    FanoutDeps {
        messages: store.clone(),
        subscriptions: store.clone(),
        connections: store.clone(),
        presence: store,
        pusher,
        clock,
        settings,
    }
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

    /// The Management API, one client per endpoint.
    pub fn pusher(sdk: &SdkConfig) -> Arc<ManagementApiPusher> {
        Arc::new(ManagementApiPusher::new(sdk.clone()))
    }

    /// `$connect` and `$disconnect` on AWS.
    pub fn connection_deps(sdk: &SdkConfig, config: ConnectionConfig) -> ConnectionDeps {
        super::connection(store(sdk, config.table), queue(sdk, config.queue_url), Arc::new(SystemClock))
    }

    /// The `send` function on AWS.
    pub fn send_deps(sdk: &SdkConfig, config: SendConfig) -> SendDeps {
        super::send(
            store(sdk, config.table),
            queue(sdk, config.queue_url),
            pusher(sdk),
            Arc::new(SystemClock),
            config.limits,
            config.endpoint_override,
        )
    }

    /// The fanout on AWS.
    pub fn fanout_deps(sdk: &SdkConfig, config: FanoutConfig) -> FanoutDeps {
        super::fanout(store(sdk, config.table), pusher(sdk), Arc::new(SystemClock), config.settings)
    }
}
