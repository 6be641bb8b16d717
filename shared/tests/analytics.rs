//! Room analytics on the in-memory adapters (docs/analytics.md): the counters the fanout keeps
//! per room and minute, the `stats` action that reads them, and the export of message events.
//! Neither a failing counter nor a failing export may fail or hold back a delivery.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{World, error_code, records_of};
use serde_json::Value;
use starling_shared::adapters::memory::MemoryExportSink;
use starling_shared::domain::{MinuteCounts, RunCounts};
use starling_shared::ports::{RoomStats, StoreError};
use starling_shared::protocol::{MAX_FRAME_BYTES, MinuteStats, PAGE_BYTES, ServerFrame, StatsTotals, WireFrame};
use starling_shared::service::fanout;
use starling_shared::service::send::budget;
use starling_shared::service::send::stats_frame;

/// The `stats` reply's minutes and totals, or the frame when it is something else.
async fn stats(
    w: &World,
    caller: &starling_shared::service::send::Caller,
    frame: &str,
) -> (Vec<MinuteStats>, StatsTotals) {
    match w.act(caller, frame).await {
        ServerFrame::Stats { minutes, totals, has_more: false, .. } => (minutes, totals),
        other => panic!("not a complete stats frame: {other:?}"),
    }
}

fn minute(m: &str, messages: u64, senders: u64, deliveries: u64) -> MinuteStats {
    MinuteStats { minute: m.into(), messages, senders, deliveries }
}

#[tokio::test]
async fn counts_follow_a_batch_of_several_rooms_and_senders() {
    let w = World::new();
    let [alice, bob, carol] = w.room("lobby", ["alice", "bob", "carol"]).await;
    let dave = w.connect("dave").await;
    w.join(&alice, "dev").await;
    w.join(&dave, "dev").await;
    w.send(&alice, "lobby", "one", Some("a1")).await;
    w.send(&bob, "lobby", "two", Some("b1")).await;
    w.send(&alice, "dev", "three", Some("a2")).await;
    w.send(&alice, "lobby", "four", Some("a3")).await;
    w.send(&dave, "dev", "five", Some("d1")).await;
    let records = w.drain_records();
    assert!(fanout::process_batch(&w.fanout, records.clone()).await.is_empty());

    let (lobby, totals) = stats(&w, &carol, r#"{"action":"stats","room":"lobby"}"#).await;
    // 3 messages to 3 subscribers, one post each.
    assert_eq!(lobby, [minute("2026-11-22T21:00Z", 3, 2, 9)]);
    assert_eq!(totals, StatsTotals { messages: 3, senders: 2, deliveries: 9 });
    let (dev, _) = stats(&w, &dave, r#"{"action":"stats","room":"dev","minutes":5}"#).await;
    assert_eq!(dev, [minute("2026-11-22T21:00Z", 2, 2, 4)]);

    // SQS hands the same batch over again: the messages were counted when stored, so only the
    // posts (made again) are added.
    assert!(fanout::process_batch(&w.fanout, records).await.is_empty());
    let (lobby, _) = stats(&w, &carol, r#"{"action":"stats","room":"lobby"}"#).await;
    assert_eq!(lobby, [minute("2026-11-22T21:00Z", 3, 2, 18)]);
}

#[tokio::test]
async fn minutes_come_oldest_first_and_the_window_bounds_them() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    w.send(&alice, "lobby", "early", None).await;
    assert!(w.pump().await.is_empty());
    w.clock.advance(chrono::Duration::minutes(3));
    w.send(&bob, "lobby", "later", None).await;
    w.send(&bob, "lobby", "again", None).await;
    assert!(w.pump().await.is_empty());

    let (all, totals) = stats(&w, &alice, r#"{"action":"stats","room":"lobby","minutes":60}"#).await;
    assert_eq!(all, [minute("2026-11-22T21:00Z", 1, 1, 2), minute("2026-11-22T21:03Z", 2, 1, 4)]);
    assert_eq!(totals, StatsTotals { messages: 3, senders: 2, deliveries: 6 });
    let (recent, totals) = stats(&w, &alice, r#"{"action":"stats","room":"lobby","minutes":3}"#).await;
    assert_eq!(recent, [minute("2026-11-22T21:03Z", 2, 1, 4)], "21:00 is 4 minutes back");
    assert_eq!(totals.senders, 1);
    w.join(&alice, "quiet").await;
    let (none, totals) = stats(&w, &alice, r#"{"action":"stats","room":"quiet","minutes":60}"#).await;
    assert!(none.is_empty(), "a room where nothing was sent has no minutes: {none:?}");
    assert_eq!(totals, StatsTotals::default());
}

#[tokio::test]
async fn stats_are_for_members_only() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    let mallory = w.connect("mallory").await;
    w.send(&alice, "lobby", "secret", None).await;
    assert!(w.pump().await.is_empty());
    let refused = w.act(&mallory, r#"{"action":"stats","room":"lobby"}"#).await;
    assert_eq!(error_code(&refused), Some("forbidden"), "{refused:?}");
    let refused = w.act(&mallory, r#"{"action":"stats","room":"dm:alice:bob"}"#).await;
    assert_eq!(error_code(&refused), Some("forbidden"), "{refused:?}");
    // A member without a subscription on this connection (a returning user) may read them.
    let again = w.connect("alice").await;
    let (minutes, _) = stats(&w, &again, r#"{"action":"stats","room":"lobby"}"#).await;
    assert_eq!(minutes.len(), 1);
}

#[tokio::test]
async fn bad_minutes_are_bad_requests_and_cost_follows_the_window() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    for bad in ["0", "1441", "-1", "1.5", "\"60\"", "true", "99999999999"] {
        let reply = w.act(&alice, &format!(r#"{{"action":"stats","room":"lobby","minutes":{bad}}}"#)).await;
        assert_eq!(error_code(&reply), Some("bad_request"), "minutes {bad}: {reply:?}");
    }
    let reply = w.act(&alice, r#"{"action":"stats","room":"no spaces"}"#).await;
    assert_eq!(error_code(&reply), Some("bad_request"));
    for good in ["1", "1440", "null"] {
        let reply = w.act(&alice, &format!(r#"{{"action":"stats","room":"lobby","minutes":{good}}}"#)).await;
        assert!(matches!(reply, ServerFrame::Stats { .. }), "minutes {good}: {reply:?}");
    }
    let cost = |text: &str| budget::cost(&starling_shared::protocol::parse_request(text).unwrap());
    assert_eq!(cost(r#"{"action":"stats","room":"r"}"#), 5);
    assert_eq!(cost(r#"{"action":"stats","room":"r","minutes":61}"#), 6);
    assert_eq!(cost(r#"{"action":"stats","room":"r","minutes":1440}"#), 28);
}

/// A day of minutes at the most a room can do (SQS FIFO's 300 messages/s per group, 200
/// senders counted, 3 million posts a minute) fits one frame whole; absurd numbers are cut to
/// the newest minutes that fit, with `hasMore`, and the totals still cover the whole day.
#[test]
fn the_largest_reply_fits_one_frame() {
    let day = |messages: u64, senders: usize, deliveries: u64| -> Vec<MinuteCounts> {
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T17:06:00Z").unwrap().to_utc();
        (0..1440)
            .map(|i| MinuteCounts {
                minute: starling_shared::domain::minute_of(start + chrono::Duration::minutes(i)),
                messages,
                deliveries,
                senders: (0..senders).map(|s| format!("user-{i}-{s}")).collect(),
            })
            .collect()
    };
    let busy =
        stats_frame("a-room-name-of-sixty-four-characters-aaaaaaaaaaaaaaaaaaaaaaaaaa", day(18_000, 200, 3_000_000));
    let wire = WireFrame::encode(&busy).expect("fits");
    assert!(wire.len() <= PAGE_BYTES, "{} bytes", wire.len());
    let ServerFrame::Stats { minutes, totals, has_more, .. } = busy else { unreachable!() };
    assert_eq!((minutes.len(), has_more), (1440, false));
    assert_eq!(totals, StatsTotals { messages: 1440 * 18_000, senders: 1440 * 200, deliveries: 1440 * 3_000_000 });

    let absurd = stats_frame("r", day(u64::MAX / 2, 1, u64::MAX / 2));
    let wire = WireFrame::encode(&absurd).expect("fits");
    assert!(wire.len() <= MAX_FRAME_BYTES);
    let ServerFrame::Stats { minutes, totals, has_more, .. } = absurd else { unreachable!() };
    assert!(has_more && minutes.len() < 1440, "{} minutes", minutes.len());
    assert_eq!(minutes.last().unwrap().minute, "2026-11-24T17:05Z", "the newest minutes are kept");
    assert_eq!((totals.senders, totals.messages), (1440, u64::MAX), "totals cover every minute, saturating");
}

/// Counters that always fail (and one that never answers).
#[derive(Debug)]
struct BrokenStats {
    hang: bool,
}

#[async_trait]
impl RoomStats for BrokenStats {
    async fn add(&self, _: &RunCounts) -> Result<(), StoreError> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        Err(StoreError::Failed("the stats table is gone".into()))
    }

    async fn minutes(&self, _: &str, _: &str, _: &str) -> Result<Vec<MinuteCounts>, StoreError> {
        Err(StoreError::Failed("the stats table is gone".into()))
    }
}

#[tokio::test]
async fn failing_counters_and_exports_never_fail_a_delivery() {
    for hang in [false, true] {
        let mut w = World::new();
        w.fanout.stores.stats = Arc::new(BrokenStats { hang });
        w.send_deps.stores.stats = Arc::new(BrokenStats { hang });
        let sink = Arc::new(MemoryExportSink::default());
        sink.fail(true);
        w.fanout.exports = Some(sink.clone());
        let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
        w.send(&alice, "lobby", "still delivered", Some("c1")).await;
        let failed = tokio::time::timeout(std::time::Duration::from_secs(5), w.pump()).await.expect("not held up");
        assert!(failed.is_empty(), "hang {hang}: {failed:?}");
        assert_eq!(w.received(&bob).len(), 1, "hang {hang}");
        assert!(w.dead_letters.letters().is_empty());
        let reply = w.act(&bob, r#"{"action":"stats","room":"lobby"}"#).await;
        assert_eq!(error_code(&reply), Some("internal"), "a failed read is the client's to retry");
    }
}

fn events(sink: &MemoryExportSink) -> Vec<Value> {
    let lines = sink.lines();
    assert!(lines.iter().all(|l| l.ends_with('\n') && l.matches('\n').count() == 1), "{lines:?}");
    lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn every_stored_message_is_exported_once_per_attempt_without_its_body() {
    let mut w = World::new();
    let sink = Arc::new(MemoryExportSink::default());
    w.fanout.exports = Some(sink.clone());
    let [alice, _bob] = w.room("lobby", ["alice", "bob"]).await;
    w.send(&alice, "lobby", "héllo", Some("c1")).await;
    w.send(&alice, "lobby", "héllo", Some("c1")).await; // a duplicate: not stored, not exported
    w.send(&alice, "lobby", "second", None).await;
    let records = w.drain_records();
    assert!(fanout::process_batch(&w.fanout, records.clone()).await.is_empty());
    let got = events(&sink);
    assert_eq!(got.len(), 2, "{got:?}");
    let stored = w.received(&alice);
    let first = got[0].as_object().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 9, "{keys:?}");
    assert!(first.get("body").is_none(), "bodies are off by default");
    assert_eq!(got[0]["schema"], 1);
    assert_eq!(got[0]["type"], "message");
    assert_eq!(got[0]["room"], "lobby");
    assert_eq!((got[0]["seq"].as_u64(), got[1]["seq"].as_u64()), (Some(1), Some(2)));
    assert_eq!(got[0]["id"], stored[0].id.as_str());
    assert_eq!(got[0]["from"], "alice");
    assert_eq!(got[0]["sentAt"], stored[0].sent_at.as_str());
    assert_eq!(got[0]["storedAt"], "2026-11-22T21:00:00.000Z");
    assert_eq!(got[0]["bytes"], 6, "UTF-8 bytes of the body");

    // A redelivered batch exports again: at least once, consumers dedupe on id.
    assert!(fanout::process_batch(&w.fanout, records).await.is_empty());
    let again = events(&sink);
    assert_eq!(again.len(), 4);
    assert_eq!(again[2]["id"], got[0]["id"]);
}

#[tokio::test]
async fn bodies_are_exported_when_configured_and_shards_do_not_export_again() {
    let mut w = World::new();
    let sink = Arc::new(MemoryExportSink::default());
    w.fanout.exports = Some(sink.clone());
    w.fanout.settings.export_bodies = true;
    let deliveries = w.with_shards(2, 2);
    let [alice, bob, carol] = w.room("big", ["alice", "bob", "carol"]).await;
    w.send(&alice, "big", "through the shards", None).await;
    assert!(w.pump().await.is_empty());
    assert!(fanout::process_batch(&w.fanout, records_of(&deliveries)).await.is_empty());
    assert_eq!([&alice, &bob, &carol].map(|c| w.received(c).len()), [1, 1, 1]);
    let got = events(&sink);
    assert_eq!(got.len(), 1, "exported by the room's run, not by each shard: {got:?}");
    assert_eq!(got[0]["body"], "through the shards");
    let (minutes, _) = stats(&w, &bob, r#"{"action":"stats","room":"big"}"#).await;
    assert_eq!(minutes, [minute("2026-11-22T21:00Z", 1, 1, 3)], "each shard adds its own posts");
}
