//! `$connect` REQUEST authorizer: verifies the HS256 JWT and passes the user on.

use lambda_runtime::{Error, run, service_fn};
use starling_shared::auth::JwtVerifier;
use starling_shared::handlers;
use starling_shared::secrets::SecretSource;

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let source = SecretSource::from_env()?;
    let sdk = starling_shared::sdk::from_env().await;
    // Read once at init: every invocation of this instance verifies against the same secret.
    let verifier = JwtVerifier::new(source.load(&sdk).await?.as_bytes());
    run(service_fn(|event| handlers::authorize(&verifier, event))).await
}
