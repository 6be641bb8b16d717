//! `$default`: every client action (join, leave, send, history, sync, presence, status, typing, read, ping).

use std::sync::Arc;

use lambda_runtime::{Error, run, service_fn};
use starling_shared::adapters::apigw::ManagementApiPusher;
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::adapters::sqs::SqsQueue;
use starling_shared::config;
use starling_shared::handlers;
use starling_shared::model::SystemClock;
use starling_shared::service::actions::{ActionDeps, ActionLimits};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let table = config::required("STARLING_TABLE").expect("STARLING_TABLE");
    let queue_url = config::required("STARLING_QUEUE_URL").expect("STARLING_QUEUE_URL");
    let limits =
        ActionLimits::from_env().expect("valid STARLING_RATE_LIMIT, STARLING_RATE_WINDOW_SECS, STARLING_MAX_ROOMS");
    let endpoint_override = config::optional("STARLING_WS_ENDPOINT");
    let sdk = aws_config::load_from_env().await;
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
    let deps = ActionDeps {
        subscriptions: store.clone(),
        messages: store.clone(),
        limiter: store.clone(),
        presence: store,
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url)),
        pusher: Arc::new(ManagementApiPusher::new(sdk.clone())),
        clock: Arc::new(SystemClock),
        limits,
        endpoint_override,
    };
    run(service_fn(|event| handlers::message(&deps, event))).await
}
