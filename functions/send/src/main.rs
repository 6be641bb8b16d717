//! `$default`, the `send` function: every client action (join, leave, send, history, sync,
//! presence, status, typing, read, ping).

use lambda_runtime::{Error, run, service_fn};
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let deps = wiring::aws::send_from_env().await?;
    run(service_fn(|event| handlers::send(&deps, event))).await
}
