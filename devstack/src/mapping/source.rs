//! What the event source mapping reads from, and the records it reads.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::DevstackError;

/// One received queue message, as the event source mapping knows it.
#[derive(Debug, Clone)]
pub(crate) struct QueueRecord {
    /// The queue's id of the message, which batch item failures name.
    pub(crate) message_id: String,
    /// This receive's handle; deleting or releasing with an older one does nothing.
    pub(crate) receipt_handle: String,
    pub(crate) body: String,
    pub(crate) group_id: String,
    pub(crate) dedup_id: String,
    pub(crate) sequence_number: String,
    pub(crate) receive_count: u32,
    /// Epoch milliseconds.
    pub(crate) sent_at_ms: i64,
    /// Epoch milliseconds.
    pub(crate) first_received_at_ms: i64,
}

/// A message that was moved to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqEntry {
    /// The id it had in the source queue.
    pub message_id: String,
    /// Its message group (the room).
    pub group_id: String,
    /// The body as it was sent.
    pub body: String,
    /// Receives before it was moved.
    pub receive_count: u32,
    /// Epoch milliseconds when it was first sent to the source queue.
    pub sent_timestamp: i64,
    /// Why the fanout gave up on it, when the fanout dead-lettered it itself; `None` when the
    /// queue's redrive moved it (the fanout crashed or timed out on it `maxReceiveCount` times).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<QueueRecord> for DlqEntry {
    fn from(r: QueueRecord) -> Self {
        Self {
            message_id: r.message_id,
            group_id: r.group_id,
            body: r.body,
            receive_count: r.receive_count,
            sent_timestamp: r.sent_at_ms,
            reason: None,
        }
    }
}

/// The queue the event source mapping polls: the devstack's SQS FIFO emulation
/// ([`crate::fifo::FifoEmulator`]) or a real SQS FIFO queue ([`super::sqs::SqsSource`]).
///
/// A trait, held as `Arc<dyn QueueSource>`, because the backend is chosen once at start and
/// everything downstream (the pollers, the DLQ endpoint, the test hooks on `Handle`) only needs
/// these operations: an enum made every one of them match on the backend, and a new kind of
/// queue (LocalStack quirks, a fault-injecting wrapper) would have touched all of them.
#[async_trait]
pub(crate) trait QueueSource: Send + Sync + Debug {
    /// The queue's name, for the `eventSourceARN` of records.
    fn name(&self) -> String;

    /// Up to `max` records; waits up to `wait` when there are none (a long poll).
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueRecord>, DevstackError>;

    /// Deletes records that were handled.
    async fn delete(&self, records: &[&QueueRecord]) -> Result<(), DevstackError>;

    /// Makes records visible again at once (ChangeMessageVisibility 0). Used for the records a
    /// failed batch reported only because an earlier record of their group failed: they were
    /// never attempted, and the group stays blocked behind that earlier record, which keeps its
    /// visibility timeout, so FIFO order holds. (moto also needs this: when several in-flight
    /// messages of one group time out together it redelivers the last one first.)
    async fn release(&self, records: &[&QueueRecord]) -> Result<(), DevstackError>;

    /// Keeps in-flight records invisible for `visibility` from now (ChangeMessageVisibility),
    /// as a batch that comes back whole is received again.
    async fn extend(&self, records: &[&QueueRecord], visibility: Duration) -> Result<(), DevstackError>;

    /// What landed in the dead-letter queue.
    async fn dlq(&self) -> Result<Vec<DlqEntry>, DevstackError>;

    /// Sends a raw body in `group`, as a foreign or corrupt writer would (tests plant poison
    /// messages this way).
    async fn send_raw(&self, group: &str, body: &str) -> Result<(), DevstackError>;
}

/// A fresh deduplication id, so a raw send is never dropped as a repeat.
pub(crate) fn fresh_dedup_id() -> String {
    ulid::Ulid::generate().to_string()
}
