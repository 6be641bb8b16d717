//! `sync` of 1,000 missed messages: wall time on the in-memory adapters, and on DynamoDB (moto)
//! with the number of DynamoDB calls one sync makes, counted by an SDK interceptor.
//! The DynamoDB group runs when STARLING_MOTO_ENDPOINT points at a moto server.

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
const SYNC: &str = r#"{"action":"sync","rooms":{"big":0}}"#;

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

async fn room_with_missed<S: Store + 'static>(store: Arc<S>) -> (SendDeps, Caller, Arc<MemoryPusher>) {
    let conn = Connection {
        id: "reader=".into(),
        user: "alice".into(),
        connected_at_ms: chrono::Utc::now().timestamp_millis(),
    };
    store.register(&conn).await.unwrap();
    store.subscribe("big", &conn).await.unwrap();
    let now = chrono::Utc::now().timestamp();
    for i in 1..=MISSED {
        store
            .append(NewMessage {
                id: format!("01SYNC{i:020}"),
                room: "big".into(),
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
    let pusher = Arc::new(MemoryPusher::default());
    pusher.connect(&conn.id);
    let queue = Arc::new(RecordingQueue::default());
    let deps =
        wiring::send(store, queue, pusher.clone(), SendLimits::default(), Some("https://bench.local/prod".into()));
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

    let (deps, caller, _) = rt.block_on(room_with_missed(Arc::new(MemoryStore::new())));
    group.bench_function("memory", |b| b.to_async(&rt).iter(|| sync_once(&deps, &caller)));

    // `cargo test` runs benches once as a smoke test: the moto group (1,000 transactions to set
    // up) is for `cargo bench` only.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    if let Some(endpoint) = std::env::var("STARLING_MOTO_ENDPOINT").ok().filter(|_| benchmarking) {
        let counter = CallCounter::default();
        let (deps, caller) = rt.block_on(async {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
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
            let (deps, caller, _) = room_with_missed(Arc::new(DynamoStore::new(client, table))).await;
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
