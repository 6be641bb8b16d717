//! `$disconnect`: removes the connection, its subscriptions, and records presence.

use lambda_runtime::{Error, run, service_fn};
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let deps = wiring::aws::connection_from_env().await?;
    run(service_fn(|event| handlers::disconnect(&deps, event))).await
}
