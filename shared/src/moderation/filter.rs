//! The built-in filter as a moderation stage: its rules document is read from a [`RulesSource`]
//! (an SSM parameter, an S3 object, a file on the devstack) and kept for a TTL, so a change
//! applies without a redeploy. A document that does not parse never replaces the rules in force.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use starling_moderation::{Filter, Rules};
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Candidate, Moderation, ModerationError, Verdict};

/// After a failed read, the next one waits at least this long (or the TTL, if shorter), so a
/// broken source is not read once per message.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// A rules document and the version its source gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesDocument {
    /// The JSON text.
    pub text: String,
    /// The source's version of it (an SSM parameter version, an S3 ETag, a file's mtime).
    pub version: String,
}

/// What a read of the source found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The version already known.
    Unchanged,
    /// A document, new or changed.
    Document(RulesDocument),
}

/// Where the rules document lives: the port of the built-in filter.
#[async_trait]
pub trait RulesSource: Send + Sync + std::fmt::Debug {
    /// Reads the document, or says it is still `known` (the version last read).
    async fn fetch(&self, known: Option<&str>) -> Result<Fetched, RulesSourceError>;
}

/// Why the rules could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RulesSourceError {
    /// The source could not be read (permissions, a missing parameter or object, the network):
    /// fix the source; the last good rules stay in force meanwhile.
    #[error("reading the moderation rules from {location} failed")]
    Read {
        /// The parameter, object or file.
        location: String,
        /// What failed.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The document was read but is not valid rules: fix the document; the last good rules stay.
    #[error("the moderation rules version {version} are not valid")]
    Invalid {
        /// The source's version of the bad document.
        version: String,
        /// What is wrong with it.
        #[source]
        source: Arc<starling_moderation::RulesError>,
    },
}

/// The built-in filter, with its rules cached for `ttl`.
#[derive(Debug)]
pub struct BuiltInFilter {
    source: Arc<dyn RulesSource>,
    ttl: Duration,
    state: RwLock<State>,
    /// One read of the source at a time; others go on with the rules in force.
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    filter: Option<Arc<Filter>>,
    /// The version last read, good or not, so a bad document is not parsed again.
    version: Option<String>,
    /// No read before this.
    next_read: Option<Instant>,
    /// Why the last read failed, while no rules were ever loaded.
    error: Option<RulesSourceError>,
}

impl BuiltInFilter {
    /// A filter whose rules `source` holds, read again once they are `ttl` old. Nothing is read
    /// until the first message (init does no network I/O).
    pub fn new(source: Arc<dyn RulesSource>, ttl: Duration) -> Self {
        Self { source, ttl, state: RwLock::new(State::default()), refresh: tokio::sync::Mutex::new(()) }
    }

    /// The rules in force, reading the source first when they are due.
    async fn current(&self) -> Result<Arc<Filter>, ModerationError> {
        let (filter, due) = self.snapshot();
        if !due {
            return filter.ok_or_else(|| self.unavailable());
        }
        // Rules in force serve everyone while one caller reads; with none, everyone waits for it.
        let _guard = match &filter {
            Some(f) => match self.refresh.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(f.clone()),
            },
            None => self.refresh.lock().await,
        };
        if self.snapshot().1 {
            self.read_source().await;
        }
        self.snapshot().0.ok_or_else(|| self.unavailable())
    }

    fn snapshot(&self) -> (Option<Arc<Filter>>, bool) {
        let state = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        (state.filter.clone(), state.next_read.is_none_or(|at| Instant::now() >= at))
    }

    fn unavailable(&self) -> ModerationError {
        let state = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let error = state.error.clone().unwrap_or_else(|| RulesSourceError::Read {
            location: "the rules source".into(),
            source: Arc::new(std::io::Error::other("not read yet")),
        });
        ModerationError::RulesUnavailable(error)
    }

    async fn read_source(&self) {
        let known = self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner).version.clone();
        let fetched = self.source.fetch(known.as_deref()).await;
        let outcome = match fetched {
            Ok(Fetched::Unchanged) => Ok(None),
            Ok(Fetched::Document(doc)) => {
                compile(&doc).map(|f| Some((f, doc.version.clone()))).map_err(|e| (e, Some(doc.version)))
            }
            Err(e) => Err((e, None)),
        };
        let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match outcome {
            Ok(None) => state.next_read = Some(Instant::now() + self.ttl),
            Ok(Some((filter, version))) => {
                info!(version = %version, terms = filter.rules().terms.len(), "moderation rules loaded");
                *state = State {
                    filter: Some(Arc::new(filter)),
                    version: Some(version),
                    next_read: Some(Instant::now() + self.ttl),
                    error: None,
                };
            }
            Err((error, bad_version)) => {
                warn!(error = %crate::telemetry::chain(&error), kept = state.filter.is_some(), "moderation rules not updated");
                crate::telemetry::metric::moderation_rules_failed();
                if bad_version.is_some() {
                    // The bad document stays "known", so it is not parsed again until it changes.
                    state.version = bad_version;
                    state.next_read = Some(Instant::now() + self.ttl);
                } else {
                    state.next_read = Some(Instant::now() + self.ttl.min(RETRY_AFTER_FAILURE));
                }
                state.error = Some(error);
            }
        }
    }
}

fn compile(doc: &RulesDocument) -> Result<Filter, RulesSourceError> {
    let invalid = |e| RulesSourceError::Invalid { version: doc.version.clone(), source: Arc::new(e) };
    Filter::new(Rules::parse(&doc.text).map_err(invalid)?).map_err(invalid)
}

#[async_trait]
impl Moderation for BuiltInFilter {
    async fn review(&self, candidate: &Candidate<'_>) -> Result<Verdict, ModerationError> {
        let filter = self.current().await?;
        Ok(match filter.review(candidate.body) {
            starling_moderation::Verdict::Allow => Verdict::Allow,
            starling_moderation::Verdict::Replace(body) => Verdict::Replace(body),
            starling_moderation::Verdict::Reject(reason) => Verdict::Reject(reason.code().to_owned()),
        })
    }
}
