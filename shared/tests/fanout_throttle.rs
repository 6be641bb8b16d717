//! API Gateway's throttle (429): a throttled post gets more tries than a failing one, backing
//! off, but one connection throttled for good never holds up its room; a back-off that would
//! cross the invocation's deadline leaves the record for its retry, which is not counted as a
//! failed attempt and never dead-letters it.

mod common;

use std::time::Duration;

use common::World;
use starling_shared::service::fanout::{self, Deadline, Record};
use tokio::time::Instant;

/// An invocation of the fanout's default 30 s, less its margin.
fn invocation() -> Deadline {
    Deadline::at(Instant::now() + Duration::from_secs(30), Duration::from_secs(3))
}

async fn invoke(w: &World, records: &[Record]) -> Vec<String> {
    fanout::process_batch_within(&w.fanout, records.to_vec(), invocation()).await
}

fn seqs(w: &World, caller: &starling_shared::service::send::Caller) -> Vec<u64> {
    w.received_all(caller).iter().map(|m| m.seq).collect()
}

/// A world whose posts back off as deployed (50 ms, doubling).
fn deployed_backoff() -> World {
    let mut w = World::new();
    w.fanout.settings.push_backoff = Duration::from_millis(50);
    w
}

#[tokio::test(start_paused = true)]
async fn five_throttles_in_a_row_delay_a_post_but_do_not_lose_it() {
    let w = deployed_backoff();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    // More than the 3 tries a failing post gets.
    w.pusher.throttle(&bob.connection.id, 5);
    w.send(&alice, "lobby", "hello", None).await;
    let started = Instant::now();

    assert!(invoke(&w, &w.drain_records()).await.is_empty(), "the record succeeds");
    assert_eq!(seqs(&w, &bob), [1]);
    assert_eq!(seqs(&w, &alice), [1]);
    let waited = started.elapsed();
    // Back-offs of 50, 100, 200, 400 and 800 ms, each spread over its upper half.
    assert!(waited >= Duration::from_millis(775) && waited <= Duration::from_millis(1550), "backed off: {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_connection_throttled_for_good_misses_the_message_live_and_does_not_hold_up_its_room() {
    let w = deployed_backoff();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    w.pusher.refuse(&bob.connection.id, 429);
    for i in 0..3 {
        w.send(&alice, "lobby", &format!("m{i}"), None).await;
        let started = Instant::now();
        assert!(invoke(&w, &w.drain_records()).await.is_empty(), "message {i}: not retried for one connection");
        assert!(started.elapsed() < Duration::from_secs(2), "bounded by the throttle's tries: {:?}", started.elapsed());
    }
    assert_eq!(seqs(&w, &alice), [1, 2, 3]);
    assert!(seqs(&w, &bob).is_empty());
    assert!(w.dead_letters.letters().is_empty());

    w.pusher.heal(&bob.connection.id);
    w.send(&alice, "lobby", "later", None).await;
    assert!(invoke(&w, &w.drain_records()).await.is_empty());
    assert_eq!(seqs(&w, &bob), [4], "the next message reaches bob; the gap tells it to sync");
}

#[tokio::test(start_paused = true)]
async fn a_throttle_near_the_deadline_leaves_the_record_for_its_retry_which_is_no_failed_attempt() {
    let w = deployed_backoff();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    w.send(&alice, "lobby", "hello", None).await;
    let records = w.drain_records();
    let near = || Deadline::at(Instant::now() + Duration::from_millis(130), Duration::from_millis(100));

    // 30 ms left to post: the first back-off (25 to 50 ms) or the second (50 to 100) crosses it.
    for round in 0..(w.fanout.settings.max_attempts + 2) {
        w.pusher.throttle(&bob.connection.id, 2);
        let failed = fanout::process_batch_within(&w.fanout, records.clone(), near()).await;
        assert_eq!(failed, [records[0].id.clone()], "round {round}: retried");
    }
    assert!(w.dead_letters.letters().is_empty(), "running out of time is never a failed attempt");
    assert!(seqs(&w, &bob).is_empty());

    assert!(invoke(&w, &records).await.is_empty());
    assert_eq!(seqs(&w, &bob), [1]);
    assert!(seqs(&w, &alice).iter().all(|s| *s == 1), "alice only ever got seq 1 (repeated by the retries)");
}

#[tokio::test(start_paused = true)]
async fn a_failing_connection_gets_fewer_tries_than_a_throttled_one() {
    let w = deployed_backoff();
    let [alice, broken, throttled] = w.room("lobby", ["alice", "broken", "throttled"]).await;
    // Four refusals: more than a failing post's 3 tries, fewer than a throttled post's 6.
    w.pusher.refuse(&broken.connection.id, 500);
    w.pusher.throttle(&throttled.connection.id, 4);
    w.send(&alice, "lobby", "hello", None).await;

    assert!(invoke(&w, &w.drain_records()).await.is_empty(), "one connection's failure never fails the record");
    assert_eq!(seqs(&w, &alice), [1]);
    assert!(seqs(&w, &broken).is_empty());
    assert_eq!(seqs(&w, &throttled), [1]);
}
