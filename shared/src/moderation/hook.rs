//! The operator's moderation hook: a function invoked synchronously with each message (like
//! AppSync Events' `onPublish` or Centrifugo's publish proxy) that answers allow, reject or
//! replace within a timeout. What a failure means is the operator's choice: `open` sends the
//! message as the filter left it, `closed` refuses it with `internal` so the client retries.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::{Candidate, Moderation, ModerationError, Verdict};
use crate::protocol::MAX_BODY_BYTES;

/// The reason code of a hook's rejection that names none (or an invalid one).
const DEFAULT_REASON: &str = "hook";

/// How the hook is reached: the port (a Lambda function on AWS; a command or URL on the devstack).
#[async_trait]
pub trait HookTransport: Send + Sync + std::fmt::Debug {
    /// Sends the request document and returns the reply document.
    async fn call(&self, request: Vec<u8>) -> Result<Vec<u8>, HookError>;
}

/// Why the hook gave no usable answer; its failure policy decides what happens to the message.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The hook could not be reached or its invocation failed (permissions, throttling, the
    /// network): check the function and the sender's permission to invoke it.
    #[error("calling the moderation hook {target} failed")]
    Call {
        /// The function, command or URL.
        target: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The hook ran and failed (a Lambda function error, a command's non-zero exit): fix it.
    #[error("the moderation hook {target} failed: {detail}")]
    Failed {
        /// The function, command or URL.
        target: String,
        /// Its error, as it reported it.
        detail: String,
    },
    /// No answer within the timeout: make the hook faster or raise the timeout.
    #[error("the moderation hook did not answer within {0:?}")]
    Timeout(Duration),
    /// The answer is not a valid verdict (docs/moderation.md has the reply format): fix the hook.
    #[error("the moderation hook's reply is not valid: {0}")]
    BadReply(String),
}

/// What a failed hook call does to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Send it as the built-in filter left it (the filter still applies).
    #[default]
    Open,
    /// Refuse it with `internal`; the client retries with the same `clientMsgId`.
    Closed,
}

impl FromStr for FailurePolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            other => Err(format!("{other:?} is neither \"open\" nor \"closed\"")),
        }
    }
}

/// The document the hook receives.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HookRequest<'a> {
    version: u8,
    room: &'a str,
    from: &'a str,
    body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_msg_id: Option<&'a str>,
    connection_id: &'a str,
}

/// The document the hook answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
enum HookReply {
    Allow,
    Reject {
        #[serde(default)]
        reason: Option<String>,
    },
    Replace {
        body: String,
    },
}

/// The hook stage.
#[derive(Debug, Clone)]
pub struct Hook {
    transport: Arc<dyn HookTransport>,
    timeout: Duration,
    policy: FailurePolicy,
}

impl Hook {
    /// A hook reached through `transport`, given `timeout` per message.
    pub fn new(transport: Arc<dyn HookTransport>, timeout: Duration, policy: FailurePolicy) -> Self {
        Self { transport, timeout, policy }
    }

    async fn ask(&self, candidate: &Candidate<'_>) -> Result<Verdict, HookError> {
        let request = HookRequest {
            version: 1,
            room: candidate.room,
            from: candidate.from,
            body: candidate.body,
            client_msg_id: candidate.client_msg_id,
            connection_id: candidate.connection_id,
        };
        let payload = serde_json::to_vec(&request).map_err(|e| HookError::BadReply(e.to_string()))?;
        let reply = tokio::time::timeout(self.timeout, self.transport.call(payload))
            .await
            .map_err(|_| HookError::Timeout(self.timeout))??;
        let reply: HookReply = serde_json::from_slice(&reply).map_err(|e| HookError::BadReply(e.to_string()))?;
        match reply {
            HookReply::Allow => Ok(Verdict::Allow),
            HookReply::Reject { reason } => Ok(Verdict::Reject(reason_code(reason))),
            HookReply::Replace { body } if body.is_empty() => {
                Err(HookError::BadReply("the replacement body is empty".into()))
            }
            HookReply::Replace { body } if body.len() > MAX_BODY_BYTES => Err(HookError::BadReply(format!(
                "the replacement body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            ))),
            HookReply::Replace { body } => Ok(Verdict::Replace(body)),
        }
    }
}

/// The hook's reason if it is a code a client can branch on (`[a-z][a-z0-9_]{0,63}`), else
/// [`DEFAULT_REASON`].
fn reason_code(reason: Option<String>) -> String {
    reason
        .filter(|r| {
            r.len() <= 64
                && r.starts_with(|c: char| c.is_ascii_lowercase())
                && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .unwrap_or_else(|| DEFAULT_REASON.to_owned())
}

#[async_trait]
impl Moderation for Hook {
    async fn review(&self, candidate: &Candidate<'_>) -> Result<Verdict, ModerationError> {
        match self.ask(candidate).await {
            Ok(verdict) => Ok(verdict),
            Err(e) => {
                crate::telemetry::metric::moderation_hook_failed();
                warn!(error = %crate::telemetry::chain(&e), policy = ?self.policy, room = candidate.room, "moderation hook failed");
                match self.policy {
                    FailurePolicy::Open => Ok(Verdict::Allow),
                    FailurePolicy::Closed => Err(ModerationError::HookFailed(e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_outside_the_charset_become_hook() {
        assert_eq!(reason_code(Some("spam_link".into())), "spam_link");
        assert_eq!(reason_code(Some("a1_b2".into())), "a1_b2");
        for bad in [
            None,
            Some(String::new()),
            Some("Spam".into()),
            Some("1spam".into()),
            Some("spam link".into()),
            Some("x".repeat(65)),
        ] {
            assert_eq!(reason_code(bad), "hook");
        }
    }

    #[test]
    fn failure_policy_parses_open_and_closed_only() {
        assert_eq!("open".parse::<FailurePolicy>(), Ok(FailurePolicy::Open));
        assert_eq!("closed".parse::<FailurePolicy>(), Ok(FailurePolicy::Closed));
        assert!("Closed".parse::<FailurePolicy>().is_err());
    }
}
