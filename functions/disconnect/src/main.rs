//! `$disconnect`: removes the connection, its subscriptions, and records presence.

use lambda_runtime::{Error, run, service_fn};
use starling_shared::config;
use starling_shared::handlers::{self, ConnectionDeps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let table = config::required("STARLING_TABLE").expect("STARLING_TABLE");
    let queue_url = config::required("STARLING_QUEUE_URL").expect("STARLING_QUEUE_URL");
    let sdk = aws_config::load_from_env().await;
    let deps = ConnectionDeps::on_aws(&sdk, table, queue_url);
    run(service_fn(|event| handlers::disconnect(&deps, event))).await
}
