//! The SQS consumer: sequence, store, and push each message to the room's subscribers.

use lambda_runtime::{Error, run, service_fn};
use starling_shared::config::FanoutConfig;
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let config = FanoutConfig::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let deps = wiring::aws::fanout_deps(&sdk, config);
    run(service_fn(|event| handlers::fanout(&deps, event))).await
}
