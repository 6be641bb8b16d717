//! The SQS consumer: sequence, store, and push each message to the room's subscribers.

use lambda_runtime::{Error, run, service_fn};
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let deps = wiring::aws::fanout_from_env().await?;
    run(service_fn(|event| handlers::fanout(&deps, event))).await
}
