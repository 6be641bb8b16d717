//! Presence through a connection's whole life on the in-memory adapters: announcements ordered
//! by version, lost `$disconnect`s (410s to `typing`/`read`, idle and stale connections),
//! reconnect storms, and the room limit under concurrent joins.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{World, announced, error_code, lifecycle_event};
use futures::future::join_all;
use starling_shared::adapters::memory::MemoryStore;
use starling_shared::domain::{Connection, Page, Probe, Shard, Subscriber};
use starling_shared::handlers;
use starling_shared::ports::{ConnectionStore, StoreError, SubscriptionStore};
use starling_shared::protocol::{ServerFrame, Status};
use starling_shared::service::fanout::Deadline;
use starling_shared::service::send::{Caller, SendLimits};

/// What a client following docs/protocol.md believes: per user, the status of the greatest
/// version seen, later frames with a version not greater than it ignored.
fn believed(frames: &[(String, Status, u64)], user: &str) -> Option<Status> {
    let mut best: Option<(u64, Status)> = None;
    for (u, status, version) in frames {
        if u == user && best.is_none_or(|(v, _)| *version > v) {
            best = Some((*version, *status));
        }
    }
    best.map(|(_, s)| s)
}

fn member_status(frame: &ServerFrame, user: &str) -> Option<(Status, u64)> {
    let ServerFrame::Presence { members, .. } = frame else { panic!("not a presence reply: {frame:?}") };
    members.iter().find(|m| m.user == user).map(|m| (m.status, m.version))
}

async fn ping(w: &World, c: &Caller) {
    assert_eq!(w.act(c, r#"{"action":"ping"}"#).await, ServerFrame::Pong);
}

#[tokio::test]
async fn announcements_delivered_out_of_order_still_leave_clients_with_the_newest_status() {
    let w = World::new();
    let [bob] = w.room("lobby", ["bob"]).await;
    let deps = w.connection_deps();
    let t0 = w.clock.now_ms();
    handlers::connect(&deps, lifecycle_event("connect.json", "phone=", "alice", t0)).await.unwrap();
    w.store.subscribe("lobby", &w.store.get("phone=").await.unwrap().unwrap()).await.unwrap();
    handlers::disconnect(&deps, lifecycle_event("disconnect.json", "phone=", "alice", t0)).await.unwrap();
    handlers::connect(&deps, lifecycle_event("connect.json", "laptop=", "alice", t0)).await.unwrap();
    // The fanout gets online, offline, online: deliver them newest first, as a late
    // `$disconnect` Lambda or a retried record can.
    let mut records = w.drain_records();
    assert_eq!(records.len(), 3, "{records:?}");
    records.reverse();
    for r in records {
        starling_shared::service::fanout::process_record(&w.fanout, &r, Deadline::none()).await.unwrap();
    }
    let frames = announced(&w, &bob);
    let versions: Vec<u64> = frames.iter().map(|f| f.2).collect();
    assert!(versions.windows(2).all(|v| v[0] > v[1]), "each transition has its own, growing version: {frames:?}");
    assert_eq!(frames.last().map(|f| f.1), Some(Status::Online), "the late online arrived last");
    assert_eq!(believed(&frames, "alice"), Some(Status::Online), "the client keeps the newest: {frames:?}");
    let listed = w.act(&bob, r#"{"action":"presence","room":"lobby"}"#).await;
    assert_eq!(member_status(&listed, "alice"), Some((Status::Online, versions[0])));
}

#[tokio::test]
async fn typing_to_a_vanished_connection_forgets_it_and_announces_its_user_offline() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    w.queue.drain();
    w.pusher.disconnect(&alice.connection.id); // gone, and its $disconnect never comes
    assert_eq!(w.reply(&bob, r#"{"action":"typing","room":"lobby"}"#).await, None);
    assert!(w.store.get(&alice.connection.id).await.unwrap().is_none(), "the 410 removed it");
    assert!(!w.store.is_subscribed("lobby", &alice.connection.id).await.unwrap());
    assert!(w.pump().await.is_empty());
    let frames = announced(&w, &bob);
    assert_eq!(frames.iter().map(|f| (f.0.as_str(), f.1)).collect::<Vec<_>>(), [("alice", Status::Offline)]);
}

#[tokio::test]
async fn read_to_a_vanished_connection_forgets_it_and_announces_its_user_offline() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    assert!(matches!(w.send(&bob, "lobby", "hi", None).await, ServerFrame::Accepted { .. }));
    assert!(w.pump().await.is_empty());
    w.pusher.disconnect(&alice.connection.id);
    assert!(matches!(w.act(&bob, r#"{"action":"read","room":"lobby","seq":1}"#).await, ServerFrame::Read { .. }));
    assert!(w.store.get(&alice.connection.id).await.unwrap().is_none(), "the 410 removed it");
    assert!(w.pump().await.is_empty());
    let offline: Vec<_> = announced(&w, &bob).into_iter().filter(|f| f.1 == Status::Offline).collect();
    assert_eq!(offline.len(), 1, "{offline:?}");
}

#[tokio::test]
async fn a_lost_disconnect_is_announced_once_the_connection_is_past_the_idle_limit() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    w.queue.drain();
    w.pusher.disconnect(&alice.connection.id); // silent: no $disconnect, no post to it
    for _ in 0..3 {
        w.clock.advance(chrono::Duration::minutes(4));
        ping(&w, &bob).await;
    }
    let listed = w.act(&bob, r#"{"action":"presence","room":"lobby"}"#).await;
    let (status, version) = member_status(&listed, "alice").unwrap();
    assert_eq!(status, Status::Offline, "12 minutes without a frame: API Gateway closed it");
    assert_eq!(member_status(&listed, "bob").map(|m| m.0), Some(Status::Online), "bob pinged");
    assert!(w.store.get(&alice.connection.id).await.unwrap().is_none(), "its items are gone");
    assert!(w.pump().await.is_empty());
    let frames = announced(&w, &bob);
    assert_eq!(frames, [("alice".to_owned(), Status::Offline, version)], "announced once, as listed");
    let again = w.act(&bob, r#"{"action":"presence","room":"lobby"}"#).await;
    assert_eq!(member_status(&again, "alice"), Some((Status::Offline, version)));
    assert!(w.queue.drain().is_empty(), "nothing more to announce");
}

#[tokio::test]
async fn a_connection_that_keeps_sending_frames_stays_online_past_the_idle_limit() {
    let w = World::new();
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    for _ in 0..12 {
        w.clock.advance(chrono::Duration::minutes(5));
        ping(&w, &alice).await;
        ping(&w, &bob).await;
    }
    let listed = w.act(&bob, r#"{"action":"presence","room":"lobby"}"#).await;
    assert_eq!(member_status(&listed, "alice").map(|m| m.0), Some(Status::Online));
    assert!(w.store.get(&alice.connection.id).await.unwrap().is_some());
}

#[tokio::test]
async fn reconnecting_200_times_keeps_the_users_stored_entries_bounded() {
    for clean in [true, false] {
        let w = World::new();
        let deps = w.connection_deps();
        let mut peak = 0;
        for i in 0..200 {
            let id = format!("c{i}=");
            let at = w.clock.now_ms();
            handlers::connect(&deps, lifecycle_event("connect.json", &id, "alice", at)).await.unwrap();
            let caller = Caller {
                connection: Connection { id: id.clone(), user: "alice".into(), connected_at_ms: at, batch: false },
                endpoint: Some(common::ENDPOINT.into()),
            };
            w.pusher.connect(&id);
            w.join(&caller, "lobby").await;
            w.join(&caller, "other").await;
            if clean {
                handlers::disconnect(&deps, lifecycle_event("disconnect.json", &id, "alice", at)).await.unwrap();
            }
            w.clock.advance(chrono::Duration::seconds(20));
            peak = peak.max(w.store.entries_of("alice"));
        }
        // Per counted connection: the connection and its user index, two rooms on both sides,
        // the presence entry. At most MAX_CONNECTIONS_PER_USER are counted. Plus the user's one
        // rate window, which the joins spend from.
        let per_connection = if clean { 7 } else { 7 * starling_shared::domain::MAX_CONNECTIONS_PER_USER };
        let bound = per_connection + 1;
        assert!(peak <= bound, "clean={clean}: {peak} entries for one user, bound {bound}");
        assert_eq!(w.store.members_of("lobby"), ["alice"]);
    }
}

/// A subscription store that yields before every call, as a networked store does, so that
/// concurrent actions interleave between their reads and writes.
#[derive(Debug)]
struct Yielding(Arc<MemoryStore>);

#[async_trait]
impl SubscriptionStore for Yielding {
    async fn subscribe_within(&self, room: &str, conn: &Connection, max: usize) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.subscribe_within(room, conn, max).await
    }
    async fn unsubscribe(&self, room: &str, conn: &Connection) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.unsubscribe(room, conn).await
    }
    async fn is_subscribed(&self, room: &str, connection_id: &str) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.is_subscribed(room, connection_id).await
    }
    async fn subscription_count(&self, connection_id: &str) -> Result<usize, StoreError> {
        tokio::task::yield_now().await;
        self.0.subscription_count(connection_id).await
    }
    async fn subscribers_in(
        &self,
        room: &str,
        shard: Shard,
        cursor: Option<&str>,
    ) -> Result<Page<Subscriber>, StoreError> {
        tokio::task::yield_now().await;
        self.0.subscribers_in(room, shard, cursor).await
    }
    async fn probe(&self, room: &str, limit: usize) -> Result<Probe, StoreError> {
        tokio::task::yield_now().await;
        self.0.probe(room, limit).await
    }
    async fn mark_sharded(&self, room: &str, until: i64) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.mark_sharded(room, until).await
    }
    async fn is_member(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.is_member(room, user).await
    }
    async fn members(&self, room: &str) -> Result<Vec<String>, StoreError> {
        tokio::task::yield_now().await;
        self.0.members(room).await
    }
    async fn rooms_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        tokio::task::yield_now().await;
        self.0.rooms_of(user).await
    }
}

#[tokio::test]
async fn concurrent_joins_on_one_connection_never_pass_the_room_limit() {
    let limits = SendLimits { rate_limit: 10_000, max_rooms: 3, ..SendLimits::default() };
    let mut w = World::with(limits, MemoryStore::new());
    w.send_deps.stores.subscriptions = Arc::new(Yielding(w.store.clone()));
    let alice = w.connect("alice").await;
    let frames: Vec<String> = (0..10).map(|i| format!(r#"{{"action":"join","room":"r{i}"}}"#)).collect();
    let replies = join_all(frames.iter().map(|f| w.act(&alice, f))).await;
    let joined = replies.iter().filter(|r| matches!(r, ServerFrame::Joined { .. })).count();
    let refused = replies.iter().filter(|r| error_code(r) == Some("forbidden")).count();
    assert_eq!((joined, refused), (3, 7), "{replies:?}");
    assert_eq!(w.store.subscription_count(&alice.connection.id).await.unwrap(), 3);
    let in_room = replies.iter().find_map(|r| match r {
        ServerFrame::Joined { room, .. } => Some(room.clone()),
        _ => None,
    });
    let left = w.act(&alice, &format!(r#"{{"action":"leave","room":"{}"}}"#, in_room.unwrap())).await;
    assert!(matches!(left, ServerFrame::Left { .. }), "{left:?}");
    assert!(matches!(w.act(&alice, r#"{"action":"join","room":"new"}"#).await, ServerFrame::Joined { .. }));
    let full = w.act(&alice, r#"{"action":"join","room":"newer"}"#).await;
    assert_eq!(error_code(&full), Some("forbidden"), "leaving freed exactly one place");
}
