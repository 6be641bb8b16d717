//! The AWS SDK configuration every binary and the devstack load, with the HTTPS client built
//! here instead of by the SDK's `default-https-client` feature.
//!
//! Why: that feature hard-wires rustls on aws-lc-rs, whose static libcrypto is most of a zipped
//! bootstrap above the 2 MB budget, and whose first use seeds its DRBG from CPU jitter entropy.
//! rustls on ring speaks the same TLS 1.2/1.3 suites to AWS endpoints at a fraction of the size
//! (figures in docs/deploy.md). The workspace turns off every SDK crate's default features, so a
//! config loaded any other way has no HTTP client and its first request fails saying so.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// rustls on ring, with what the SDK's default client has: the system's root certificates (read
/// lazily, on the first connection), the connector settings and sleep of each client, and the
/// `HTTP(S)_PROXY`/`NO_PROXY` variables.
pub fn https_client() -> SharedHttpClient {
    // `build_https` would leave the proxy disabled; the connector function is how the SDK's own
    // default client (aws-smithy-runtime) sets it from the environment, so this does the same.
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// `aws_config::defaults` with [`https_client`]: add a region, endpoint or credentials, then
/// `load()`.
pub fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// What a function loads at init: region and credentials from the environment Lambda sets (the
/// default chains, as `aws_config::load_from_env` reads them). No network I/O: credentials are
/// resolved on the first request.
pub async fn from_env() -> SdkConfig {
    loader().load().await
}
