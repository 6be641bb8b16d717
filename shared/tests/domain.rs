//! Domain behaviour on the in-memory adapters: actions, ordering, idempotency, fanout, limits.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use common::{World, error_code};
use futures::future::join_all;
use starling_shared::adapters::memory::MemoryStore;
use starling_shared::envelope::Envelope;
use starling_shared::ports::{ConnectionStore, MessageStore, Queue, QueueError, StoreError, SubscriptionStore};
use starling_shared::protocol::ServerFrame;
use starling_shared::service::fanout;
use starling_shared::service::send::SendLimits;

#[tokio::test]
async fn join_replies_with_the_rooms_last_seq() {
    let w = World::new();
    let alice = w.connect("alice").await;
    assert_eq!(
        w.act(&alice, r#"{"action":"join","room":"lobby"}"#).await,
        ServerFrame::Joined { room: "lobby".into(), last_seq: 0 }
    );
    w.send(&alice, "lobby", "one", None).await;
    w.send(&alice, "lobby", "two", None).await;
    assert!(w.pump().await.is_empty());
    let bob = w.connect("bob").await;
    assert_eq!(
        w.act(&bob, r#"{"action":"join","room":"lobby"}"#).await,
        ServerFrame::Joined { room: "lobby".into(), last_seq: 2 }
    );
}

#[tokio::test]
async fn send_is_accepted_then_delivered_to_every_subscriber_sender_included() {
    let w = World::new();
    let (alice, bob, carol) = (w.connect("alice").await, w.connect("bob").await, w.connect("carol").await);
    w.join(&alice, "lobby").await;
    w.join(&bob, "lobby").await;
    w.join(&carol, "elsewhere").await;
    let reply = w.send(&alice, "lobby", "hi", Some("c-1")).await;
    let ServerFrame::Accepted { room, client_msg_id, id } = reply else { panic!("not accepted: {reply:?}") };
    assert_eq!((room.as_str(), client_msg_id.as_deref()), ("lobby", Some("c-1")));
    assert!(w.received(&alice).is_empty(), "nothing is pushed before the fanout runs");
    assert!(w.pump().await.is_empty());
    for who in [&alice, &bob] {
        let got = w.received(who);
        assert_eq!(got.len(), 1);
        let m = &got[0];
        assert_eq!(
            (m.seq, m.id.as_str(), m.from.as_str(), m.body.as_str(), m.client_msg_id.as_deref()),
            (1, id.as_str(), "alice", "hi", Some("c-1"))
        );
        assert_eq!(m.sent_at, "2026-11-22T21:00:00.000Z");
    }
    assert!(w.received(&carol).is_empty(), "another room's subscriber gets nothing");
}

#[tokio::test]
async fn concurrent_senders_get_gapless_seqs_in_one_order_for_everyone() {
    let w = Arc::new(World::new());
    let mut callers = Vec::new();
    for user in ["u1", "u2", "u3", "u4", "u5"] {
        let c = w.connect(user).await;
        w.join(&c, "race").await;
        callers.push(c);
    }
    let sends = callers.iter().flat_map(|c| {
        let w = w.clone();
        (0..40).map(move |i| {
            let (w, c) = (w.clone(), c.clone());
            async move { w.send(&c, "race", &format!("{} #{i}", c.connection.user), None).await }
        })
    });
    let replies = join_all(sends).await;
    assert!(replies.iter().all(|r| matches!(r, ServerFrame::Accepted { .. })));
    assert!(w.pump().await.is_empty());
    let first = w.received(&callers[0]);
    let seqs: Vec<u64> = first.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>(), "seq starts at 1 with no gap and arrives in order");
    for c in &callers[1..] {
        let ids: Vec<&str> = first.iter().map(|m| m.id.as_str()).collect();
        let got = w.received(c);
        assert_eq!(got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ids, "same order for every subscriber");
    }
}

#[tokio::test]
async fn concurrent_appends_to_one_room_never_share_or_skip_a_seq() {
    let store = Arc::new(MemoryStore::new());
    let appends = (0..100).map(|i| {
        let store = store.clone();
        async move {
            let msg = starling_shared::domain::NewMessage {
                commit: None,
                id: format!("m{i}"),
                room: "r".into(),
                from: "u".into(),
                body: "b".into(),
                client_msg_id: None,
                sent_at: "t".into(),
                expires_at: i64::MAX,
                now: 0,
            };
            store.append(msg).await.unwrap().message.seq
        }
    });
    let handles: Vec<_> = appends.map(tokio::spawn).collect();
    let mut seqs = BTreeSet::new();
    for h in handles {
        assert!(seqs.insert(h.await.unwrap()), "a seq was given twice");
    }
    assert_eq!(seqs, (1..=100).collect());
}

#[tokio::test]
async fn repeated_client_msg_id_is_stored_and_delivered_once() {
    let w = World::new();
    let alice = w.connect("alice").await;
    let bob = w.connect("bob").await;
    w.join(&alice, "lobby").await;
    w.join(&bob, "lobby").await;
    w.send(&alice, "lobby", "hello", Some("c-1")).await;
    assert!(w.pump().await.is_empty());
    // The client retries after a timeout: new request, same clientMsgId.
    w.send(&alice, "lobby", "hello", Some("c-1")).await;
    assert!(w.pump().await.is_empty());
    // Another user may use the same clientMsgId: it is per sender.
    w.send(&bob, "lobby", "hey", Some("c-1")).await;
    assert!(w.pump().await.is_empty());
    let seqs: Vec<(u64, String)> = w.received(&bob).iter().map(|m| (m.seq, m.from.clone())).collect();
    assert_eq!(seqs, vec![(1, "alice".into()), (2, "bob".into())]);
    assert_eq!(w.store.message_count("lobby"), 2);
}

#[tokio::test]
async fn client_msg_id_is_deduplicated_for_24_hours_only() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    w.send(&alice, "lobby", "first", Some("c-1")).await;
    w.pump().await;
    w.clock.advance(chrono::Duration::hours(24) + chrono::Duration::seconds(1));
    w.send(&alice, "lobby", "a day later", Some("c-1")).await;
    w.pump().await;
    let bodies: Vec<String> = w.received(&alice).into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, ["first", "a day later"]);
}

#[tokio::test]
async fn redelivered_sqs_record_keeps_its_seq_and_is_pushed_again() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    w.send(&alice, "lobby", "once", None).await;
    let records = w.drain_records();
    assert!(fanout::process_batch(&w.fanout, records.clone()).await.is_empty());
    // SQS delivers the same record again (e.g. the first invocation timed out after pushing).
    assert!(fanout::process_batch(&w.fanout, records).await.is_empty());
    let got = w.received(&alice);
    assert_eq!(got.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 1], "same seq, so the client drops it");
    assert_eq!(w.store.last_seq("lobby").await.unwrap(), 1, "no second seq taken");
}

#[tokio::test]
async fn history_pages_back_with_before_limit_and_has_more() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    for i in 1..=120 {
        w.send(&alice, "lobby", &format!("m{i}"), None).await;
    }
    assert!(w.pump().await.is_empty());
    let page = |frame: ServerFrame| match frame {
        ServerFrame::History { messages, has_more, .. } => {
            (messages.iter().map(|m| m.seq).collect::<Vec<_>>(), has_more)
        }
        other => panic!("not history: {other:?}"),
    };
    let (seqs, more) = page(w.act(&alice, r#"{"action":"history","room":"lobby"}"#).await);
    assert_eq!((seqs, more), ((71..=120).collect(), true), "default limit 50, newest page, ascending");
    let (seqs, more) = page(w.act(&alice, r#"{"action":"history","room":"lobby","before":71}"#).await);
    assert_eq!((seqs, more), ((21..=70).collect(), true));
    let (seqs, more) = page(w.act(&alice, r#"{"action":"history","room":"lobby","before":21,"limit":100}"#).await);
    assert_eq!((seqs, more), ((1..=20).collect(), false));
    let (seqs, more) = page(w.act(&alice, r#"{"action":"history","room":"lobby","before":11,"limit":10}"#).await);
    assert_eq!((seqs, more), ((1..=10).collect(), false), "exactly the rest: no more");
}

#[tokio::test]
async fn history_leaves_out_messages_past_retention() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    w.send(&alice, "lobby", "old", None).await;
    w.pump().await;
    w.clock.advance(chrono::Duration::days(20));
    w.send(&alice, "lobby", "new", None).await;
    w.pump().await;
    w.clock.advance(chrono::Duration::days(11));
    let ServerFrame::History { messages, has_more, .. } = w.act(&alice, r#"{"action":"history","room":"lobby"}"#).await
    else {
        panic!("no history")
    };
    assert_eq!(messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["new"]);
    assert!(!has_more);
}

#[tokio::test]
async fn only_subscribers_may_send_to_or_read_a_room() {
    let w = World::new();
    let mallory = w.connect("mallory").await;
    let reply = w.send(&mallory, "lobby", "hi", Some("c-9")).await;
    assert_eq!(error_code(&reply), Some("forbidden"));
    let ServerFrame::Error(e) = &reply else { unreachable!() };
    assert_eq!((e.action.as_deref(), e.client_msg_id.as_deref()), (Some("send"), Some("c-9")));
    assert_eq!(error_code(&w.act(&mallory, r#"{"action":"history","room":"lobby"}"#).await), Some("forbidden"));
    assert!(w.queue.is_empty(), "a refused send never reaches the queue");
    w.join(&mallory, "lobby").await;
    assert!(matches!(w.send(&mallory, "lobby", "hi", None).await, ServerFrame::Accepted { .. }));
}

#[tokio::test]
async fn leave_unsubscribes_and_ends_membership() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    assert_eq!(w.store.members_of("lobby"), ["alice"]);
    assert_eq!(w.act(&alice, r#"{"action":"leave","room":"lobby"}"#).await, ServerFrame::Left { room: "lobby".into() });
    assert!(w.store.members_of("lobby").is_empty());
    assert_eq!(error_code(&w.send(&alice, "lobby", "hi", None).await), Some("forbidden"));
    assert_eq!(error_code(&w.act(&alice, r#"{"action":"leave","room":"lobby"}"#).await), Some("not_found"));
}

#[tokio::test]
async fn direct_message_rooms_admit_their_two_users_only() {
    let w = World::new();
    let (alice, bob, eve) = (w.connect("alice").await, w.connect("bob").await, w.connect("eve").await);
    w.join(&alice, "dm:alice:bob").await;
    w.join(&bob, "dm:alice:bob").await;
    let join = w.act(&eve, r#"{"action":"join","room":"dm:alice:bob"}"#).await;
    assert_eq!(error_code(&join), Some("forbidden"));
    assert_eq!(error_code(&w.send(&eve, "dm:alice:bob", "psst", None).await), Some("forbidden"));
    assert_eq!(error_code(&w.act(&eve, r#"{"action":"history","room":"dm:alice:bob"}"#).await), Some("forbidden"));
    let unsorted = w.act(&alice, r#"{"action":"join","room":"dm:bob:alice"}"#).await;
    assert_eq!(error_code(&unsorted), Some("bad_request"));
}

#[tokio::test]
async fn gone_connection_is_deleted_with_its_subscriptions_and_no_other() {
    let w = World::new();
    let (alice, bob, carol) = (w.connect("alice").await, w.connect("bob").await, w.connect("carol").await);
    for c in [&alice, &bob, &carol] {
        w.join(c, "lobby").await;
    }
    w.join(&bob, "other").await;
    // Bob's client vanished without a $disconnect: the management API answers 410 for him.
    w.pusher.disconnect(&bob.connection.id);
    w.send(&alice, "lobby", "anyone?", None).await;
    assert!(w.pump().await.is_empty(), "a gone subscriber does not fail the message");
    assert!(w.store.get(&bob.connection.id).await.unwrap().is_none());
    assert!(!w.store.is_subscribed("lobby", &bob.connection.id).await.unwrap());
    assert!(!w.store.is_subscribed("other", &bob.connection.id).await.unwrap());
    for c in [&alice, &carol] {
        assert!(w.store.get(&c.connection.id).await.unwrap().is_some());
        assert!(w.store.is_subscribed("lobby", &c.connection.id).await.unwrap());
        assert_eq!(w.received(c).len(), 1);
    }
}

#[tokio::test]
async fn disconnect_removes_the_connection_and_every_subscription_idempotently() {
    let w = World::new();
    let [alice] = w.room("a", ["alice"]).await;
    w.join(&alice, "b").await;
    let removed = w.store.remove(&alice.connection.id).await.unwrap();
    assert_eq!(removed.user.as_deref(), Some("alice"));
    assert_eq!(removed.rooms, ["a", "b"]);
    assert_eq!(w.store.subscription_count(&alice.connection.id).await.unwrap(), 0);
    assert!(w.store.connections_of("alice").is_empty());
    let again = w.store.remove(&alice.connection.id).await.unwrap();
    assert_eq!(again, Default::default(), "a second disconnect is a no-op");
}

#[tokio::test]
async fn a_throttled_post_is_retried_within_the_invocation() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    w.pusher.throttle(&alice.connection.id, 2);
    w.send(&alice, "lobby", "hi", None).await;
    assert!(w.pump().await.is_empty());
    assert_eq!(w.received(&alice).len(), 1);
}

#[tokio::test]
async fn a_connection_may_join_at_most_max_rooms() {
    let w = World::with(
        SendLimits { rate_limit: 100, rate_window_secs: 10, max_rooms: 2, ..SendLimits::default() },
        MemoryStore::new(),
    );
    let [alice] = w.room("a", ["alice"]).await;
    w.join(&alice, "b").await;
    assert_eq!(error_code(&w.act(&alice, r#"{"action":"join","room":"c"}"#).await), Some("forbidden"));
    w.join(&alice, "b").await; // re-joining a room it is in is fine
    w.act(&alice, r#"{"action":"leave","room":"a"}"#).await;
    w.join(&alice, "c").await;
}

#[tokio::test]
async fn every_error_code_reachable_from_an_action_has_its_frame() {
    let w = World::new();
    let alice = w.connect("alice").await;
    let cases = [
        ("not json", "bad_request"),
        (r#"{"action":"teleport"}"#, "unknown_action"),
        (&format!(r#"{{"action":"send","room":"r","body":"{}"}}"#, "x".repeat(16 * 1024 + 1)), "too_large"),
        (r#"{"action":"history","room":"never-joined"}"#, "forbidden"),
        (r#"{"action":"leave","room":"never-joined"}"#, "not_found"),
    ];
    for (frame, code) in cases {
        assert_eq!(error_code(&w.act(&alice, frame).await), Some(code), "{frame:.60}");
    }
    assert_eq!(w.act(&alice, r#"{"action":"ping"}"#).await, ServerFrame::Pong, "still usable after errors");
}

#[derive(Debug)]
struct BrokenQueue;

#[async_trait]
impl Queue for BrokenQueue {
    async fn enqueue(&self, _: &Envelope) -> Result<(), QueueError> {
        Err(QueueError::Failed("queue down".into()))
    }
}

#[tokio::test]
async fn an_unavailable_queue_gives_internal_and_nothing_is_accepted() {
    let mut w = World::new();
    w.send_deps.queue = Arc::new(BrokenQueue);
    let [alice] = w.room("lobby", ["alice"]).await;
    let reply = w.send(&alice, "lobby", "hi", Some("c-1")).await;
    let ServerFrame::Error(e) = reply else { panic!("expected an error, got {reply:?}") };
    assert_eq!((e.code.as_str(), e.client_msg_id.as_deref()), ("internal", Some("c-1")));
}

#[tokio::test]
async fn joining_after_the_connection_was_removed_is_not_found() {
    let w = World::new();
    let alice = w.connect("alice").await;
    w.store.remove(&alice.connection.id).await.unwrap();
    assert_eq!(error_code(&w.act(&alice, r#"{"action":"join","room":"lobby"}"#).await), Some("not_found"));
    assert!(matches!(w.store.subscribe("lobby", &alice.connection).await, Err(StoreError::NotFound(_))));
}

#[tokio::test]
async fn subscribers_are_listed_across_pages() {
    let w = World::with(SendLimits::default(), MemoryStore::new().with_page_size(3));
    let mut all = Vec::new();
    for i in 0..10 {
        let c = w.connect(&format!("u{i}")).await;
        w.join(&c, "big").await;
        all.push(c);
    }
    w.send(&all[0], "big", "to all", None).await;
    assert!(w.pump().await.is_empty());
    for c in &all {
        assert_eq!(w.received(c).len(), 1, "{} missed the message", c.connection.id);
    }
    assert_eq!(w.pusher.post_count(), 10);
}
