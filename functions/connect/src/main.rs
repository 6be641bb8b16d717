//! `$connect`: registers the connection and records the user online.

use lambda_runtime::{Error, service_fn};
use starling_shared::telemetry::{self, metric::Function};
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = telemetry::init_function(Function::Connect)?;
    let deps = wiring::aws::connection_from_env().await?;
    telemetry::run(metrics, service_fn(|event| handlers::connect(&deps, event))).await
}
