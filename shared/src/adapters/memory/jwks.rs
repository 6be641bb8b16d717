//! A [`KeySource`] holding a key set in memory, which a test rotates or breaks.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;

use crate::auth::jwks::{JwksError, KeySource};

/// Serves the set it holds; counts fetches; fails while `fail` is on.
#[derive(Debug)]
pub struct MemoryKeySource {
    set: Mutex<JwkSet>,
    fetches: AtomicUsize,
    failing: AtomicBool,
}

impl MemoryKeySource {
    /// Serves `set`.
    pub fn new(set: JwkSet) -> Self {
        Self { set: Mutex::new(set), fetches: AtomicUsize::new(0), failing: AtomicBool::new(false) }
    }

    /// Serves `set` from now on (the issuer rotated its keys).
    pub fn replace(&self, set: JwkSet) {
        *self.set.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = set;
    }

    /// Whether fetches fail (the issuer is down).
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Fetches so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl KeySource for MemoryKeySource {
    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(JwksError::Unreachable { url: "memory".into(), source: "the issuer is down".into() });
        }
        Ok(self.set.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }
}
