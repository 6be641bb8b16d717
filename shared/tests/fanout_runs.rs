//! Hot rooms (issue #12): a batch's messages of one room are stored in order and delivered
//! together. A connection that opted in (`batch=1`) gets them in as few `messages` posts as fit
//! 120 KiB; any other connection gets one `message` per message. Each connection sees the room's
//! seqs in order through failed appends, deadlines, throttles and retries.

mod common;

use std::time::Duration;

use common::{BIG_PAGE as PAGE, BIG_ROOM, FailingAppends, World, big_room};
use starling_shared::adapters::memory::MemoryPusher;
use starling_shared::domain::Message;
use starling_shared::protocol::{MAX_BODY_BYTES, MAX_FRAME_BYTES, ServerFrame};
use starling_shared::service::fanout::{self, Deadline, Record};

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

#[tokio::test]
async fn an_opted_in_connection_gets_a_batch_in_one_post_and_a_plain_one_gets_each_message_in_order() {
    let w = World::new();
    let alice = w.connect_with("alice", true).await;
    let bob = w.connect("bob").await;
    w.join(&alice, "lobby").await;
    w.join(&bob, "lobby").await;
    for i in 0..7 {
        w.send(&alice, "lobby", &format!("m{i}"), None).await;
    }

    assert!(w.pump().await.is_empty());

    let frames = w.frames(&alice);
    assert_eq!(frames.len(), 1, "one post for the whole batch: {frames:?}");
    let ServerFrame::Messages { room, messages } = &frames[0] else { panic!("not a messages frame: {frames:?}") };
    assert_eq!(room, "lobby");
    assert_eq!(seqs(messages), (1..=7).collect::<Vec<_>>());
    assert_eq!(
        messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]
    );
    assert!(w.frames(&bob).iter().all(|f| matches!(f, ServerFrame::Message(_))), "bob never opted in");
    assert_eq!(seqs(&w.received(&bob)), (1..=7).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_batch_of_the_largest_messages_is_split_into_frames_under_the_limit_in_seq_order() {
    let w = World::new();
    let alice = w.connect_with("alice", true).await;
    w.join(&alice, "lobby").await;
    // Every character escaped (`\u0001` is six bytes) makes each message as large as it can be.
    let body = "\u{1}".repeat(MAX_BODY_BYTES);
    for _ in 0..10 {
        w.send(&alice, "lobby", &body, None).await;
    }

    assert!(w.pump().await.is_empty());

    let posts = w.pusher.posts_to(&alice.connection.id);
    assert!(posts.len() > 1, "ten messages of ~96 KiB cannot share one frame");
    assert!(posts.iter().all(|p| p.len() <= MAX_FRAME_BYTES), "a post over the limit: {:?}", lens(&posts));
    assert!(w.frames(&alice).iter().all(|f| matches!(f, ServerFrame::Messages { .. })));
    assert_eq!(seqs(&w.received_all(&alice)), (1..=10).collect::<Vec<_>>());
}

fn lens(posts: &[String]) -> Vec<usize> {
    posts.iter().map(String::len).collect()
}

#[tokio::test]
async fn a_failed_append_delivers_the_stored_messages_first_and_the_retry_delivers_the_rest_in_order() {
    let mut w = World::new();
    let alice = w.connect_with("alice", true).await;
    let bob = w.connect("bob").await;
    w.join(&alice, "lobby").await;
    w.join(&bob, "lobby").await;
    let appends = FailingAppends::wrap(w.fanout.stores.messages.clone(), "third", 0);
    w.fanout.stores.messages = appends.clone();
    for body in ["first", "second", "third", "fourth", "fifth"] {
        w.send(&alice, "lobby", body, None).await;
    }
    let records = w.drain_records();

    let failed = fanout::process_batch(&w.fanout, records.clone()).await;
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(failed, ids[2..], "the failing record and every one behind it");
    assert_eq!(seqs(&w.received_all(&alice)), [1, 2], "what was stored went out before the retry");
    assert_eq!(seqs(&w.received(&bob)), [1, 2]);

    appends.heal();
    let retry: Vec<Record> = records.into_iter().filter(|r| failed.contains(&r.id)).collect();
    assert!(fanout::process_batch(&w.fanout, retry).await.is_empty());

    let bodies = |ms: Vec<Message>| ms.into_iter().map(|m| (m.seq, m.body)).collect::<Vec<_>>();
    let expected: Vec<(u64, String)> =
        ["first", "second", "third", "fourth", "fifth"].iter().zip(1..).map(|(b, s)| (s, (*b).to_owned())).collect();
    assert_eq!(bodies(w.received_all(&alice)), expected);
    assert_eq!(bodies(w.received(&bob)), expected);
    assert_eq!(w.frames(&alice).len(), 2, "one post per run");
}

#[tokio::test]
async fn a_connection_whose_post_fails_gets_nothing_after_it_in_that_run_and_catches_up_in_the_next() {
    let w = World::new();
    let alice = w.connect("alice").await;
    let bob = w.connect("bob").await;
    w.join(&alice, "lobby").await;
    w.join(&bob, "lobby").await;
    // Six tries per throttled post: bob's first post fails for good, so the run stops for bob.
    w.pusher.throttle(&bob.connection.id, 6);
    for i in 0..4 {
        w.send(&alice, "lobby", &format!("m{i}"), None).await;
    }
    assert!(w.pump().await.is_empty(), "one connection's failure never fails the run");
    assert!(w.received(&bob).is_empty(), "no message after the one bob missed: {:?}", seqs(&w.received(&bob)));
    assert_eq!(seqs(&w.received(&alice)), [1, 2, 3, 4]);

    w.send(&alice, "lobby", "later", None).await;
    assert!(w.pump().await.is_empty());
    assert_eq!(seqs(&w.received(&bob)), [5], "the next run reaches bob; the gap tells it to sync");
}

#[tokio::test]
async fn a_duplicate_record_in_a_run_is_not_delivered_again_and_the_run_keeps_its_order() {
    let w = World::new();
    let alice = w.connect_with("alice", true).await;
    w.join(&alice, "lobby").await;
    for i in 0..3 {
        w.send(&alice, "lobby", &format!("m{i}"), Some(&format!("c{i}"))).await;
    }
    // The client resends its second message (same clientMsgId) after a reconnect.
    w.send(&alice, "lobby", "m1", Some("c1")).await;
    w.send(&alice, "lobby", "m3", Some("c3")).await;

    assert!(w.pump().await.is_empty());

    let got = w.received_all(&alice);
    assert_eq!(seqs(&got), [1, 2, 3, 4]);
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["m0", "m1", "m2", "m3"]);
}

fn big_record(n: usize) -> Record {
    common::big_record(&format!("big-{n}"), &format!("01BIG{n}"), &format!("m{n}"))
}

fn messages_of(pusher: &MemoryPusher, id: &str) -> Vec<u64> {
    pusher
        .posts_to(id)
        .iter()
        .flat_map(|p| match serde_json::from_str::<ServerFrame>(p).unwrap() {
            ServerFrame::Messages { messages, .. } => seqs(&messages),
            other => panic!("an opted-in connection got {other:?}"),
        })
        .collect()
}

// Time is paused: the pusher's latency advances the clock exactly, so post counts do not
// depend on the machine.
#[tokio::test(start_paused = true)]
async fn a_run_cut_short_by_the_deadline_is_retried_whole_and_resumes_at_its_checkpoint() {
    let (deps, pusher, ids) = big_room(true).await;
    let records: Vec<Record> = (1..=3).map(big_record).collect();
    // A page takes 100 ms (100 posts, 10 at a time): two pages and part of the third fit.
    let deadline = Deadline::at(tokio::time::Instant::now() + Duration::from_millis(350), Duration::from_millis(100));

    let failed = fanout::process_batch_within(&deps, records.clone(), deadline).await;
    assert_eq!(failed, ["big-1", "big-2", "big-3"], "the whole run is retried");
    let first_try = pusher.post_count();
    assert!((2 * PAGE..3 * PAGE).contains(&first_try), "one post per connection, cut in page three: {first_try}");

    assert!(fanout::process_batch(&deps, records).await.is_empty(), "the retry finishes");
    for (i, id) in ids.iter().enumerate() {
        let got = messages_of(&pusher, id);
        if i < 2 * PAGE {
            assert_eq!(got, [1, 2, 3], "{id}: a finished page is not posted to again");
        } else {
            assert!(got == [1, 2, 3] || got == [1, 2, 3, 1, 2, 3], "{id}: {got:?}");
        }
    }
    assert!(pusher.post_count() <= BIG_ROOM + PAGE, "at most the cut page twice: {}", pusher.post_count());
}
