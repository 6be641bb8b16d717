//! Presence, offline sync, direct messages, typing and read receipts on the in-memory adapters.

mod common;

use common::{World, error_code, lifecycle_event};
use starling_shared::adapters::memory::MemoryStore;
use starling_shared::domain::Message;
use starling_shared::envelope::Envelope;
use starling_shared::handlers;
use starling_shared::ports::{ConnectionStore, MessageStore, PresenceStore, SubscriptionStore};
use starling_shared::protocol::{ServerFrame, Status};
use starling_shared::service::send::{Caller, SendLimits};

fn messages_in(frames: &[ServerFrame]) -> Vec<&Message> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Message(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn presence_changes(frames: &[ServerFrame]) -> Vec<(String, Status, Option<String>)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::PresenceChanged { user, status, last_seen, .. } => {
                Some((user.clone(), *status, last_seen.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A user goes away the way `$disconnect` does it.
async fn go_offline(w: &World, c: &Caller) {
    w.pusher.disconnect(&c.connection.id);
    let event = lifecycle_event("disconnect.json", &c.connection.id, &c.connection.user, c.connection.connected_at_ms);
    handlers::disconnect(&w.connection_deps(), event).await.unwrap();
}

async fn send_n(w: &World, c: &Caller, room: &str, n: usize) {
    for i in 0..n {
        assert!(matches!(w.send(c, room, &format!("m{i}"), None).await, ServerFrame::Accepted { .. }));
    }
    assert!(w.pump().await.is_empty());
}

#[tokio::test]
async fn a_reconnecting_user_syncs_exactly_the_missed_messages_in_order() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    send_n(&w, &bob, "lobby", 5).await;
    assert_eq!(w.received(&alice).last().map(|m| m.seq), Some(5));
    go_offline(&w, &alice).await;
    assert!(w.store.is_member("lobby", "alice").await.unwrap(), "offline members keep their membership");
    send_n(&w, &bob, "lobby", 50).await;

    let again = w.connect("alice").await;
    let reply = w.act(&again, r#"{"action":"sync","rooms":{"lobby":5}}"#).await;
    assert_eq!(reply, ServerFrame::Synced { room: "lobby".into(), recovered: true, last_seq: 55, has_more: false });
    let frames = w.frames(&again);
    let seqs: Vec<u64> = messages_in(&frames).iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (6..=55).collect::<Vec<_>>(), "exactly the 50 missed, in order, before `synced`");
    assert_eq!(frames.len(), 50, "nothing else was pushed to the new connection");
}

#[tokio::test]
async fn sync_without_a_seq_resumes_from_the_read_cursor() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    send_n(&w, &alice, "lobby", 10).await;
    let read = w.act(&alice, r#"{"action":"read","room":"lobby","seq":7}"#).await;
    assert_eq!(read, ServerFrame::Read { room: "lobby".into(), user: "alice".into(), seq: 7 });
    go_offline(&w, &alice).await;
    let again = w.connect("alice").await;
    let reply = w.act(&again, r#"{"action":"sync","rooms":{"lobby":null}}"#).await;
    assert!(matches!(reply, ServerFrame::Synced { recovered: true, last_seq: 10, .. }), "{reply:?}");
    let seqs: Vec<u64> = messages_in(&w.frames(&again)).iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [8, 9, 10]);
}

#[tokio::test]
async fn a_gap_older_than_retention_is_not_recovered() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    send_n(&w, &alice, "lobby", 3).await;
    w.clock.advance(chrono::Duration::days(29));
    send_n(&w, &alice, "lobby", 2).await;
    w.clock.advance(chrono::Duration::days(2));
    // Seqs 1–3 are 31 days old: past the 30-day retention.
    let again = w.connect("alice").await;
    let reply = w.act(&again, r#"{"action":"sync","rooms":{"lobby":1}}"#).await;
    assert_eq!(reply, ServerFrame::Synced { room: "lobby".into(), recovered: false, last_seq: 5, has_more: false });
    let seqs: Vec<u64> = messages_in(&w.frames(&again)).iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [4, 5], "what is still retained is sent");
    let reply = w.act(&again, r#"{"action":"sync","rooms":{"lobby":3}}"#).await;
    assert!(matches!(reply, ServerFrame::Synced { recovered: true, .. }), "no gap after seq 3: {reply:?}");
}

#[tokio::test]
async fn a_sync_past_its_limit_says_has_more_and_resumes() {
    let w = World::with(SendLimits { rate_limit: 1000, sync_limit: 10, ..SendLimits::default() }, MemoryStore::new());
    let [alice] = w.room("lobby", ["alice"]).await;
    send_n(&w, &alice, "lobby", 25).await;
    let again = w.connect("alice").await;
    let reply = w.act(&again, r#"{"action":"sync","rooms":{"lobby":0}}"#).await;
    assert_eq!(reply, ServerFrame::Synced { room: "lobby".into(), recovered: true, last_seq: 10, has_more: true });
    let reply = w.act(&again, r#"{"action":"sync","rooms":{"lobby":20}}"#).await;
    assert_eq!(reply, ServerFrame::Synced { room: "lobby".into(), recovered: true, last_seq: 25, has_more: false });
    let seqs: Vec<u64> = messages_in(&w.frames(&again)).iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=10).chain(21..=25).collect::<Vec<_>>());
}

#[tokio::test]
async fn sync_of_several_rooms_reports_each_and_refuses_foreign_ones_alone() {
    let w = World::new();
    let [alice] = w.room("a", ["alice"]).await;
    w.join(&alice, "b").await;
    send_n(&w, &alice, "a", 2).await;
    send_n(&w, &alice, "b", 1).await;
    let again = w.connect("alice").await;
    let reply = w.act(&again, r#"{"action":"sync","rooms":{"a":0,"secret":0,"b":0}}"#).await;
    assert_eq!(reply, ServerFrame::Synced { room: "b".into(), recovered: true, last_seq: 1, has_more: false });
    let frames = w.frames(&again);
    let kinds: Vec<String> = frames
        .iter()
        .map(|f| match f {
            ServerFrame::Message(m) => format!("{}#{}", m.room, m.seq),
            ServerFrame::Synced { room, .. } => format!("synced {room}"),
            other => error_code(other).unwrap_or("?").to_owned(),
        })
        .collect();
    assert_eq!(kinds, ["a#1", "a#2", "synced a", "forbidden", "b#1"]);
}

#[tokio::test]
async fn a_user_with_two_devices_changes_presence_once_per_transition() {
    let w = World::new();
    let deps = w.connection_deps();
    let [bob] = w.room("lobby", ["bob"]).await;
    w.queue.drain();
    let t0 = w.clock.now_ms();
    handlers::connect(&deps, lifecycle_event("connect.json", "phone=", "alice", t0)).await.unwrap();
    w.store.subscribe("lobby", &w.store.get("phone=").await.unwrap().unwrap()).await.unwrap();
    handlers::connect(&deps, lifecycle_event("connect.json", "laptop=", "alice", t0)).await.unwrap();
    assert!(w.pump().await.is_empty());
    assert_eq!(
        presence_changes(&w.frames(&bob)),
        [("alice".into(), Status::Online, None)],
        "one online for two devices"
    );

    let presence = w.act(&bob, r#"{"action":"presence","room":"lobby"}"#).await;
    let ServerFrame::Presence { members, .. } = presence else { panic!("{presence:?}") };
    let alice_status = members.iter().find(|m| m.user == "alice").map(|m| m.status);
    assert_eq!(alice_status, Some(Status::Online));

    handlers::disconnect(&deps, lifecycle_event("disconnect.json", "phone=", "alice", t0)).await.unwrap();
    assert!(w.pump().await.is_empty());
    assert_eq!(presence_changes(&w.frames(&bob)).len(), 1, "still online on the laptop: no change");
    w.clock.advance(chrono::Duration::minutes(5));
    handlers::disconnect(&deps, lifecycle_event("disconnect.json", "laptop=", "alice", t0)).await.unwrap();
    handlers::disconnect(&deps, lifecycle_event("disconnect.json", "laptop=", "alice", t0)).await.unwrap();
    assert!(w.pump().await.is_empty());
    let changes = presence_changes(&w.frames(&bob));
    assert_eq!(changes.len(), 2, "one offline, even with a repeated $disconnect: {changes:?}");
    assert_eq!((changes[1].1, changes[1].2.as_deref()), (Status::Offline, Some("2026-11-22T21:05:00.000Z")));

    let presence = w.act(&bob, r#"{"action":"presence","room":"lobby"}"#).await;
    let ServerFrame::Presence { members, .. } = presence else { panic!("{presence:?}") };
    let alice = members.iter().find(|m| m.user == "alice").unwrap();
    assert_eq!((alice.status, alice.last_seen.as_deref()), (Status::Offline, Some("2026-11-22T21:05:00.000Z")));
}

#[tokio::test]
async fn status_away_is_announced_once_and_back_online_again() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    w.queue.drain();
    let away = w.act(&alice, r#"{"action":"status","status":"away"}"#).await;
    assert!(
        matches!(&away, ServerFrame::PresenceChanged { user, status: Status::Away, last_seen: None, version }
            if user == "alice" && *version > 0),
        "{away:?}"
    );
    w.act(&alice, r#"{"action":"status","status":"away"}"#).await;
    assert_eq!(w.queue.len(), 1, "a repeated away is no transition");
    // Announced before the next change: in one batch, the later one would supersede it.
    assert!(w.pump().await.is_empty());
    // A change sooner than the status interval is refused (see tests/budget.rs).
    w.clock.advance(chrono::Duration::milliseconds(w.send_deps.limits.status_interval_ms));
    w.act(&alice, r#"{"action":"status","status":"online"}"#).await;
    assert!(w.pump().await.is_empty());
    let changes: Vec<Status> = presence_changes(&w.frames(&bob)).into_iter().map(|c| c.1).collect();
    assert_eq!(changes, [Status::Away, Status::Online]);
}

#[tokio::test]
async fn a_connection_past_api_gateways_two_hours_no_longer_counts_as_online() {
    let w = World::new();
    let alice = w.connect("alice").await;
    // Its $disconnect never arrives.
    w.clock.advance(chrono::Duration::hours(3));
    let now = w.clock.now_ms() / 1000;
    let p = w.store.presence(&["alice".to_owned()], now).await.unwrap();
    assert_eq!(p[0].status, Status::Offline);
    let _ = alice;
}

#[tokio::test]
async fn typing_reaches_other_subscribers_only_at_most_every_two_seconds_and_is_not_stored() {
    let w = World::new();
    let (alice, alice_phone, bob, carol) =
        (w.connect("alice").await, w.connect("alice").await, w.connect("bob").await, w.connect("carol").await);
    for c in [&alice, &alice_phone, &bob] {
        w.join(c, "lobby").await;
    }
    w.join(&carol, "elsewhere").await;
    assert_eq!(w.reply(&alice, r#"{"action":"typing","room":"lobby"}"#).await, None, "no reply to the typist");
    let typing = |c: &Caller| w.frames(c).iter().filter(|f| matches!(f, ServerFrame::Typing { .. })).count();
    assert_eq!(typing(&bob), 1);
    assert_eq!((typing(&alice), typing(&alice_phone), typing(&carol)), (0, 0, 0), "not echoed to the typist");
    w.clock.advance(chrono::Duration::milliseconds(1_999));
    assert_eq!(w.reply(&alice, r#"{"action":"typing","room":"lobby"}"#).await, None);
    assert_eq!(typing(&bob), 1, "a second typing within 2 s is dropped");
    w.clock.advance(chrono::Duration::milliseconds(1));
    w.reply(&alice, r#"{"action":"typing","room":"lobby"}"#).await;
    assert_eq!(typing(&bob), 2);
    assert_eq!(w.frames(&bob)[0], ServerFrame::Typing { room: "lobby".into(), user: "alice".into() });
    assert!(w.queue.is_empty(), "typing never touches the queue");
    assert_eq!((w.store.last_seq("lobby").await.unwrap(), w.store.message_count("lobby")), (0, 0), "nor the messages");
    let outsider = w.connect("dave").await;
    assert_eq!(error_code(&w.act(&outsider, r#"{"action":"typing","room":"lobby"}"#).await), Some("forbidden"));
}

#[tokio::test]
async fn read_stores_a_forward_only_cursor_and_tells_the_room() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    send_n(&w, &bob, "lobby", 5).await;
    let reply = w.act(&alice, r#"{"action":"read","room":"lobby","seq":4}"#).await;
    assert_eq!(reply, ServerFrame::Read { room: "lobby".into(), user: "alice".into(), seq: 4 });
    assert!(w.frames(&bob).contains(&reply), "the room is told");
    assert!(!w.frames(&alice).contains(&reply), "the reader gets it as the reply only");
    let back = w.act(&alice, r#"{"action":"read","room":"lobby","seq":2}"#).await;
    assert_eq!(back, ServerFrame::Read { room: "lobby".into(), user: "alice".into(), seq: 4 }, "never moves back");
    assert_eq!(w.store.read_cursor("alice", "lobby").await.unwrap(), Some(4));
    assert_eq!(error_code(&w.act(&alice, r#"{"action":"read","room":"lobby","seq":6}"#).await), Some("bad_request"));
}

#[tokio::test]
async fn a_direct_message_room_tells_an_outsider_nothing() {
    let w = World::new();
    let (alice, bob, eve) = (w.connect("alice").await, w.connect("bob").await, w.connect("eve").await);
    w.join(&alice, "dm:alice:bob").await;
    w.join(&bob, "dm:alice:bob").await;
    send_n(&w, &alice, "dm:alice:bob", 2).await;
    let frames = [
        r#"{"action":"join","room":"dm:alice:bob"}"#,
        r#"{"action":"send","room":"dm:alice:bob","body":"hi"}"#,
        r#"{"action":"history","room":"dm:alice:bob"}"#,
        r#"{"action":"presence","room":"dm:alice:bob"}"#,
        r#"{"action":"typing","room":"dm:alice:bob"}"#,
        r#"{"action":"read","room":"dm:alice:bob","seq":1}"#,
        r#"{"action":"sync","rooms":{"dm:alice:bob":0}}"#,
    ];
    let mut messages = Vec::new();
    for frame in frames {
        let reply = w.act(&eve, frame).await;
        let ServerFrame::Error(e) = reply else { panic!("{frame} gave {reply:?}") };
        assert_eq!(e.code.as_str(), "forbidden", "{frame}");
        messages.push(e.message.replace("dm:alice:bob: ", ""));
    }
    // The same words as for a DM room that has never been used: nothing leaks.
    let unused = w.act(&eve, r#"{"action":"history","room":"dm:carol:dave"}"#).await;
    let ServerFrame::Error(e) = unused else { panic!() };
    assert!(
        messages.iter().all(|m| *m == e.message.replace("dm:carol:dave", "dm:alice:bob")),
        "{messages:?} vs {}",
        e.message
    );
    assert!(w.frames(&eve).iter().all(|f| !matches!(f, ServerFrame::Message(_))), "no content reached eve");
    assert_eq!(w.store.members_of("dm:alice:bob"), ["alice", "bob"]);
}

#[tokio::test]
async fn presence_lists_offline_members_until_they_leave() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    go_offline(&w, &alice).await;
    let members = |f: ServerFrame| match f {
        ServerFrame::Presence { members, .. } => members.into_iter().map(|m| (m.user, m.status)).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let listed = members(w.act(&bob, r#"{"action":"presence","room":"lobby"}"#).await);
    assert_eq!(listed, [("alice".to_owned(), Status::Offline), ("bob".to_owned(), Status::Online)]);
    let again = w.connect("alice").await;
    // The new connection never joined, so `leave` is not_found; the member is the user, though.
    assert_eq!(error_code(&w.act(&again, r#"{"action":"leave","room":"lobby"}"#).await), Some("not_found"));
    w.join(&again, "lobby").await;
    assert_eq!(w.act(&again, r#"{"action":"leave","room":"lobby"}"#).await, ServerFrame::Left { room: "lobby".into() });
    let listed = members(w.act(&bob, r#"{"action":"presence","room":"lobby"}"#).await);
    assert_eq!(listed, [("bob".to_owned(), Status::Online)]);
}

#[tokio::test]
async fn a_gone_connection_found_by_the_fanout_announces_its_user_offline() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    w.pusher.disconnect(&alice.connection.id); // vanished, no $disconnect
    send_n(&w, &bob, "lobby", 1).await;
    assert!(w.store.get(&alice.connection.id).await.unwrap().is_none());
    let changes = presence_changes(&w.frames(&bob));
    assert_eq!(changes.iter().map(|c| (c.0.as_str(), c.1)).collect::<Vec<_>>(), [("alice", Status::Offline)]);
    let queued: Vec<Envelope> = w.queue.drain();
    assert!(queued.is_empty(), "announced by the fanout itself, not queued again: {queued:?}");
}

#[tokio::test]
async fn a_returning_member_reads_history_without_joining_again() {
    let w = World::new();
    let [alice] = w.room("lobby", ["alice"]).await;
    send_n(&w, &alice, "lobby", 3).await;
    go_offline(&w, &alice).await;
    let again = w.connect("alice").await;
    let ServerFrame::History { messages, .. } = w.act(&again, r#"{"action":"history","room":"lobby"}"#).await else {
        panic!("a member reads history from a new connection")
    };
    assert_eq!(messages.len(), 3);
    assert_eq!(error_code(&w.send(&again, "lobby", "hi", None).await), Some("forbidden"), "sending takes a join");
}
