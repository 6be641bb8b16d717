//! The backend: the store and queue behind the service's ports, in memory or through the AWS
//! SDK, and the table and queues the SDK backend needs (created when missing).

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_sqs::config::{Credentials, Region};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::adapters::memory::MemoryStore;
use starling_shared::adapters::sqs::{SqsDeadLetters, SqsQueue};
use starling_shared::ports::{DeadLetters, ExportSink, Queue, Store};
use starling_shared::wiring;

use crate::DevstackError;
use crate::config::{AwsBackend, Backend, Config, MappingSettings};
use crate::events::REGION;
use crate::faults::Faults;
use crate::faults::dynamo::DynamoFaults;
use crate::fifo::FifoEmulator;
use crate::mapping::{QueueSource, SqsSource};

fn dummy_credentials() -> Credentials {
    Credentials::new("devstack", "devstack", None, None, "starling-devstack")
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty())
}

/// The SDK config: the region from the environment or us-east-1; credentials from the
/// environment, or dummy ones when none are configured (moto and LocalStack accept anything).
pub async fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    let mut loader = starling_shared::sdk::loader();
    if !env_set("AWS_REGION") && !env_set("AWS_DEFAULT_REGION") {
        loader = loader.region(Region::new(REGION));
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
    starling_shared::sdk::loader().region(Region::new(REGION)).credentials_provider(dummy_credentials()).load().await
}

/// What the handlers' deps are built from, one field per port.
pub(crate) struct Ports {
    pub(crate) store: Arc<dyn Store>,
    /// Where the `send` handler and `$connect`/`$disconnect` enqueue.
    pub(crate) queue: Arc<dyn Queue>,
    /// The same queue, as the event source mapping reads it.
    pub(crate) source: Arc<dyn QueueSource>,
    /// Its DLQ, where the fanout sends what it gives up on.
    pub(crate) dead_letters: Arc<dyn DeadLetters>,
    /// The delivery queue, where the fanout puts a large room's shard deliveries.
    pub(crate) deliveries: Arc<dyn Queue>,
    /// The same queue, as the event source mapping reads it (for the fanout too).
    pub(crate) delivery_source: Arc<dyn QueueSource>,
    /// For the Management API client the handlers post with.
    pub(crate) sdk: SdkConfig,
    /// Where the fanout exports message events, when the backend has a stream to export to.
    pub(crate) exports: Option<Arc<dyn ExportSink>>,
}

/// The ports of `config.backend`, creating the table and queues when missing.
/// DynamoDB faults planned in `faults` fire on the SDK backend's DynamoDB client.
pub(crate) async fn ports(config: &Config, faults: &Arc<Faults>) -> Result<Ports, DevstackError> {
    match &config.backend {
        Backend::Memory => Ok(memory_ports(&config.mapping).await),
        Backend::Aws(aws) => aws_ports(aws, &config.mapping, faults).await,
    }
}

async fn memory_ports(mapping: &MappingSettings) -> Ports {
    let store = Arc::new(MemoryStore::new());
    // One emulated queue behind both sides, so what the handlers enqueue is what the mapping receives.
    let fifo = Arc::new(FifoEmulator::new(mapping.visibility_timeout, mapping.max_receive_count));
    let deliver = Arc::new(FifoEmulator::new(mapping.visibility_timeout, mapping.max_receive_count));
    Ports {
        store,
        queue: fifo.clone(),
        dead_letters: fifo.clone(),
        source: fifo,
        deliveries: deliver.clone(),
        delivery_source: deliver,
        sdk: local_sdk_config().await,
        exports: None,
    }
}

async fn aws_ports(aws: &AwsBackend, mapping: &MappingSettings, faults: &Arc<Faults>) -> Result<Ports, DevstackError> {
    let sdk = sdk_config(aws.endpoint_url.as_deref()).await;
    let dynamo_config =
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(DynamoFaults::new(faults.clone())).build();
    let dynamo = aws_sdk_dynamodb::Client::from_conf(dynamo_config);
    DynamoStore::create_table_if_missing(&dynamo, &aws.table).await.map_err(DevstackError::Table)?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (url, dlq_url) = create_queues(&sqs, &aws.queue, mapping).await?;
    let visibility = visibility_secs(mapping);
    let deliver_url =
        SqsQueue::create_delivery_queue(&sqs, &aws.queue, &dlq_url, visibility, mapping.max_receive_count)
            .await
            .map_err(DevstackError::Queues)?;
    let store = Arc::new(DynamoStore::new(dynamo, aws.table.clone()));
    let exports = aws.export_stream.as_ref().map(|s| wiring::aws::Clients::new(&sdk).exports(s) as Arc<dyn ExportSink>);
    Ok(Ports {
        store,
        queue: Arc::new(SqsQueue::new(sqs.clone(), url.clone())),
        dead_letters: Arc::new(SqsDeadLetters::new(sqs.clone(), dlq_url.clone())),
        source: Arc::new(SqsSource::new(sqs.clone(), url, dlq_url.clone())),
        deliveries: Arc::new(SqsQueue::new(sqs.clone(), deliver_url.clone())),
        delivery_source: Arc::new(SqsSource::new(sqs, deliver_url, dlq_url)),
        sdk,
        exports,
    })
}

/// `{name}.fifo` and its DLQ, with the mapping's visibility timeout (whole seconds, rounded up)
/// and redrive policy; returns both URLs.
async fn create_queues(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    mapping: &MappingSettings,
) -> Result<(String, String), DevstackError> {
    SqsQueue::create_fifo_with_dlq(sqs, name, visibility_secs(mapping), mapping.max_receive_count)
        .await
        .map_err(DevstackError::Queues)
}

/// The mapping's visibility timeout in whole seconds, rounded up, as CreateQueue takes it.
fn visibility_secs(mapping: &MappingSettings) -> u32 {
    u32::try_from(mapping.visibility_timeout.as_secs_f64().ceil() as u64).unwrap_or(u32::MAX)
}
