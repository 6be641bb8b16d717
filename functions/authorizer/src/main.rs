//! `$connect` REQUEST authorizer: verifies the token (HS256, or an OIDC issuer's RS256/ES256)
//! and passes the user on.

use lambda_runtime::{Error, service_fn};
use starling_shared::handlers;
use starling_shared::telemetry::{self, metric::Function};
use starling_shared::wiring::aws::Tokens;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let metrics = telemetry::init_function(Function::Authorizer)?;
    let tokens = Tokens::from_env().await?;
    telemetry::run(
        metrics,
        service_fn(|event| async {
            let verifier = tokens.verifier().await?;
            handlers::authorize(verifier, event).await
        }),
    )
    .await
}
