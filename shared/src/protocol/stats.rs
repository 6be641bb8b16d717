//! The `stats` action's request fields and reply items (docs/protocol.md, `stats`).

use serde::{Deserialize, Serialize};

use super::RoomId;

/// `stats.minutes` when the client gives none: the last hour.
pub const DEFAULT_STATS_MINUTES: u32 = 60;
/// Largest `stats.minutes`: a day.
pub const MAX_STATS_MINUTES: u32 = 24 * 60;

/// One minute of a room's counters in a `stats` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MinuteStats {
    /// `minute`: the UTC minute, `2026-11-24T17:05Z`.
    pub minute: String,
    /// `messages`: messages stored in the room in that minute.
    pub messages: u64,
    /// `senders`: distinct users who sent them (counted up to 200 a minute).
    pub senders: u64,
    /// `deliveries`: the room's messages delivered live in that minute, each message once per
    /// connection it reached.
    pub deliveries: u64,
}

/// The sums over every minute a `stats` reply covers, those left out for size included.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsTotals {
    /// `messages`: messages stored in the window.
    pub messages: u64,
    /// `senders`: distinct senders over the whole window (not the sum of the minutes').
    pub senders: u64,
    /// `deliveries`: messages delivered live in the window.
    pub deliveries: u64,
}

/// A `stats` frame's fields, before validation.
#[derive(Deserialize)]
pub(super) struct StatsFields {
    pub(super) room: String,
    #[serde(default)]
    pub(super) minutes: Option<u32>,
}

impl StatsFields {
    /// The minutes asked for, checked: 1 to [`MAX_STATS_MINUTES`], absent or `null` meaning
    /// [`DEFAULT_STATS_MINUTES`].
    pub(super) fn minutes(&self) -> Result<u32, String> {
        let minutes = self.minutes.unwrap_or(DEFAULT_STATS_MINUTES);
        if (1..=MAX_STATS_MINUTES).contains(&minutes) {
            Ok(minutes)
        } else {
            Err(format!("minutes must be 1 to {MAX_STATS_MINUTES}"))
        }
    }
}

/// The parsed request, for `Request::Stats`.
pub(super) fn parse(f: StatsFields) -> Result<(RoomId, u32), String> {
    let minutes = f.minutes()?;
    Ok((RoomId::parse(&f.room)?, minutes))
}
