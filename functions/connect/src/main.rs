//! `$connect`: registers the connection.

use std::sync::Arc;

use lambda_runtime::{Error, run, service_fn};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::adapters::sqs::SqsQueue;
use starling_shared::config;
use starling_shared::handlers::{self, ConnectionDeps};
use starling_shared::model::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let table = config::required("STARLING_TABLE").expect("STARLING_TABLE");
    let queue_url = config::required("STARLING_QUEUE_URL").expect("STARLING_QUEUE_URL");
    let sdk = aws_config::load_from_env().await;
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
    let deps = ConnectionDeps {
        connections: store.clone(),
        presence: store,
        // Presence transitions go to the fanout, which announces them to the user's rooms.
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url)),
        clock: Arc::new(SystemClock),
    };
    run(service_fn(|event| handlers::connect(&deps, event))).await
}
