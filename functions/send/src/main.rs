//! `$default`, the `send` function: every client action (join, leave, send, history, sync,
//! presence, status, typing, read, ping).

use lambda_runtime::{Error, run, service_fn};
use starling_shared::config::SendConfig;
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let config = SendConfig::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let deps = wiring::aws::send_deps(&sdk, config);
    run(service_fn(|event| handlers::send(&deps, event))).await
}
