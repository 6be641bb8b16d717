//! Large rooms (issue #12): a room with at least the threshold of subscribers is delivered
//! through one record per shard on the delivery queue, each shard in order; a small room keeps
//! the single hop; a room that shrinks stays on its shards until the hold ends, so direct posts
//! never overtake shard deliveries; a failed hand-over is retried, never lost.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use common::{World, records_of};
use starling_shared::adapters::memory::RecordingQueue;
use starling_shared::domain::Shard;
use starling_shared::envelope::Envelope;
use starling_shared::ports::{Queue, QueueError, SubscriptionStore};
use starling_shared::service::fanout::{self, Record};
use starling_shared::service::send::Caller;

fn seqs(w: &World, caller: &Caller) -> Vec<u64> {
    w.received_all(caller).iter().map(|m| m.seq).collect()
}

/// `n` users in `room`, every other one opted in to `messages` frames.
async fn crowd(w: &World, room: &str, n: usize) -> Vec<Caller> {
    let mut callers = Vec::new();
    for i in 0..n {
        let caller = w.connect_with(&format!("u{i}"), i % 2 == 0).await;
        w.join(&caller, room).await;
        callers.push(caller);
    }
    callers
}

/// Delivers what the delivery queue holds, a batch of up to 10 per call as SQS hands over.
async fn deliver(w: &World, deliveries: &RecordingQueue) -> Vec<String> {
    let mut failed = Vec::new();
    for batch in records_of(deliveries).chunks(10) {
        failed.extend(fanout::process_batch(&w.fanout, batch.to_vec()).await);
    }
    failed
}

#[tokio::test]
async fn a_large_room_goes_out_as_one_record_per_shard_and_everyone_gets_every_seq_once_in_order() {
    let mut w = World::new();
    let deliveries = w.with_shards(10, 4);
    let callers = crowd(&w, "big", 30).await;
    for (i, c) in callers.iter().take(5).enumerate() {
        w.send(c, "big", &format!("m{i}"), None).await;
    }

    assert!(w.pump().await.is_empty());
    assert_eq!(w.pusher.post_count(), 0, "the fanout posts nothing itself for a large room");
    let queued = deliveries.drain();
    assert_eq!(queued.len(), 4, "one record per shard for the whole batch");
    let mut groups = HashSet::new();
    for e in &queued {
        let Envelope::Deliver(d) = e else { panic!("not a delivery: {e:?}") };
        assert_eq!(d.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        groups.insert(e.group_id());
    }
    assert_eq!(groups.len(), 4, "each shard is its own FIFO group: {groups:?}");
    for e in queued {
        deliveries.enqueue(&e).await.unwrap();
    }

    assert!(deliver(&w, &deliveries).await.is_empty());
    for c in &callers {
        assert_eq!(seqs(&w, c), [1, 2, 3, 4, 5], "{}", c.connection.id);
        let posts = w.pusher.posts_to(&c.connection.id).len();
        assert_eq!(posts, if c.connection.batch { 1 } else { 5 }, "{}", c.connection.id);
    }
}

#[tokio::test]
async fn a_small_room_keeps_the_single_hop_and_queues_nothing() {
    let mut w = World::new();
    let deliveries = w.with_shards(10, 4);
    let callers = crowd(&w, "small", 9).await;
    w.send(&callers[0], "small", "hi", None).await;

    assert!(w.pump().await.is_empty());

    assert!(deliveries.is_empty());
    assert!(callers.iter().all(|c| seqs(&w, c) == [1]));
    assert_eq!(w.store.probe("small", 10).await.unwrap().sharded_until, None, "a small room is never marked");
}

#[tokio::test]
async fn a_room_that_shrinks_stays_on_its_shards_until_the_hold_ends() {
    let mut w = World::new();
    let deliveries = w.with_shards(10, 4);
    let callers = crowd(&w, "big", 12).await;
    w.send(&callers[0], "big", "while large", None).await;
    assert!(w.pump().await.is_empty());
    assert_eq!(deliveries.len(), 4);
    for c in &callers[3..] {
        w.act(c, r#"{"action":"leave","room":"big"}"#).await;
    }

    // Three subscribers now, but the shard deliveries of seq 1 have not run yet: seq 2 must not
    // overtake them by a direct post.
    w.send(&callers[0], "big", "after shrinking", None).await;
    assert!(w.pump().await.is_empty());
    assert_eq!(w.pusher.post_count(), 0, "no direct post while the room is held on its shards");
    assert_eq!(deliveries.len(), 8);
    assert!(deliver(&w, &deliveries).await.is_empty());
    for c in &callers[..3] {
        assert_eq!(seqs(&w, c), [1, 2], "{}", c.connection.id);
    }

    w.clock.advance(chrono::Duration::seconds(15 * 60 + 1));
    w.send(&callers[0], "big", "small again", None).await;
    assert!(w.pump().await.is_empty());
    assert!(deliveries.is_empty(), "after the hold a small room is posted to directly");
    for c in &callers[..3] {
        assert_eq!(seqs(&w, c), [1, 2, 3], "{}", c.connection.id);
    }
}

/// A delivery queue that refuses its first `failures` sends.
#[derive(Debug)]
struct Flaky {
    inner: Arc<RecordingQueue>,
    failures: AtomicU32,
}

#[async_trait]
impl Queue for Flaky {
    async fn enqueue(&self, envelope: &Envelope) -> Result<(), QueueError> {
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(QueueError::Throttled("injected SQS throttle".into()));
        }
        self.inner.enqueue(envelope).await
    }
}

#[tokio::test]
async fn a_failed_hand_over_to_the_shards_is_retried_and_every_subscriber_still_gets_each_seq_in_order() {
    let mut w = World::new();
    let inner = w.with_shards(10, 8);
    w.fanout.deliveries = Some(Arc::new(Flaky { inner: inner.clone(), failures: AtomicU32::new(3) }));
    let callers = crowd(&w, "big", 40).await;
    for (i, c) in callers.iter().take(3).enumerate() {
        w.send(c, "big", &format!("m{i}"), None).await;
    }
    let records = w.drain_records();

    let failed = fanout::process_batch(&w.fanout, records.clone()).await;
    assert_eq!(failed.len(), 3, "the run is retried whole");
    let retry: Vec<Record> = records.into_iter().filter(|r| failed.contains(&r.id)).collect();
    assert!(fanout::process_batch(&w.fanout, retry).await.is_empty());

    assert!(deliver(&w, &inner).await.is_empty());
    for c in &callers {
        let got = seqs(&w, c);
        let mut first = Vec::new();
        for s in got {
            if !first.contains(&s) {
                first.push(s);
            }
        }
        assert_eq!(first, [1, 2, 3], "{}: every seq, first arrivals in order", c.connection.id);
    }
}

#[tokio::test]
async fn consecutive_runs_of_a_shard_are_merged_into_one_post_per_opted_in_connection() {
    let mut w = World::new();
    let deliveries = w.with_shards(10, 2);
    let callers = crowd(&w, "big", 12).await;
    for i in 0..2 {
        w.send(&callers[0], "big", &format!("run {i}"), None).await;
        assert!(w.pump().await.is_empty(), "each message is its own fanout run");
    }
    assert_eq!(deliveries.len(), 4, "two runs of two shards");

    // SQS hands the shard's two records over together: one post for both runs.
    let mut by_group: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for r in records_of(&deliveries) {
        by_group.entry(r.group.clone().unwrap_or_default()).or_default().push(r);
    }
    for records in by_group.into_values() {
        assert!(fanout::process_batch(&w.fanout, records).await.is_empty());
    }
    for c in callers.iter().filter(|c| c.connection.batch) {
        assert_eq!(w.pusher.posts_to(&c.connection.id).len(), 1, "{}", c.connection.id);
        assert_eq!(seqs(&w, c), [1, 2]);
    }
    let shard_of = |c: &Caller| Shard::all_of(2).position(|s| s.contains(&c.connection.id));
    assert!(callers.iter().all(|c| shard_of(c).is_some()));
}

#[tokio::test]
async fn a_redelivered_shard_record_handled_alone_resumes_from_its_checkpoint() {
    let mut w = World::with(
        starling_shared::service::send::SendLimits { rate_limit: 10_000, ..Default::default() },
        starling_shared::adapters::memory::MemoryStore::new().with_page_size(3),
    );
    let deliveries = w.with_shards(10, 2);
    let callers = crowd(&w, "big", 20).await;
    w.send(&callers[0], "big", "hello", None).await;
    assert!(w.pump().await.is_empty());
    let record = records_of(&deliveries).into_iter().next().expect("a shard record");
    let Ok(Envelope::Deliver(d)) = serde_json::from_str::<Envelope>(&record.body) else { panic!("not a delivery") };
    // An earlier attempt got through the shard's first page.
    let first_page = w.store.subscribers_in("big", d.shard, None).await.unwrap();
    let next = first_page.next.expect("the shard has more than a page");
    let key = format!("big#{}/{}", d.shard.index, d.shard.of);
    w.fanout.ledger.save_delivery_checkpoint(&key, 1, &next, i64::MAX).await.unwrap();
    let skipped: HashSet<String> = first_page.items.iter().map(|s| s.connection_id.clone()).collect();

    let redelivered = Record { receive_count: 2, ..record.clone() };
    fanout::process_record(&w.fanout, &redelivered, fanout::Deadline::none()).await.unwrap();
    let in_shard: Vec<&Caller> = callers.iter().filter(|c| d.shard.contains(&c.connection.id)).collect();
    for c in &in_shard {
        let expected: &[u64] = if skipped.contains(&c.connection.id) { &[] } else { &[1] };
        assert_eq!(seqs(&w, c), expected, "{}", c.connection.id);
    }

    // Received for the first time, the same record posts to the whole shard.
    fanout::process_record(&w.fanout, &record, fanout::Deadline::none()).await.unwrap();
    for c in &in_shard {
        assert!(seqs(&w, c).contains(&1), "{}", c.connection.id);
    }
}
