//! Fanout of one message to a room of 1,000 subscribers on the in-memory adapters: the cost of
//! Starling's own work (sequencing, subscriber paging, frame encoding, bounded concurrent posts)
//! with the network taken out. And a room of 10,000 whose posts take 5 ms each, under a deadline
//! shorter than the whole delivery: the invocation must answer before its deadline, and the retry
//! must finish without posting again to the pages already done.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use starling_shared::adapters::memory::{MemoryDeadLetters, MemoryPusher, MemoryStore};
use starling_shared::domain::Connection;
use starling_shared::envelope::{Envelope, Publish};
use starling_shared::ports::{ConnectionStore, SubscriptionStore};
use starling_shared::service::fanout::{
    Deadline, FanoutDeps, FanoutSettings, Record, process_batch, process_batch_within,
};
use starling_shared::wiring;

const SUBSCRIBERS: usize = 1_000;
const BIG_ROOM: usize = 10_000;
/// The in-memory store's subscriber page (DynamoDB's pages are about this size too).
const PAGE: usize = 1_000;
const POST_LATENCY: Duration = Duration::from_millis(5);
/// About half of what the whole delivery takes (10,000 posts, 64 at a time, 5 ms each).
const FUNCTION_TIMEOUT: Duration = Duration::from_millis(400);
const MARGIN: Duration = Duration::from_millis(100);

async fn room_of(n: usize) -> FanoutDeps {
    room_with(n, Arc::new(MemoryPusher::default())).await
}

async fn room_with(n: usize, pusher: Arc<MemoryPusher>) -> FanoutDeps {
    let store = Arc::new(MemoryStore::new());
    for i in 0..n {
        let conn =
            Connection { id: format!("conn{i:05}="), user: format!("user{i}"), connected_at_ms: 0, batch: false };
        store.register(&conn).await.unwrap();
        store.subscribe("big", &conn).await.unwrap();
        pusher.connect(&conn.id);
    }
    wiring::fanout(store, pusher, Arc::new(MemoryDeadLetters::default()), FanoutSettings::default())
}

fn record(i: u64) -> Record {
    let body = Envelope::Publish(Publish {
        connection_id: None,
        welcome: None,
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

/// One invocation with a deadline, then its retry with none; panics if the invocation overran
/// its deadline or the retry posted again to a finished page.
async fn cut_short_then_resumed(deps: FanoutDeps, pusher: Arc<MemoryPusher>, rec: Record) -> Duration {
    let started = tokio::time::Instant::now();
    let deadline = Deadline::at(started + FUNCTION_TIMEOUT, MARGIN);
    let failed = process_batch_within(&deps, vec![rec.clone()], deadline).await;
    let first = started.elapsed();
    assert!(first < FUNCTION_TIMEOUT, "the invocation overran its deadline: {first:?}");
    assert_eq!(failed.len(), 1, "the delivery was not cut short; lower FUNCTION_TIMEOUT");
    assert!(process_batch(&deps, vec![rec]).await.is_empty());
    let posts = pusher.post_count();
    assert!((BIG_ROOM..=BIG_ROOM + PAGE).contains(&posts), "{posts} posts: finished pages were posted again");
    first
}

fn deadline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut group = c.benchmark_group("fanout_deadline");
    group.throughput(Throughput::Elements(BIG_ROOM as u64));
    group.sample_size(10);
    let mut n = 0u64;
    group.bench_function("10000_subscribers_cut_short_then_resumed", |b| {
        b.to_async(&rt).iter_batched(
            || {
                n += 1;
                let pusher = Arc::new(MemoryPusher::with_latency(POST_LATENCY));
                (futures::executor::block_on(room_with(BIG_ROOM, pusher.clone())), pusher, record(n))
            },
            |(deps, pusher, rec)| cut_short_then_resumed(deps, pusher, rec),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, fanout, deadline);
criterion_main!(benches);
