//! The queue consumer: sequence and store each message once, then push it to every subscriber.
//!
//! A record is retried only for what retrying can fix (the store failed, or time ran out); a
//! record that cannot succeed is dead-lettered by the fanout itself, with its reason, and its
//! room moves on (docs/architecture.md, "When the fanout gives up").

mod batch;
mod deadline;
mod export;
mod give_up;
mod group;
mod publish;
mod route;
mod run;
mod stats;
mod welcome;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::domain::{AppendOutcome, Status};
use crate::ports::{DeadLetters, ExportSink, FanoutLedger, Pusher, Queue, QueueError, StoreError};
use crate::service::Stores;
use crate::service::broadcast::PushPolicy;

pub use batch::{process_batch, process_batch_within, process_record};
pub use deadline::Deadline;
pub use export::{EXPORT_SCHEMA, MessageEvent};
pub use publish::deliver;

/// How the fanout function behaves; read from the environment in `config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutSettings {
    /// Posts in flight at once for one message.
    pub concurrency: usize,
    /// How long messages are kept (drives `expiresAt`).
    pub retention_secs: i64,
    /// Overrides the endpoint carried by each message (custom domains, the devstack).
    pub endpoint_override: Option<String>,
    /// Tries per failing post to one connection before that connection misses the frame (a
    /// throttled post gets [`PushPolicy::throttle_attempts`]).
    pub push_attempts: u32,
    /// First back-off between post retries; doubles each time.
    pub push_backoff: Duration,
    /// Failed attempts at one record (its own, counted in the ledger) before the fanout
    /// dead-letters it. Must stay well under the queue's redrive `maxReceiveCount`.
    pub max_attempts: u32,
    /// A record that fails (for a reason the ledger counts) once SQS has received it this many
    /// times is dead-lettered whatever its own attempts, and so is one whose failure the ledger
    /// could not count: at or just under the redrive `maxReceiveCount`, so it reaches the DLQ
    /// with its reason rather than through a silent redrive.
    pub receive_ceiling: u32,
    /// No record or post is started when less than this is left before the invocation's
    /// deadline, so the function answers before Lambda kills it.
    pub deadline_margin: Duration,
    /// With a delivery queue, a room with at least this many subscribers is delivered through
    /// its shards; a smaller one directly, as without.
    pub shard_threshold: usize,
    /// How many shards a large room's subscribers are delivered in (1 to 256).
    pub shards: u16,
    /// How long a room stays on its shards after its last sharded delivery, whatever its size,
    /// so that deliveries still under way on the shards are not overtaken by direct posts.
    pub sharded_hold: Duration,
    /// Presence is pushed only to rooms with fewer subscribers than this; larger rooms ask with
    /// the `presence` action.
    pub presence_push_limit: usize,
    /// Whether exported message events carry the body (`STARLING_EXPORT_BODIES`); without, only
    /// its length.
    pub export_bodies: bool,
}

impl FanoutSettings {
    /// How hard to try each post.
    pub fn policy(&self) -> PushPolicy {
        PushPolicy {
            concurrency: self.concurrency,
            attempts: self.push_attempts,
            backoff: self.push_backoff,
            ..PushPolicy::default()
        }
    }
}

impl Default for FanoutSettings {
    fn default() -> Self {
        Self {
            concurrency: 128,
            retention_secs: 30 * 24 * 60 * 60,
            endpoint_override: None,
            push_attempts: 3,
            push_backoff: Duration::from_millis(50),
            max_attempts: 5,
            receive_ceiling: 90,
            deadline_margin: Duration::from_secs(3),
            shard_threshold: 2_000,
            shards: 16,
            sharded_hold: Duration::from_secs(15 * 60),
            presence_push_limit: 1_000,
            export_bodies: false,
        }
    }
}

/// What the fanout function needs.
#[derive(Debug, Clone)]
pub struct FanoutDeps {
    /// Messages are sequenced and stored here; gone connections removed.
    pub stores: Stores,
    /// Failure counts and delivery checkpoints.
    pub ledger: Arc<dyn FanoutLedger>,
    /// Where records the fanout gives up on go.
    pub dead_letters: Arc<dyn DeadLetters>,
    /// Posts to connections.
    pub pusher: Arc<dyn Pusher>,
    /// The delivery queue large rooms' shards go through; `None` delivers every room directly,
    /// page after page, whatever its size.
    pub deliveries: Option<Arc<dyn Queue>>,
    /// Where message events are exported for analytics (`STARLING_EXPORT_STREAM`); `None`
    /// exports nothing.
    pub exports: Option<Arc<dyn ExportSink>>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Tuning.
    pub settings: FanoutSettings,
}

/// One queue record, as the event source mapping hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The SQS message id, reported back when the record fails.
    pub id: String,
    /// The FIFO message group; `None` on a standard queue.
    pub group: Option<String>,
    /// The envelope's JSON.
    pub body: String,
    /// SQS's `ApproximateReceiveCount`. It also counts receives spent queued behind a failing
    /// record of the same group, so it is only a backstop (see [`FanoutSettings::receive_ceiling`]).
    pub receive_count: u32,
}

impl Record {
    /// A record received for the first time.
    pub fn new(id: impl Into<String>, group: Option<String>, body: impl Into<String>) -> Self {
        Self { id: id.into(), group, body: body.into(), receive_count: 1 }
    }
}

/// Why a queue record failed.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// The record is not an envelope we understand: retrying cannot help, so the fanout
    /// dead-letters it at once.
    #[error("record is not a valid envelope")]
    Poison(#[source] serde_json::Error),
    /// Neither the record nor the configuration names a management endpoint: a deployment error
    /// that retrying cannot fix; the record is dead-lettered at once.
    #[error("no management endpoint: the message carries none and STARLING_WS_ENDPOINT is unset")]
    NoEndpoint,
    /// Storing the message or reading its audience failed: retry the record; after
    /// `max_attempts` failures it is dead-lettered.
    #[error("storing the message or reading its subscribers failed")]
    Store(#[from] StoreError),
    /// Handing a large room's shard deliveries to the delivery queue failed: retry the record
    /// (the deliveries already queued are deduplicated by SQS).
    #[error("queueing the shard deliveries failed")]
    Enqueue(#[from] QueueError),
    /// The invocation's deadline came before every subscriber was posted to: retry the record
    /// (not counted as a failed attempt); the delivery resumes at its checkpoint.
    #[error("out of time after posting to {posted} connections; the rest get it on the retry")]
    OutOfTime {
        /// Posts made before stopping.
        posted: usize,
    },
}

impl FanoutError {
    /// Whether retrying can never help.
    pub fn is_poison(&self) -> bool {
        matches!(self, Self::Poison(_) | Self::NoEndpoint)
    }
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A message was stored (or found stored) and delivered.
    Published(Delivery),
    /// A presence transition was posted to the rooms of its user.
    Announced(Announcement),
    /// The fanout gave up on the record and sent it to the DLQ.
    DeadLettered {
        /// Why.
        reason: String,
    },
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its room.
    pub room: String,
    /// Its seq there.
    pub seq: u64,
    /// Whether it was stored now, before, or is a duplicate (then not delivered).
    pub outcome: AppendOutcome,
    /// Connections it was posted to.
    pub delivered: usize,
    /// Connections that answered 410 and were removed.
    pub gone: usize,
    /// Connections whose posts still failed after their retries (they catch up with `sync`).
    pub failed: usize,
}

/// What happened to one presence transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Whose presence changed.
    pub user: String,
    /// To what.
    pub status: Status,
    /// Connections it was posted to.
    pub delivered: usize,
    /// Connections that answered 410 and were removed.
    pub gone: usize,
    /// Connections whose posts still failed after their retries.
    pub failed: usize,
}
