//! Starling on one machine: an API Gateway-like WebSocket gateway, its Management API, and the
//! SQS → fanout event source mapping, all running the same handlers as the Lambdas.
//!
//! `serve(config)` binds, starts everything and returns a [`Handle`] with the bound address;
//! the `starling-devstack` binary and the end-to-end tests both start it this way.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_sqs::config::{Credentials, Region};
use axum::Router;
use axum::routing::get;
use starling_shared::adapters::apigw::ManagementApiPusher;
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::adapters::memory::MemoryStore;
use starling_shared::adapters::sqs::SqsQueue;
use starling_shared::auth::JwtVerifier;
use starling_shared::clock::SystemClock;
use starling_shared::ports::{
    ConnectionStore, MessageStore, PresenceStore, Queue, QueueError, RateLimiter, StoreError, SubscriptionStore,
};
use starling_shared::service::connection::ConnectionDeps;
use starling_shared::service::fanout::{FanoutDeps, FanoutSettings};
use starling_shared::service::send::{SendDeps, SendLimits};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub mod events;
pub mod faults;
mod gateway;
pub mod ids;
mod management;
mod mapping;
pub mod queue;

pub use faults::{AppendFault, Faults};
pub use queue::DlqEntry;

/// API Gateway's WebSocket limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayLimits {
    /// Largest frame (32 KB in AWS); a larger one closes the connection with 1009.
    pub max_frame_bytes: usize,
    /// Largest message, after reassembling frames (128 KB); larger closes with 1009.
    pub max_message_bytes: usize,
    /// A connection with no client frame for this long is closed (10 min).
    pub idle_timeout: Duration,
    /// Every connection is closed after this long (2 h).
    pub max_connection_duration: Duration,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 32 * 1024,
            max_message_bytes: 128 * 1024,
            idle_timeout: Duration::from_secs(10 * 60),
            max_connection_duration: Duration::from_secs(2 * 60 * 60),
        }
    }
}

/// The event source mapping and its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingSettings {
    /// Records per fanout invocation, 1 to 10.
    pub batch_size: usize,
    /// How long a received record stays invisible; a failed record comes back after it.
    /// SQS queues take whole seconds (rounded up).
    pub visibility_timeout: Duration,
    /// Receives before a record moves to the DLQ.
    pub max_receive_count: u32,
    /// Concurrent pollers (fanout invocations at once); FIFO order holds per group anyway.
    pub pollers: usize,
}

impl Default for MappingSettings {
    fn default() -> Self {
        Self { batch_size: 10, visibility_timeout: Duration::from_secs(30), max_receive_count: 5, pollers: 2 }
    }
}

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Backend {
    /// Everything in memory (the default): nothing to set up, gone on exit.
    #[default]
    Memory,
    /// DynamoDB and SQS through the AWS SDK: moto, LocalStack or AWS.
    Aws(AwsBackend),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsBackend {
    /// `None` uses the SDK's own endpoint resolution (AWS itself, or `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    pub table: String,
    /// The queue is `{queue}.fifo`, its DLQ `{queue}-dlq.fifo`.
    pub queue: String,
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// The API stage, the first path segment (`/local`).
    pub stage: String,
    pub jwt_secret: String,
    pub backend: Backend,
    pub limits: GatewayLimits,
    pub action_limits: SendLimits,
    pub mapping: MappingSettings,
    /// The fanout's settings; `endpoint_override` is set to this devstack's management API.
    pub fanout: FanoutSettings,
    /// Route keys with their own route besides `$default` (none in Starling's API).
    pub routes: Vec<String>,
    /// Start with the event source mapping paused (tests batch messages this way).
    pub start_paused: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 3001,
            stage: "local".into(),
            jwt_secret: "dev-secret".into(),
            backend: Backend::Memory,
            limits: GatewayLimits::default(),
            action_limits: SendLimits::default(),
            mapping: MappingSettings::default(),
            fanout: FanoutSettings::default(),
            routes: vec![],
            start_paused: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DevstackError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("creating the DynamoDB table failed")]
    Table(#[source] StoreError),
    #[error("creating the SQS queues failed (an existing queue with other attributes cannot be reused)")]
    Queues(#[source] QueueError),
    #[error("SQS request failed")]
    Sqs(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Shared by the gateway, the management API and the mapping.
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) local_addr: SocketAddr,
    pub(crate) api_id: String,
    pub(crate) verifier: JwtVerifier,
    pub(crate) connection_deps: ConnectionDeps,
    pub(crate) action_deps: SendDeps,
    pub(crate) registry: gateway::Registry,
    pub(crate) source: mapping::Source,
    /// Cancelled when connections must close (shutdown).
    pub(crate) closing: CancellationToken,
    pub(crate) sockets: TaskTracker,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

/// A running devstack.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
    app: Arc<App>,
    faults: Arc<Faults>,
    paused: watch::Sender<bool>,
    mapping_cancel: CancellationToken,
    pollers: Vec<JoinHandle<()>>,
    server_cancel: CancellationToken,
    server: JoinHandle<()>,
}

impl Handle {
    /// The bound address (with the real port when the config asked for 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/STAGE`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.app.config.stage)
    }

    /// `http://ADDR/STAGE`, the management API's endpoint.
    pub fn management_url(&self) -> String {
        format!("http://{}/{}", self.addr, self.app.config.stage)
    }

    pub fn config(&self) -> &Config {
        &self.app.config
    }

    /// Fault injection into the fanout's ports.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.app.registry.len()
    }

    /// Ids of the open connections.
    pub fn connection_ids(&self) -> Vec<String> {
        self.app.registry.ids()
    }

    /// Connection ids subscribed to `room`, as the store has them (every page).
    pub async fn subscribers(&self, room: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.app.action_deps.subscriptions.subscribers(room, cursor.as_deref()).await?;
            out.extend(page.items.into_iter().map(|s| s.connection_id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Stops the event source mapping from receiving (a batch in flight finishes).
    pub fn pause_fanout(&self) {
        self.paused.send_replace(true);
    }

    pub fn resume_fanout(&self) {
        self.paused.send_replace(false);
    }

    /// Puts a raw body on the queue in `group`, as a foreign or corrupt writer would.
    pub async fn enqueue_raw(&self, group: &str, body: &str) -> Result<(), DevstackError> {
        self.app.source.send_raw(group, body).await
    }

    /// What is in the dead-letter queue.
    pub async fn dlq(&self) -> Result<Vec<DlqEntry>, DevstackError> {
        self.app.source.dlq().await
    }

    /// Graceful shutdown: the fanout finishes the batches in flight, every client gets a close
    /// frame (1001) and its `$disconnect` runs, then the listener stops.
    pub async fn shutdown(self) {
        info!("shutting down: finishing in-flight fanouts");
        self.mapping_cancel.cancel();
        for p in self.pollers {
            let _ = p.await;
        }
        info!(connections = self.app.registry.len(), "closing connections");
        self.app.closing.cancel();
        self.app.sockets.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.app.sockets.wait()).await;
        self.server_cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        info!("stopped");
    }
}

fn dummy_credentials() -> Credentials {
    Credentials::new("devstack", "devstack", None, None, "starling-devstack")
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty())
}

/// The SDK config: the region from the environment or us-east-1; credentials from the
/// environment, or dummy ones when none are configured (moto and LocalStack accept anything).
pub async fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if !env_set("AWS_REGION") && !env_set("AWS_DEFAULT_REGION") {
        loader = loader.region(Region::new(events::REGION));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if !env_set("AWS_ACCESS_KEY_ID") && !env_set("AWS_PROFILE") && !env_set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        loader = loader.credentials_provider(dummy_credentials());
    }
    loader.load().await
}

/// The config of the in-memory backend: no network lookups for credentials or region.
async fn local_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(events::REGION))
        .credentials_provider(dummy_credentials())
        .load()
        .await
}

struct Ports {
    connections: Arc<dyn ConnectionStore>,
    subscriptions: Arc<dyn SubscriptionStore>,
    messages: Arc<dyn MessageStore>,
    limiter: Arc<dyn RateLimiter>,
    presence: Arc<dyn PresenceStore>,
    queue: Arc<dyn Queue>,
    source: mapping::Source,
    sdk: SdkConfig,
}

async fn ports(config: &Config) -> Result<Ports, DevstackError> {
    match &config.backend {
        Backend::Memory => {
            let store = Arc::new(MemoryStore::new());
            let fifo =
                Arc::new(queue::MemoryFifo::new(config.mapping.visibility_timeout, config.mapping.max_receive_count));
            Ok(Ports {
                connections: store.clone(),
                subscriptions: store.clone(),
                messages: store.clone(),
                limiter: store.clone(),
                presence: store,
                queue: fifo.clone(),
                source: mapping::Source::Memory(fifo),
                sdk: local_sdk_config().await,
            })
        }
        Backend::Aws(aws) => {
            let sdk = sdk_config(aws.endpoint_url.as_deref()).await;
            let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
            DynamoStore::create_table_if_missing(&dynamo, &aws.table).await.map_err(DevstackError::Table)?;
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            let visibility =
                u32::try_from(config.mapping.visibility_timeout.as_secs_f64().ceil() as u64).unwrap_or(u32::MAX);
            let (url, dlq_url) =
                SqsQueue::create_fifo_with_dlq(&sqs, &aws.queue, visibility, config.mapping.max_receive_count)
                    .await
                    .map_err(DevstackError::Queues)?;
            let store = Arc::new(DynamoStore::new(dynamo, aws.table.clone()));
            Ok(Ports {
                connections: store.clone(),
                subscriptions: store.clone(),
                messages: store.clone(),
                limiter: store.clone(),
                presence: store,
                queue: Arc::new(SqsQueue::new(sqs.clone(), url.clone())),
                source: mapping::Source::Sqs { client: sqs, url, dlq_url },
                sdk,
            })
        }
    }
}

fn validate(config: &Config) -> Result<(), DevstackError> {
    let stage_ok =
        !config.stage.is_empty() && config.stage.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !stage_ok {
        return Err(DevstackError::Config(format!("stage {:?} must be letters, digits, _ or -", config.stage)));
    }
    if !(1..=10).contains(&config.mapping.batch_size) {
        return Err(DevstackError::Config("batch size must be 1 to 10".into()));
    }
    if config.jwt_secret.is_empty() {
        return Err(DevstackError::Config("the JWT secret must not be empty".into()));
    }
    Ok(())
}

/// Binds, creates the backend's resources when missing, and starts the gateway, the
/// management API and the event source mapping.
pub async fn serve(config: Config) -> Result<Handle, DevstackError> {
    validate(&config)?;
    let bind = SocketAddr::new(config.host, config.port);
    let listener =
        tokio::net::TcpListener::bind(bind).await.map_err(|source| DevstackError::Bind { addr: bind, source })?;
    let addr = listener.local_addr().map_err(|source| DevstackError::Bind { addr: bind, source })?;
    let mut ports = ports(&config).await?;
    let faults = Arc::new(Faults::default());
    ports.queue = Arc::new(faults::FaultyQueue { inner: ports.queue, faults: faults.clone() });

    // The fanout posts to this devstack's management API over HTTP, as in AWS.
    let reachable =
        if addr.ip().is_unspecified() { SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()) } else { addr };
    let management = format!("http://{reachable}/{}", config.stage);
    let mut fanout_settings = config.fanout.clone();
    fanout_settings.endpoint_override = Some(management.clone());
    let pusher = Arc::new(ManagementApiPusher::new(ports.sdk.clone()));

    let fanout_deps = FanoutDeps {
        messages: Arc::new(faults::FaultyMessages { inner: ports.messages.clone(), faults: faults.clone() }),
        subscriptions: ports.subscriptions.clone(),
        connections: ports.connections.clone(),
        presence: ports.presence.clone(),
        pusher: pusher.clone(),
        clock: Arc::new(SystemClock),
        settings: fanout_settings,
    };
    let action_deps = SendDeps {
        subscriptions: ports.subscriptions.clone(),
        messages: ports.messages.clone(),
        limiter: ports.limiter.clone(),
        queue: ports.queue.clone(),
        presence: ports.presence.clone(),
        pusher,
        clock: Arc::new(SystemClock),
        limits: config.action_limits,
        endpoint_override: Some(management),
    };
    let app = Arc::new(App {
        verifier: JwtVerifier::new(config.jwt_secret.as_bytes()),
        connection_deps: ConnectionDeps {
            connections: ports.connections.clone(),
            presence: ports.presence.clone(),
            queue: ports.queue.clone(),
            clock: Arc::new(SystemClock),
        },
        action_deps,
        registry: gateway::Registry::default(),
        source: ports.source.clone(),
        closing: CancellationToken::new(),
        sockets: TaskTracker::new(),
        local_addr: addr,
        api_id: ids::api_id(),
        config,
    });

    let stage = app.config.stage.clone();
    let router = Router::new()
        .route(&format!("/{stage}"), get(gateway::handshake))
        .route(
            &format!("/{stage}/@connections/{{id}}"),
            get(management::get).post(management::post).delete(management::delete),
        )
        .route(&format!("/{stage}/_devstack/dlq"), get(management::dlq))
        .layer(axum::extract::DefaultBodyLimit::max(management::MAX_POST_BYTES * 2))
        .with_state(app.clone());
    let server_cancel = CancellationToken::new();
    let stop = server_cancel.clone();
    let server = tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service).with_graceful_shutdown(stop.cancelled_owned()).await {
            tracing::error!(error = %e, "server failed");
        }
    });

    let (paused, paused_rx) = watch::channel(app.config.start_paused);
    let mapping_cancel = CancellationToken::new();
    let pollers = (0..app.config.mapping.pollers.max(1))
        .map(|_| {
            tokio::spawn(mapping::poll(
                app.source.clone(),
                fanout_deps.clone(),
                app.config.mapping.batch_size,
                paused_rx.clone(),
                mapping_cancel.clone(),
            ))
        })
        .collect();
    info!(%addr, stage = %app.config.stage, backend = ?app.config.backend, "devstack listening");
    Ok(Handle { addr, app, faults, paused, mapping_cancel, pollers, server_cancel, server })
}
