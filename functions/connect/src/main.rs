//! `$connect`: registers the connection.

use std::sync::Arc;

use lambda_runtime::{Error, run, service_fn};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::config;
use starling_shared::handlers::{self, ConnectionDeps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let table = config::required("STARLING_TABLE").expect("STARLING_TABLE");
    let sdk = aws_config::load_from_env().await;
    let deps = ConnectionDeps { connections: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)) };
    run(service_fn(|event| handlers::connect(&deps, event))).await
}
