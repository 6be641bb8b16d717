//! One suite, two backends: every case runs against the in-memory adapters and against the
//! DynamoDB and SQS adapters on moto. If the two disagree, one of them is wrong.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::join_all;
use starling_shared::domain::{AppendOutcome, NewMessage};
use starling_shared::domain::{Connection, DEDUP_WINDOW_SECS};
use starling_shared::ports::Store;
use starling_shared::ports::StoreError;
use starling_shared::protocol::Status;

#[path = "contract/lifecycle.rs"]
mod lifecycle;

// The MLS cases (docs/e2e.md) share this binary, so CI links one test program, not four.
#[path = "contract/epochs.rs"]
mod epochs;
#[path = "contract/keys.rs"]
mod keys;
#[path = "contract/welcomes.rs"]
mod welcomes;

use lifecycle::*;

/// Page size for subscriber listings in both backends, small so pagination is exercised.
const PAGE: usize = 2;

fn memory() -> Arc<dyn Store> {
    common::memory_store(PAGE)
}

async fn moto() -> Arc<dyn Store> {
    common::moto_store("contract", PAGE).await
}

common::contract!(
    registered_connection_reads_back_and_removal_is_idempotent,
    removal_deletes_only_that_connections_subscriptions,
    subscribe_needs_a_registered_connection,
    subscribe_is_idempotent_and_unsubscribe_undoes_it,
    subscribers_are_paginated_without_loss_or_repeat,
    append_gives_gapless_seqs_even_when_concurrent,
    append_of_the_same_message_id_is_a_redelivery,
    append_with_a_repeated_client_msg_id_is_a_duplicate,
    dedup_expires_after_its_window,
    history_pages_newest_first_and_returns_ascending,
    history_skips_expired_messages,
    budget_is_spent_per_user_and_window_by_cost,
    a_refused_spend_counts_nothing,
    concurrent_spends_never_pass_the_limit,
    gate_passes_once_per_interval_and_says_when_it_reopens,
    dedup_keys_of_different_senders_never_collide,
    membership_survives_disconnect_and_lists_both_ways,
    since_returns_missed_messages_with_recovery_and_limit,
    presence_changes_once_per_transition_across_devices,
    a_connection_past_its_lifetime_does_not_keep_a_user_online,
    a_dead_connection_forgotten_before_a_reconnect_makes_both_transitions,
    away_is_a_transition_only_while_online,
    read_cursor_only_moves_forward,
    typing_is_gated_per_connection_and_room,
    presence_versions_grow_with_every_transition_and_a_repeated_close_changes_nothing,
    concurrent_opens_of_one_user_announce_online_once_with_distinct_versions,
    a_connection_idle_past_api_gateways_limit_is_stale_until_it_shows_activity,
    reconnecting_without_disconnects_keeps_the_counted_connections_bounded,
    concurrent_subscribes_of_one_connection_stop_at_the_room_limit,
    unsubscribing_frees_a_place_under_the_room_limit,
    the_subscriber_listing_says_which_connections_take_messages_frames,
    a_rooms_shards_list_every_subscriber_once_each_in_its_own_shard,
    the_probe_reads_a_small_room_whole_and_its_route_mark_but_never_lists_the_mark,
);

fn conn(id: &str, user: &str) -> Connection {
    Connection { id: id.into(), user: user.into(), connected_at_ms: 1_795_000_000_000, batch: false }
}

fn msg(room: &str, id: &str, from: &str, cmid: Option<&str>, now: i64) -> NewMessage {
    NewMessage {
        commit: None,
        id: id.into(),
        room: room.into(),
        from: from.into(),
        body: format!("body of {id}"),
        client_msg_id: cmid.map(Into::into),
        sent_at: "2026-11-22T21:00:00.000Z".into(),
        expires_at: now + 1000,
        now,
    }
}

async fn registered_connection_reads_back_and_removal_is_idempotent(s: Arc<dyn Store>) {
    let c = conn("AAAA1234abc=", "alice");
    assert_eq!(s.get(&c.id).await.unwrap(), None);
    s.register(&c).await.unwrap();
    assert_eq!(s.get(&c.id).await.unwrap(), Some(c.clone()));
    let removed = s.remove(&c.id).await.unwrap();
    assert_eq!(removed.user.as_deref(), Some("alice"));
    assert_eq!(s.get(&c.id).await.unwrap(), None);
    assert_eq!(s.remove(&c.id).await.unwrap(), Default::default());
    assert_eq!(s.remove("never-existed").await.unwrap(), Default::default());
}

async fn removal_deletes_only_that_connections_subscriptions(s: Arc<dyn Store>) {
    let (a, b) = (conn("a=", "alice"), conn("b=", "bob"));
    s.register(&a).await.unwrap();
    s.register(&b).await.unwrap();
    for room in ["r1", "r2", "r3"] {
        s.subscribe(room, &a).await.unwrap();
    }
    s.subscribe("r1", &b).await.unwrap();
    let removed = s.remove(&a.id).await.unwrap();
    assert_eq!(removed.rooms.into_iter().collect::<BTreeSet<_>>(), ["r1", "r2", "r3"].map(String::from).into());
    for room in ["r1", "r2", "r3"] {
        assert!(!s.is_subscribed(room, &a.id).await.unwrap());
    }
    assert_eq!(s.subscription_count(&a.id).await.unwrap(), 0);
    assert!(s.is_subscribed("r1", &b.id).await.unwrap());
    let r1 = s.subscribers("r1", None).await.unwrap();
    assert_eq!(r1.items.iter().map(|x| x.connection_id.as_str()).collect::<Vec<_>>(), ["b="]);
}

async fn subscribe_needs_a_registered_connection(s: Arc<dyn Store>) {
    let ghost = conn("ghost=", "alice");
    assert!(matches!(s.subscribe("lobby", &ghost).await, Err(StoreError::NotFound(_))));
    assert!(!s.is_subscribed("lobby", &ghost.id).await.unwrap());
}

async fn subscribe_is_idempotent_and_unsubscribe_undoes_it(s: Arc<dyn Store>) {
    let a = conn("a=", "alice");
    s.register(&a).await.unwrap();
    s.subscribe("lobby", &a).await.unwrap();
    s.subscribe("lobby", &a).await.unwrap();
    s.subscribe("other", &a).await.unwrap();
    assert!(s.is_subscribed("lobby", &a.id).await.unwrap());
    assert_eq!(s.subscription_count(&a.id).await.unwrap(), 2);
    assert_eq!(s.subscribers("lobby", None).await.unwrap().items.len(), 1);
    s.unsubscribe("lobby", &a).await.unwrap();
    s.unsubscribe("lobby", &a).await.unwrap();
    assert!(!s.is_subscribed("lobby", &a.id).await.unwrap());
    assert_eq!(s.subscription_count(&a.id).await.unwrap(), 1);
}

async fn subscribers_are_paginated_without_loss_or_repeat(s: Arc<dyn Store>) {
    let mut expected = BTreeSet::new();
    for i in 0..7 {
        let c = conn(&format!("c{i}="), &format!("user{i}"));
        s.register(&c).await.unwrap();
        s.subscribe("big", &c).await.unwrap();
        expected.insert((c.id, c.user));
    }
    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let page = s.subscribers("big", cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= PAGE);
        pages += 1;
        seen.extend(page.items.into_iter().map(|x| (x.connection_id, x.user)));
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert!(pages >= 4, "7 subscribers in pages of {PAGE} took {pages} pages");
    assert_eq!(seen.len(), 7, "no repeats");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
}

async fn append_gives_gapless_seqs_even_when_concurrent(s: Arc<dyn Store>) {
    for i in 0..5 {
        let a = s.append(msg("room", &format!("seq{i}"), "u", None, 0)).await.unwrap();
        assert_eq!((a.message.seq, a.outcome), (i + 1, AppendOutcome::Fresh));
    }
    let results = join_all((0..4).map(|i| {
        let s = s.clone();
        async move { s.append(msg("room", &format!("conc{i}"), "u", None, 0)).await.unwrap().message.seq }
    }))
    .await;
    assert_eq!(results.into_iter().collect::<BTreeSet<_>>(), (6..=9).collect());
    assert_eq!(s.last_seq("room").await.unwrap(), 9);
    assert_eq!(s.last_seq("empty-room").await.unwrap(), 0);
}

async fn append_of_the_same_message_id_is_a_redelivery(s: Arc<dyn Store>) {
    let first = s.append(msg("r", "ID1", "alice", None, 0)).await.unwrap();
    let again = s.append(msg("r", "ID1", "alice", None, 0)).await.unwrap();
    assert_eq!(again.outcome, AppendOutcome::Redelivered);
    assert_eq!(again.message, first.message);
    let with_cmid = s.append(msg("r", "ID2", "alice", Some("c-1"), 0)).await.unwrap();
    let redelivered = s.append(msg("r", "ID2", "alice", Some("c-1"), 0)).await.unwrap();
    assert_eq!((redelivered.outcome, redelivered.message.seq), (AppendOutcome::Redelivered, with_cmid.message.seq));
    assert_eq!(s.last_seq("r").await.unwrap(), 2);
}

async fn append_with_a_repeated_client_msg_id_is_a_duplicate(s: Arc<dyn Store>) {
    let original = s.append(msg("r", "ID1", "alice", Some("c-1"), 0)).await.unwrap();
    let dup = s.append(msg("r", "ID2", "alice", Some("c-1"), 10)).await.unwrap();
    assert_eq!(dup.outcome, AppendOutcome::Duplicate);
    assert_eq!(dup.message, original.message, "the stored original comes back");
    let other_sender = s.append(msg("r", "ID3", "bob", Some("c-1"), 10)).await.unwrap();
    assert_eq!((other_sender.outcome, other_sender.message.seq), (AppendOutcome::Fresh, 2));
    let other_room = s.append(msg("r2", "ID4", "alice", Some("c-1"), 10)).await.unwrap();
    assert_eq!((other_room.outcome, other_room.message.seq), (AppendOutcome::Fresh, 1));
}

async fn dedup_expires_after_its_window(s: Arc<dyn Store>) {
    s.append(msg("r", "ID1", "alice", Some("c-1"), 0)).await.unwrap();
    let later = s.append(msg("r", "ID2", "alice", Some("c-1"), DEDUP_WINDOW_SECS + 1)).await.unwrap();
    assert_eq!((later.outcome, later.message.seq, later.message.id.as_str()), (AppendOutcome::Fresh, 2, "ID2"));
}

async fn history_pages_newest_first_and_returns_ascending(s: Arc<dyn Store>) {
    for i in 1..=12 {
        s.append(msg("h", &format!("m{i}"), "u", None, 0)).await.unwrap();
    }
    let seqs = |p: &starling_shared::domain::HistoryPage| p.messages.iter().map(|m| m.seq).collect::<Vec<_>>();
    let newest = s.history("h", None, 5, 0).await.unwrap();
    assert_eq!((seqs(&newest), newest.has_more), ((8..=12).collect(), true));
    let older = s.history("h", Some(8), 5, 0).await.unwrap();
    assert_eq!((seqs(&older), older.has_more), ((3..=7).collect(), true));
    let oldest = s.history("h", Some(3), 5, 0).await.unwrap();
    assert_eq!((seqs(&oldest), oldest.has_more), (vec![1, 2], false));
    let exact = s.history("h", Some(6), 5, 0).await.unwrap();
    assert_eq!((seqs(&exact), exact.has_more), ((1..=5).collect(), false));
    assert_eq!(s.history("h", Some(1), 5, 0).await.unwrap().messages, vec![]);
    assert_eq!(s.history("none", None, 5, 0).await.unwrap().messages, vec![]);
    let m = &newest.messages[0];
    assert_eq!((m.room.as_str(), m.id.as_str(), m.body.as_str()), ("h", "m8", "body of m8"));
}

async fn history_skips_expired_messages(s: Arc<dyn Store>) {
    // Sent at 0 and 100, each kept 1000 s: at 1050 only the second is live.
    s.append(msg("h", "old", "u", None, 0)).await.unwrap();
    s.append(msg("h", "new", "u", None, 100)).await.unwrap();
    let page = s.history("h", None, 10, 1050).await.unwrap();
    assert_eq!(page.messages.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["new"]);
    assert!(!page.has_more);
}

async fn budget_is_spent_per_user_and_window_by_cost(s: Arc<dyn Store>) {
    assert!(s.spend("alice", 100, 6, 10, 120).await.unwrap());
    assert!(s.spend("alice", 100, 4, 10, 120).await.unwrap(), "exactly the limit fits");
    assert!(!s.spend("alice", 100, 1, 10, 120).await.unwrap(), "the window is spent");
    assert!(s.spend("bob", 100, 10, 10, 120).await.unwrap(), "another user has their own budget");
    assert!(s.spend("alice", 110, 10, 10, 130).await.unwrap(), "the next window starts afresh");
    assert!(!s.spend("carol", 100, 11, 10, 120).await.unwrap(), "a cost above the limit never fits");
}

async fn a_refused_spend_counts_nothing(s: Arc<dyn Store>) {
    assert!(s.spend("alice", 100, 8, 10, 120).await.unwrap());
    for _ in 0..5 {
        assert!(!s.spend("alice", 100, 5, 10, 120).await.unwrap());
    }
    assert!(s.spend("alice", 100, 2, 10, 120).await.unwrap(), "the refusals spent nothing");
}

async fn concurrent_spends_never_pass_the_limit(s: Arc<dyn Store>) {
    let tries = (0..30).map(|_| s.spend("alice", 100, 1, 10, 120));
    let admitted = join_all(tries).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(admitted, 10);
}

async fn gate_passes_once_per_interval_and_says_when_it_reopens(s: Arc<dyn Store>) {
    assert_eq!(s.pass_gate("alice", "status", 10_000, 2_000).await.unwrap(), None);
    assert_eq!(s.pass_gate("alice", "status", 10_500, 2_000).await.unwrap(), Some(1_500));
    assert_eq!(s.pass_gate("alice", "status", 11_999, 2_000).await.unwrap(), Some(1), "a refusal moves nothing");
    assert_eq!(s.pass_gate("alice", "read#lobby", 10_500, 2_000).await.unwrap(), None, "gates are by name");
    assert_eq!(s.pass_gate("bob", "status", 10_500, 2_000).await.unwrap(), None, "and by user");
    assert_eq!(s.pass_gate("alice", "status", 12_000, 2_000).await.unwrap(), None);
}

/// The collision of issue #9: user `a` with clientMsgId `b#x` and user `a#b` with `x`.
async fn dedup_keys_of_different_senders_never_collide(s: Arc<dyn Store>) {
    let now = 1_795_000_000;
    let first = s.append(msg("lobby", "m1", "a", Some("b#x"), now)).await.unwrap();
    let second = s.append(msg("lobby", "m2", "a#b", Some("x"), now)).await.unwrap();
    assert_eq!((first.outcome, second.outcome), (AppendOutcome::Fresh, AppendOutcome::Fresh));
    assert_eq!((first.message.seq, second.message.seq), (1, 2));
    let third = s.append(msg("lobby", "m3", "a%23b", Some("x"), now)).await.unwrap();
    assert_eq!(third.outcome, AppendOutcome::Fresh, "an escaped-looking sender is not the escaped one");
    let again = s.append(msg("lobby", "m4", "a#b", Some("x"), now)).await.unwrap();
    assert_eq!((again.outcome, again.message.seq), (AppendOutcome::Duplicate, 2));
}

async fn membership_survives_disconnect_and_lists_both_ways(s: Arc<dyn Store>) {
    let (a, b) = (conn("a=", "alice"), conn("b=", "bob"));
    for c in [&a, &b] {
        s.register(c).await.unwrap();
    }
    s.subscribe("lobby", &a).await.unwrap();
    s.subscribe("lobby", &b).await.unwrap();
    s.subscribe("dm:alice:bob", &a).await.unwrap();
    s.remove(&a.id).await.unwrap();
    assert!(s.is_member("lobby", "alice").await.unwrap(), "offline members stay members");
    assert!(!s.is_member("lobby", "carol").await.unwrap());
    let mut members = s.members("lobby").await.unwrap();
    members.sort();
    assert_eq!(members, ["alice", "bob"]);
    let mut rooms = s.rooms_of("alice").await.unwrap();
    rooms.sort();
    assert_eq!(rooms, ["dm:alice:bob", "lobby"]);
    s.unsubscribe("lobby", &b).await.unwrap();
    assert_eq!(s.members("lobby").await.unwrap(), ["alice"]);
    assert!(s.rooms_of("bob").await.unwrap().is_empty());
}

async fn since_returns_missed_messages_with_recovery_and_limit(s: Arc<dyn Store>) {
    // Seqs 1–3 expire at 1000, seqs 4–8 at 1500.
    for i in 1..=3 {
        s.append(msg("r", &format!("m{i}"), "u", None, 0)).await.unwrap();
    }
    for i in 4..=8 {
        s.append(msg("r", &format!("m{i}"), "u", None, 500)).await.unwrap();
    }
    let seqs = |p: &starling_shared::domain::SyncPage| p.messages.iter().map(|m| m.seq).collect::<Vec<_>>();
    let page = s.since("r", 2, 100, 0).await.unwrap();
    assert_eq!((seqs(&page), page.recovered, page.has_more, page.last_seq), ((3..=8).collect(), true, false, 8));
    let page = s.since("r", 0, 3, 0).await.unwrap();
    assert_eq!((seqs(&page), page.recovered, page.has_more), (vec![1, 2, 3], true, true));
    let page = s.since("r", 1, 100, 1200).await.unwrap();
    assert_eq!((seqs(&page), page.recovered), ((4..=8).collect(), false), "2 and 3 are past retention");
    let page = s.since("r", 3, 100, 1200).await.unwrap();
    assert!(page.recovered, "nothing after 3 is lost");
    let page = s.since("r", 8, 100, 0).await.unwrap();
    assert_eq!((seqs(&page), page.recovered, page.last_seq), (vec![], true, 8));
    let page = s.since("r", 5, 100, 2000).await.unwrap();
    assert_eq!((seqs(&page), page.recovered), (vec![], false), "everything after 5 expired");
    let empty = s.since("nothing-here", 0, 10, 0).await.unwrap();
    assert_eq!((empty.recovered, empty.last_seq), (true, 0));
}

async fn presence_changes_once_per_transition_across_devices(s: Arc<dyn Store>) {
    let now = 1_795_000_100;
    let (phone, laptop) = (conn("phone=", "alice"), conn("laptop=", "alice"));
    let first = s.connection_opened(&phone, now).await.unwrap().transition;
    assert_eq!(first.map(|p| p.status), Some(Status::Online));
    assert_eq!(s.connection_opened(&laptop, now).await.unwrap().transition, None, "second device: no transition");
    assert_eq!(s.connection_closed(&phone, now + 10).await.unwrap(), None, "still on the laptop");
    assert_eq!(s.presence(&["alice".to_owned()], now + 10).await.unwrap()[0].status, Status::Online);
    let last = s.connection_closed(&laptop, now + 20).await.unwrap().expect("offline transition");
    assert_eq!((last.status, last.last_seen.as_deref()), (Status::Offline, Some("2026-11-18T11:08:40.000Z")));
    assert_eq!(s.connection_closed(&laptop, now + 30).await.unwrap(), None, "a repeated close is no transition");
    let listed = s.presence(&["alice".to_owned(), "nobody".to_owned()], now + 40).await.unwrap();
    assert_eq!((listed[0].status, listed[0].last_seen.as_deref()), (Status::Offline, Some("2026-11-18T11:08:40.000Z")));
    assert_eq!(
        (listed[1].user.as_str(), listed[1].status, listed[1].last_seen.as_deref()),
        ("nobody", Status::Offline, None)
    );
}

async fn a_connection_past_its_lifetime_does_not_keep_a_user_online(s: Arc<dyn Store>) {
    let old = conn("old=", "alice");
    let after_lifetime = old.expires_at() + 1;
    s.connection_opened(&old, old.connected_at_ms / 1000).await.unwrap();
    let listed = s.presence(&["alice".to_owned()], after_lifetime).await.unwrap().remove(0);
    assert_eq!((listed.status, listed.stale), (Status::Offline, vec!["old=".to_owned()]));
    let fresh =
        Connection { id: "new=".into(), user: "alice".into(), connected_at_ms: after_lifetime * 1000, batch: false };
    let back = s.connection_opened(&fresh, after_lifetime).await.unwrap();
    assert_eq!(back.dropped, ["old="], "the dead connection is no longer counted");
    assert_eq!(back.transition, None, "online was announced and never taken back: nothing to announce");
    assert!(s.presence(&["alice".to_owned()], after_lifetime).await.unwrap()[0].stale.is_empty());
}

async fn away_is_a_transition_only_while_online(s: Arc<dyn Store>) {
    let now = 1_795_000_100;
    let c = conn("c=", "alice");
    s.connection_opened(&c, now).await.unwrap();
    let changed = |set: starling_shared::domain::StatusSet| set.changed.then_some(set.current.status);
    assert_eq!(changed(s.set_status("alice", Status::Away, now).await.unwrap()), Some(Status::Away));
    assert_eq!(changed(s.set_status("alice", Status::Away, now).await.unwrap()), None);
    assert_eq!(s.presence(&["alice".to_owned()], now).await.unwrap()[0].status, Status::Away);
    assert_eq!(changed(s.set_status("alice", Status::Online, now).await.unwrap()), Some(Status::Online));
    s.set_status("alice", Status::Away, now).await.unwrap();
    s.connection_closed(&c, now).await.unwrap();
    let back = conn("c2=", "alice");
    s.connection_opened(&back, now).await.unwrap();
    assert_eq!(
        s.presence(&["alice".to_owned()], now).await.unwrap()[0].status,
        Status::Online,
        "a new session starts online"
    );
}

async fn read_cursor_only_moves_forward(s: Arc<dyn Store>) {
    assert_eq!(s.read_cursor("alice", "lobby").await.unwrap(), None);
    assert_eq!(s.set_read("alice", "lobby", 5).await.unwrap(), 5);
    assert_eq!(s.set_read("alice", "lobby", 3).await.unwrap(), 5);
    assert_eq!(s.set_read("alice", "lobby", 9).await.unwrap(), 9);
    assert_eq!(s.read_cursor("alice", "lobby").await.unwrap(), Some(9));
    assert_eq!(s.read_cursor("alice", "other").await.unwrap(), None);
}

async fn typing_is_gated_per_connection_and_room(s: Arc<dyn Store>) {
    let t = 1_795_000_000_000;
    assert!(s.typing_allowed("a=", "lobby", t, 2000).await.unwrap());
    assert!(!s.typing_allowed("a=", "lobby", t + 1999, 2000).await.unwrap());
    assert!(s.typing_allowed("a=", "other", t + 1999, 2000).await.unwrap());
    assert!(s.typing_allowed("b=", "lobby", t + 1999, 2000).await.unwrap());
    assert!(s.typing_allowed("a=", "lobby", t + 2000, 2000).await.unwrap());
}

mod queue {
    //! The queue contract: an envelope comes out as it went in, in order; SQS adds FIFO
    //! grouping by room and deduplication by (room, sender, clientMsgId).
    use starling_shared::adapters::memory::RecordingQueue;
    use starling_shared::adapters::sqs::SqsQueue;
    use starling_shared::envelope::{Envelope, Publish};
    use starling_shared::ports::Queue;

    fn publish(id: &str, room: &str, cmid: Option<&str>) -> Envelope {
        Envelope::Publish(Publish {
            connection_id: None,
            welcome: None,
            id: id.into(),
            room: room.into(),
            from: "alice".into(),
            body: format!("body {id}"),
            client_msg_id: cmid.map(Into::into),
            sent_at: "2026-11-22T21:00:00.000Z".into(),
            endpoint: Some("https://x.example/prod".into()),
        })
    }

    #[tokio::test]
    async fn memory_queue_returns_envelopes_in_order() {
        let q = RecordingQueue::default();
        let sent = [publish("1", "a", None), publish("2", "a", Some("c")), publish("3", "b", None)];
        for e in &sent {
            q.enqueue(e).await.unwrap();
        }
        assert_eq!(q.drain(), sent);
    }

    #[tokio::test]
    async fn sqs_queue_groups_by_room_and_drops_a_repeated_client_msg_id() {
        let config = super::common::moto_config().await;
        let client = aws_sdk_sqs::Client::new(&config);
        let name = super::common::unique_name("contract");
        let (url, dlq) = SqsQueue::create_fifo_with_dlq(&client, &name, 30, 3).await.unwrap();
        assert!(url.ends_with(".fifo") && dlq.ends_with("-dlq.fifo"), "{url} {dlq}");
        let q = SqsQueue::new(client.clone(), &url);
        let sent =
            [publish("1", "lobby", Some("c-1")), publish("2", "lobby", Some("c-1")), publish("3", "lobby", None)];
        for e in &sent {
            q.enqueue(e).await.unwrap();
        }
        let out = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap();
        let msgs = out.messages.unwrap_or_default();
        let got: Vec<Envelope> = msgs.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect();
        assert_eq!(got, [sent[0].clone(), sent[2].clone()], "the retry with the same clientMsgId was dropped");
        for m in &msgs {
            let group =
                m.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId));
            assert_eq!(group.map(String::as_str), Some("lobby"));
        }
        // Creating again is harmless (the devstack does it at every start).
        let (again, _) = SqsQueue::create_fifo_with_dlq(&client, &name, 30, 3).await.unwrap();
        assert_eq!(again, url);
    }
}
