//! OIDC sign-in: RS256 and ES256 tokens of one issuer (an Amazon Cognito user pool, Auth0, any
//! OIDC provider), verified against its JWKS ([`KeyCache`]).

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::jwks::{KeyCache, KeySource, Lookup};
use super::{AuthError, LEEWAY_SECS, check_user, crypto};
use crate::adapters::jwks::HttpsKeySource;
use crate::config::{ConfigError, optional, required};

/// What the authorizer needs to know of the issuer: `STARLING_OIDC_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// `iss`, exactly as the issuer writes it.
    pub issuer: String,
    /// Accepted audiences: the app's client ids.
    pub audiences: Vec<String>,
    /// Where the issuer's keys are.
    pub jwks_url: String,
    /// The claim that is the Starling user id.
    pub user_claim: String,
    /// The shortest time between two fetches of the keys (30 s; tests shorten it).
    pub refetch_after: Duration,
}

impl OidcConfig {
    /// The issuer's settings, or `None` when `STARLING_OIDC_ISSUER` is unset or empty (HS256
    /// tokens then). An issuer without an audience is refused: any client of the issuer could
    /// otherwise sign in.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        let Some(issuer) = optional("STARLING_OIDC_ISSUER") else { return Ok(None) };
        let audience = required("STARLING_OIDC_AUDIENCE")?;
        let jwks_url = optional("STARLING_OIDC_JWKS_URL");
        let user_claim = optional("STARLING_OIDC_USER_CLAIM").unwrap_or_else(|| "sub".to_owned());
        Self::new(&issuer, &audience, jwks_url.as_deref(), &user_claim).map(Some)
    }

    /// Checks and completes the settings: audiences split on commas; the JWKS URL defaults to
    /// `{issuer}/.well-known/jwks.json`, and must be https (http only to this machine, for tests).
    pub fn new(issuer: &str, audience: &str, jwks_url: Option<&str>, user_claim: &str) -> Result<Self, ConfigError> {
        let invalid = |name, value: &str, reason: &str| ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let audiences: Vec<String> =
            audience.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect();
        if audiences.is_empty() {
            return Err(invalid("STARLING_OIDC_AUDIENCE", audience, "name at least one audience (client id)"));
        }
        let jwks_url = match jwks_url {
            Some(u) => u.to_owned(),
            None => format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
        };
        let local = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| jwks_url.starts_with(p));
        if !jwks_url.starts_with("https://") && !local {
            return Err(invalid("STARLING_OIDC_JWKS_URL", &jwks_url, "keys are fetched over https only"));
        }
        if user_claim.is_empty() {
            return Err(invalid("STARLING_OIDC_USER_CLAIM", user_claim, "name the claim of the user id"));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            audiences,
            jwks_url,
            user_claim: user_claim.to_owned(),
            refetch_after: KeyCache::DEFAULT_REFETCH,
        })
    }
}

/// Verifies one issuer's tokens; build it once at init (it fetches nothing until the first token).
#[derive(Debug)]
pub struct OidcVerifier {
    config: OidcConfig,
    keys: KeyCache,
}

impl OidcVerifier {
    /// Keys fetched from the configured JWKS URL.
    pub fn new(config: OidcConfig) -> Self {
        let source = Arc::new(HttpsKeySource::new(config.jwks_url.clone()));
        let keys = KeyCache::with_timing(source, config.refetch_after, KeyCache::DEFAULT_MAX_AGE);
        Self::with_keys(config, keys)
    }

    /// Keys from `keys` (tests: a [`crate::adapters::memory::MemoryKeySource`] behind a cache).
    pub fn with_keys(config: OidcConfig, keys: KeyCache) -> Self {
        crypto::install();
        Self { config, keys }
    }

    /// Keys from `source`, behind the default cache.
    pub fn with_source(config: OidcConfig, source: Arc<dyn KeySource>) -> Self {
        Self::with_keys(config, KeyCache::new(source))
    }

    /// The user id of `token`: RS256 or ES256, signed by a key the issuer publishes, `iss` the
    /// issuer, an accepted audience, within `exp` and `nbf` (5 s leeway), and a user claim that
    /// is a valid Starling user id.
    pub async fn verify(&self, token: &str) -> Result<String, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let header = decode_header(token).map_err(AuthError::Invalid)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        let jwk = match self.keys.key(&kid).await.map_err(AuthError::KeysUnavailable)? {
            Lookup::Found(jwk) => jwk,
            Lookup::Unknown => return Err(AuthError::UnknownKey(kid)),
        };
        let key = decoding_key(&jwk, header.alg).ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.set_issuer(&[&self.config.issuer]);
        // Checked below, where a Cognito access token's `client_id` can stand in for `aud`.
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = decode::<Map<String, Value>>(token, &key, &validation).map_err(AuthError::from_jwt)?.claims;
        self.check_audience(&claims)?;
        let user = match claims.get(&self.config.user_claim) {
            Some(Value::String(u)) => u.clone(),
            _ => return Err(AuthError::NoUserClaim(self.config.user_claim.clone())),
        };
        check_user(&user)?;
        Ok(user)
    }

    /// `aud` (a string or an array) holds an accepted audience; a token without `aud` may name
    /// its client in `client_id`, as Cognito's access tokens do.
    fn check_audience(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        let accepted = |v: &Value| v.as_str().is_some_and(|a| self.config.audiences.iter().any(|x| x == a));
        let ok = match (claims.get("aud"), claims.get("client_id")) {
            (Some(Value::Array(auds)), _) => auds.iter().any(accepted),
            (Some(aud), _) => accepted(aud),
            (None, Some(client)) => accepted(client),
            (None, None) => false,
        };
        if ok { Ok(()) } else { Err(AuthError::Audience) }
    }
}

/// The key of `jwk` for `alg`, if the JWK is a signing key of that algorithm: RSA for RS256,
/// P-256 for ES256, and its `alg` and `use`, when given, agree.
fn decoding_key(jwk: &Jwk, alg: Algorithm) -> Option<DecodingKey> {
    let alg_agrees = match jwk.common.key_algorithm {
        None => true,
        Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
        Some(_) => false,
    };
    let for_signing = matches!(jwk.common.public_key_use, None | Some(PublicKeyUse::Signature));
    if !alg_agrees || !for_signing {
        return None;
    }
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => DecodingKey::from_jwk(jwk).ok(),
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) if ec.curve == EllipticCurve::P256 => {
            DecodingKey::from_jwk(jwk).ok()
        }
        _ => None,
    }
}
