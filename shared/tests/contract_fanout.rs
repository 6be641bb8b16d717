//! The fanout's ledger (failure counts, delivery checkpoints) in the contract suite: every case
//! runs against the in-memory store and against DynamoDB on moto.

mod common;

use std::sync::Arc;

use starling_shared::domain::{Connection, NewMessage};
use starling_shared::ports::Store;

/// Small, so the checkpoint falls between pages.
const PAGE: usize = 2;

fn memory() -> Arc<dyn Store> {
    common::memory_store(PAGE)
}

async fn moto() -> Arc<dyn Store> {
    common::moto_store("contract-fanout", PAGE).await
}

common::contract!(
    the_fanout_ledger_counts_failures_per_record_and_keeps_checkpoints_per_message,
    a_delivery_checkpoint_resumes_subscriber_paging_where_it_stopped,
);

fn conn(id: &str, user: &str) -> Connection {
    Connection { id: id.into(), user: user.into(), connected_at_ms: 1_795_000_000_000, batch: false }
}

fn msg(room: &str, id: &str, from: &str, now: i64) -> NewMessage {
    NewMessage {
        commit: None,
        id: id.into(),
        room: room.into(),
        from: from.into(),
        body: format!("body of {id}"),
        client_msg_id: None,
        sent_at: "2026-11-22T21:00:00.000Z".into(),
        expires_at: now + 1000,
        now,
    }
}

async fn the_fanout_ledger_counts_failures_per_record_and_keeps_checkpoints_per_message(s: Arc<dyn Store>) {
    assert_eq!(s.record_failure("m-1", 2_000_000_000).await.unwrap(), 1);
    assert_eq!(s.record_failure("m-1", 2_000_000_000).await.unwrap(), 2);
    assert_eq!(s.record_failure("m-2", 2_000_000_000).await.unwrap(), 1);
    assert_eq!(s.delivery_checkpoint("lobby", 7).await.unwrap(), None);
    s.save_delivery_checkpoint("lobby", 7, "first", 2_000_000_000).await.unwrap();
    s.save_delivery_checkpoint("lobby", 7, "second", 2_000_000_000).await.unwrap();
    assert_eq!(s.delivery_checkpoint("lobby", 7).await.unwrap().as_deref(), Some("second"));
    assert_eq!(s.delivery_checkpoint("lobby", 8).await.unwrap(), None);
    assert_eq!(s.delivery_checkpoint("other", 7).await.unwrap(), None);
}

/// The checkpoint stores a subscriber page cursor, and the ledger's items share the room's
/// partition: neither may disturb paging, history or the head.
async fn a_delivery_checkpoint_resumes_subscriber_paging_where_it_stopped(s: Arc<dyn Store>) {
    for i in 0..5 {
        let c = conn(&format!("c{i}="), &format!("u{i}"));
        s.register(&c).await.unwrap();
        s.subscribe("lobby", &c).await.unwrap();
    }
    let now = 1_800_000_000;
    s.append(msg("lobby", "ID1", "u0", now)).await.unwrap();
    let first = s.subscribers("lobby", None).await.unwrap();
    let next = first.next.clone().expect("more than one page");
    s.save_delivery_checkpoint("lobby", 1, &next, now + 1000).await.unwrap();
    let cursor = s.delivery_checkpoint("lobby", 1).await.unwrap().expect("saved");
    let mut rest = Vec::new();
    let mut page = s.subscribers("lobby", Some(&cursor)).await.unwrap();
    loop {
        rest.extend(page.items.iter().map(|x| x.connection_id.clone()));
        match page.next {
            Some(n) => page = s.subscribers("lobby", Some(&n)).await.unwrap(),
            None => break,
        }
    }
    let mut all: Vec<String> = first.items.iter().map(|x| x.connection_id.clone()).chain(rest).collect();
    all.sort();
    assert_eq!(all, ["c0=", "c1=", "c2=", "c3=", "c4="], "the pages after the checkpoint complete the room");
    assert_eq!(s.last_seq("lobby").await.unwrap(), 1);
    assert_eq!(s.history("lobby", None, 10, now).await.unwrap().messages.len(), 1);
}
