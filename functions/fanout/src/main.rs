//! The SQS consumer: sequence, store, and push each message to the room's subscribers.

use lambda_runtime::{Error, service_fn};
use starling_shared::telemetry::{self, metric::Function};
use starling_shared::{handlers, wiring};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = telemetry::init_function(Function::Fanout)?;
    let deps = wiring::aws::fanout_from_env().await?;
    telemetry::run(metrics, service_fn(|event| handlers::fanout(&deps, event))).await
}
