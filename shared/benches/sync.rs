//! `sync` of 1,000 missed messages: wall time on the in-memory adapters, and on DynamoDB (moto)
//! with the number of DynamoDB calls one sync makes, counted by an SDK interceptor.
//! The DynamoDB group runs when STARLING_MOTO_ENDPOINT points at a moto server.
//! `sync_50_rooms`: the largest request (50 rooms × 1,000 missed messages) in `syncPage` frames
//! on the in-memory adapters, followed through `hasMore` to the end; it prints the requests,
//! frames and bytes it took and the largest frame.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_types::config_bag::ConfigBag;
use criterion::{Criterion, criterion_group, criterion_main};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::adapters::memory::{MemoryPusher, MemoryStore, RecordingQueue};
use starling_shared::domain::Connection;
use starling_shared::domain::NewMessage;
use starling_shared::ports::Store;
use starling_shared::protocol::ServerFrame;
use starling_shared::service::send::{Caller, SendDeps, SendLimits, handle_frame};
use starling_shared::wiring;

const MISSED: u64 = 1_000;
const SYNC: &str = r#"{"action":"sync","rooms":{"big":0},"pages":true}"#;

static ROOMS_50: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| (0..50).map(|i| format!("room{i:02}")).collect());

/// What following one 50-room sync through `hasMore` took.
#[derive(Debug, Default)]
struct SyncCost {
    requests: usize,
    frames: usize,
    bytes: usize,
    largest: usize,
    messages: usize,
}

/// Syncs the 50 rooms from 0 in pages, again and again while a room answers `hasMore`.
async fn sync_50_rooms(deps: &SendDeps, caller: &Caller, pusher: &MemoryPusher) -> SyncCost {
    let mut from: BTreeMap<String, u64> = ROOMS_50.iter().map(|r| (r.clone(), 0)).collect();
    let mut cost = SyncCost::default();
    while !from.is_empty() {
        pusher.take_posts_to(&caller.connection.id);
        let frame = serde_json::json!({"action":"sync","rooms":from,"pages":true}).to_string();
        let reply = handle_frame(deps, caller, &frame).await.frame.map(|f| f.to_json()).unwrap_or_default();
        let mut texts = pusher.take_posts_to(&caller.connection.id);
        texts.push(reply);
        cost.requests += 1;
        from.clear();
        for text in texts {
            cost.frames += 1;
            cost.bytes += text.len();
            cost.largest = cost.largest.max(text.len());
            match serde_json::from_str::<ServerFrame>(&text).unwrap() {
                ServerFrame::SyncPage { messages, .. } => cost.messages += messages.len(),
                ServerFrame::Synced { room, last_seq, has_more: true, .. } => {
                    from.insert(room, last_seq);
                }
                _ => {}
            }
        }
    }
    assert_eq!(cost.messages as u64, 50 * MISSED, "every message once");
    cost
}

#[derive(Debug, Clone, Default)]
struct CallCounter(Arc<AtomicUsize>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn fill<S: Store>(store: &S, room: &str, conn: &Connection) {
    store.subscribe(room, conn).await.unwrap();
    let now = chrono::Utc::now().timestamp();
    for i in 1..=MISSED {
        store
            .append(NewMessage {
                commit: None,
                id: format!("01SYNC{room}{i:016}"),
                room: room.into(),
                from: "bob".into(),
                body: "a message of ordinary length, about a line of chat text".into(),
                client_msg_id: None,
                sent_at: "2026-11-22T21:00:00.000Z".into(),
                expires_at: now + 86_400,
                now,
            })
            .await
            .unwrap();
    }
}

/// A reader of `rooms`, each with `MISSED` messages after seq 0.
async fn room_with_missed<S: Store + 'static>(
    store: Arc<S>,
    rooms: &[String],
) -> (SendDeps, Caller, Arc<MemoryPusher>) {
    let conn = Connection {
        id: "reader=".into(),
        user: "alice".into(),
        connected_at_ms: chrono::Utc::now().timestamp_millis(),
        batch: false,
    };
    store.register(&conn).await.unwrap();
    for room in rooms {
        fill(store.as_ref(), room, &conn).await;
    }
    let pusher = Arc::new(MemoryPusher::default());
    pusher.connect(&conn.id);
    let queue = Arc::new(RecordingQueue::default());
    // The budget is not what is measured: one client resyncing 50 rooms in a loop.
    let limits = SendLimits { rate_limit: u64::MAX / 2, ..SendLimits::default() };
    let deps = wiring::send(store, queue, pusher.clone(), limits, Some("https://bench.local/prod".into()));
    (deps, Caller { connection: conn, endpoint: None }, pusher)
}

async fn sync_once(deps: &SendDeps, caller: &Caller) {
    let reply = handle_frame(deps, caller, SYNC).await.frame;
    assert!(matches!(reply, Some(ServerFrame::Synced { last_seq: MISSED, recovered: true, .. })), "{reply:?}");
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut group = c.benchmark_group("sync_1000_missed");
    group.sample_size(20);

    let (deps, caller, _) = rt.block_on(room_with_missed(Arc::new(MemoryStore::new()), &["big".into()]));
    group.bench_function("memory", |b| b.to_async(&rt).iter(|| sync_once(&deps, &caller)));

    // `cargo test` runs benches once as a smoke test: the moto group (1,000 transactions to set
    // up) is for `cargo bench` only.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    if let Some(endpoint) = std::env::var("STARLING_MOTO_ENDPOINT").ok().filter(|_| benchmarking) {
        let counter = CallCounter::default();
        let (deps, caller) = rt.block_on(async {
            let sdk = starling_shared::sdk::loader()
                .endpoint_url(endpoint)
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "bench"))
                .load()
                .await;
            let client = aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(counter.clone()).build(),
            );
            let table = format!("bench-sync-{}", ulid::Ulid::generate().to_string().to_lowercase());
            DynamoStore::create_table_if_missing(&client, &table).await.unwrap();
            let (deps, caller, _) = room_with_missed(Arc::new(DynamoStore::new(client, table)), &["big".into()]).await;
            (deps, caller)
        });
        counter.0.store(0, Ordering::SeqCst);
        rt.block_on(sync_once(&deps, &caller));
        println!(
            "dynamodb (moto): {} DynamoDB calls for one sync of {MISSED} missed messages",
            counter.0.load(Ordering::SeqCst)
        );
        group.bench_function("dynamodb_moto", |b| b.to_async(&rt).iter(|| sync_once(&deps, &caller)));
    } else {
        println!("the DynamoDB group runs under `cargo bench` with STARLING_MOTO_ENDPOINT set");
    }
    group.finish();

    let mut group = c.benchmark_group("sync_50_rooms");
    group.sample_size(10);
    let (deps, caller, pusher) = rt.block_on(room_with_missed(Arc::new(MemoryStore::new()), &ROOMS_50));
    let started = std::time::Instant::now();
    let cost = rt.block_on(sync_50_rooms(&deps, &caller, &pusher));
    println!(
        "sync of 50 rooms x {MISSED} missed messages (memory): {} requests, {} frames, {} bytes, largest frame {} bytes, {:?}",
        cost.requests,
        cost.frames,
        cost.bytes,
        cost.largest,
        started.elapsed()
    );
    group.bench_function("memory", |b| b.to_async(&rt).iter(|| sync_50_rooms(&deps, &caller, &pusher)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
