//! The SQS → Lambda event source mapping: receive batches, invoke the fanout handler, delete
//! what succeeded and leave the reported failures to the visibility timeout (partial batch
//! responses), so the queue's redrive policy moves poison to the DLQ.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use starling_shared::handlers;
use starling_shared::lambda_runtime::{Context, LambdaEvent};
use starling_shared::service::fanout::FanoutDeps;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::DevstackError;
use crate::events::{QueueRecord, sqs_event};
use crate::queue::{DlqEntry, MemoryFifo};

/// How long an idle poller waits for messages before looking again (SQS long poll).
const LONG_POLL: Duration = Duration::from_secs(1);

/// Where the mapping reads from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Memory(Arc<MemoryFifo>),
    Sqs { client: aws_sdk_sqs::Client, url: String, dlq_url: String },
}

fn sqs_err(e: impl std::error::Error + Send + Sync + 'static) -> DevstackError {
    DevstackError::Sqs(Box::new(e))
}

impl Source {
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Memory(_) => "starling-devstack.fifo".to_owned(),
            Self::Sqs { url, .. } => url.rsplit('/').next().unwrap_or(url).to_owned(),
        }
    }

    /// Up to `max` records; waits up to the long-poll time when there are none.
    async fn receive(&self, max: usize) -> Result<Vec<QueueRecord>, DevstackError> {
        match self {
            Self::Memory(q) => {
                let deadline = Instant::now() + LONG_POLL;
                loop {
                    let notified = q.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    let batch = q.receive(max);
                    if !batch.is_empty() {
                        return Ok(batch);
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return Ok(vec![]);
                    }
                    let until = q.next_visible_at().map_or(deadline, |t| t.min(deadline));
                    let _ = tokio::time::timeout(until.saturating_duration_since(now), notified).await;
                }
            }
            Self::Sqs { client, url, .. } => {
                let out = client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(i32::try_from(max).unwrap_or(10))
                    .wait_time_seconds(i32::try_from(LONG_POLL.as_secs()).unwrap_or(1))
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .send()
                    .await
                    .map_err(sqs_err)?;
                Ok(out.messages.unwrap_or_default().into_iter().filter_map(record_of).collect())
            }
        }
    }

    async fn delete(&self, records: &[&QueueRecord]) -> Result<(), DevstackError> {
        if records.is_empty() {
            return Ok(());
        }
        match self {
            Self::Memory(q) => {
                for r in records {
                    q.delete(&r.receipt_handle);
                }
                Ok(())
            }
            Self::Sqs { client, url, .. } => {
                let mut entries = Vec::with_capacity(records.len());
                for (i, r) in records.iter().enumerate() {
                    entries.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(&r.receipt_handle)
                            .build()
                            .map_err(sqs_err)?,
                    );
                }
                let out = client
                    .delete_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(sqs_err)?;
                for f in out.failed {
                    warn!(id = %f.id, code = %f.code, "delete failed; the record will be redelivered");
                }
                Ok(())
            }
        }
    }

    /// Makes records visible again at once. Used for the records a failed batch reported only
    /// because an earlier record of their group failed: they were never attempted, and the
    /// group stays blocked behind that earlier record, which keeps its visibility timeout, so
    /// FIFO order holds. (moto also needs this: when several in-flight messages of one group
    /// time out together it redelivers the last one first.)
    async fn release(&self, records: &[&QueueRecord]) -> Result<(), DevstackError> {
        match self {
            Self::Memory(q) => {
                for r in records {
                    q.release(&r.receipt_handle);
                }
                Ok(())
            }
            Self::Sqs { client, url, .. } => {
                for r in records {
                    client
                        .change_message_visibility()
                        .queue_url(url)
                        .receipt_handle(&r.receipt_handle)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .map_err(sqs_err)?;
                }
                Ok(())
            }
        }
    }

    /// What landed in the dead-letter queue. For SQS this peeks with a zero visibility timeout,
    /// so it shows at most the first ten messages of each group.
    pub(crate) async fn dlq(&self) -> Result<Vec<DlqEntry>, DevstackError> {
        match self {
            Self::Memory(q) => Ok(q.dlq()),
            Self::Sqs { client, dlq_url, .. } => {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                for _ in 0..10 {
                    let got = client
                        .receive_message()
                        .queue_url(dlq_url)
                        .max_number_of_messages(10)
                        .visibility_timeout(0)
                        .message_system_attribute_names(MessageSystemAttributeName::All)
                        .send()
                        .await
                        .map_err(sqs_err)?;
                    let mut new = 0;
                    for r in got.messages.unwrap_or_default().into_iter().filter_map(record_of) {
                        if seen.insert(r.message_id.clone()) {
                            new += 1;
                            out.push(DlqEntry {
                                message_id: r.message_id,
                                group_id: r.group_id,
                                body: r.body,
                                receive_count: r.receive_count,
                                sent_timestamp: r.sent_at_ms,
                            });
                        }
                    }
                    if new == 0 {
                        break;
                    }
                }
                Ok(out)
            }
        }
    }

    /// Sends a raw body to the queue (tests use it to plant a poison message).
    pub(crate) async fn send_raw(&self, group: &str, body: &str) -> Result<(), DevstackError> {
        let dedup = ulid::Ulid::generate().to_string();
        match self {
            Self::Memory(q) => {
                q.send(group, body, &dedup);
                Ok(())
            }
            Self::Sqs { client, url, .. } => {
                client
                    .send_message()
                    .queue_url(url)
                    .message_body(body)
                    .message_group_id(group)
                    .message_deduplication_id(dedup)
                    .send()
                    .await
                    .map_err(sqs_err)?;
                Ok(())
            }
        }
    }
}

fn record_of(m: aws_sdk_sqs::types::Message) -> Option<QueueRecord> {
    let attrs = m.attributes.unwrap_or_default();
    let attr = |k: MessageSystemAttributeName| attrs.get(&k).cloned().unwrap_or_default();
    let num = |k: MessageSystemAttributeName| attr(k).parse::<i64>().unwrap_or_default();
    Some(QueueRecord {
        message_id: m.message_id?,
        receipt_handle: m.receipt_handle?,
        body: m.body.unwrap_or_default(),
        group_id: attr(MessageSystemAttributeName::MessageGroupId),
        dedup_id: attr(MessageSystemAttributeName::MessageDeduplicationId),
        sequence_number: attr(MessageSystemAttributeName::SequenceNumber),
        receive_count: u32::try_from(num(MessageSystemAttributeName::ApproximateReceiveCount)).unwrap_or(1),
        sent_at_ms: num(MessageSystemAttributeName::SentTimestamp),
        first_received_at_ms: num(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp),
    })
}

/// One poller: receive → invoke → delete, until cancelled. Cancellation is only observed
/// between batches, so a batch in flight always finishes.
pub(crate) async fn poll(
    source: Source,
    deps: FanoutDeps,
    batch_size: usize,
    mut paused: watch::Receiver<bool>,
    cancel: CancellationToken,
) {
    let queue_name = source.name();
    loop {
        if cancel.is_cancelled() {
            return;
        }
        if *paused.borrow() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = paused.changed() => continue,
            }
        }
        let received = tokio::select! {
            _ = cancel.cancelled() => return,
            r = source.receive(batch_size) => r,
        };
        let records = match received {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, source = ?std::error::Error::source(&e), "receive failed; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(LONG_POLL) => continue,
                }
            }
        };
        if records.is_empty() {
            continue;
        }
        if *paused.borrow() {
            // Paused while this receive was waiting: hand the records back untouched.
            let all: Vec<&QueueRecord> = records.iter().collect();
            if let Err(e) = source.release(&all).await {
                warn!(error = %e, "release failed; records wait for their timeout");
            }
            continue;
        }
        let event = match sqs_event(&queue_name, &records) {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "could not build the SQS event; leaving the batch to the visibility timeout");
                continue;
            }
        };
        debug!(records = records.len(), "invoking fanout");
        let failed: HashSet<String> = match handlers::fanout(&deps, LambdaEvent::new(event, Context::default())).await {
            Ok(resp) => resp.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
            Err(e) => {
                warn!(error = %e, "fanout failed; the whole batch will be retried");
                records.iter().map(|r| r.message_id.clone()).collect()
            }
        };
        let done: Vec<&QueueRecord> = records.iter().filter(|r| !failed.contains(&r.message_id)).collect();
        if let Err(e) = source.delete(&done).await {
            warn!(error = %e, source = ?std::error::Error::source(&e), "delete failed; records will be redelivered");
        }
        let mut failed_groups = HashSet::new();
        let behind: Vec<&QueueRecord> = records
            .iter()
            .filter(|r| failed.contains(&r.message_id))
            .filter(|r| !failed_groups.insert(r.group_id.clone()))
            .collect();
        if let Err(e) = source.release(&behind).await {
            warn!(error = %e, source = ?std::error::Error::source(&e), "release failed; records wait for their timeout");
        }
    }
}
