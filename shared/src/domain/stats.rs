//! Per-room activity counters, one bucket per UTC minute (docs/analytics.md): messages stored,
//! distinct senders, and deliveries (each message once per connection it reached).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

/// How long a minute's counters are kept (their TTL): a week.
pub const STATS_TTL_SECS: i64 = 7 * 24 * 60 * 60;
/// Senders a minute's set holds at most. Once a minute has this many, later runs of that minute
/// still count messages and deliveries but add no senders, so `senders` reads "this many or
/// more" and the bucket item stays small (docs/analytics.md, "Cost").
pub const MAX_COUNTED_SENDERS: usize = 200;

/// What one run of the fanout adds to its room's counters for one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCounts {
    /// The room.
    pub room: String,
    /// The minute counted in, as [`minute_of`] writes it.
    pub minute: String,
    /// Messages stored for the first time by this run.
    pub messages: u64,
    /// Messages delivered by this run: each message once per connection it reached.
    pub deliveries: u64,
    /// The senders of those messages.
    pub senders: BTreeSet<String>,
    /// When the bucket may be forgotten (epoch seconds).
    pub expires_at: i64,
}

impl RunCounts {
    /// Whether adding these would change nothing.
    pub fn is_empty(&self) -> bool {
        self.messages == 0 && self.deliveries == 0 && self.senders.is_empty()
    }
}

/// One minute of a room's counters, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MinuteCounts {
    /// The minute, as [`minute_of`] writes it.
    pub minute: String,
    /// Messages stored.
    pub messages: u64,
    /// Messages delivered: each message once per connection it reached.
    pub deliveries: u64,
    /// Distinct senders (at most about [`MAX_COUNTED_SENDERS`]).
    pub senders: BTreeSet<String>,
}

/// The minute `t` falls in, UTC, as `2026-11-24T17:05Z`: its string order is time order.
pub fn minute_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%MZ").to_string()
}

/// The first and last minute (inclusive) of the `minutes` minutes up to and including `now`'s.
pub fn window(now: DateTime<Utc>, minutes: u32) -> (String, String) {
    let back = i64::from(minutes.max(1)) - 1;
    (minute_of(now - Duration::minutes(back)), minute_of(now))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn minutes_sort_as_time_and_windows_include_now() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 17, 5, 59).unwrap();
        assert_eq!(minute_of(t), "2026-11-24T17:05Z");
        assert_eq!(window(t, 1), ("2026-11-24T17:05Z".into(), "2026-11-24T17:05Z".into()));
        assert_eq!(window(t, 60), ("2026-11-24T16:06Z".into(), "2026-11-24T17:05Z".into()));
        assert_eq!(window(t, 1440).0, "2026-11-23T17:06Z");
        assert!(minute_of(t - Duration::minutes(1)) < minute_of(t));
        assert!(minute_of(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 0).unwrap()) < minute_of(t + Duration::days(40)));
    }
}
