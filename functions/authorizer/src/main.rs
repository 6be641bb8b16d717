//! `$connect` REQUEST authorizer: verifies the HS256 JWT and passes the user on.

use lambda_runtime::{Error, run, service_fn};
use starling_shared::auth::JwtVerifier;
use starling_shared::handlers;
use starling_shared::secrets::SecretSource;
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let source = SecretSource::from_env()?;
    let sdk = starling_shared::sdk::from_env().await;
    // Read on the first invocation, not at init (init does no network I/O), then kept for the
    // instance's life. A failed read fails that invocation only (API Gateway answers 500); the
    // next one reads again.
    let verifier = OnceCell::new();
    run(service_fn(|event| async {
        let verifier = verifier
            .get_or_try_init(|| async { source.load(&sdk).await.map(|s| JwtVerifier::new(s.as_bytes())) })
            .await?;
        handlers::authorize(verifier, event).await
    }))
    .await
}
