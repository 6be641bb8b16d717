//! [`KeySource`] over HTTPS: the issuer's JWKS URL, fetched with the same rustls-on-ring client
//! the AWS SDK uses (`crate::sdk`), so verifying OIDC tokens links no second HTTP or TLS stack.

use std::time::Duration;

use async_trait::async_trait;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_http_client::Connector;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::http::Request;
use aws_smithy_types::body::SdkBody;
use http_body_util::{BodyExt, Limited};
use jsonwebtoken::jwk::JwkSet;

use crate::auth::jwks::{JwksError, KeySource};

/// The largest JWKS accepted: a few keys take a few KiB; this bounds what a wrong URL costs.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The issuer's JWKS, fetched over HTTPS (plain HTTP only from a local test server).
#[derive(Debug)]
pub struct HttpsKeySource {
    url: String,
    connector: Connector,
}

impl HttpsKeySource {
    /// Fetches from `url` with 2 s to connect and 2 s per read: the authorizer has 5 s in all.
    pub fn new(url: impl Into<String>) -> Self {
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(2))
            .read_timeout(Duration::from_secs(2))
            .build();
        let connector = Connector::builder()
            .connector_settings(settings)
            .sleep_impl(TokioSleep::new())
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build();
        Self { url: url.into(), connector }
    }

    fn unusable(&self, reason: impl Into<String>) -> JwksError {
        JwksError::Unusable { url: self.url.clone(), reason: reason.into() }
    }

    fn unreachable(&self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> JwksError {
        JwksError::Unreachable { url: self.url.clone(), source: source.into() }
    }
}

#[async_trait]
impl KeySource for HttpsKeySource {
    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        let request = http::Request::get(&self.url)
            .header("accept", "application/json")
            .body(SdkBody::empty())
            .map_err(|e| self.unusable(format!("not a URL: {e}")))?;
        let request = Request::try_from(request).map_err(|e| self.unusable(format!("not a URL: {e}")))?;
        let response = self.connector.call(request).await.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(self.unusable(format!("HTTP {status}")));
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
                Ok(_) => self.unusable(format!("larger than {MAX_JWKS_BYTES} bytes")),
                Err(e) => self.unreachable(e),
            })?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| self.unusable(format!("not a JWKS: {e}")))
    }
}
