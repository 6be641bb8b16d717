//! `$default`, the `send` function: every client action (join, leave, send, history, sync,
//! presence, status, typing, read, ping).

use lambda_runtime::{Error, service_fn};
use starling_shared::telemetry::{self, metric::Function};
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = telemetry::init_function(Function::Send)?;
    let deps = wiring::aws::send_from_env().await?;
    telemetry::run(metrics, service_fn(|event| handlers::send(&deps, event))).await
}
