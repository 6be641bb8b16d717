//! Contract cases of a connection's life: presence versions, liveness by activity, the per-user
//! connection cap and the atomic room limit. Run by `contract!` in `contract.rs`.

use std::sync::Arc;

use futures::future::join_all;
use starling_shared::domain::{Connection, Shard, Subscriber};
use starling_shared::ports::{Store, StoreError};
use starling_shared::protocol::Status;

use super::conn;

pub(crate) async fn presence_versions_grow_with_every_transition_and_a_repeated_close_changes_nothing(
    s: Arc<dyn Store>,
) {
    let now = 1_795_000_100;
    let alice = || vec!["alice".to_owned()];
    let c = conn("c=", "alice");
    let online = s.connection_opened(&c, now).await.unwrap().transition.expect("online");
    let offline = s.connection_closed(&c, now + 1).await.unwrap().expect("offline");
    assert!(offline.version > online.version, "{offline:?} after {online:?}");
    let listed = s.presence(&alice(), now + 2).await.unwrap().remove(0);
    assert_eq!((listed.status, listed.version), (Status::Offline, offline.version));
    assert_eq!(s.connection_closed(&c, now + 3).await.unwrap(), None, "a repeated $disconnect");
    assert_eq!(s.presence(&alice(), now + 3).await.unwrap()[0].version, offline.version, "and it wrote nothing");
    let again = conn("c2=", "alice");
    let back = s.connection_opened(&again, now + 4).await.unwrap().transition.expect("online again");
    assert!(back.version > offline.version, "a later online outranks the earlier offline");
}

pub(crate) async fn concurrent_opens_of_one_user_announce_online_once_with_distinct_versions(s: Arc<dyn Store>) {
    let now = 1_795_000_100;
    let conns: Vec<Connection> = (0..8).map(|i| conn(&format!("d{i}="), "alice")).collect();
    let opened = join_all(conns.iter().map(|c| s.connection_opened(c, now))).await;
    let transitions: Vec<_> = opened.into_iter().filter_map(|o| o.unwrap().transition).collect();
    assert_eq!(transitions.len(), 1, "one online however many devices: {transitions:?}");
    let closed = join_all(conns.iter().map(|c| s.connection_closed(c, now + 1))).await;
    let offline: Vec<_> = closed.into_iter().filter_map(|c| c.unwrap()).collect();
    assert_eq!(offline.len(), 1, "one offline: {offline:?}");
    assert!(offline[0].version > transitions[0].version);
    assert_eq!(s.presence(&["alice".to_owned()], now + 1).await.unwrap()[0].status, Status::Offline);
}

pub(crate) async fn a_connection_idle_past_api_gateways_limit_is_stale_until_it_shows_activity(s: Arc<dyn Store>) {
    use starling_shared::domain::{ACTIVITY_GRANULARITY_SECS as GRAIN, IDLE_TIMEOUT_SECS as IDLE};
    let c = conn("idle=", "alice");
    let t0 = c.connected_at_ms / 1000;
    let at = |t: i64| {
        let s = s.clone();
        async move { s.presence(&["alice".to_owned()], t).await.unwrap().remove(0) }
    };
    s.connection_opened(&c, t0).await.unwrap();
    s.touch(&c, t0 + 300).await.unwrap();
    let alive = at(t0 + 300 + IDLE + GRAIN - 1).await;
    assert_eq!((alive.status, alive.stale.len()), (Status::Online, 0), "activity kept it");
    let dead = at(t0 + 300 + IDLE + GRAIN).await;
    assert_eq!((dead.status, dead.stale), (Status::Offline, vec!["idle=".to_owned()]));
    let offline = s.connection_closed(&c, t0 + 2000).await.unwrap().expect("forgetting it announces offline");
    assert_eq!(offline.last_seen.as_deref(), Some("2026-11-18T11:11:40.000Z"), "last seen at its last activity");
    assert!(offline.version > alive.version);
    assert!(at(t0 + 2000).await.stale.is_empty());
    s.touch(&c, t0 + 2001).await.unwrap();
    assert_eq!(at(t0 + 2001).await.status, Status::Offline, "a touch does not revive a forgotten connection");
}

pub(crate) async fn reconnecting_without_disconnects_keeps_the_counted_connections_bounded(s: Arc<dyn Store>) {
    use starling_shared::domain::MAX_CONNECTIONS_PER_USER;
    let now = 1_795_000_100;
    let mut dropped = 0;
    for i in 0..60 {
        let c =
            Connection { id: format!("r{i}="), user: "alice".into(), connected_at_ms: (now + i) * 1000, batch: false };
        dropped += s.connection_opened(&c, now + i).await.unwrap().dropped.len();
    }
    assert_eq!(dropped, 60 - MAX_CONNECTIONS_PER_USER, "the least recently active beyond the cap");
    let last = Connection { id: "r59=".into(), user: "alice".into(), connected_at_ms: (now + 59) * 1000, batch: false };
    assert!(s.connection_closed(&conn("r0=", "alice"), now + 60).await.unwrap().is_none(), "r0 is not counted");
    assert!(s.connection_closed(&last, now + 60).await.unwrap().is_none(), "others still count");
}

pub(crate) async fn concurrent_subscribes_of_one_connection_stop_at_the_room_limit(s: Arc<dyn Store>) {
    let c = conn("joiner=", "alice");
    s.register(&c).await.unwrap();
    let rooms: Vec<String> = (0..12).map(|i| format!("room{i}")).collect();
    let results = join_all(rooms.iter().map(|r| s.subscribe_within(r, &c, 5))).await;
    let admitted = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(admitted, 5);
    assert_eq!(s.subscription_count(&c.id).await.unwrap(), 5);
    let inside = join_all(rooms.iter().map(|r| s.is_subscribed(r, &c.id))).await;
    let subscribed: Vec<&String> =
        rooms.iter().zip(inside).filter(|(_, i)| *i.as_ref().unwrap()).map(|(r, _)| r).collect();
    assert_eq!(subscribed.len(), 5);
    assert!(s.subscribe_within(subscribed[0], &c, 5).await.unwrap(), "re-joining a room it is in still succeeds");
    assert_eq!(s.subscription_count(&c.id).await.unwrap(), 5);
}

pub(crate) async fn unsubscribing_frees_a_place_under_the_room_limit(s: Arc<dyn Store>) {
    let c = conn("leaver=", "alice");
    s.register(&c).await.unwrap();
    assert!(s.subscribe_within("a", &c, 2).await.unwrap());
    assert!(s.subscribe_within("b", &c, 2).await.unwrap());
    assert!(!s.subscribe_within("c", &c, 2).await.unwrap());
    s.unsubscribe("a", &c).await.unwrap();
    s.unsubscribe("a", &c).await.unwrap();
    assert!(s.subscribe_within("c", &c, 2).await.unwrap(), "leaving freed one place");
    assert!(!s.subscribe_within("d", &c, 2).await.unwrap(), "a repeated leave freed no second place");
    let ghost = conn("ghost=", "alice");
    assert!(matches!(s.subscribe_within("a", &ghost, 2).await, Err(StoreError::NotFound(_))));
}

pub(crate) async fn a_dead_connection_forgotten_before_a_reconnect_makes_both_transitions(s: Arc<dyn Store>) {
    let old = conn("old=", "alice");
    let after_lifetime = old.expires_at() + 1;
    s.connection_opened(&old, old.connected_at_ms / 1000).await.unwrap();
    let offline = s.connection_closed(&old, after_lifetime).await.unwrap().expect("forgetting it is the offline");
    let fresh =
        Connection { id: "new=".into(), user: "alice".into(), connected_at_ms: after_lifetime * 1000, batch: false };
    let back = s.connection_opened(&fresh, after_lifetime).await.unwrap().transition.expect("and online again");
    assert_eq!((offline.status, back.status), (Status::Offline, Status::Online));
    assert!(back.version > offline.version);
}

pub(crate) async fn the_subscriber_listing_says_which_connections_take_messages_frames(s: Arc<dyn Store>) {
    let plain = conn("plain=", "alice");
    let batched = Connection { batch: true, ..conn("batched=", "bob") };
    for c in [&plain, &batched] {
        s.register(c).await.unwrap();
        s.subscribe("lobby", c).await.unwrap();
    }
    let mut listed: Vec<_> =
        in_shard(&s, "lobby", Shard::ALL).await.into_iter().map(|sub| (sub.connection_id, sub.batch)).collect();
    listed.sort();
    assert_eq!(listed, [("batched=".to_owned(), true), ("plain=".to_owned(), false)]);
    assert_eq!(s.get("batched=").await.unwrap().map(|c| c.batch), Some(true), "the connection keeps it too");
}

pub(crate) async fn a_rooms_shards_list_every_subscriber_once_each_in_its_own_shard(s: Arc<dyn Store>) {
    let ids: Vec<String> = (0..24).map(|i| format!("c{i}=")).collect();
    for id in &ids {
        let c = conn(id, "alice");
        s.register(&c).await.unwrap();
        s.subscribe("lobby", &c).await.unwrap();
    }
    let mut listed = Vec::new();
    for shard in Shard::all_of(4) {
        for sub in in_shard(&s, "lobby", shard).await {
            assert!(shard.contains(&sub.connection_id), "{} listed in {shard:?}", sub.connection_id);
            listed.push(sub.connection_id);
        }
    }
    listed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(listed, expected, "every subscriber in exactly one shard");
}

pub(crate) async fn the_probe_reads_a_small_room_whole_and_its_route_mark_but_never_lists_the_mark(s: Arc<dyn Store>) {
    for id in ["a=", "b=", "c="] {
        let c = conn(id, "alice");
        s.register(&c).await.unwrap();
        s.subscribe("lobby", &c).await.unwrap();
    }
    let small = s.probe("lobby", 4).await.unwrap();
    assert!(small.complete && small.sharded_until.is_none());
    let mut ids: Vec<_> = small.subscribers.iter().map(|sub| sub.connection_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a=", "b=", "c="]);
    assert!(!s.probe("lobby", 3).await.unwrap().complete, "three subscribers are not fewer than three");
    assert!(s.probe("empty", 1).await.unwrap().complete);

    s.mark_sharded("lobby", 1_795_000_900).await.unwrap();
    let marked = s.probe("lobby", 4).await.unwrap();
    assert_eq!(marked.sharded_until, Some(1_795_000_900));
    assert!(marked.complete, "the mark does not count as a subscriber");
    assert_eq!(marked.subscribers.len(), 3);
    assert_eq!(in_shard(&s, "lobby", Shard::ALL).await.len(), 3, "the listing never holds the mark");
    let halves = [
        in_shard(&s, "lobby", Shard { index: 0, of: 2 }).await,
        in_shard(&s, "lobby", Shard { index: 1, of: 2 }).await,
    ];
    assert_eq!(halves[0].len() + halves[1].len(), 3, "nor does a shard's");
}

/// Every subscriber of one shard of the room, across pages.
async fn in_shard(s: &Arc<dyn Store>, room: &str, shard: Shard) -> Vec<Subscriber> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.subscribers_in(room, shard, cursor.as_deref()).await.unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}
