//! Environment configuration, read once at init by each binary.

use std::str::FromStr;

use crate::service::actions::ActionLimits;
use crate::service::fanout::FanoutSettings;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be set")]
    Missing(&'static str),
    #[error("{name} is {value:?}, which is not valid: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
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

impl ActionLimits {
    /// `STARLING_RATE_LIMIT`, `STARLING_RATE_WINDOW_SECS`, `STARLING_MAX_ROOMS`,
    /// `STARLING_TYPING_INTERVAL_MS`, `STARLING_SYNC_LIMIT`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            rate_limit: parsed("STARLING_RATE_LIMIT", d.rate_limit)?,
            rate_window_secs: parsed("STARLING_RATE_WINDOW_SECS", d.rate_window_secs)?,
            max_rooms: parsed("STARLING_MAX_ROOMS", d.max_rooms)?,
            typing_interval_ms: parsed("STARLING_TYPING_INTERVAL_MS", d.typing_interval_ms)?,
            sync_limit: parsed("STARLING_SYNC_LIMIT", d.sync_limit)?,
        })
    }
}

impl FanoutSettings {
    /// `STARLING_FANOUT_CONCURRENCY`, `STARLING_RETENTION_DAYS`, `STARLING_WS_ENDPOINT`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let days: i64 = parsed("STARLING_RETENTION_DAYS", d.retention_secs / 86_400)?;
        Ok(Self {
            concurrency: parsed("STARLING_FANOUT_CONCURRENCY", d.concurrency)?,
            retention_secs: days * 86_400,
            endpoint_override: optional("STARLING_WS_ENDPOINT"),
            ..d
        })
    }
}
