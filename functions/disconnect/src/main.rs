//! `$disconnect`: removes the connection, its subscriptions, and records presence.

use lambda_runtime::{Error, service_fn};
use starling_shared::telemetry::{self, metric::Function};
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = telemetry::init_function(Function::Disconnect)?;
    let deps = wiring::aws::connection_from_env().await?;
    telemetry::run(metrics, service_fn(|event| handlers::disconnect(&deps, event))).await
}
