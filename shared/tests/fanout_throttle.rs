//! API Gateway's account throttle (429) is not a connection's fault: within an invocation a
//! throttled post is retried until the deadline, then the record is retried, never dead-lettered
//! for it, and no subscriber misses a message because the account was busy.

mod common;

use std::time::Duration;

use common::{World, big_room};
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

#[tokio::test(start_paused = true)]
async fn a_throttle_lasting_seconds_delays_a_post_but_does_not_lose_it() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    // 12 refusals in a row: about 3 s of back-off (doubling from 1 ms, at most 1 s), far past the
    // 3 tries a failing post gets.
    w.pusher.throttle(&bob.connection.id, 12);
    w.send(&alice, "lobby", "hello", None).await;
    let started = Instant::now();

    assert!(invoke(&w, &w.drain_records()).await.is_empty(), "the record succeeds");
    assert_eq!(seqs(&w, &bob), [1]);
    assert_eq!(seqs(&w, &alice), [1]);
    assert!(w.dead_letters.letters().is_empty());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1500) && waited < Duration::from_secs(27), "backed off: {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_throttle_outlasting_every_invocation_retries_the_record_without_dead_lettering_it() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    w.pusher.refuse(&bob.connection.id, 429);
    w.send(&alice, "lobby", "hello", None).await;
    let records = w.drain_records();

    // More invocations than the fanout's max_attempts: a throttle is not an attempt.
    for round in 0..(w.fanout.settings.max_attempts + 2) {
        let started = Instant::now();
        assert_eq!(invoke(&w, &records).await, [records[0].id.clone()], "round {round}: retried");
        assert!(started.elapsed() <= Duration::from_secs(27), "stopped by the deadline: {:?}", started.elapsed());
    }
    assert!(w.dead_letters.letters().is_empty(), "{:?}", w.dead_letters.letters());
    assert!(seqs(&w, &bob).is_empty());

    w.pusher.heal(&bob.connection.id);
    assert!(invoke(&w, &records).await.is_empty());
    assert_eq!(seqs(&w, &bob), [1], "delivered once the throttle lifts");
    assert!(seqs(&w, &alice).iter().all(|s| *s == 1), "alice only ever got seq 1 (repeated by the retries)");
}

#[tokio::test(start_paused = true)]
async fn a_failing_connection_still_gives_up_after_its_tries_when_there_is_time_left() {
    let w = World::new();
    let [alice, broken] = w.room("lobby", ["alice", "broken"]).await;
    w.pusher.refuse(&broken.connection.id, 500);
    w.send(&alice, "lobby", "hello", None).await;
    let started = Instant::now();

    assert!(invoke(&w, &w.drain_records()).await.is_empty(), "one connection's failure never fails the record");
    assert!(started.elapsed() < Duration::from_secs(1), "three tries, not until the deadline: {:?}", started.elapsed());
    assert_eq!(seqs(&w, &alice), [1]);
    assert!(seqs(&w, &broken).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_throttled_page_of_a_large_room_resumes_from_its_checkpoint_and_reaches_everyone() {
    let (deps, pusher, ids) = big_room(false).await;
    // The last subscriber of the room is throttled through the whole first invocation.
    let last = ids.last().cloned().expect("a big room");
    pusher.refuse(&last, 429);
    let record = common::big_record("r1", "01BIG", "hi");
    let deadline = || Deadline::at(Instant::now() + Duration::from_secs(30), Duration::from_secs(3));

    assert_eq!(fanout::process_batch_within(&deps, vec![record.clone()], deadline()).await, ["r1"]);
    assert!(pusher.posts_to(&last).is_empty());
    assert!(pusher.post_count() > 0, "the pages before the throttled one were posted");

    pusher.heal(&last);
    assert!(fanout::process_batch_within(&deps, vec![record], deadline()).await.is_empty());
    let missing: Vec<&String> = ids.iter().filter(|id| pusher.posts_to(id).is_empty()).collect();
    assert!(missing.is_empty(), "{} subscribers missed the message", missing.len());
    let reposts = pusher.post_count() - ids.len();
    assert!(reposts < common::BIG_PAGE, "the retry posts again only to the throttled page: {reposts} reposts");
}
