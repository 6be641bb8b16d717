//! The fanout's reliability (issue #9, defects 1 and 6): a failing record holds its room back
//! only while it is retried, then it alone is dead-lettered with its reason; one subscriber's
//! failures never fail a message; the invocation stops before its deadline and the retry does
//! not post again to the pages already done.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use common::{BIG_PAGE as PAGE, BIG_ROOM, FailingAppends, World, big_room};
use starling_shared::envelope::{Envelope, Publish};
use starling_shared::ports::{DeadLetter, DeadLetters, FanoutLedger, QueueError, StoreError};
use starling_shared::service::fanout::{self, Deadline, Record};

/// A ledger that cannot count (its table is down).
#[derive(Debug)]
struct BrokenLedger;

#[async_trait]
impl FanoutLedger for BrokenLedger {
    async fn record_failure(&self, _: &str, _: i64) -> Result<u32, StoreError> {
        Err(StoreError::Throttled("injected ledger throttle".into()))
    }
    async fn delivery_checkpoint(&self, _: &str, _: u64) -> Result<Option<String>, StoreError> {
        Err(StoreError::Throttled("injected ledger throttle".into()))
    }
    async fn save_delivery_checkpoint(&self, _: &str, _: u64, _: &str, _: i64) -> Result<(), StoreError> {
        Err(StoreError::Throttled("injected ledger throttle".into()))
    }
}

/// A DLQ that refuses every send.
#[derive(Debug)]
struct BrokenDlq;

#[async_trait]
impl DeadLetters for BrokenDlq {
    async fn dead_letter(&self, _: &DeadLetter) -> Result<(), QueueError> {
        Err(QueueError::Failed("injected DLQ outage".into()))
    }
}

/// Plays SQS FIFO with a redrive far away: every round receives every record still queued
/// (each receive counts, held-back records included) and deletes what the fanout did not report.
async fn drain_like_sqs(w: &World, mut queued: Vec<Record>, rounds: usize) -> Vec<Record> {
    for _ in 0..rounds {
        if queued.is_empty() {
            break;
        }
        for r in &mut queued {
            r.receive_count += 1;
        }
        let failed = fanout::process_batch(&w.fanout, queued.clone()).await;
        queued.retain(|r| failed.contains(&r.id));
    }
    queued
}

fn record_ids(letters: &[DeadLetter]) -> Vec<&str> {
    letters.iter().map(|l| l.record_id.as_str()).collect()
}

#[tokio::test]
async fn two_always_failing_records_are_dead_lettered_alone_and_the_healthy_three_behind_them_are_delivered() {
    let mut w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    w.fanout.stores.messages = FailingAppends::wrap(w.fanout.stores.messages.clone(), "FAIL", 0);
    for body in ["FAIL one", "FAIL two", "ok 1", "ok 2", "ok 3"] {
        w.send(&alice, "lobby", body, None).await;
    }
    let mut records = w.drain_records();
    for r in &mut records {
        r.receive_count = 0;
    }
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();

    let left = drain_like_sqs(&w, records, 20).await;

    assert!(left.is_empty(), "records still queued: {left:?}");
    let letters = w.dead_letters.letters();
    assert_eq!(record_ids(&letters), [ids[0].as_str(), ids[1].as_str()], "exactly the two failing records");
    for l in &letters {
        assert_eq!(l.attempts, 5);
        assert!(l.reason.contains("gave up after 5 failed attempts"), "{}", l.reason);
        assert!(l.reason.contains("the table refused the write"), "the cause is kept: {}", l.reason);
        assert_eq!(l.group.as_deref(), Some("lobby"));
    }
    let got: Vec<(u64, String)> = w.received(&alice).into_iter().map(|m| (m.seq, m.body)).collect();
    assert_eq!(got, [(1, "ok 1".into()), (2, "ok 2".into()), (3, "ok 3".into())]);
}

#[tokio::test]
async fn a_held_back_record_with_a_huge_receive_count_that_fails_once_is_retried_not_dead_lettered() {
    let mut w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    w.fanout.stores.messages = FailingAppends::wrap(w.fanout.stores.messages.clone(), "never", 1);
    w.send(&alice, "lobby", "held back for long", None).await;
    let mut records = w.drain_records();
    records[0].receive_count = 80;

    let failed = fanout::process_batch(&w.fanout, records.clone()).await;
    assert_eq!(failed, [records[0].id.clone()], "retried");
    assert!(w.dead_letters.letters().is_empty());

    records[0].receive_count += 1;
    assert!(fanout::process_batch(&w.fanout, records).await.is_empty());
    assert_eq!(w.received(&alice).len(), 1);
    assert!(w.dead_letters.letters().is_empty());
}

#[tokio::test]
async fn when_failures_cannot_be_counted_the_receive_ceiling_dead_letters_with_the_reason() {
    let mut w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    w.fanout.stores.messages = FailingAppends::wrap(w.fanout.stores.messages.clone(), "FAIL", 0);
    w.fanout.ledger = Arc::new(BrokenLedger);
    w.send(&alice, "lobby", "FAIL", None).await;
    let mut records = w.drain_records();

    records[0].receive_count = 89;
    assert_eq!(fanout::process_batch(&w.fanout, records.clone()).await.len(), 1, "under the ceiling: retried");
    assert!(w.dead_letters.letters().is_empty());

    records[0].receive_count = 90;
    assert!(fanout::process_batch(&w.fanout, records).await.is_empty(), "given up on: done");
    let letters = w.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("gave up after 90 receives"), "{}", letters[0].reason);
    assert!(letters[0].reason.contains("injected ledger throttle"), "{}", letters[0].reason);
}

#[tokio::test]
async fn one_subscribers_failing_posts_do_not_fail_the_message_and_a_gone_one_is_removed() {
    let w = World::new();
    let [alice, big, forbidden, broken, throttled, gone] =
        w.room("lobby", ["alice", "big", "forbidden", "broken", "throttled", "gone"]).await;
    w.pusher.refuse(&big.connection.id, 413);
    w.pusher.refuse(&forbidden.connection.id, 403);
    w.pusher.refuse(&broken.connection.id, 500);
    w.pusher.refuse(&throttled.connection.id, 429);
    w.pusher.disconnect(&gone.connection.id);
    w.send(&alice, "lobby", "hello", None).await;

    assert!(w.pump().await.is_empty(), "the record succeeds");
    assert_eq!(w.received(&alice).len(), 1);
    assert!(w.dead_letters.letters().is_empty());
    let subscribers = starling_shared::service::broadcast::subscribers_of(w.store.as_ref(), "lobby").await.unwrap();
    let ids: Vec<&str> = subscribers.iter().map(|s| s.connection_id.as_str()).collect();
    assert!(!ids.contains(&gone.connection.id.as_str()), "410 removed the connection");
    assert!(ids.contains(&big.connection.id.as_str()), "a failing connection is not removed");
}

#[tokio::test]
async fn poison_is_dead_lettered_at_once_with_its_reason_and_its_group_goes_on() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    w.send(&alice, "lobby", "after the poison", None).await;
    let mut records = w.drain_records();
    records.insert(0, Record::new("poison", Some("lobby".into()), "{not json"));

    assert!(fanout::process_batch(&w.fanout, records).await.is_empty());
    let letters = w.dead_letters.letters();
    assert_eq!(record_ids(&letters), ["poison"]);
    assert!(letters[0].reason.starts_with("poison: record is not a valid envelope"), "{}", letters[0].reason);
    assert_eq!((letters[0].body.as_str(), letters[0].attempts), ("{not json", 1));
    assert_eq!(w.received(&alice).len(), 1, "the next record of the room was delivered");
}

#[tokio::test]
async fn a_message_without_an_endpoint_is_dead_lettered_with_the_deployment_error() {
    let w = World::new();
    let body = Envelope::Publish(Publish {
        connection_id: None,
        welcome: None,
        id: "01ABC".into(),
        room: "lobby".into(),
        from: "alice".into(),
        body: "b".into(),
        client_msg_id: None,
        sent_at: "t".into(),
        endpoint: None,
    })
    .to_json();
    assert!(fanout::process_batch(&w.fanout, vec![Record::new("r1", Some("lobby".into()), body)]).await.is_empty());
    let letters = w.dead_letters.letters();
    assert_eq!(record_ids(&letters), ["r1"]);
    assert!(letters[0].reason.contains("STARLING_WS_ENDPOINT"), "{}", letters[0].reason);
}

#[tokio::test]
async fn a_record_whose_dead_lettering_fails_is_retried_not_dropped() {
    let mut w = World::new();
    w.fanout.dead_letters = Arc::new(BrokenDlq);
    let failed = fanout::process_batch(&w.fanout, vec![Record::new("poison", Some("g".into()), "{not json")]).await;
    assert_eq!(failed, ["poison"]);
}

#[tokio::test]
async fn records_not_started_before_the_deadline_are_reported_failed_and_not_counted_as_attempts() {
    let mut w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    let appends = FailingAppends::wrap(w.fanout.stores.messages.clone(), "never", 0);
    w.fanout.stores.messages = appends.clone();
    for i in 0..3 {
        w.send(&alice, "lobby", &format!("m{i}"), None).await;
    }
    let records = w.drain_records();
    let past = Deadline::at(tokio::time::Instant::now(), Duration::ZERO);

    let failed = fanout::process_batch_within(&w.fanout, records.clone(), past).await;

    assert_eq!(failed, records.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    assert_eq!(appends.calls.load(Ordering::SeqCst), 0, "nothing was started");
    for r in &records {
        assert_eq!(w.store.record_failure(&r.id, 0).await.unwrap(), 1, "no attempt was counted before");
    }
    assert!(w.received(&alice).is_empty());
}

fn big_message(id: &str) -> Record {
    common::big_record("big-1", id, "to everyone")
}

// Time is paused: the pusher's latency advances the clock exactly, so post counts do not
// depend on the machine.
#[tokio::test(start_paused = true)]
async fn a_delivery_cut_short_by_the_deadline_resumes_at_its_checkpoint_without_reposting_done_pages() {
    let (deps, pusher, ids) = big_room(false).await;
    let record = big_message("01BIG");
    // One page takes 100 ms (100 posts, 10 at a time, 10 ms each); work stops 100 ms before
    // the deadline, so two pages and part of the third fit.
    let deadline = Deadline::at(tokio::time::Instant::now() + Duration::from_millis(350), Duration::from_millis(100));

    let failed = fanout::process_batch_within(&deps, vec![record.clone()], deadline).await;
    assert_eq!(failed, ["big-1"], "cut short: retried");
    let first_try = pusher.post_count();
    assert!((2 * PAGE..3 * PAGE).contains(&first_try), "stopped within the third page: {first_try}");
    assert!(tokio::time::Instant::now() < deadline.stop_at().unwrap() + Duration::from_millis(50));

    assert!(fanout::process_batch(&deps, vec![record]).await.is_empty(), "the retry finishes");
    let per_connection: HashMap<&str, usize> = ids.iter().map(|id| (id.as_str(), pusher.posts_to(id).len())).collect();
    assert!(per_connection.values().all(|n| *n >= 1), "everyone got it");
    assert!(
        ids[..2 * PAGE].iter().all(|id| per_connection[id.as_str()] == 1),
        "the finished pages were not posted to again"
    );
    assert!(pusher.post_count() <= BIG_ROOM + PAGE, "at most the cut page twice: {}", pusher.post_count());
}

#[tokio::test]
async fn a_failure_on_the_last_receive_before_the_redrive_is_dead_lettered_with_its_reason() {
    let mut w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    w.fanout.stores.messages = FailingAppends::wrap(w.fanout.stores.messages.clone(), "never", 1);
    w.send(&alice, "lobby", "unlucky", None).await;
    let mut records = w.drain_records();
    records[0].receive_count = 90;

    assert!(fanout::process_batch(&w.fanout, records).await.is_empty(), "done: dead-lettered");
    let letters = w.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].reason.contains("after 90 receives (1 failed attempts)"), "{}", letters[0].reason);
}
