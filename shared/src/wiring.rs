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
use crate::adapters::firehose::FirehoseSink;
use crate::adapters::sqs::{SqsDeadLetters, SqsQueue};
use crate::auth::{JwtVerifier, OidcConfig, OidcVerifier, TokenVerifier};
use crate::clock::SystemClock;
use crate::config::{ConfigError, ConnectionConfig, FanoutConfig, SendConfig};
use crate::moderation::{BuiltInFilter, FailurePolicy, Hook, HookTransport, Moderation, Moderators, RulesSource};
use crate::ports::{DeadLetters, ExportSink, FanoutLedger, Pusher, Queue, Store};
use crate::secrets::{SecretError, SecretSource};
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
    SendDeps {
        stores: Stores::new(store),
        queue,
        pusher,
        clock: Arc::new(SystemClock),
        limits,
        endpoint_override,
        moderation: Moderators::default(),
    }
}

/// The moderation stages in their order: the built-in filter on `rules` (kept for `ttl`), then
/// the hook; either may be absent.
pub fn moderation(
    rules: Option<Arc<dyn RulesSource>>,
    ttl: std::time::Duration,
    hook: Option<(Arc<dyn HookTransport>, std::time::Duration, FailurePolicy)>,
) -> Moderators {
    let mut stages: Vec<Arc<dyn Moderation>> = Vec::new();
    if let Some(source) = rules {
        stages.push(Arc::new(BuiltInFilter::new(source, ttl)));
    }
    if let Some((transport, timeout, policy)) = hook {
        stages.push(Arc::new(Hook::new(transport, timeout, policy)));
    }
    Moderators::new(stages)
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
    let clock = Arc::new(SystemClock);
    FanoutDeps { stores, ledger, dead_letters, pusher, deliveries: None, exports: None, clock, settings }
}

/// The AWS adapters, each client built once from the function's SDK config.
pub mod aws {
    use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

    use super::*;
    use crate::adapters::moderation::{LambdaHook, S3Rules, SsmRules};
    use crate::config::{ModerationConfig, RulesLocation};

    /// The SDK clients the AWS adapters are built on. The functions take them plain from their
    /// SDK config ([`Clients::new`]); [`Clients::intercepted`] adds interceptors to every client,
    /// so a caller that observes requests (the cost benchmark) still wires through here.
    #[derive(Debug, Clone)]
    pub struct Clients {
        sdk: SdkConfig,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        firehose: aws_sdk_firehose::Client,
        interceptors: Vec<SharedInterceptor>,
    }

    impl Clients {
        /// Every client from `sdk` as it is.
        pub fn new(sdk: &SdkConfig) -> Self {
            Self::intercepted(sdk, Vec::new())
        }

        /// Every client from `sdk`, each with `interceptors` (DynamoDB, SQS, Firehose and the
        /// Management API's per-endpoint clients).
        pub fn intercepted(sdk: &SdkConfig, interceptors: Vec<SharedInterceptor>) -> Self {
            let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk);
            let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
            let mut firehose = aws_sdk_firehose::config::Builder::from(sdk);
            for interceptor in &interceptors {
                dynamodb.push_interceptor(interceptor.clone());
                sqs.push_interceptor(interceptor.clone());
                firehose.push_interceptor(interceptor.clone());
            }
            Self {
                sdk: sdk.clone(),
                dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
                sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
                firehose: aws_sdk_firehose::Client::from_conf(firehose.build()),
                interceptors,
            }
        }

        /// DynamoDB, single table.
        pub fn store(&self, table: impl Into<String>) -> Arc<DynamoStore> {
            Arc::new(DynamoStore::new(self.dynamodb.clone(), table.into()))
        }

        /// SQS FIFO.
        pub fn queue(&self, url: impl Into<String>) -> Arc<SqsQueue> {
            Arc::new(SqsQueue::new(self.sqs.clone(), url))
        }

        /// The FIFO dead-letter queue the fanout sends what it gives up on.
        pub fn dead_letters(&self, url: impl Into<String>) -> Arc<SqsDeadLetters> {
            Arc::new(SqsDeadLetters::new(self.sqs.clone(), url))
        }

        /// The Firehose delivery stream the fanout exports message events to.
        pub fn exports(&self, stream: impl Into<String>) -> Arc<FirehoseSink> {
            Arc::new(FirehoseSink::new(self.firehose.clone(), stream))
        }

        /// The Management API, one client per endpoint.
        pub fn pusher(&self) -> Arc<ManagementApiPusher> {
            let pusher = self
                .interceptors
                .iter()
                .cloned()
                .fold(ManagementApiPusher::new(self.sdk.clone()), |p, i| p.with_interceptor(i));
            Arc::new(pusher)
        }

        /// `$connect` and `$disconnect`.
        pub fn connection_deps(&self, config: ConnectionConfig) -> ConnectionDeps {
            super::connection(self.store(config.table), self.queue(config.queue_url))
        }

        /// The `send` function.
        pub fn send_deps(&self, config: SendConfig) -> SendDeps {
            let (limits, endpoint) = (config.limits, config.endpoint_override);
            let mut deps =
                super::send(self.store(config.table), self.queue(config.queue_url), self.pusher(), limits, endpoint);
            deps.moderation = self.moderation(&config.moderation);
            deps
        }

        /// The moderation stages `config` names; a client is built only for a source it uses.
        pub fn moderation(&self, config: &ModerationConfig) -> Moderators {
            let rules = config.rules.as_ref().map(|location| -> Arc<dyn RulesSource> {
                match location {
                    RulesLocation::Parameter(name) => {
                        Arc::new(SsmRules::new(aws_sdk_ssm::Client::new(&self.sdk), name))
                    }
                    RulesLocation::Object { bucket, key } => {
                        // A local endpoint (moto, LocalStack) has no per-bucket host names.
                        let s3 = aws_sdk_s3::config::Builder::from(&self.sdk)
                            .force_path_style(self.sdk.endpoint_url().is_some())
                            .build();
                        Arc::new(S3Rules::new(aws_sdk_s3::Client::from_conf(s3), bucket, key))
                    }
                }
            });
            let hook = config.hook.as_ref().map(|function| {
                let transport: Arc<dyn HookTransport> =
                    Arc::new(LambdaHook::new(aws_sdk_lambda::Client::new(&self.sdk), function));
                (transport, config.hook_timeout, config.hook_failure)
            });
            super::moderation(rules, config.ttl, hook)
        }

        /// The fanout.
        pub fn fanout_deps(&self, config: FanoutConfig) -> FanoutDeps {
            let (store, dead_letters) = (self.store(config.table), self.dead_letters(config.dlq_url));
            let mut deps = super::fanout(store, self.pusher(), dead_letters, config.settings);
            deps.deliveries = config.deliver_queue_url.map(|url| self.queue(url) as Arc<dyn Queue>);
            deps.exports = config.export_stream.map(|stream| self.exports(stream) as Arc<dyn ExportSink>);
            deps
        }
    }

    /// DynamoDB, single table.
    pub fn store(sdk: &SdkConfig, table: impl Into<String>) -> Arc<DynamoStore> {
        Clients::new(sdk).store(table)
    }

    /// SQS FIFO.
    pub fn queue(sdk: &SdkConfig, url: impl Into<String>) -> Arc<SqsQueue> {
        Clients::new(sdk).queue(url)
    }

    /// The FIFO dead-letter queue the fanout sends what it gives up on.
    pub fn dead_letters(sdk: &SdkConfig, url: impl Into<String>) -> Arc<SqsDeadLetters> {
        Clients::new(sdk).dead_letters(url)
    }

    /// The Management API, one client per endpoint.
    pub fn pusher(sdk: &SdkConfig) -> Arc<ManagementApiPusher> {
        Clients::new(sdk).pusher()
    }

    /// `$connect` and `$disconnect` on AWS.
    pub fn connection_deps(sdk: &SdkConfig, config: ConnectionConfig) -> ConnectionDeps {
        Clients::new(sdk).connection_deps(config)
    }

    /// The `send` function on AWS.
    pub fn send_deps(sdk: &SdkConfig, config: SendConfig) -> SendDeps {
        Clients::new(sdk).send_deps(config)
    }

    /// The fanout on AWS.
    pub fn fanout_deps(sdk: &SdkConfig, config: FanoutConfig) -> FanoutDeps {
        Clients::new(sdk).fanout_deps(config)
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

    /// The authorizer's verifier. With `STARLING_OIDC_ISSUER` set, an OIDC issuer's, built at
    /// init (its keys are fetched on the first token); otherwise the HS256 secret's, read on the
    /// first invocation (init does no network I/O) and then kept for the instance's life. A
    /// failed read fails that invocation only (API Gateway answers 500); the next reads again.
    #[derive(Debug)]
    pub enum Tokens {
        /// Ready to verify.
        Ready(Box<TokenVerifier>),
        /// The HS256 secret, loaded once.
        Secret(Box<PendingSecret>),
    }

    /// The HS256 secret's verifier, built once the secret is read.
    #[derive(Debug)]
    pub struct PendingSecret {
        source: SecretSource,
        sdk: SdkConfig,
        verifier: tokio::sync::OnceCell<TokenVerifier>,
    }

    impl Tokens {
        /// The authorizer's init.
        pub async fn from_env() -> Result<Self, ConfigError> {
            if let Some(config) = OidcConfig::from_env()? {
                return Ok(Self::Ready(Box::new(OidcVerifier::new(config).into())));
            }
            let source = SecretSource::from_env()?;
            let sdk = crate::sdk::from_env().await;
            Ok(Self::Secret(Box::new(PendingSecret { source, sdk, verifier: tokio::sync::OnceCell::new() })))
        }

        /// The verifier, reading the secret first if it has not been read.
        pub async fn verifier(&self) -> Result<&TokenVerifier, SecretError> {
            match self {
                Self::Ready(v) => Ok(v),
                Self::Secret(p) => {
                    p.verifier
                        .get_or_try_init(|| async {
                            p.source.load(&p.sdk).await.map(|s| JwtVerifier::new(s.as_bytes()).into())
                        })
                        .await
                }
            }
        }
    }
}
