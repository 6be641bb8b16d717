//! Each device's inbox of MLS Welcomes (docs/e2e.md) in the contract suite: every case runs
//! against the in-memory store and against DynamoDB on moto.

use std::sync::Arc;

use futures::future::join_all;
use starling_shared::domain::{HeldWelcome, PendingWelcome};
use starling_shared::ports::Store;

use super::common;

fn memory() -> Arc<dyn Store> {
    common::memory_store(2)
}

async fn moto() -> Arc<dyn Store> {
    common::moto_store("contract-welcomes", 2).await
}

common::contract!(
    a_welcome_waits_for_each_of_its_devices_until_acked,
    holding_a_welcome_again_keeps_one_copy_per_device,
    a_device_lists_its_welcomes_by_room_then_seq_a_page_at_a_time,
    an_expired_welcome_is_not_listed,
    devices_whose_ids_are_prefixes_of_each_other_share_nothing,
);

const NOW: i64 = 1_800_000_000;

fn held(room: &str, seq: u64, to: &[(&str, &str)], expires_at: i64) -> HeldWelcome {
    HeldWelcome {
        welcome: PendingWelcome {
            room: room.into(),
            seq,
            from: "alice".into(),
            welcome: format!("welcome-{room}-{seq}"),
        },
        to: to.iter().map(|(u, d)| ((*u).to_owned(), (*d).to_owned())).collect(),
        expires_at,
    }
}

async fn listed(s: &Arc<dyn Store>, user: &str, device: &str) -> Vec<(String, u64)> {
    s.pending_welcomes(user, device, 100, NOW).await.unwrap().into_iter().map(|w| (w.room, w.seq)).collect()
}

async fn a_welcome_waits_for_each_of_its_devices_until_acked(s: Arc<dyn Store>) {
    let w = held("e2e:team", 7, &[("bob", "phone"), ("bob", "laptop"), ("carol", "phone")], NOW + 60);
    s.hold_welcome(&w).await.unwrap();
    for (user, device) in [("bob", "phone"), ("bob", "laptop"), ("carol", "phone")] {
        let got = s.pending_welcomes(user, device, 10, NOW).await.unwrap();
        assert_eq!(got, std::slice::from_ref(&w.welcome), "{user}/{device} holds the welcome as sent");
    }
    assert!(listed(&s, "alice", "phone").await.is_empty(), "the committer is not a recipient");
    assert!(listed(&s, "bob", "tablet").await.is_empty(), "another device of bob's is not either");

    s.ack_welcome("bob", "phone", "e2e:team", 7).await.unwrap();
    assert!(listed(&s, "bob", "phone").await.is_empty(), "acked");
    assert_eq!(listed(&s, "bob", "laptop").await, [("e2e:team".to_owned(), 7)], "other devices keep theirs");
    s.ack_welcome("bob", "phone", "e2e:team", 7).await.unwrap();
    s.ack_welcome("bob", "phone", "e2e:other", 1).await.unwrap();
}

async fn holding_a_welcome_again_keeps_one_copy_per_device(s: Arc<dyn Store>) {
    let w = held("e2e:team", 3, &[("bob", "phone")], NOW + 60);
    join_all((0..6).map(|_| s.hold_welcome(&w))).await.into_iter().for_each(|r| r.unwrap());
    assert_eq!(listed(&s, "bob", "phone").await, [("e2e:team".to_owned(), 3)]);
    s.ack_welcome("bob", "phone", "e2e:team", 3).await.unwrap();
    assert!(listed(&s, "bob", "phone").await.is_empty(), "one ack removes the one copy");
}

async fn a_device_lists_its_welcomes_by_room_then_seq_a_page_at_a_time(s: Arc<dyn Store>) {
    // Held out of order, with seqs whose decimal text sorts differently from their value.
    for (room, seq) in [("e2e:b", 10), ("e2e:a", 9), ("e2e:b", 2), ("e2e:a-x", 1), ("e2e:a", 100)] {
        s.hold_welcome(&held(room, seq, &[("bob", "phone")], NOW + 60)).await.unwrap();
    }
    let all = listed(&s, "bob", "phone").await;
    let want = [("e2e:a", 9), ("e2e:a", 100), ("e2e:a-x", 1), ("e2e:b", 2), ("e2e:b", 10)];
    assert_eq!(all, want.map(|(r, q)| (r.to_owned(), q)));
    let first = s.pending_welcomes("bob", "phone", 3, NOW).await.unwrap();
    assert_eq!(first.iter().map(|w| w.seq).collect::<Vec<_>>(), [9, 100, 1], "a limit takes the first");
}

async fn an_expired_welcome_is_not_listed(s: Arc<dyn Store>) {
    s.hold_welcome(&held("e2e:old", 1, &[("bob", "phone")], NOW)).await.unwrap();
    s.hold_welcome(&held("e2e:new", 2, &[("bob", "phone")], NOW + 1)).await.unwrap();
    // The store may still hold the expired item (DynamoDB's TTL is late); it is never listed.
    assert_eq!(listed(&s, "bob", "phone").await, [("e2e:new".to_owned(), 2)]);
    let one = s.pending_welcomes("bob", "phone", 1, NOW).await.unwrap();
    assert_eq!(one.len(), 1, "an expired welcome does not take a place in the page");
    assert_eq!(one[0].room, "e2e:new");
}

async fn devices_whose_ids_are_prefixes_of_each_other_share_nothing(s: Arc<dyn Store>) {
    s.hold_welcome(&held("e2e:r", 1, &[("bob", "a")], NOW + 60)).await.unwrap();
    s.hold_welcome(&held("e2e:r", 2, &[("bob", "a.b")], NOW + 60)).await.unwrap();
    s.hold_welcome(&held("e2e:r", 3, &[("bo", "b")], NOW + 60)).await.unwrap();
    assert_eq!(listed(&s, "bob", "a").await, [("e2e:r".to_owned(), 1)]);
    assert_eq!(listed(&s, "bob", "a.b").await, [("e2e:r".to_owned(), 2)]);
    assert_eq!(listed(&s, "bo", "b").await, [("e2e:r".to_owned(), 3)]);
}
