//! Each function's environment configuration, read once at init. Every failure names the
//! variable, so a misconfigured deploy says what to fix in its first log line.

use std::str::FromStr;

use crate::service::fanout::FanoutSettings;
use crate::service::send::SendLimits;

/// A missing or invalid environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty: set it (the SAM template and CDK app do).
    #[error("{0} must be set")]
    Missing(&'static str),
    /// A variable is set to something that does not parse: fix its value.
    #[error("{name} is {value:?}, which is not valid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// A required, non-empty variable.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// An optional variable; unset or empty means `None`.
pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// An optional, parsed variable with a default.
pub fn parsed<T>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e: T::Err| ConfigError::Invalid { name, value: v, reason: e.to_string() }),
    }
}

/// `$connect` and `$disconnect`: `STARLING_TABLE`, `STARLING_QUEUE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// The DynamoDB table.
    pub table: String,
    /// The FIFO queue presence notices go to.
    pub queue_url: String,
}

impl ConnectionConfig {
    /// Reads the variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self { table: required("STARLING_TABLE")?, queue_url: required("STARLING_QUEUE_URL")? })
    }
}

/// The `send` function: `STARLING_TABLE`, `STARLING_QUEUE_URL`, `STARLING_WS_ENDPOINT` and the
/// limits of [`SendLimits::from_env`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendConfig {
    /// The DynamoDB table.
    pub table: String,
    /// The FIFO queue accepted messages go to.
    pub queue_url: String,
    /// Per-user and per-connection limits.
    pub limits: SendLimits,
    /// Overrides the management endpoint of each event (custom domains).
    pub endpoint_override: Option<String>,
    /// What reviews each message.
    pub moderation: ModerationConfig,
}

impl SendConfig {
    /// Reads the variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table: required("STARLING_TABLE")?,
            queue_url: required("STARLING_QUEUE_URL")?,
            limits: SendLimits::from_env()?,
            endpoint_override: optional("STARLING_WS_ENDPOINT"),
            moderation: ModerationConfig::from_env()?,
        })
    }
}

/// Where the built-in filter's rules document lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesLocation {
    /// `STARLING_MODERATION_PARAMETER`: an SSM parameter name.
    Parameter(String),
    /// `STARLING_MODERATION_OBJECT`: `bucket/key` of an S3 object.
    Object {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
}

/// The `send` function's moderation: `STARLING_MODERATION_PARAMETER` or
/// `STARLING_MODERATION_OBJECT` (at most one), `STARLING_MODERATION_TTL_SECS`,
/// `STARLING_MODERATION_HOOK`, `STARLING_MODERATION_HOOK_TIMEOUT_MS`,
/// `STARLING_MODERATION_HOOK_FAILURE`. All unset: no moderation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerationConfig {
    /// The rules document, if the built-in filter is on.
    pub rules: Option<RulesLocation>,
    /// How long read rules are kept before the source is read again.
    pub ttl: std::time::Duration,
    /// The hook function (a name or ARN), if any.
    pub hook: Option<String>,
    /// How long the hook may take per message.
    pub hook_timeout: std::time::Duration,
    /// What a failed hook call does.
    pub hook_failure: crate::moderation::FailurePolicy,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        Self {
            rules: None,
            ttl: std::time::Duration::from_secs(60),
            hook: None,
            hook_timeout: std::time::Duration::from_millis(200),
            hook_failure: crate::moderation::FailurePolicy::Open,
        }
    }
}

impl ModerationConfig {
    /// Reads the variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let rules = match (optional("STARLING_MODERATION_PARAMETER"), optional("STARLING_MODERATION_OBJECT")) {
            (Some(_), Some(object)) => {
                return Err(ConfigError::Invalid {
                    name: "STARLING_MODERATION_OBJECT",
                    value: object,
                    reason: "STARLING_MODERATION_PARAMETER is set too; name one source of rules".into(),
                });
            }
            (Some(name), None) => Some(RulesLocation::Parameter(name)),
            (None, Some(object)) => Some(object_location(&object)?),
            (None, None) => None,
        };
        let ttl_secs: u64 = parsed("STARLING_MODERATION_TTL_SECS", d.ttl.as_secs())?;
        let timeout_ms: u64 = parsed("STARLING_MODERATION_HOOK_TIMEOUT_MS", 200)?;
        Ok(Self {
            rules,
            ttl: std::time::Duration::from_secs(ttl_secs),
            hook: optional("STARLING_MODERATION_HOOK"),
            hook_timeout: std::time::Duration::from_millis(timeout_ms),
            hook_failure: parsed("STARLING_MODERATION_HOOK_FAILURE", d.hook_failure)?,
        })
    }
}

/// `bucket/key`, with or without `s3://`.
fn object_location(value: &str) -> Result<RulesLocation, ConfigError> {
    let path = value.strip_prefix("s3://").unwrap_or(value);
    match path.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok(RulesLocation::Object { bucket: bucket.to_owned(), key: key.to_owned() })
        }
        _ => Err(ConfigError::Invalid {
            name: "STARLING_MODERATION_OBJECT",
            value: value.to_owned(),
            reason: "expected bucket/key".into(),
        }),
    }
}

/// The fanout: `STARLING_TABLE`, `STARLING_DLQ_URL` and the settings of
/// [`FanoutSettings::from_env`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutConfig {
    /// The DynamoDB table.
    pub table: String,
    /// The FIFO dead-letter queue the fanout sends what it gives up on.
    pub dlq_url: String,
    /// `STARLING_DELIVER_QUEUE_URL`: the FIFO queue large rooms' shard deliveries go through
    /// (the fanout consumes it too); unset, every room is delivered directly.
    pub deliver_queue_url: Option<String>,
    /// `STARLING_EXPORT_STREAM`: the Firehose delivery stream message events are exported to
    /// (docs/analytics.md); unset or empty, nothing is exported.
    pub export_stream: Option<String>,
    /// Tuning.
    pub settings: FanoutSettings,
}

impl FanoutConfig {
    /// Reads the variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table: required("STARLING_TABLE")?,
            dlq_url: required("STARLING_DLQ_URL")?,
            deliver_queue_url: optional("STARLING_DELIVER_QUEUE_URL"),
            export_stream: optional("STARLING_EXPORT_STREAM"),
            settings: FanoutSettings::from_env()?,
        })
    }
}

impl SendLimits {
    /// `STARLING_RATE_LIMIT`, `STARLING_RATE_WINDOW_SECS`, `STARLING_MAX_ROOMS`,
    /// `STARLING_TYPING_INTERVAL_MS`, `STARLING_SYNC_LIMIT`, `STARLING_READ_INTERVAL_MS`,
    /// `STARLING_STATUS_INTERVAL_MS`, `STARLING_SYNC_MAX_FRAMES`, `STARLING_SYNC_TIME_BUDGET_MS`,
    /// `STARLING_PRESENCE_PUSH_LIMIT`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            rate_limit: parsed("STARLING_RATE_LIMIT", d.rate_limit)?,
            rate_window_secs: parsed("STARLING_RATE_WINDOW_SECS", d.rate_window_secs)?,
            max_rooms: parsed("STARLING_MAX_ROOMS", d.max_rooms)?,
            typing_interval_ms: parsed("STARLING_TYPING_INTERVAL_MS", d.typing_interval_ms)?,
            sync_limit: parsed("STARLING_SYNC_LIMIT", d.sync_limit)?,
            read_interval_ms: parsed("STARLING_READ_INTERVAL_MS", d.read_interval_ms)?,
            status_interval_ms: parsed("STARLING_STATUS_INTERVAL_MS", d.status_interval_ms)?,
            sync_max_frames: parsed("STARLING_SYNC_MAX_FRAMES", d.sync_max_frames)?,
            sync_time_budget_ms: parsed("STARLING_SYNC_TIME_BUDGET_MS", d.sync_time_budget_ms)?,
            presence_push_limit: parsed("STARLING_PRESENCE_PUSH_LIMIT", d.presence_push_limit)?,
        })
    }
}

impl FanoutSettings {
    /// `STARLING_FANOUT_CONCURRENCY`, `STARLING_RETENTION_DAYS`, `STARLING_WS_ENDPOINT`,
    /// `STARLING_FANOUT_MAX_ATTEMPTS`, `STARLING_FANOUT_RECEIVE_CEILING`,
    /// `STARLING_FANOUT_DEADLINE_MARGIN_MS`, `STARLING_SHARD_THRESHOLD`, `STARLING_SHARDS`,
    /// `STARLING_SHARDED_HOLD_SECS`, `STARLING_PRESENCE_PUSH_LIMIT`, `STARLING_EXPORT_BODIES`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let days: i64 = parsed("STARLING_RETENTION_DAYS", d.retention_secs / 86_400)?;
        let margin_ms = u64::try_from(d.deadline_margin.as_millis()).unwrap_or(u64::MAX);
        Ok(Self {
            concurrency: parsed("STARLING_FANOUT_CONCURRENCY", d.concurrency)?,
            retention_secs: days * 86_400,
            endpoint_override: optional("STARLING_WS_ENDPOINT"),
            max_attempts: parsed("STARLING_FANOUT_MAX_ATTEMPTS", d.max_attempts)?,
            receive_ceiling: parsed("STARLING_FANOUT_RECEIVE_CEILING", d.receive_ceiling)?,
            deadline_margin: std::time::Duration::from_millis(parsed("STARLING_FANOUT_DEADLINE_MARGIN_MS", margin_ms)?),
            shard_threshold: parsed("STARLING_SHARD_THRESHOLD", d.shard_threshold)?,
            shards: parsed("STARLING_SHARDS", d.shards)?,
            sharded_hold: std::time::Duration::from_secs(parsed(
                "STARLING_SHARDED_HOLD_SECS",
                d.sharded_hold.as_secs(),
            )?),
            export_bodies: parsed("STARLING_EXPORT_BODIES", d.export_bodies)?,
            ..d
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rules_object_is_bucket_slash_key_with_or_without_its_scheme() {
        let expected = RulesLocation::Object { bucket: "rules".into(), key: "moderation/v1.json".into() };
        assert_eq!(object_location("rules/moderation/v1.json").unwrap(), expected);
        assert_eq!(object_location("s3://rules/moderation/v1.json").unwrap(), expected);
        for bad in ["rules", "rules/", "/key", "s3://", ""] {
            assert!(object_location(bad).is_err(), "{bad:?}");
        }
    }
}
