//! What the fanout records (docs/metrics.md): posts of message frames, 410s, 429s, latency and
//! dead letters, read from a recorder local to the test's thread (a current-thread runtime runs
//! every future of the test there), so tests of this binary do not see each other's counts.

mod common;

use common::World;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use starling_shared::service::fanout::{self, Record};
use starling_shared::telemetry::metric;

/// Every metric recorded while `f` ran, by name (no labels are recorded here).
async fn recorded(f: impl AsyncFnOnce()) -> Vec<(String, DebugValue)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    {
        let _local = metrics::set_default_local_recorder(&recorder);
        f().await;
    }
    let mut all: Vec<_> =
        snapshotter.snapshot().into_vec().into_iter().map(|(k, _, _, v)| (k.key().name().to_owned(), v)).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn value<'a>(all: &'a [(String, DebugValue)], name: &str) -> Option<&'a DebugValue> {
    all.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

#[tokio::test]
async fn delivered_counts_each_post_of_a_run_and_gone_throttled_and_latency_are_recorded() {
    let w = World::new();
    let [alice, dave, carol] = w.room("lobby", ["alice", "dave", "carol"]).await;
    let bob = w.connect_with("bob", true).await;
    w.join(&bob, "lobby").await;
    w.send(&alice, "lobby", "one", Some("m-1")).await;
    w.send(&alice, "lobby", "two", Some("m-2")).await;
    w.pusher.disconnect(&carol.connection.id);
    w.pusher.throttle(&dave.connection.id, 2);
    w.clock.advance(chrono::Duration::milliseconds(1_500));
    // Only the two messages: the presence notices of the joins are not this test's posts.
    let records: Vec<Record> =
        common::records_of(&w.queue).into_iter().filter(|r| r.group.as_deref() == Some("lobby")).collect();
    assert_eq!(records.len(), 2, "{records:?}");

    let all = recorded(async || assert!(fanout::process_batch(&w.fanout, records).await.is_empty())).await;
    // One run of two messages: alice and dave a `message` frame each, bob one `messages` frame.
    assert_eq!(value(&all, metric::DELIVERED), Some(&DebugValue::Counter(2 + 2 + 1)), "{all:?}");
    assert_eq!(value(&all, metric::GONE), Some(&DebugValue::Counter(1)), "{all:?}");
    assert_eq!(value(&all, metric::POST_THROTTLED), Some(&DebugValue::Counter(2)), "{all:?}");
    let Some(DebugValue::Histogram(latency)) = value(&all, metric::FANOUT_LATENCY_MS) else { panic!("{all:?}") };
    assert_eq!(latency.iter().map(|v| v.into_inner()).collect::<Vec<_>>(), vec![1_500.0, 1_500.0]);
    assert_eq!(value(&all, metric::DEAD_LETTERED), None, "{all:?}");
}

#[tokio::test]
async fn a_record_sent_to_the_dlq_is_counted_once() {
    let w = World::new();
    let poison = Record::new("poison-1", Some("lobby".into()), "not an envelope");
    let all = recorded(async || assert!(fanout::process_batch(&w.fanout, vec![poison]).await.is_empty())).await;
    assert_eq!(w.dead_letters.letters().len(), 1);
    assert_eq!(value(&all, metric::DEAD_LETTERED), Some(&DebugValue::Counter(1)), "{all:?}");
}

/// Room counters that always fail.
#[derive(Debug)]
struct BrokenStats;

#[async_trait::async_trait]
impl starling_shared::ports::RoomStats for BrokenStats {
    async fn add(&self, _: &starling_shared::domain::RunCounts) -> Result<(), starling_shared::ports::StoreError> {
        Err(starling_shared::ports::StoreError::Failed("the stats table is gone".into()))
    }

    async fn minutes(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<Vec<starling_shared::domain::MinuteCounts>, starling_shared::ports::StoreError> {
        Ok(vec![])
    }
}

#[tokio::test]
async fn a_run_whose_counters_and_export_fail_counts_one_stats_failed_and_one_export_failed() {
    let mut w = World::new();
    w.fanout.stores.stats = std::sync::Arc::new(BrokenStats);
    let sink = std::sync::Arc::new(starling_shared::adapters::memory::MemoryExportSink::default());
    sink.fail(true);
    w.fanout.exports = Some(sink);
    let [alice, _bob] = w.room("lobby", ["alice", "bob"]).await;
    w.send(&alice, "lobby", "one", Some("m-1")).await;
    w.send(&alice, "lobby", "two", Some("m-2")).await;
    let records: Vec<Record> =
        common::records_of(&w.queue).into_iter().filter(|r| r.group.as_deref() == Some("lobby")).collect();
    let all = recorded(async || assert!(fanout::process_batch(&w.fanout, records).await.is_empty())).await;
    assert_eq!(value(&all, metric::STATS_FAILED), Some(&DebugValue::Counter(1)), "one run: {all:?}");
    assert_eq!(value(&all, metric::EXPORT_FAILED), Some(&DebugValue::Counter(1)), "one run: {all:?}");
    assert_eq!(value(&all, metric::DELIVERED), Some(&DebugValue::Counter(4)), "still delivered: {all:?}");
}
