//! The small traits at the I/O edge, and their errors; nothing else. Domain code takes these;
//! adapters implement them (`memory` for tests and the devstack, `dynamo`/`sqs`/`apigw` for AWS).

use async_trait::async_trait;

use crate::domain::{
    Appended, ClaimedKey, Connection, DeviceKeys, HeldWelcome, HistoryPage, MinuteCounts, NewMessage, Opened, Page,
    PendingWelcome, Presence, Probe, PublishOutcome, Removed, RoomEpoch, RunCounts, Shard, Status, StatusSet,
    Subscriber, SyncPage,
};
use crate::envelope::Envelope;

/// The source of an adapter's error, whatever its SDK.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is shedding load: retry later (the record, or the whole invocation).
    #[error("store throttled the request; retry later")]
    Throttled(#[source] BoxError),
    /// Another writer moved the room head too often to win; retry later.
    #[error("too much contention on room {room}; retry later")]
    Contention {
        /// The room whose head was contended.
        room: String,
    },
    /// The thing the request needs does not exist (e.g. the connection is gone).
    #[error("{0} not found")]
    NotFound(String),
    /// An item could not be read back into its type: a bug or a foreign write; do not retry.
    #[error("corrupt item {key}")]
    Corrupt {
        /// The item's key.
        key: String,
        /// Why it could not be read.
        #[source]
        source: BoxError,
    },
    /// Any other failure of the store; retrying may help.
    #[error("store request failed")]
    Failed(#[source] BoxError),
}

/// Connections and what hangs off them.
#[async_trait]
pub trait ConnectionStore: Send + Sync + std::fmt::Debug {
    /// Registers a connection (and indexes it under its user).
    async fn register(&self, conn: &Connection) -> Result<(), StoreError>;
    /// The registered connection, if it still is.
    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError>;
    /// Removes the connection, its user index and all its subscriptions. Idempotent: removing an
    /// unknown or already removed connection succeeds and returns an empty `Removed`.
    async fn remove(&self, connection_id: &str) -> Result<Removed, StoreError>;
}

/// Room subscriptions (online connections) and memberships (users).
#[async_trait]
pub trait SubscriptionStore: Send + Sync + std::fmt::Debug {
    /// Subscribes the connection and makes its user a member. Idempotent.
    /// `NotFound` when the connection is not registered (e.g. it disconnected meanwhile).
    async fn subscribe(&self, room: &str, conn: &Connection) -> Result<(), StoreError> {
        self.subscribe_within(room, conn, usize::MAX).await.map(|_| ())
    }
    /// [`Self::subscribe`], unless the connection is already subscribed to `max_rooms` other
    /// rooms: then nothing changes and the answer is `false`. The count and the subscription
    /// change atomically, so concurrent subscribes never pass the limit.
    async fn subscribe_within(&self, room: &str, conn: &Connection, max_rooms: usize) -> Result<bool, StoreError>;
    /// Unsubscribes the connection and ends its user's membership. Idempotent.
    async fn unsubscribe(&self, room: &str, conn: &Connection) -> Result<(), StoreError>;
    /// Whether this connection is subscribed to the room.
    async fn is_subscribed(&self, room: &str, connection_id: &str) -> Result<bool, StoreError>;
    /// How many rooms this connection is subscribed to.
    async fn subscription_count(&self, connection_id: &str) -> Result<usize, StoreError>;
    /// One page of a room's subscribers; pass `next` back for the following page.
    async fn subscribers(&self, room: &str, cursor: Option<&str>) -> Result<Page<Subscriber>, StoreError> {
        self.subscribers_in(room, Shard::ALL, cursor).await
    }
    /// One page of the subscribers of one shard of a room; pass `next` back (with the same
    /// shard) for the following page.
    async fn subscribers_in(
        &self,
        room: &str,
        shard: Shard,
        cursor: Option<&str>,
    ) -> Result<Page<Subscriber>, StoreError>;
    /// The room's subscribers if there are fewer than `limit` (`complete`), with the room's
    /// sharded mark, in one read: what the fanout needs to choose a route.
    async fn probe(&self, room: &str, limit: usize) -> Result<Probe, StoreError>;
    /// Marks the room as delivered through its shards until `until` (epoch seconds).
    async fn mark_sharded(&self, room: &str, until: i64) -> Result<(), StoreError>;
    /// Whether the user is a member (joined and not left; offline members stay members).
    async fn is_member(&self, room: &str, user: &str) -> Result<bool, StoreError>;
    /// The room's members.
    async fn members(&self, room: &str) -> Result<Vec<String>, StoreError>;
    /// The rooms the user is a member of.
    async fn rooms_of(&self, user: &str) -> Result<Vec<String>, StoreError>;
}

/// Sequenced, idempotent message storage.
#[async_trait]
pub trait MessageStore: Send + Sync + std::fmt::Debug {
    /// Gives the message the room's next seq and stores it, atomically and exactly once per
    /// message id and per `(from, clientMsgId)` within the dedup window.
    async fn append(&self, msg: NewMessage) -> Result<Appended, StoreError>;
    /// The room's last seq (0 for a room with no messages).
    async fn last_seq(&self, room: &str) -> Result<u64, StoreError>;
    /// An encrypted room's MLS epoch and group, read consistently (zero and none before its
    /// first Commit).
    async fn room_epoch(&self, room: &str) -> Result<RoomEpoch, StoreError>;
    /// Adds `users` to the encrypted room's admitted senders (`RoomEpoch::admitted`), once its
    /// group exists; idempotent. The Commit making the group admits its sender itself.
    async fn admit(&self, room: &str, users: &[String]) -> Result<(), StoreError>;
    /// Up to `limit` messages with seq < `before` (all when `None`), newest last, skipping
    /// messages whose `expiresAt` is before `now`.
    async fn history(&self, room: &str, before: Option<u64>, limit: u32, now: i64) -> Result<HistoryPage, StoreError>;
    /// Up to `limit` live messages with seq > `after`, ascending, for `sync`.
    async fn since(&self, room: &str, after: u64, limit: usize, now: i64) -> Result<SyncPage, StoreError>;
}

/// Presence, read cursors and the typing gate: per-user state.
#[async_trait]
pub trait PresenceStore: Send + Sync + std::fmt::Debug {
    /// Records an open connection. Its transition is the new presence when the user was offline
    /// before (the one transition to announce, however many devices connect at once); it also
    /// names the connections it stopped counting, whose items the caller removes.
    async fn connection_opened(&self, conn: &Connection, now: i64) -> Result<Opened, StoreError>;
    /// Records a closed connection. Returns the new presence when it was the user's last live
    /// connection. Idempotent: closing an unknown or closed connection returns `None`.
    async fn connection_closed(&self, conn: &Connection, now: i64) -> Result<Option<Presence>, StoreError>;
    /// Sets `online` or `away`: the presence after it, and whether that is a transition (it
    /// changed and the user is online).
    async fn set_status(&self, user: &str, status: Status, now: i64) -> Result<StatusSet, StoreError>;
    /// The presence of each user, in the order given, with its version and the connections that
    /// are past their liveness deadline.
    async fn presence(&self, users: &[String], now: i64) -> Result<Vec<Presence>, StoreError>;
    /// The ids of the user's connections that can still be open at `now` (what presence
    /// counts), for posting to a user rather than a room.
    async fn connections_of(&self, user: &str, now: i64) -> Result<Vec<String>, StoreError>;
    /// Records activity of the connection (at most once a minute), which keeps it counted past
    /// API Gateway's idle limit. Unknown connections are ignored.
    async fn touch(&self, conn: &Connection, now: i64) -> Result<(), StoreError>;
    /// Moves the user's read cursor forward to `seq` (never back); returns the stored cursor.
    async fn set_read(&self, user: &str, room: &str, seq: u64) -> Result<u64, StoreError>;
    /// The user's read cursor in the room, if they ever read it.
    async fn read_cursor(&self, user: &str, room: &str) -> Result<Option<u64>, StoreError>;
    /// True at most once per `interval_ms` per connection and room.
    async fn typing_allowed(
        &self,
        connection_id: &str,
        room: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> Result<bool, StoreError>;
}

/// Per-user budgets: weighted fixed windows, and once-per-interval gates.
#[async_trait]
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// Spends `cost` from the user's budget of `limit` in the window starting at `window_start`
    /// (epoch seconds), atomically: `true` when the window's total stays within `limit` (and the
    /// cost is counted), `false` when it would not (and nothing is counted, so a refusal never
    /// eats into the budget). `expires_at` (epoch seconds) is when the window may be forgotten.
    async fn spend(
        &self,
        user: &str,
        window_start: i64,
        cost: u64,
        limit: u64,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    /// Passes the user's gate named `gate` at most once per `interval_ms`: `None` when it passes
    /// (and it closes for `interval_ms` from `now_ms`), `Some(ms)` when it last passed less than
    /// `interval_ms` ago and opens again in `ms` milliseconds (nothing is recorded).
    async fn pass_gate(&self, user: &str, gate: &str, now_ms: i64, interval_ms: i64)
    -> Result<Option<i64>, StoreError>;
}

/// A queue failure, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue is shedding load: retry later.
    #[error("queue throttled the request; retry later")]
    Throttled(#[source] BoxError),
    /// Any other failure; retrying may help.
    #[error("enqueue failed")]
    Failed(#[source] BoxError),
}

/// The queue between `send` and the fanout.
#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Puts the envelope on the queue, in its FIFO group, deduplicated by its dedup id.
    async fn enqueue(&self, envelope: &Envelope) -> Result<(), QueueError>;
}

/// A failed post to a connection, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The connection no longer exists (410): delete it and its subscriptions.
    #[error("connection {0} is gone")]
    Gone(String),
    /// The management API is throttling: retry later.
    #[error("push throttled; retry later")]
    Throttled(#[source] BoxError),
    /// Any other failure; retrying may help.
    #[error("push failed")]
    Failed(#[source] BoxError),
    /// The frame is over the 128 KiB message limit (413 `PayloadTooLargeException`): it can
    /// never be posted, so do not retry it; send it in smaller pages.
    #[error("a frame of {bytes} bytes is over the message limit")]
    TooLarge {
        /// The frame's length.
        bytes: usize,
    },
}

/// Posts frames to connected clients (the API Gateway Management API).
#[async_trait]
pub trait Pusher: Send + Sync + std::fmt::Debug {
    /// `endpoint` is the management API base URL (`https://{domain}/{stage}`). A frame over
    /// `protocol::MAX_FRAME_BYTES` is refused with [`PushError::TooLarge`], as AWS refuses it.
    async fn post(&self, endpoint: &str, connection_id: &str, data: &[u8]) -> Result<(), PushError>;
}

/// What the fanout remembers between attempts at one queue record (docs/architecture.md,
/// "When the fanout gives up").
#[async_trait]
pub trait FanoutLedger: Send + Sync + std::fmt::Debug {
    /// Counts one failed attempt at the queue record `record_id` and returns its failed attempts
    /// so far, this one included. Written only on failure; the count is kept until `expires_at`
    /// (epoch seconds).
    async fn record_failure(&self, record_id: &str, expires_at: i64) -> Result<u32, StoreError>;
    /// Where the delivery of message `seq` of `room` stopped: the cursor of the first subscriber
    /// page not yet posted to, if an earlier attempt saved one.
    async fn delivery_checkpoint(&self, room: &str, seq: u64) -> Result<Option<String>, StoreError>;
    /// Remembers that every subscriber page before `cursor` got message `seq` of `room`, until
    /// `expires_at` (epoch seconds).
    async fn save_delivery_checkpoint(
        &self,
        room: &str,
        seq: u64,
        cursor: &str,
        expires_at: i64,
    ) -> Result<(), StoreError>;
}

/// A record the fanout gave up on, as it is sent to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The SQS message id of the record (the DLQ deduplicates on it).
    pub record_id: String,
    /// Its message group (the room, or `presence#<user>`); `None` on a standard queue.
    pub group: Option<String>,
    /// The body, unchanged, so it can be redriven as it was.
    pub body: String,
    /// Why it was given up on, for the human who looks.
    pub reason: String,
    /// Failed attempts at it (its own, not receives spent queued behind another record).
    pub attempts: u32,
}

/// Where the fanout puts the records it gives up on: the DLQ, which a human looks at.
#[async_trait]
pub trait DeadLetters: Send + Sync + std::fmt::Debug {
    /// Sends the record to the dead-letter queue; idempotent per `record_id` within SQS's
    /// five-minute deduplication window.
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError>;
}

/// Per-room, per-minute activity counters (docs/analytics.md).
#[async_trait]
pub trait RoomStats: Send + Sync + std::fmt::Debug {
    /// Adds one run's counts to its room's minute, atomically; senders are added to the minute's
    /// set until it holds [`crate::domain::MAX_COUNTED_SENDERS`].
    async fn add(&self, counts: &RunCounts) -> Result<(), StoreError>;
    /// The room's minutes from `first` to `last` (inclusive, as `domain::minute_of` writes
    /// them) that have counts, oldest first.
    async fn minutes(&self, room: &str, first: &str, last: &str) -> Result<Vec<MinuteCounts>, StoreError>;
}

/// The MLS key package directory (docs/e2e.md): packages per user and device, kept as the
/// opaque base64 text the device published.
#[async_trait]
pub trait KeyDirectory: Send + Sync + std::fmt::Debug {
    /// Adds `one_time` packages to the user's device and, when given, replaces its last-resort
    /// package: all or nothing, also under concurrent publishes. Refused (nothing stored) when the
    /// device would be the user's [`crate::domain::MAX_DEVICES_PER_USER`] + 1st, or hold more
    /// than [`crate::domain::MAX_ONE_TIME_PER_DEVICE`] one-time packages.
    async fn publish_keys(
        &self,
        user: &str,
        device: &str,
        one_time: &[String],
        last_resort: Option<&str>,
    ) -> Result<PublishOutcome, StoreError>;
    /// What the device holds (zero for a device never published or removed).
    async fn key_count(&self, user: &str, device: &str) -> Result<DeviceKeys, StoreError>;
    /// One package per device of the user, in ascending device order: a one-time package,
    /// removed as it is handed out (two concurrent claims never get the same one), else the
    /// last-resort package, which stays. Devices with neither are left out.
    async fn claim_keys(&self, user: &str) -> Result<Vec<ClaimedKey>, StoreError>;
    /// Forgets the device and all its packages. Idempotent.
    async fn remove_device(&self, user: &str, device: &str) -> Result<(), StoreError>;
}

/// Each device's inbox of MLS Welcomes (docs/e2e.md), kept until the device acks them or they
/// expire.
#[async_trait]
pub trait WelcomeInbox: Send + Sync + std::fmt::Debug {
    /// Keeps the welcome for each of its devices. Idempotent: a device holds one welcome per
    /// room and seq, so holding it again (a redelivered record) changes nothing.
    async fn hold_welcome(&self, held: &HeldWelcome) -> Result<(), StoreError>;
    /// Up to `limit` of the device's welcomes not expired at `now`, in ascending order of room
    /// id, then seq.
    async fn pending_welcomes(
        &self,
        user: &str,
        device: &str,
        limit: usize,
        now: i64,
    ) -> Result<Vec<PendingWelcome>, StoreError>;
    /// Removes one welcome of the device. Idempotent.
    async fn ack_welcome(&self, user: &str, device: &str, room: &str, seq: u64) -> Result<(), StoreError>;
}

/// An export that did not get through, by what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The service took the request but kept refusing some records until the retries ran out.
    #[error("{failed} of {total} records still refused after {attempts} attempts (last code: {code})")]
    Refused {
        /// Records not delivered.
        failed: usize,
        /// Records asked to be delivered.
        total: usize,
        /// Attempts made.
        attempts: u32,
        /// The last error code the service gave for a refused record.
        code: String,
    },
    /// The request itself failed (throttled, not found, denied, unreachable).
    #[error("export request failed")]
    Failed(#[source] BoxError),
}

/// Where the fanout sends its message events for analytics (Amazon Data Firehose, in AWS).
#[async_trait]
pub trait ExportSink: Send + Sync + std::fmt::Debug {
    /// Delivers `records` (each one JSON line, newline included), at least once: a record may
    /// arrive twice when a retry follows a lost answer.
    async fn put(&self, records: &[Vec<u8>]) -> Result<(), ExportError>;
}

/// Every store port at once: what `DynamoStore` and `MemoryStore` each implement, so one value
/// can be wired into every narrow port a function needs.
pub trait Store:
    ConnectionStore
    + SubscriptionStore
    + MessageStore
    + PresenceStore
    + RateLimiter
    + FanoutLedger
    + RoomStats
    + KeyDirectory
    + WelcomeInbox
{
}

impl<T> Store for T where
    T: ConnectionStore
        + SubscriptionStore
        + MessageStore
        + PresenceStore
        + RateLimiter
        + FanoutLedger
        + RoomStats
        + KeyDirectory
        + WelcomeInbox
{
}
