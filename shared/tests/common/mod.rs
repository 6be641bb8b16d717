//! Test harness shared by the integration tests of `starling-shared`.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use starling_shared::domain::{Appended, HistoryPage, NewMessage, SyncPage};
use starling_shared::ports::{MessageStore, StoreError};

use chrono::{TimeZone, Utc};
use starling_shared::adapters::memory::{MemoryDeadLetters, MemoryPusher, MemoryStore, RecordingQueue};
use starling_shared::clock::ManualClock;
use starling_shared::domain::Connection;
use starling_shared::envelope::Envelope;
use starling_shared::protocol::ServerFrame;
use starling_shared::service::connection::ConnectionDeps;
use starling_shared::service::fanout::{self, FanoutDeps, FanoutSettings, Record};
use starling_shared::service::send::{self, Caller, SendDeps, SendLimits};
use starling_shared::wiring;

pub(crate) const ENDPOINT: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/prod";

/// The whole service on the in-memory adapters, with a hand-driven queue and clock.
pub(crate) struct World {
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) queue: Arc<RecordingQueue>,
    pub(crate) pusher: Arc<MemoryPusher>,
    pub(crate) dead_letters: Arc<MemoryDeadLetters>,
    pub(crate) clock: ManualClock,
    pub(crate) send_deps: SendDeps,
    pub(crate) fanout: FanoutDeps,
    next_conn: std::sync::atomic::AtomicU64,
}

impl World {
    pub(crate) fn new() -> Self {
        Self::with(SendLimits { rate_limit: 10_000, ..SendLimits::default() }, MemoryStore::new())
    }

    pub(crate) fn with(limits: SendLimits, store: MemoryStore) -> Self {
        let store = Arc::new(store);
        let queue = Arc::new(RecordingQueue::default());
        let pusher = Arc::new(MemoryPusher::default());
        let clock = ManualClock::at(Utc.with_ymd_and_hms(2026, 11, 22, 21, 0, 0).unwrap());
        let mut send_deps = wiring::send(store.clone(), queue.clone(), pusher.clone(), limits, None);
        send_deps.clock = Arc::new(clock.clone());
        let settings = FanoutSettings { push_backoff: Duration::from_millis(1), ..FanoutSettings::default() };
        let dead_letters = Arc::new(MemoryDeadLetters::default());
        let mut fanout = wiring::fanout(store.clone(), pusher.clone(), dead_letters.clone(), settings);
        fanout.clock = Arc::new(clock.clone());
        Self { store, queue, pusher, dead_letters, clock, send_deps, fanout, next_conn: Default::default() }
    }

    /// What `connect` and `disconnect` need, on this world's stores.
    pub(crate) fn connection_deps(&self) -> ConnectionDeps {
        let mut deps = wiring::connection(self.store.clone(), self.queue.clone());
        deps.clock = Arc::new(self.clock.clone());
        deps
    }

    /// Registers and "opens" a connection for `user`, as `$connect` does (presence included).
    pub(crate) async fn connect(&self, user: &str) -> Caller {
        self.connect_with(user, false).await
    }

    /// [`Self::connect`], opted in to `messages` frames when `batch` (`batch=1` at connect).
    pub(crate) async fn connect_with(&self, user: &str, batch: bool) -> Caller {
        use starling_shared::ports::{ConnectionStore, PresenceStore};
        let n = self.next_conn.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = format!("conn-{user}-{n}=");
        let conn = Connection { id, user: user.into(), connected_at_ms: self.clock.now_ms(), batch };
        self.store.register(&conn).await.unwrap();
        self.store.connection_opened(&conn, conn.connected_at_ms / 1000).await.unwrap();
        self.pusher.connect(&conn.id);
        Caller { connection: conn, endpoint: Some(ENDPOINT.into()) }
    }

    /// The reply to a frame, if any.
    pub(crate) async fn reply(&self, caller: &Caller, frame: &str) -> Option<ServerFrame> {
        send::handle_frame(&self.send_deps, caller, frame).await.frame
    }

    /// The reply to a frame as the `send` handler puts it on the wire.
    pub(crate) async fn reply_text(&self, caller: &Caller, frame: &str) -> Option<String> {
        let reply = send::handle_frame(&self.send_deps, caller, frame).await;
        let action = reply.action.clone();
        reply.frame.map(|f| starling_shared::protocol::WireFrame::encode_or_error(&f, action.as_deref()).into_string())
    }

    pub(crate) async fn act(&self, caller: &Caller, frame: &str) -> ServerFrame {
        self.reply(caller, frame).await.expect("a reply")
    }

    /// Every frame posted to a connection, parsed, in order.
    pub(crate) fn frames(&self, caller: &Caller) -> Vec<ServerFrame> {
        self.pusher.posts_to(&caller.connection.id).iter().map(|p| serde_json::from_str(p).unwrap()).collect()
    }

    /// Connects each user (as `$connect` does) and joins them to `room`, in order.
    pub(crate) async fn room<const N: usize>(&self, room: &str, users: [&str; N]) -> [Caller; N] {
        let mut callers = Vec::with_capacity(N);
        for user in users {
            callers.push(self.connect(user).await);
        }
        for caller in &callers {
            self.join(caller, room).await;
        }
        callers.try_into().unwrap_or_else(|_| unreachable!("one caller per user"))
    }

    pub(crate) async fn join(&self, caller: &Caller, room: &str) {
        let reply = self.act(caller, &format!(r#"{{"action":"join","room":"{room}"}}"#)).await;
        assert!(matches!(reply, ServerFrame::Joined { .. }), "join failed: {reply:?}");
    }

    pub(crate) async fn send(&self, caller: &Caller, room: &str, body: &str, cmid: Option<&str>) -> ServerFrame {
        let frame = match cmid {
            Some(c) => serde_json::json!({"action":"send","room":room,"body":body,"clientMsgId":c}),
            None => serde_json::json!({"action":"send","room":room,"body":body}),
        };
        self.act(caller, &frame.to_string()).await
    }

    /// Sends large rooms (at least `threshold` subscribers) through `shards` shards on a
    /// delivery queue; returns that queue, to drain with [`records_of`].
    pub(crate) fn with_shards(&mut self, threshold: usize, shards: u16) -> Arc<RecordingQueue> {
        let deliveries = Arc::new(RecordingQueue::default());
        self.fanout.deliveries = Some(deliveries.clone());
        self.fanout.settings.shard_threshold = threshold;
        self.fanout.settings.shards = shards;
        deliveries
    }

    /// Takes everything queued as SQS-like records (group = room), in order.
    pub(crate) fn drain_records(&self) -> Vec<Record> {
        records_of(&self.queue)
    }
}

impl World {
    /// Runs the fanout over everything queued, in batches of 10 as the event source mapping
    /// does; returns the failed record ids.
    pub(crate) async fn pump(&self) -> Vec<String> {
        let records = self.drain_records();
        let mut failed = Vec::new();
        for batch in records.chunks(10) {
            failed.extend(fanout::process_batch(&self.fanout, batch.to_vec()).await);
        }
        failed
    }

    /// The messages a connection received, from `message` and `messages` frames alike, in order.
    pub(crate) fn received_all(&self, caller: &Caller) -> Vec<starling_shared::domain::Message> {
        self.frames(caller)
            .into_iter()
            .flat_map(|f| match f {
                ServerFrame::Message(m) => vec![m],
                ServerFrame::Messages { messages, .. } => messages,
                _ => vec![],
            })
            .collect()
    }

    /// The `message` frames a connection received, in order.
    pub(crate) fn received(&self, caller: &Caller) -> Vec<starling_shared::domain::Message> {
        self.pusher
            .posts_to(&caller.connection.id)
            .iter()
            .filter_map(|p| match serde_json::from_str::<ServerFrame>(p) {
                Ok(ServerFrame::Message(m)) => Some(m),
                _ => None,
            })
            .collect()
    }
}

/// Takes everything `queue` holds as SQS-like records (with their FIFO groups), in order.
pub(crate) fn records_of(queue: &RecordingQueue) -> Vec<Record> {
    queue
        .drain()
        .into_iter()
        .enumerate()
        .map(|(i, e): (usize, Envelope)| {
            Record::new(format!("rec-{i}-{}", ulid::Ulid::generate()), Some(e.group_id().to_owned()), e.to_json())
        })
        .collect()
}

pub(crate) fn error_code(frame: &ServerFrame) -> Option<&'static str> {
    match frame {
        ServerFrame::Error(e) => Some(e.code.as_str()),
        _ => None,
    }
}

/// An SDK config pointed at the moto server that `scripts/test.sh` starts. A missing server is
/// a failure, never a skip.
pub(crate) async fn moto_config() -> aws_config::SdkConfig {
    let endpoint = std::env::var("STARLING_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!("STARLING_MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which installs and starts moto")
    });
    starling_shared::sdk::loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

/// A name no other test uses, for tables and queues on the shared moto server.
pub(crate) fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::generate().to_string().to_lowercase())
}

/// A `$connect` or `$disconnect` event in the shape AWS sends, for `conn_id` of `user`.
pub(crate) fn lifecycle_event(
    fixture: &str,
    conn_id: &str,
    user: &str,
    connected_at_ms: i64,
) -> lambda_runtime::LambdaEvent<starling_shared::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest> {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["requestContext"]["connectionId"] = conn_id.into();
    v["requestContext"]["connectedAt"] = connected_at_ms.into();
    v["requestContext"]["authorizer"] = serde_json::json!({"principalId": user, "user": user});
    lambda_runtime::LambdaEvent::new(serde_json::from_value(v).unwrap(), lambda_runtime::Context::default())
}

/// The store of a contract suite in memory, listing `page` subscribers per page.
pub(crate) fn memory_store(page: usize) -> Arc<dyn starling_shared::ports::Store> {
    Arc::new(MemoryStore::new().with_page_size(page))
}

/// The store of a contract suite on moto: a fresh table named after `prefix`.
pub(crate) async fn moto_store(prefix: &str, page: usize) -> Arc<dyn starling_shared::ports::Store> {
    let config = moto_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique_name(prefix);
    starling_shared::adapters::dynamo::DynamoStore::create_table_if_missing(&client, &table)
        .await
        .expect("create table on moto");
    Arc::new(starling_shared::adapters::dynamo::DynamoStore::new(client, table).with_page_size(page as i32))
}

/// Runs each contract case once on `memory()` and once on `moto()` of the calling file.
#[allow(unused_macros)]
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory_backend {
            $( #[tokio::test] async fn $case() { super::$case(super::memory()).await } )*
        }
        mod dynamodb_on_moto {
            $( #[tokio::test] async fn $case() { super::$case(super::moto().await).await } )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use contract;

/// A message store whose appends fail for bodies containing `needle`, and for the next
/// `transient` appends whatever their body, until [`Self::heal`].
#[derive(Debug)]
pub(crate) struct FailingAppends {
    inner: Arc<dyn MessageStore>,
    needle: String,
    transient: AtomicU32,
    pub(crate) calls: AtomicU32,
    healed: AtomicBool,
}

impl FailingAppends {
    pub(crate) fn wrap(inner: Arc<dyn MessageStore>, needle: &str, transient: u32) -> Arc<Self> {
        Arc::new(Self {
            inner,
            needle: needle.into(),
            transient: transient.into(),
            calls: 0.into(),
            healed: AtomicBool::new(false),
        })
    }

    /// The next `n` appends fail whatever their body (and none after them, unless `n` is 0
    /// and the needle matches).
    pub(crate) fn fail_next(&self, n: u32) {
        self.transient.store(n, Ordering::SeqCst);
    }

    /// From now on, bodies containing the needle are stored like any other.
    pub(crate) fn heal(&self) {
        self.healed.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl MessageStore for FailingAppends {
    async fn append(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let transient = self.transient.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if transient || (!self.healed.load(Ordering::SeqCst) && msg.body.contains(&self.needle)) {
            return Err(StoreError::Failed("injected: the table refused the write".into()));
        }
        self.inner.append(msg).await
    }
    async fn last_seq(&self, room: &str) -> Result<u64, StoreError> {
        self.inner.last_seq(room).await
    }
    async fn room_epoch(&self, room: &str) -> Result<starling_shared::domain::RoomEpoch, StoreError> {
        self.inner.room_epoch(room).await
    }
    async fn admit(&self, room: &str, users: &[String]) -> Result<(), StoreError> {
        self.inner.admit(room, users).await
    }
    async fn history(&self, room: &str, before: Option<u64>, limit: u32, now: i64) -> Result<HistoryPage, StoreError> {
        self.inner.history(room, before, limit, now).await
    }
    async fn since(&self, room: &str, after: u64, limit: usize, now: i64) -> Result<SyncPage, StoreError> {
        self.inner.since(room, after, limit, now).await
    }
}

/// Subscribers of the room [`big_room`] builds.
pub(crate) const BIG_ROOM: usize = 1_000;
/// Its subscriber page size.
pub(crate) const BIG_PAGE: usize = 100;

/// A room `big` of [`BIG_ROOM`] subscribers (opted in to `messages` frames when `batch`) listed
/// [`BIG_PAGE`] to a page, a pusher that takes 10 ms per post, and a fanout posting 10 at a time
/// that stops 100 ms before its deadline.
pub(crate) async fn big_room(batch: bool) -> (FanoutDeps, Arc<MemoryPusher>, Vec<String>) {
    use starling_shared::ports::{ConnectionStore, SubscriptionStore};
    let store = Arc::new(MemoryStore::new().with_page_size(BIG_PAGE));
    let pusher = Arc::new(MemoryPusher::with_latency(Duration::from_millis(10)));
    let mut ids = Vec::new();
    for i in 0..BIG_ROOM {
        let conn = Connection { id: format!("conn{i:05}="), user: format!("user{i}"), connected_at_ms: 0, batch };
        store.register(&conn).await.unwrap();
        store.subscribe("big", &conn).await.unwrap();
        pusher.connect(&conn.id);
        ids.push(conn.id);
    }
    let settings =
        FanoutSettings { concurrency: 10, deadline_margin: Duration::from_millis(100), ..Default::default() };
    let deps = wiring::fanout(store, pusher.clone(), Arc::new(MemoryDeadLetters::default()), settings);
    (deps, pusher, ids)
}

/// A queue record publishing message `id` (with `body`) to room `big`, as record `record_id`.
pub(crate) fn big_record(record_id: &str, id: &str, body: &str) -> Record {
    let envelope = Envelope::Publish(starling_shared::envelope::Publish {
        connection_id: None,
        welcome: None,
        id: id.into(),
        room: "big".into(),
        from: "user0".into(),
        body: body.into(),
        client_msg_id: None,
        sent_at: "2026-11-22T21:00:00.000Z".into(),
        endpoint: Some(ENDPOINT.into()),
    });
    Record::new(record_id, Some("big".into()), envelope.to_json())
}

/// `(user, status, version)` of every `presenceChanged` a connection received.
pub(crate) fn announced(w: &World, c: &Caller) -> Vec<(String, starling_shared::protocol::Status, u64)> {
    w.frames(c)
        .into_iter()
        .filter_map(|f| match f {
            ServerFrame::PresenceChanged { user, status, version, .. } => Some((user, status, version)),
            _ => None,
        })
        .collect()
}
