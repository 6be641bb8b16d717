//! `starling-devstack`: the whole service on one machine. See docs/devstack.md.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use starling_devstack::{
    AwsBackend, Backend, Config, DEV_SECRET, Endpoint, FunctionFlag, Functions, GatewayLimits, HookTarget,
    LambdaFunctions, MappingSettings, ModerationSettings,
};
use starling_shared::auth::OidcConfig;
use starling_shared::service::fanout::FanoutSettings;
use starling_shared::service::send::SendLimits;

/// Starling on one machine: an API Gateway-like WebSocket gateway with the management API,
/// and the SQS → fanout event source mapping, running the same handlers as the Lambdas.
#[derive(Debug, Parser)]
#[command(name = "starling-devstack", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", env = "STARLING_DEVSTACK_HOST")]
    host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 3001, env = "STARLING_DEVSTACK_PORT")]
    port: u16,
    /// The API stage: the WebSocket URL is ws://HOST:PORT/STAGE.
    #[arg(long, default_value = "local")]
    stage: String,
    /// The HS256 secret tokens are verified with. Any other than the default turns off the dev
    /// token endpoint (`POST /_devstack/token`).
    #[arg(long, env = "STARLING_JWT_SECRET", default_value = DEV_SECRET, hide_env_values = true)]
    jwt_secret: String,
    /// Verify RS256/ES256 tokens of this OIDC issuer (its `iss`) instead of HS256 ones.
    #[arg(long, env = "STARLING_OIDC_ISSUER", requires = "oidc_audience")]
    oidc_issuer: Option<String>,
    /// The issuer's accepted audiences (client ids), comma-separated.
    #[arg(long, env = "STARLING_OIDC_AUDIENCE")]
    oidc_audience: Option<String>,
    /// Where the issuer's keys are (default: ISSUER/.well-known/jwks.json).
    #[arg(long, env = "STARLING_OIDC_JWKS_URL")]
    oidc_jwks_url: Option<String>,
    /// The claim that is the user id.
    #[arg(long, env = "STARLING_OIDC_USER_CLAIM", default_value = "sub")]
    oidc_user_claim: String,

    /// Use DynamoDB and SQS at this endpoint (moto, LocalStack) instead of memory.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// Use DynamoDB and SQS in AWS itself (the SDK's default endpoints and credentials).
    #[arg(long, conflicts_with = "endpoint_url")]
    aws: bool,
    /// DynamoDB table (created when missing).
    #[arg(long, default_value = "starling-dev")]
    table: String,
    /// SQS FIFO queue name without `.fifo`; `NAME.fifo` and `NAME-dlq.fifo` are created when missing.
    #[arg(long, default_value = "starling-dev")]
    queue: String,
    /// Export message events to this Firehose delivery stream (it must exist); needs
    /// --endpoint-url or --aws (docs/analytics.md).
    #[arg(long, env = "STARLING_EXPORT_STREAM", value_name = "NAME")]
    export_stream: Option<String>,
    /// With --export-stream, put each message's body in its event.
    #[arg(long, env = "STARLING_EXPORT_BODIES")]
    export_bodies: bool,

    /// Largest frame in bytes; larger closes the connection with 1009.
    #[arg(long, default_value_t = 32 * 1024)]
    max_frame_bytes: usize,
    /// Largest message in bytes; larger closes the connection with 1009.
    #[arg(long, default_value_t = 128 * 1024)]
    max_message_bytes: usize,
    /// Idle timeout in seconds.
    #[arg(long, default_value_t = 600)]
    idle_timeout_secs: u64,
    /// Maximum connection duration in seconds.
    #[arg(long, default_value_t = 7200)]
    max_connection_secs: u64,

    /// Records per fanout invocation (1-10).
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Visibility timeout in seconds: when a failed record is retried.
    #[arg(long, default_value_t = 30)]
    visibility_timeout_secs: u64,
    /// Receives before a record moves to the DLQ.
    #[arg(long, default_value_t = 5)]
    max_receive_count: u32,
    /// Concurrent fanout pollers.
    #[arg(long, default_value_t = 2)]
    pollers: usize,

    /// Bytes queued for one client that has not read them; past it the post is refused and the
    /// connection closed.
    #[arg(long, default_value_t = GatewayLimits::default().outbox_bytes)]
    outbox_bytes: usize,
    /// Serve the management API and /_devstack/* to non-loopback peers too (they need no
    /// credential: only on a trusted network).
    #[arg(long)]
    allow_remote_admin: bool,

    /// The budget of one user (all their connections) per rate window, in cost units: every
    /// action spends its weight (see docs/protocol.md, "Rate limits").
    #[arg(long, env = "STARLING_RATE_LIMIT", default_value_t = SendLimits::default().rate_limit)]
    rate_limit: u64,
    /// The rate window in seconds.
    #[arg(long, env = "STARLING_RATE_WINDOW_SECS", default_value_t = SendLimits::default().rate_window_secs)]
    rate_window_secs: i64,
    /// Rooms one connection may be in.
    #[arg(long, env = "STARLING_MAX_ROOMS", default_value_t = SendLimits::default().max_rooms)]
    max_rooms: usize,
    /// Posts in flight per message in the fanout.
    #[arg(long, env = "STARLING_FANOUT_CONCURRENCY", default_value_t = FanoutSettings::default().concurrency)]
    fanout_concurrency: usize,

    /// Serve the fault injection endpoint, `/{stage}/_devstack/faults` (docs/devstack.md).
    #[arg(long)]
    faults: bool,

    /// Invoke the functions through the Lambda Invoke API at this endpoint (LocalStack,
    /// `cargo lambda watch`, AWS) instead of running the handlers in-process. Needs
    /// --endpoint-url or --aws.
    #[arg(long, value_name = "URL", env = "STARLING_LAMBDA_ENDPOINT")]
    lambda_endpoint: Option<Endpoint>,
    /// A function's name, and optionally its own endpoint, in the Lambda Invoke mode:
    /// ROLE=NAME[@URL] with ROLE one of authorizer, connect, disconnect, send, fanout
    /// (default names: starling-ROLE). Repeatable.
    #[arg(long = "function", value_name = "ROLE=NAME[@URL]")]
    functions: Vec<FunctionFlag>,
    /// At most N invocations of each function in flight at once in the Lambda Invoke mode; the
    /// others wait. 1 for AWS's Runtime Interface Emulator, which serves one at a time
    /// (scripts/lambdas.sh); no limit by default.
    #[arg(long, value_name = "N")]
    function_concurrency: Option<std::num::NonZeroUsize>,
    /// Do not poll the queue: the backend runs its own event source mapping (LocalStack).
    #[arg(long)]
    no_event_source_mapping: bool,

    /// Moderate every `send` with the rules in this JSON file (docs/moderation.md), read again
    /// within a second of each change.
    #[arg(long, value_name = "FILE")]
    moderation: Option<std::path::PathBuf>,
    /// The moderation hook: an http(s) URL the request is POSTed to, or a command run through
    /// `sh -c` with the request on stdin and the reply on stdout.
    #[arg(long, value_name = "URL|COMMAND")]
    moderation_hook: Option<String>,
    /// How long the hook may take per message.
    #[arg(long, default_value_t = 200)]
    moderation_hook_timeout_ms: u64,
    /// What a failed or late hook call does: open (send as the filter left it) or closed (refuse
    /// with `internal`).
    #[arg(long, default_value = "open")]
    moderation_hook_failure: starling_shared::moderation::FailurePolicy,

    /// Log JSON lines (as the Lambdas do) instead of human-readable lines.
    #[arg(long)]
    json_logs: bool,
}

impl Args {
    /// In-process unless `--lambda-endpoint` or a `--function` is given.
    fn functions(&self) -> anyhow::Result<Functions> {
        if self.lambda_endpoint.is_none() && self.functions.is_empty() {
            anyhow::ensure!(
                self.function_concurrency.is_none(),
                "--function-concurrency limits the Lambda Invoke mode: give --lambda-endpoint or --function too"
            );
            return Ok(Functions::InProcess);
        }
        let targets = LambdaFunctions::from_flags(self.lambda_endpoint.clone(), &self.functions)?
            .with_concurrency(self.function_concurrency);
        Ok(Functions::Lambda(targets))
    }

    fn config(self) -> anyhow::Result<Config> {
        let functions = self.functions()?;
        let oidc = self.oidc()?;
        let moderation = self.moderation();
        let export_stream = self.export_stream.filter(|s| !s.is_empty());
        let backend = match (self.endpoint_url, self.aws) {
            (endpoint_url @ Some(_), _) | (endpoint_url @ None, true) => {
                Backend::Aws(AwsBackend { endpoint_url, table: self.table, queue: self.queue, export_stream })
            }
            (None, false) if export_stream.is_some() => {
                anyhow::bail!("--export-stream needs --endpoint-url or --aws (a Firehose to export to)")
            }
            (None, false) => Backend::Memory,
        };
        Ok(Config {
            host: self.host,
            port: self.port,
            stage: self.stage,
            jwt_secret: self.jwt_secret,
            oidc,
            backend,
            limits: GatewayLimits {
                max_frame_bytes: self.max_frame_bytes,
                max_message_bytes: self.max_message_bytes,
                idle_timeout: Duration::from_secs(self.idle_timeout_secs),
                max_connection_duration: Duration::from_secs(self.max_connection_secs),
                outbox_bytes: self.outbox_bytes,
            },
            action_limits: SendLimits {
                rate_limit: self.rate_limit,
                rate_window_secs: self.rate_window_secs,
                max_rooms: self.max_rooms,
                ..SendLimits::default()
            },
            mapping: MappingSettings {
                batch_size: self.batch_size,
                visibility_timeout: Duration::from_secs(self.visibility_timeout_secs),
                max_receive_count: self.max_receive_count,
                pollers: self.pollers,
                ..MappingSettings::default()
            },
            fanout: FanoutSettings {
                concurrency: self.fanout_concurrency,
                export_bodies: self.export_bodies,
                ..FanoutSettings::default()
            },
            routes: vec![],
            start_paused: false,
            faults: self.faults,
            allow_remote_admin: self.allow_remote_admin,
            functions,
            event_source_mapping: !self.no_event_source_mapping,
            moderation,
        })
    }

    /// An empty issuer (a template's default, exported) means none, as in the authorizer.
    fn oidc(&self) -> anyhow::Result<Option<OidcConfig>> {
        let Some(issuer) = self.oidc_issuer.as_deref().filter(|i| !i.is_empty()) else { return Ok(None) };
        let audience = self.oidc_audience.as_deref().unwrap_or_default();
        Ok(Some(OidcConfig::new(issuer, audience, self.oidc_jwks_url.as_deref(), &self.oidc_user_claim)?))
    }

    fn moderation(&self) -> ModerationSettings {
        ModerationSettings {
            rules_file: self.moderation.clone(),
            hook: self.moderation_hook.as_deref().map(HookTarget::parse),
            hook_timeout: Duration::from_millis(self.moderation_hook_timeout_ms),
            hook_failure: self.moderation_hook_failure,
        }
    }
}

fn init_logs(json: bool) {
    if json {
        starling_shared::telemetry::init();
    } else {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn"));
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).compact().init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logs(args.json_logs);
    let config = args.config().context("reading the flags")?;
    let backend = match &config.backend {
        Backend::Memory => "in-memory".to_owned(),
        Backend::Aws(a) => format!(
            "DynamoDB table {} and SQS queue {}.fifo at {}",
            a.table,
            a.queue,
            a.endpoint_url.as_deref().unwrap_or("AWS")
        ),
    };
    let handle = starling_devstack::serve(config).await.context("starting the devstack")?;
    println!("Starling devstack ({backend})");
    if let Functions::Lambda(targets) = &handle.config().functions {
        for role in starling_devstack::Role::ALL {
            let t = targets.target(role);
            println!("  {:<15} {} at {}", format!("{role}:"), t.name, t.endpoint.as_str());
        }
        if !handle.config().event_source_mapping {
            println!("  (no event source mapping: the backend invokes the fanout itself)");
        }
    }
    println!("  WebSocket:      {}", handle.ws_url());
    println!("  Management API: {}/@connections/{{connectionId}}", handle.management_url());
    println!("  DLQ:            {}/_devstack/dlq", handle.management_url());
    if handle.config().faults {
        println!("  Faults:         {}/_devstack/faults", handle.management_url());
    }
    if handle.config().serves_dev_tokens() {
        println!("  Chat page:      {}", handle.page_url());
        println!("  Dev tokens:     POST {}_devstack/token {{\"user\":\"alice\"}}", handle.page_url());
    } else {
        println!(
            "  Chat page:      {} (sign in with a token from your own auth: no dev tokens with --jwt-secret)",
            handle.page_url()
        );
    }
    println!("Get a dev token:  cargo run -p starling-cli -- token alice");
    println!(
        "Chat:             cargo run -p starling-cli -- chat --url {} --token <TOKEN> --room lobby",
        handle.ws_url()
    );
    println!("Ctrl-C stops it gracefully.");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}
