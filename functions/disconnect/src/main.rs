//! `$disconnect`: removes the connection, its subscriptions, and records presence.

use lambda_runtime::{Error, run, service_fn};
use starling_shared::config::ConnectionConfig;
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let config = ConnectionConfig::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let deps = wiring::aws::connection_deps(&sdk, config);
    run(service_fn(|event| handlers::disconnect(&deps, event))).await
}
