//! The smallest `lambda_runtime` bootstrap: echoes its event. The size and init baseline of
//! `scripts/lambda-budgets.sh`, built with the same profile as the functions; never deployed.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<_, Error>(event.payload) })).await
}
