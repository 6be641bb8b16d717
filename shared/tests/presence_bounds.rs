//! Presence amplification bounded (issue #12): a burst of one user's transitions is announced
//! once, with the latest state; presence, `typing` and `read` are never pushed to a room at or
//! over the push limit, whose members ask with `presence` instead.

mod common;

use common::{World, announced, lifecycle_event};
use starling_shared::handlers;
use starling_shared::ports::{ConnectionStore, PresenceStore, SubscriptionStore};
use starling_shared::protocol::{ServerFrame, Status};
use starling_shared::service::send::Caller;

#[tokio::test]
async fn a_burst_of_one_users_transitions_is_announced_once_with_the_latest_state() {
    let w = World::new();
    let [bob] = w.room("lobby", ["bob"]).await;
    let deps = w.connection_deps();
    let t0 = w.clock.now_ms();
    // A flapping client: four connects and three disconnects, seven transitions.
    for i in 0..4 {
        let id = format!("flap{i}=");
        handlers::connect(&deps, lifecycle_event("connect.json", &id, "alice", t0)).await.unwrap();
        if i == 0 {
            w.store.subscribe("lobby", &w.store.get(&id).await.unwrap().unwrap()).await.unwrap();
        }
        if i < 3 {
            handlers::disconnect(&deps, lifecycle_event("disconnect.json", &id, "alice", t0)).await.unwrap();
        }
    }
    let queued = w.queue.len();
    assert_eq!(queued, 7, "every transition is queued");

    assert!(w.pump().await.is_empty());

    let frames = announced(&w, &bob);
    let latest = w.store.presence(&["alice".to_owned()], t0 / 1000).await.unwrap().remove(0);
    assert_eq!(frames, [("alice".to_owned(), Status::Online, latest.version)], "one announcement, the last");
}

#[tokio::test]
async fn presence_typing_and_read_are_not_pushed_to_a_room_at_the_limit_but_presence_answers_there() {
    let mut w = World::new();
    w.fanout.settings.presence_push_limit = 3;
    w.send_deps.limits.presence_push_limit = 3;
    let [bob, carol] = w.room("small", ["bob", "carol"]).await;
    let [dave, erin, frank] = w.room("big", ["dave", "erin", "frank"]).await;
    w.join(&bob, "big").await;
    w.pump().await;
    let before = |c: &Caller| w.pusher.posts_to(&c.connection.id).len();
    let (carol_before, erin_before) = (before(&carol), before(&erin));

    w.act(&bob, r#"{"action":"status","status":"away"}"#).await;
    w.pump().await;
    assert_eq!(before(&carol), carol_before + 1, "the small room hears bob go away");
    assert_eq!(before(&erin), erin_before, "the room of four subscribers (limit 3) does not");

    w.send(&dave, "big", "hello", None).await;
    w.pump().await;
    let erin_now = before(&erin);
    assert!(w.reply(&dave, r#"{"action":"typing","room":"big"}"#).await.is_none());
    let read = w.act(&dave, r#"{"action":"read","room":"big","seq":1}"#).await;
    assert!(matches!(read, ServerFrame::Read { seq: 1, .. }), "the reader still gets its cursor: {read:?}");
    assert_eq!(before(&erin), erin_now, "no typing or read posted to the big room");
    assert_eq!(w.store.read_cursor("dave", "big").await.unwrap(), Some(1), "the cursor is stored");

    let listed = w.act(&frank, r#"{"action":"presence","room":"big"}"#).await;
    let ServerFrame::Presence { members, .. } = listed else { panic!("{listed:?}") };
    let bob_status = members.iter().find(|m| m.user == "bob").map(|m| m.status);
    assert_eq!(bob_status, Some(Status::Away), "on demand, the big room sees bob away");
}
