//! `$connect` REQUEST authorizer: verifies the token (HS256, or an OIDC issuer's RS256/ES256)
//! and passes the user on.

use lambda_runtime::{Error, run, service_fn};
use starling_shared::handlers;
use starling_shared::wiring::aws::Tokens;

#[tokio::main]
async fn main() -> Result<(), Error> {
    starling_shared::telemetry::init();
    let tokens = Tokens::from_env().await?;
    run(service_fn(|event| async {
        let verifier = tokens.verifier().await?;
        handlers::authorize(verifier, event).await
    }))
    .await
}
