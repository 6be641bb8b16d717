//! Moderation in the send path, before `accepted`: a [`Moderation`] port with two
//! implementations, applied in order. The built-in filter ([`BuiltInFilter`], the
//! `starling-moderation` crate's rules, loaded from a [`RulesSource`] and cached with a TTL) runs
//! first; the operator's [`Hook`] (a function invoked with the message) sees what the filter left.
//! A rejection becomes the `rejected` error frame; a replaced (masked) body is the one queued,
//! stored and delivered, so the original is never stored (docs/moderation.md).

mod filter;
mod hook;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

pub use filter::{BuiltInFilter, Fetched, RulesDocument, RulesSource, RulesSourceError};
pub use hook::{FailurePolicy, Hook, HookError, HookTransport};

/// One message to review, as the sender sent it (or as an earlier stage replaced it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The room it is sent to.
    pub room: &'a str,
    /// The sending user.
    pub from: &'a str,
    /// The body to review.
    pub body: &'a str,
    /// The sender's `clientMsgId`, if any.
    pub client_msg_id: Option<&'a str>,
    /// The sending connection.
    pub connection_id: &'a str,
}

/// What one stage, or all of them, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send the body as it is.
    Allow,
    /// Send this body instead (masked, or replaced by the hook).
    Replace(String),
    /// Refuse the message; the reason code the sender sees.
    Reject(String),
}

/// Moderation could not decide: the message is refused with `internal`, and the client retries.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// The rules have never been loaded (or the last good ones are gone): the operator fixes the
    /// parameter or object they name; the client retries later.
    #[error("the moderation rules are unavailable; retry")]
    RulesUnavailable(#[source] RulesSourceError),
    /// The hook failed and its failure policy is `closed`: the client retries later.
    #[error("the moderation hook failed; retry")]
    HookFailed(#[source] HookError),
}

/// One moderation stage.
#[async_trait]
pub trait Moderation: Send + Sync + Debug {
    /// The stage's verdict on `candidate`.
    async fn review(&self, candidate: &Candidate<'_>) -> Result<Verdict, ModerationError>;
}

/// The stages of a deployment, applied in order; none means every message is allowed.
#[derive(Debug, Clone, Default)]
pub struct Moderators(Vec<Arc<dyn Moderation>>);

impl Moderators {
    /// The stages, in the order they review.
    pub fn new(stages: Vec<Arc<dyn Moderation>>) -> Self {
        Self(stages)
    }

    /// Whether no stage is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every stage's verdict in turn: each sees the body the one before left, the first
    /// rejection ends the review, and the answer is `Replace` when any stage changed the body.
    pub async fn review(&self, candidate: &Candidate<'_>) -> Result<Verdict, ModerationError> {
        let mut replaced: Option<String> = None;
        for stage in &self.0 {
            let current = Candidate { body: replaced.as_deref().unwrap_or(candidate.body), ..*candidate };
            match stage.review(&current).await? {
                Verdict::Allow => {}
                Verdict::Replace(body) => replaced = Some(body),
                reject @ Verdict::Reject(_) => return Ok(reject),
            }
        }
        Ok(replaced.map_or(Verdict::Allow, Verdict::Replace))
    }
}
