//! Fanout of one message to a room of 1,000 subscribers on the in-memory adapters: the cost of
//! Starling's own work (sequencing, subscriber paging, frame encoding, bounded concurrent posts)
//! with the network taken out.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use starling_shared::adapters::memory::{MemoryDeadLetters, MemoryPusher, MemoryStore};
use starling_shared::domain::Connection;
use starling_shared::envelope::{Envelope, Publish};
use starling_shared::ports::{ConnectionStore, SubscriptionStore};
use starling_shared::service::fanout::{FanoutDeps, FanoutSettings, Record, process_batch};
use starling_shared::wiring;

const SUBSCRIBERS: usize = 1_000;

async fn room_of(n: usize) -> FanoutDeps {
    let store = Arc::new(MemoryStore::new());
    let pusher = Arc::new(MemoryPusher::default());
    for i in 0..n {
        let conn = Connection { id: format!("conn{i:05}="), user: format!("user{i}"), connected_at_ms: 0 };
        store.register(&conn).await.unwrap();
        store.subscribe("big", &conn).await.unwrap();
        pusher.connect(&conn.id);
    }
    wiring::fanout(store, pusher, Arc::new(MemoryDeadLetters::default()), FanoutSettings::default())
}

fn record(i: u64) -> Record {
    let body = Envelope::Publish(Publish {
        id: format!("01BENCH{i:020}"),
        room: "big".into(),
        from: "user0".into(),
        body: "a message of ordinary length, about a line of chat text".into(),
        client_msg_id: None,
        sent_at: "2026-11-22T21:00:00.000Z".into(),
        endpoint: Some("https://abc.execute-api.us-east-1.amazonaws.com/prod".into()),
    })
    .to_json();
    Record::new(format!("r{i}"), Some("big".into()), body)
}

fn fanout(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    group.sample_size(30);
    let mut n = 0u64;
    // A fresh room per sample batch keeps the pusher's record of posts from growing without bound.
    group.bench_function("one_message_to_1000_subscribers", |b| {
        b.to_async(&rt).iter_batched(
            || {
                n += 1;
                (futures::executor::block_on(room_of(SUBSCRIBERS)), record(n))
            },
            |(deps, rec)| async move {
                let failed = process_batch(&deps, vec![rec]).await;
                assert!(failed.is_empty());
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
