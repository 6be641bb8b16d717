//! The protocol's timestamp form.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// `2026-11-22T21:00:00.000Z` of epoch seconds.
pub fn timestamp_secs(secs: i64) -> String {
    timestamp(Utc.timestamp_opt(secs, 0).single().unwrap_or_default())
}

/// `2026-11-22T21:00:00.000Z`: UTC, milliseconds, `Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_millis_and_z() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 21, 0, 0).unwrap();
        assert_eq!(timestamp(t), "2026-11-22T21:00:00.000Z");
        assert_eq!(timestamp_secs(t.timestamp()), "2026-11-22T21:00:00.000Z");
    }
}
