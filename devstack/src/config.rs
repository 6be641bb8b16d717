//! What `serve` is told: where to listen, which backend, and the limits and settings that
//! stand in for API Gateway's, the event source mapping's and the queue's.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use starling_shared::service::fanout::FanoutSettings;
use starling_shared::service::send::SendLimits;

use crate::DevstackError;
use crate::invoke::Functions;

/// The devstack's default JWT secret. Tokens signed with it are dev tokens: anyone can mint
/// them, so the devstack mints them too (`POST /_devstack/token`), and only while it uses it.
pub const DEV_SECRET: &str = "dev-secret";

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
    /// Bytes queued for one client and not yet written to its socket; a post or reply past it
    /// is refused (`LimitExceededException`) and the connection closed, so a client that
    /// does not read cannot grow the devstack's memory.
    pub outbox_bytes: usize,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 32 * 1024,
            max_message_bytes: 128 * 1024,
            idle_timeout: Duration::from_secs(10 * 60),
            max_connection_duration: Duration::from_secs(2 * 60 * 60),
            outbox_bytes: 4 * 1024 * 1024,
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
    /// The fanout function's timeout (30 s in the templates): each invocation gets a deadline
    /// this far ahead, as `Context::deadline` in Lambda, and is cut off at it.
    pub function_timeout: Duration,
}

impl Default for MappingSettings {
    fn default() -> Self {
        Self {
            batch_size: 10,
            visibility_timeout: Duration::from_secs(30),
            max_receive_count: 5,
            pollers: 2,
            function_timeout: Duration::from_secs(30),
        }
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

/// DynamoDB and SQS through the AWS SDK; missing resources are created at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsBackend {
    /// `None` uses the SDK's own endpoint resolution (AWS itself, or `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// The DynamoDB table, with the templates' keys, `gsi1` and TTL.
    pub table: String,
    /// The queue is `{queue}.fifo`, its DLQ `{queue}-dlq.fifo`.
    pub queue: String,
    /// The Firehose delivery stream the fanout exports message events to (it must exist);
    /// `None` exports nothing (docs/analytics.md).
    pub export_stream: Option<String>,
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on.
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// The API stage, the first path segment (`/local`).
    pub stage: String,
    /// The HS256 secret the authorizer verifies tokens with, unless `oidc` is set.
    pub jwt_secret: String,
    /// An OIDC issuer whose RS256/ES256 tokens the authorizer verifies instead (`--oidc-issuer`).
    pub oidc: Option<starling_shared::auth::OidcConfig>,
    /// Where the state lives.
    pub backend: Backend,
    /// API Gateway's WebSocket limits.
    pub limits: GatewayLimits,
    /// The `send` handler's rate and room limits.
    pub action_limits: SendLimits,
    /// The event source mapping and its queue.
    pub mapping: MappingSettings,
    /// The fanout's settings; `endpoint_override` is set to this devstack's management API.
    pub fanout: FanoutSettings,
    /// Route keys with their own route besides `$default` (none in Starling's API).
    pub routes: Vec<String>,
    /// Start with the event source mapping paused (tests batch messages this way).
    pub start_paused: bool,
    /// Route `/{stage}/_devstack/faults`, the fault injection endpoint (`--faults`).
    pub faults: bool,
    /// Serve the management API and `/_devstack/*` to non-loopback peers too. Off by default:
    /// they post to, read and close anyone's connection without a credential.
    pub allow_remote_admin: bool,
    /// In-process handlers (the default) or the Lambda Invoke API (`--lambda-endpoint`).
    pub functions: Functions,
    /// Poll the queue and invoke the fanout (the default); off for a backend that runs its
    /// own event source mapping, as LocalStack does (`--no-event-source-mapping`).
    pub event_source_mapping: bool,
    /// The in-process `send` handler's moderation (`--moderation`, `--moderation-hook`). In the
    /// Lambda Invoke mode the `send` function moderates by its own environment instead.
    pub moderation: crate::ModerationSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 3001,
            stage: "local".into(),
            jwt_secret: DEV_SECRET.into(),
            oidc: None,
            backend: Backend::Memory,
            limits: GatewayLimits::default(),
            action_limits: SendLimits::default(),
            mapping: MappingSettings::default(),
            fanout: FanoutSettings::default(),
            routes: vec![],
            start_paused: false,
            faults: false,
            allow_remote_admin: false,
            functions: Functions::InProcess,
            event_source_mapping: true,
            moderation: crate::ModerationSettings::default(),
        }
    }
}

impl Config {
    /// Whether `POST /_devstack/token` exists: only with [`DEV_SECRET`] and no OIDC issuer. With
    /// any other secret the tokens are the deployment's own business, and minting them here would
    /// hand them out; with an issuer, HS256 tokens are not accepted.
    pub fn serves_dev_tokens(&self) -> bool {
        self.jwt_secret == DEV_SECRET && self.oidc.is_none()
    }

    /// Refuses what API Gateway or SQS would refuse, before anything is bound or created.
    pub(crate) fn validate(&self) -> Result<(), DevstackError> {
        let stage_ok =
            !self.stage.is_empty() && self.stage.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !stage_ok {
            return Err(DevstackError::Config(format!("stage {:?} must be letters, digits, _ or -", self.stage)));
        }
        if !(1..=10).contains(&self.mapping.batch_size) {
            return Err(DevstackError::Config("batch size must be 1 to 10".into()));
        }
        if self.jwt_secret.is_empty() {
            return Err(DevstackError::Config("the JWT secret must not be empty".into()));
        }
        let moderated = self.moderation.rules_file.is_some() || self.moderation.hook.is_some();
        if self.functions.is_lambda() && moderated {
            return Err(DevstackError::Config(
                "--moderation and --moderation-hook apply to the in-process send handler; in the Lambda Invoke \
                 mode set the send function's STARLING_MODERATION_* variables instead"
                    .into(),
            ));
        }
        if self.functions.is_lambda() && self.backend == Backend::Memory {
            return Err(DevstackError::Config(
                "--lambda-endpoint needs --endpoint-url or --aws: the functions run in other processes and share \
                 the table and the queue with the devstack only through DynamoDB and SQS"
                    .into(),
            ));
        }
        Ok(())
    }
}
