//! The SQS consumer: sequence, store, and push each message to the room's subscribers.

use std::sync::Arc;

use lambda_runtime::{Error, run, service_fn};
use starling_shared::adapters::apigw::ManagementApiPusher;
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::config;
use starling_shared::handlers;
use starling_shared::model::SystemClock;
use starling_shared::service::fanout::{FanoutDeps, FanoutSettings};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let table = config::required("STARLING_TABLE").expect("STARLING_TABLE");
    let settings = FanoutSettings::from_env()
        .expect("valid STARLING_FANOUT_CONCURRENCY, STARLING_RETENTION_DAYS, STARLING_WS_ENDPOINT");
    let sdk = aws_config::load_from_env().await;
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
    let deps = FanoutDeps {
        messages: store.clone(),
        subscriptions: store.clone(),
        connections: store.clone(),
        presence: store,
        pusher: Arc::new(ManagementApiPusher::new(sdk)),
        clock: Arc::new(SystemClock),
        settings,
    };
    run(service_fn(|event| handlers::fanout(&deps, event))).await
}
