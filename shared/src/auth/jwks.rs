//! An OIDC issuer's signing keys, by `kid`: fetched on first use (init does no network I/O),
//! fetched again for a `kid` not seen yet (the issuer rotated its keys) at most once per
//! [`KeyCache::DEFAULT_REFETCH`], and refreshed when older than [`KeyCache::DEFAULT_MAX_AGE`] so a key the
//! issuer withdrew stops being accepted. A failed fetch keeps the keys already held.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{info, warn};

/// Why the keys could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The request failed (DNS, TCP, TLS, timeout): the issuer or the network is down; retry.
    #[error("fetching the JWKS from {url} failed")]
    Unreachable {
        /// Where from.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The last fetch failed, too recently to try again: retry later.
    #[error("the last fetch of the JWKS failed under {secs} s ago: {reason}")]
    Recent {
        /// The rate bound.
        secs: u64,
        /// How that fetch failed.
        reason: String,
    },
    /// The issuer answered, but not with a JWKS: check `STARLING_OIDC_JWKS_URL`.
    #[error("the JWKS at {url} is unusable: {reason}")]
    Unusable {
        /// Where from.
        url: String,
        /// What was wrong (a status, a size, a parse error).
        reason: String,
    },
}

/// Where an issuer's keys come from: its JWKS URL in a deployment, a fixed set in tests.
#[async_trait]
pub trait KeySource: Send + Sync + std::fmt::Debug {
    /// The issuer's current key set.
    async fn fetch(&self) -> Result<JwkSet, JwksError>;
}

/// What the cache found for a `kid`.
#[derive(Debug)]
pub enum Lookup {
    /// The key.
    Found(Box<Jwk>),
    /// The issuer does not publish it (after a fetch, or too soon after the last one to fetch).
    Unknown,
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, Jwk>,
    /// When the last fetch started, successful or not: the rate bound.
    last_attempt: Option<Instant>,
    /// When the keys held were fetched.
    fetched_at: Option<Instant>,
    /// How the last fetch failed, if it did: a `kid` not held gets this error (not "unknown")
    /// until the next fetch may start.
    failure: Option<String>,
}

/// The keys of one issuer, shared by every verification of the instance.
#[derive(Debug)]
pub struct KeyCache {
    source: Arc<dyn KeySource>,
    min_refetch: Duration,
    max_age: Duration,
    state: Mutex<State>,
}

impl KeyCache {
    /// The default shortest time between two fetches.
    pub const DEFAULT_REFETCH: Duration = Duration::from_secs(30);
    /// The default age at which held keys are fetched again.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60 * 60);

    /// At most one fetch per 30 s; keys refreshed after an hour.
    pub fn new(source: Arc<dyn KeySource>) -> Self {
        Self::with_timing(source, Self::DEFAULT_REFETCH, Self::DEFAULT_MAX_AGE)
    }

    /// A cache with its own rate bound and refresh age (tests).
    pub fn with_timing(source: Arc<dyn KeySource>, min_refetch: Duration, max_age: Duration) -> Self {
        Self { source, min_refetch, max_age, state: Mutex::default() }
    }

    /// The key `kid`, fetching the set when it is unknown or old and the rate bound allows.
    /// Verifications wait for a fetch under way rather than start their own.
    pub async fn key(&self, kid: &str) -> Result<Lookup, JwksError> {
        let mut state = self.state.lock().await;
        let stale = state.fetched_at.is_none_or(|t| t.elapsed() >= self.max_age);
        let known = state.keys.contains_key(kid);
        let may_fetch = state.last_attempt.is_none_or(|t| t.elapsed() >= self.min_refetch);
        if (!known || stale) && may_fetch {
            state.last_attempt = Some(Instant::now());
            let fetched = self.source.fetch().await;
            state.failure = fetched.as_ref().err().map(|e| crate::telemetry::chain(e));
            match fetched {
                Ok(set) => {
                    let keys: HashMap<String, Jwk> =
                        set.keys.into_iter().filter_map(|k| Some((k.common.key_id.clone()?, k))).collect();
                    info!(
                        keys = keys.len(),
                        reason = if known { "refresh" } else { "unknown kid" },
                        "fetched the JWKS"
                    );
                    state.keys = keys;
                    state.fetched_at = Some(Instant::now());
                }
                // Known keys keep working through an outage of the issuer.
                Err(e) if known => warn!(error = %e, "refreshing the JWKS failed; keeping the keys held"),
                Err(e) => return Err(e),
            }
        }
        match (state.keys.get(kid), &state.failure) {
            (Some(k), _) => Ok(Lookup::Found(Box::new(k.clone()))),
            (None, Some(reason)) => Err(JwksError::Recent { secs: self.min_refetch.as_secs(), reason: reason.clone() }),
            (None, None) => Ok(Lookup::Unknown),
        }
    }
}
