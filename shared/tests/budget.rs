//! Issue #9, defect 4: one user cannot get past the limits by opening connections or by
//! using the actions that used to be free.

mod common;

use chrono::Duration;
use common::{World, error_code};
use starling_shared::adapters::memory::MemoryStore;
use starling_shared::envelope::Envelope;
use starling_shared::protocol::ServerFrame;
use starling_shared::service::send::SendLimits;

/// The default limits, as deployed.
fn world() -> World {
    World::with(SendLimits::default(), MemoryStore::new())
}

/// Limits where only the gates matter.
fn ungated_budget() -> World {
    World::with(SendLimits { rate_limit: 1_000_000, ..SendLimits::default() }, MemoryStore::new())
}

fn retry_after_ms(frame: &ServerFrame) -> Option<u64> {
    match frame {
        ServerFrame::Error(e) => e.retry_after_ms,
        _ => None,
    }
}

#[tokio::test]
async fn three_connections_of_one_user_share_one_budget_of_sends() {
    let w = world();
    let conns = [w.connect("alice").await, w.connect("alice").await, w.connect("alice").await];
    for c in &conns {
        w.join(c, "lobby").await;
    }
    let mut accepted = 0;
    for i in 0..300 {
        if matches!(w.send(&conns[i % 3], "lobby", "x", None).await, ServerFrame::Accepted { .. }) {
            accepted += 1;
        }
    }
    let budget = SendLimits::default().rate_limit as usize;
    assert!(accepted > 0 && accepted <= budget, "{accepted} sends accepted, budget {budget}");
    assert_eq!(w.queue.len(), accepted, "refused sends were not queued");
}

#[tokio::test]
async fn history_sync_and_join_floods_spend_the_same_budget() {
    let w = world();
    let [alice] = w.room("lobby", ["alice"]).await;
    let mut admitted = 0;
    for _ in 0..300 {
        if error_code(&w.act(&alice, r#"{"action":"history","room":"lobby"}"#).await).is_none() {
            admitted += 1;
        }
    }
    assert!(admitted <= 20, "{admitted} history pages at cost 5 from a budget of 100");
    let mut pings = 0;
    while w.act(&alice, r#"{"action":"ping"}"#).await == ServerFrame::Pong {
        pings += 1;
    }
    assert!(pings < 5, "history left less than a page's cost: {pings} pings");
    for frame in [r#"{"action":"sync","rooms":{"lobby":0}}"#, r#"{"action":"join","room":"other"}"#] {
        assert_eq!(error_code(&w.act(&alice, frame).await), Some("rate_limited"), "{frame}");
    }
    assert!(!w.store.members_of("other").contains(&"alice".to_owned()), "the refused join did nothing");
}

#[tokio::test]
async fn rate_limited_says_when_to_retry_and_the_user_is_admitted_then() {
    let w =
        World::with(SendLimits { rate_limit: 3, rate_window_secs: 10, ..SendLimits::default() }, MemoryStore::new());
    let alice = w.connect("alice").await;
    w.join(&alice, "lobby").await; // 2
    assert!(matches!(w.send(&alice, "lobby", "x", Some("c1")).await, ServerFrame::Accepted { .. })); // 3
    let refused = w.send(&alice, "lobby", "x", Some("c2")).await;
    assert_eq!(error_code(&refused), Some("rate_limited"));
    let wait = retry_after_ms(&refused).expect("rate_limited carries retryAfterMs");
    assert!(wait > 0 && wait <= 10_000, "{wait}");
    w.clock.advance(Duration::milliseconds(wait as i64 - 1));
    assert_eq!(error_code(&w.send(&alice, "lobby", "x", Some("c2")).await), Some("rate_limited"), "not yet");
    w.clock.advance(Duration::milliseconds(1));
    assert!(matches!(w.send(&alice, "lobby", "x", Some("c2")).await, ServerFrame::Accepted { .. }));
}

#[tokio::test]
async fn other_errors_carry_no_retry_after() {
    let w = world();
    let alice = w.connect("alice").await;
    let refused = w.send(&alice, "lobby", "x", None).await;
    assert_eq!((error_code(&refused), retry_after_ms(&refused)), (Some("forbidden"), None));
}

#[tokio::test]
async fn read_floods_from_three_connections_post_at_most_one_read_per_interval() {
    let w = ungated_budget();
    let [bob, a1, a2, a3] = w.room("lobby", ["bob", "alice", "alice", "alice"]).await;
    for _ in 0..3 {
        w.send(&bob, "lobby", "x", None).await;
    }
    w.pump().await;
    let reads_seen_by_bob = |w: &World| w.frames(&bob).iter().filter(|f| matches!(f, ServerFrame::Read { .. })).count();
    let alices = [&a1, &a2, &a3];
    for i in 0..300 {
        let seq = 1 + (i % 3) as u64;
        let reply = w.act(alices[i % 3], &format!(r#"{{"action":"read","room":"lobby","seq":{seq}}}"#)).await;
        assert!(matches!(reply, ServerFrame::Read { .. }), "{reply:?}");
    }
    assert_eq!(reads_seen_by_bob(&w), 1, "300 reads at one instant are announced once");
    w.clock.advance(Duration::milliseconds(SendLimits::default().read_interval_ms));
    w.act(&a1, r#"{"action":"read","room":"lobby","seq":3}"#).await;
    assert_eq!(reads_seen_by_bob(&w), 1, "a read that does not move the cursor is not announced");
    let ServerFrame::Read { seq, .. } = w.act(&a1, r#"{"action":"read","room":"lobby","seq":1}"#).await else {
        panic!("a read is answered")
    };
    assert_eq!(seq, 3, "the latest cursor was stored although it was not announced");
}

#[tokio::test]
async fn status_toggles_from_three_connections_announce_at_most_one_change_per_interval() {
    let w = ungated_budget();
    let conns = [w.connect("alice").await, w.connect("alice").await, w.connect("alice").await];
    w.queue.drain();
    let mut refused = Vec::new();
    for i in 0..300 {
        let status = if i % 2 == 0 { "away" } else { "online" };
        let reply = w.act(&conns[i % 3], &format!(r#"{{"action":"status","status":"{status}"}}"#)).await;
        if error_code(&reply).is_some() {
            refused.push(reply);
        }
    }
    let notices = w.queue.drain().into_iter().filter(|e| matches!(e, Envelope::Presence(_))).count();
    assert_eq!(notices, 1, "one transition announced in the interval");
    assert!(refused.iter().all(|r| error_code(r) == Some("rate_limited") && retry_after_ms(r).is_some()));
    w.clock.advance(Duration::milliseconds(SendLimits::default().status_interval_ms));
    let again = w.act(&conns[0], r#"{"action":"status","status":"online"}"#).await;
    assert!(matches!(again, ServerFrame::PresenceChanged { .. }), "{again:?}");
    let same = w.act(&conns[1], r#"{"action":"status","status":"online"}"#).await;
    assert!(matches!(same, ServerFrame::PresenceChanged { .. }), "no change is never refused: {same:?}");
    assert_eq!(w.queue.len(), 1, "only the real transition was announced");
}
