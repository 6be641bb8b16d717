//! Every metric the service records: its name (spelled here only), its unit, and the call that
//! records it. The dashboards and alarms of the SAM and CDK stacks are built on these names and
//! on the `Function` dimension; docs/metrics.md says what each one means.
//!
//! The calls go to whatever recorder is installed: the CloudWatch EMF one in a Lambda
//! (`telemetry::init_function`), the devstack's Prometheus one, or none (a no-op) in tests.

use chrono::{DateTime, Utc};
use metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

use crate::protocol::ServerFrame;

/// The one dimension of every metric in CloudWatch: which function recorded it.
pub const FUNCTION_DIMENSION: &str = "Function";

/// `send`: `accepted` replies (a message queued).
pub const ACCEPTED: &str = "accepted";
/// `send`: error replies with code `rejected` (refused by moderation); also the code itself.
pub const REJECTED: &str = "rejected";
/// `send`: error replies with code `rate_limited`; also the code itself.
pub const RATE_LIMITED: &str = "rate_limited";
/// `send`: `syncPage` frames posted by `sync`.
pub const SYNC_PAGES: &str = "sync_pages";
/// `send`: `history` replies.
pub const HISTORY_PAGES: &str = "history_pages";
/// `fanout`: successful posts of a `message` or `messages` frame.
pub const DELIVERED: &str = "delivered";
/// `fanout`, `send`: connections that answered a post with 410 and were removed.
pub const GONE: &str = "gone";
/// `fanout`, `send`: posts answered 429 (each try).
pub const POST_THROTTLED: &str = "post_throttled";
/// `fanout`: records sent to the DLQ.
pub const DEAD_LETTERED: &str = "dead_lettered";
/// `fanout`: milliseconds from a message's `sentAt` to the end of its posts to a page of
/// subscribers.
pub const FANOUT_LATENCY_MS: &str = "fanout_latency_ms";
/// `fanout`: SQS records in one invocation.
pub const BATCH_SIZE: &str = "batch_size";
/// `send`: moderation hook calls that failed or timed out, whatever the failure policy did.
pub const MODERATION_HOOK_FAILED: &str = "moderation_hook_failed";
/// `send`: reads of the moderation rules that failed, and documents refused as invalid.
pub const MODERATION_RULES_FAILED: &str = "moderation_rules_failed";
/// `fanout`: runs whose room counters could not be updated (docs/analytics.md).
pub const STATS_FAILED: &str = "stats_failed";
/// `fanout`: runs whose message events could not be exported to Firehose, or timed out.
pub const EXPORT_FAILED: &str = "export_failed";
/// Every function: one per instance, at its first invocation (written by the EMF crate).
pub const COLD_START: &str = "cold_start";

/// A Lambda function, as its metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// The `$connect` REQUEST authorizer.
    Authorizer,
    /// `$connect`.
    Connect,
    /// `$disconnect`.
    Disconnect,
    /// `$default`: every client action.
    Send,
    /// The SQS consumer.
    Fanout,
}

impl Function {
    /// The value of the `Function` dimension.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authorizer => "authorizer",
            Self::Connect => "connect",
            Self::Disconnect => "disconnect",
            Self::Send => "send",
            Self::Fanout => "fanout",
        }
    }
}

/// Gives each metric its unit (CloudWatch's `Unit`) and description (Prometheus' `HELP`). Call
/// once after installing a recorder; a metric not described has no unit.
pub fn describe() {
    let counters = [
        (ACCEPTED, "send: accepted replies"),
        (REJECTED, "send: error replies with code rejected (moderation)"),
        (RATE_LIMITED, "send: error replies with code rate_limited"),
        (SYNC_PAGES, "send: syncPage frames posted by sync"),
        (HISTORY_PAGES, "send: history replies"),
        (DELIVERED, "fanout: successful posts of message and messages frames"),
        (GONE, "connections that answered a post with 410 and were removed"),
        (POST_THROTTLED, "posts answered 429, each try"),
        (DEAD_LETTERED, "fanout: records sent to the DLQ"),
        (COLD_START, "first invocations of an instance"),
        (STATS_FAILED, "fanout: runs whose room counters were not updated"),
        (EXPORT_FAILED, "fanout: runs whose message events were not exported (or timed out)"),
        (MODERATION_HOOK_FAILED, "send: moderation hook calls that failed or timed out"),
        (MODERATION_RULES_FAILED, "send: failed reads and refused documents of the moderation rules"),
    ];
    for (name, help) in counters {
        describe_counter!(name, Unit::Count, help);
    }
    describe_histogram!(FANOUT_LATENCY_MS, Unit::Milliseconds, "fanout: sentAt to the end of its posts to a page");
    describe_histogram!(BATCH_SIZE, Unit::Count, "fanout: SQS records per invocation");
}

/// Counts a frame `send` served, as its reply or posted by `sync`, by its kind: `accepted`,
/// `history`, `syncPage`, and errors with code `rate_limited` or `rejected`.
pub fn served(frame: &ServerFrame) {
    let name = match frame {
        ServerFrame::Accepted { .. } => ACCEPTED,
        ServerFrame::History { .. } => HISTORY_PAGES,
        ServerFrame::SyncPage { .. } => SYNC_PAGES,
        // By the code's wire string, which is also the metric's name.
        ServerFrame::Error(e) if matches!(e.code.as_str(), RATE_LIMITED | REJECTED) => e.code.as_str(),
        _ => return,
    };
    counter!(name).increment(1);
}

/// A run's frames were posted to a page of subscribers: `posts` succeeded. Each message's
/// latency from `sent_at` (RFC 3339) to `now` is recorded when any did.
pub fn run_posted<'a>(posts: usize, sent_at: impl IntoIterator<Item = &'a str>, now: DateTime<Utc>) {
    if posts == 0 {
        return;
    }
    counter!(DELIVERED).increment(posts as u64);
    for sent in sent_at {
        if let Ok(sent) = DateTime::parse_from_rfc3339(sent) {
            // A clock behind the sender's makes no negative latency.
            let ms = (now - sent.with_timezone(&Utc)).num_milliseconds().max(0);
            histogram!(FANOUT_LATENCY_MS).record(ms as f64);
        }
    }
}

/// `n` connections answered 410 and are being removed.
pub fn gone(n: usize) {
    if n > 0 {
        counter!(GONE).increment(n as u64);
    }
}

/// A post was answered 429.
pub fn post_throttled() {
    counter!(POST_THROTTLED).increment(1);
}

/// A record was sent to the DLQ.
pub fn dead_lettered() {
    counter!(DEAD_LETTERED).increment(1);
}

/// A moderation hook call failed or timed out.
pub fn moderation_hook_failed() {
    counter!(MODERATION_HOOK_FAILED).increment(1);
}

/// The moderation rules could not be read, or the document read was refused.
pub fn moderation_rules_failed() {
    counter!(MODERATION_RULES_FAILED).increment(1);
}

/// A run's room counters were not updated.
pub fn stats_failed() {
    counter!(STATS_FAILED).increment(1);
}

/// A run's export failed or timed out.
pub fn export_failed() {
    counter!(EXPORT_FAILED).increment(1);
}

/// A fanout invocation got `records` SQS records.
pub fn batch_size(records: usize) {
    histogram!(BATCH_SIZE).record(records as f64);
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;
    use crate::protocol::{ErrorCode, ProtocolError};

    fn recorded(f: impl FnOnce()) -> Vec<(String, DebugValue)> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        let mut all: Vec<_> =
            snapshotter.snapshot().into_vec().into_iter().map(|(k, _, _, v)| (k.key().name().to_owned(), v)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    #[test]
    fn served_counts_accepted_history_sync_pages_and_the_two_refusal_codes_only() {
        let error = |code| ProtocolError { code, message: "m".into(), action: None, client_msg_id: None }.to_frame();
        let counts = recorded(|| {
            served(&ServerFrame::Accepted { room: "r".into(), client_msg_id: None, id: "i".into() });
            served(&ServerFrame::History { room: "r".into(), messages: vec![], has_more: false });
            served(&ServerFrame::SyncPage { room: "r".into(), messages: vec![] });
            served(&ServerFrame::SyncPage { room: "r".into(), messages: vec![] });
            served(&error(ErrorCode::RateLimited));
            served(&error(ErrorCode::Forbidden));
            served(&ServerFrame::Pong);
        });
        assert_eq!(
            counts,
            vec![
                (ACCEPTED.to_owned(), DebugValue::Counter(1)),
                (HISTORY_PAGES.to_owned(), DebugValue::Counter(1)),
                (RATE_LIMITED.to_owned(), DebugValue::Counter(1)),
                (SYNC_PAGES.to_owned(), DebugValue::Counter(2)),
            ]
        );
    }

    #[test]
    fn a_posted_run_counts_its_posts_and_one_latency_per_message_never_negative() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T10:00:01.500Z").unwrap().with_timezone(&Utc);
        let sent = ["2026-11-24T10:00:00.000Z", "2026-11-24T10:00:02.000Z", "not a time"];
        let counts = recorded(|| {
            run_posted(3, sent, now);
            run_posted(0, sent, now);
        });
        assert_eq!(counts.len(), 2, "{counts:?}");
        assert_eq!(counts[0], (DELIVERED.to_owned(), DebugValue::Counter(3)));
        let DebugValue::Histogram(values) = &counts[1].1 else { panic!("{counts:?}") };
        let values: Vec<f64> = values.iter().map(|v| v.into_inner()).collect();
        assert_eq!((counts[1].0.as_str(), values), (FANOUT_LATENCY_MS, vec![1500.0, 0.0]));
    }
}
