//! The scenarios: one message to a room of N subscribers (single hop or through shards), and a
//! hot room taking a steady stream of messages (one record per invocation, as before #12, or
//! batches of up to 10 delivered as runs). Each runs the real fanout code in virtual time.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use starling_shared::adapters::memory::{MemoryDeadLetters, MemoryStore, RecordingQueue};
use starling_shared::domain::Connection;
use starling_shared::envelope::{Envelope, Publish};
use starling_shared::ports::{ConnectionStore, SubscriptionStore};
use starling_shared::service::fanout::{self, FanoutDeps, FanoutSettings, Record};
use starling_shared::wiring;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::pusher::{OverLimit, SimPusher, Throttle};

const ENDPOINT: &str = "https://sim.execute-api.us-east-1.amazonaws.com/prod";
/// Records per batch the event source mapping hands a function at most (SQS FIFO).
const BATCH: usize = 10;
/// The fanout function's timeout (`infra/contract.json`).
const TIMEOUT: Duration = Duration::from_secs(30);
/// The queues' visibility timeout (`infra/contract.json`): a record reported failed is received
/// again this long after its receive.
const VISIBILITY: Duration = Duration::from_secs(180);

/// The model's knobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// One PostToConnection.
    pub(crate) latency: Duration,
    /// The account's throttle.
    pub(crate) throttle: Throttle,
    /// What a post over it gets.
    pub(crate) over_limit: OverLimit,
    /// Posts in flight per invocation.
    pub(crate) concurrency: usize,
    /// Shards of a large room.
    pub(crate) shards: u16,
    /// Subscribers from which a room is sharded.
    pub(crate) threshold: usize,
    /// From a record queued to its function running (SQS to Lambda).
    pub(crate) hop: Duration,
}

/// What one scenario measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outcome {
    /// What ran.
    pub(crate) scenario: String,
    /// How.
    pub(crate) mode: String,
    /// Subscribers of the room.
    pub(crate) subscribers: usize,
    /// Messages sent.
    pub(crate) messages: usize,
    /// From the first send to the last post, in seconds of virtual time.
    pub(crate) wall_secs: f64,
    /// Function invocations.
    pub(crate) invocations: usize,
    /// The longest invocation, in seconds.
    pub(crate) max_invocation_secs: f64,
    /// PostToConnection calls.
    pub(crate) posts: u64,
    /// Posts per second of wall time.
    pub(crate) posts_per_sec: f64,
    /// Posts that waited for the throttle, or were refused by it.
    pub(crate) throttled: u64,
    /// Deliveries that never happened: subscribers × messages less the messages posted (a
    /// connection whose throttled post ran out of tries misses that message live).
    pub(crate) missed: u64,
    /// Send→deliver latency over every delivery, p50 and p99, in milliseconds.
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
}

/// A room of `n` subscribers on the in-memory store, the fanout wired to `pusher`.
async fn room(n: usize, batch: bool, pusher: Arc<SimPusher>, p: &Params) -> FanoutDeps {
    let store = Arc::new(MemoryStore::new());
    for i in 0..n {
        let conn = Connection { id: format!("c{i:06}="), user: format!("u{i}"), connected_at_ms: 0, batch };
        store.register(&conn).await.unwrap_or_else(|e| unreachable!("the memory store registers: {e}"));
        store.subscribe("room", &conn).await.unwrap_or_else(|e| unreachable!("the memory store subscribes: {e}"));
    }
    let settings = FanoutSettings {
        concurrency: p.concurrency,
        shards: p.shards,
        shard_threshold: p.threshold,
        ..FanoutSettings::default()
    };
    wiring::fanout(store, pusher, Arc::new(MemoryDeadLetters::default()), settings)
}

fn record(n: usize) -> Record {
    let envelope = Envelope::Publish(Publish {
        connection_id: None,
        welcome: None,
        id: format!("m{n:08}"),
        room: "room".into(),
        from: "u0".into(),
        body: format!("message {n}"),
        client_msg_id: None,
        sent_at: "2026-11-24T12:00:00.000Z".into(),
        endpoint: Some(ENDPOINT.into()),
    });
    Record::new(format!("r{n}"), Some(envelope.group_id()), envelope.to_json())
}

/// Runs a batch as Lambda would, within the function's timeout, and again (the failed records,
/// a visibility timeout after their receive) until none fails; returns each invocation's time.
async fn invoke(deps: &FanoutDeps, records: Vec<Record>) -> Vec<Duration> {
    let mut took = Vec::new();
    let mut pending = records;
    while !pending.is_empty() {
        let start = Instant::now();
        let deadline = fanout::Deadline::at(start + TIMEOUT, deps.settings.deadline_margin);
        let failed = fanout::process_batch_within(deps, pending.clone(), deadline).await;
        took.push(start.elapsed());
        pending.retain(|r| failed.contains(&r.id));
        if !pending.is_empty() {
            tokio::time::sleep_until(start + VISIBILITY).await;
        }
    }
    took
}

/// One message to a room of `n`: through one fanout, or through its shards when `sharded`.
pub(crate) async fn one_message(n: usize, sharded: bool, p: &Params) -> Outcome {
    let pusher = Arc::new(SimPusher::new(p.latency, p.throttle, p.over_limit));
    let mut deps = room(n, true, pusher.clone(), p).await;
    let deliveries = Arc::new(RecordingQueue::default());
    if sharded {
        deps.deliveries = Some(deliveries.clone());
    }
    let start = Instant::now();
    pusher.sent(1, start);
    let mut durations = invoke(&deps, vec![record(0)]).await;
    let mut groups: Vec<(String, Vec<Record>)> = Vec::new();
    for (i, e) in deliveries.drain().into_iter().enumerate() {
        let r = Record::new(format!("d{i}"), Some(e.group_id()), e.to_json());
        match groups.iter_mut().find(|(g, _)| Some(g) == r.group.as_ref()) {
            Some((_, rs)) => rs.push(r),
            None => groups.push((e.group_id(), vec![r])),
        }
    }
    // Every shard's function runs at once, each working through its group in batches.
    let shard_runs = groups.into_iter().map(|(_, records)| {
        let deps = &deps;
        async move {
            tokio::time::sleep(p.hop).await;
            let mut took = Vec::new();
            for batch in records.chunks(BATCH) {
                took.extend(invoke(deps, batch.to_vec()).await);
            }
            took
        }
    });
    durations.extend(futures::future::join_all(shard_runs).await.into_iter().flatten());
    let mut mode = match (sharded, durations.len()) {
        (false, _) => "single hop".to_owned(),
        (true, 1) => "shards on, under threshold".to_owned(),
        (true, _) => format!("sharded ×{}", p.shards),
    };
    if p.over_limit == OverLimit::Refuse {
        mode.push_str(", 429s");
    }
    outcome("one message", mode, (n, 1), start, &durations, &pusher)
}

/// `rate` messages per second for `secs` seconds into one room of `n`, each record its own
/// invocation (`batched: false`, the fanout before #12, plain `message` frames) or batches of up
/// to 10 delivered as runs to connections that take `messages` frames.
pub(crate) async fn hot_room(n: usize, rate: f64, secs: u64, batched: bool, p: &Params) -> Outcome {
    let pusher = Arc::new(SimPusher::new(p.latency, p.throttle, p.over_limit));
    let deps = room(n, batched, pusher.clone(), p).await;
    let total = (rate * secs as f64).round() as usize;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let producer = {
        let pusher = pusher.clone();
        async move {
            for i in 0..total {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                // Appended in order in one group, message i gets seq i + 1.
                pusher.sent(i as u64 + 1, Instant::now());
                let _ = tx.send(record(i));
            }
        }
    };
    let limit = if batched { BATCH } else { 1 };
    let consumer = async {
        let mut durations = Vec::new();
        while let Some(first) = rx.recv().await {
            tokio::time::sleep(p.hop).await;
            let mut batch = vec![first];
            while batch.len() < limit {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            durations.extend(invoke(&deps, batch).await);
        }
        durations
    };
    let ((), durations) = tokio::join!(producer, consumer);
    let mode = if batched { "batched runs" } else { "one by one" };
    outcome(&format!("hot room, {rate} msg/s"), mode.to_owned(), (n, total), start, &durations, &pusher)
}

fn outcome(
    scenario: &str,
    mode: String,
    (subscribers, messages): (usize, usize),
    start: Instant,
    durations: &[Duration],
    pusher: &SimPusher,
) -> Outcome {
    let wall = pusher.last_post().map_or(Duration::ZERO, |t| t.duration_since(start));
    let delivered = pusher.delivered();
    let ms = |q: f64| delivered.value_at_quantile(q) as f64 / 1_000.0;
    Outcome {
        scenario: scenario.to_owned(),
        mode,
        subscribers,
        messages,
        wall_secs: wall.as_secs_f64(),
        invocations: durations.len(),
        max_invocation_secs: durations.iter().max().copied().unwrap_or_default().as_secs_f64(),
        posts: pusher.posts(),
        posts_per_sec: if wall.is_zero() { 0.0 } else { pusher.posts() as f64 / wall.as_secs_f64() },
        throttled: pusher.throttled(),
        missed: (subscribers as u64 * messages as u64).saturating_sub(delivered.len()),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
    }
}
