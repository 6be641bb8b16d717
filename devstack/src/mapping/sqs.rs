//! A real SQS FIFO queue (moto, LocalStack or AWS) as the mapping's source.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName,
};
use tracing::warn;

use super::source::{DlqEntry, QueueRecord, QueueSource, fresh_dedup_id};
use crate::DevstackError;

/// SQS returns at most ten messages per receive.
const MAX_RECEIVE: i32 = 10;
/// How long listing the DLQ holds its messages before it releases them (longer than a listing).
const DLQ_LIST_SECS: i32 = 60;

/// The source queue and its DLQ, through the AWS SDK.
#[derive(Debug, Clone)]
pub(crate) struct SqsSource {
    client: aws_sdk_sqs::Client,
    url: String,
    dlq_url: String,
    /// What `dlq` has taken off the DLQ so far (see there).
    listed: Arc<Mutex<Vec<DlqEntry>>>,
}

impl SqsSource {
    pub(crate) fn new(client: aws_sdk_sqs::Client, url: String, dlq_url: String) -> Self {
        Self { client, url, dlq_url, listed: Arc::default() }
    }

    /// ChangeMessageVisibilityBatch of `records` on `queue_url`, ten at a time, so a group's
    /// records change together.
    async fn change_visibility(
        &self,
        queue_url: &str,
        records: &[&QueueRecord],
        secs: i32,
    ) -> Result<(), DevstackError> {
        for chunk in records.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&r.receipt_handle)
                        .visibility_timeout(secs)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(sqs_err)?;
            let out = self
                .client
                .change_message_visibility_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_err)?;
            for f in out.failed {
                warn!(id = %f.id, code = %f.code, "changing a record's visibility failed; it keeps its timeout");
            }
        }
        Ok(())
    }

    /// One receive of `queue_url` with every system attribute the SQS event carries.
    async fn receive_from(
        &self,
        queue_url: &str,
        max: i32,
        wait: Option<i32>,
        visibility: Option<i32>,
    ) -> Result<Vec<QueueRecord>, DevstackError> {
        let messages = self.receive_messages(queue_url, max, wait, visibility).await?;
        Ok(messages.into_iter().filter_map(record_of).collect())
    }

    /// One receive of `queue_url`, with every system and message attribute.
    async fn receive_messages(
        &self,
        queue_url: &str,
        max: i32,
        wait: Option<i32>,
        visibility: Option<i32>,
    ) -> Result<Vec<Message>, DevstackError> {
        let out = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(max)
            .set_wait_time_seconds(wait)
            .set_visibility_timeout(visibility)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_err)?;
        Ok(out.messages.unwrap_or_default())
    }
}

fn sqs_err(e: impl std::error::Error + Send + Sync + 'static) -> DevstackError {
    DevstackError::Sqs(Box::new(e))
}

/// A DLQ message as the DLQ endpoint shows it. One the fanout dead-lettered itself carries its
/// original id, its own failed attempts and the reason as message attributes.
fn dlq_entry_of(m: Message) -> Option<DlqEntry> {
    use starling_shared::adapters::sqs::dead_letter_attributes::{ATTEMPTS, ORIGINAL_MESSAGE_ID, REASON};
    let attrs = m.message_attributes.clone().unwrap_or_default();
    let attr = |k: &str| attrs.get(k).and_then(|v| v.string_value.clone());
    let mut entry = DlqEntry::from(record_of(m)?);
    if let Some(reason) = attr(REASON) {
        entry.reason = Some(reason);
        entry.message_id = attr(ORIGINAL_MESSAGE_ID).unwrap_or(entry.message_id);
        entry.receive_count = attr(ATTEMPTS).and_then(|a| a.parse().ok()).unwrap_or(entry.receive_count);
    }
    Some(entry)
}

/// `None` for a message without id or receipt handle, which SQS never returns.
fn record_of(m: Message) -> Option<QueueRecord> {
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

#[async_trait]
impl QueueSource for SqsSource {
    fn name(&self) -> String {
        self.url.rsplit('/').next().unwrap_or(&self.url).to_owned()
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueRecord>, DevstackError> {
        let max = i32::try_from(max).unwrap_or(MAX_RECEIVE);
        let wait = i32::try_from(wait.as_secs()).unwrap_or(1);
        self.receive_from(&self.url, max, Some(wait), None).await
    }

    async fn delete(&self, records: &[&QueueRecord]) -> Result<(), DevstackError> {
        // SQS refuses an empty batch.
        if records.is_empty() {
            return Ok(());
        }
        let entries = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(&r.receipt_handle).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(sqs_err)?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(sqs_err)?;
        for f in out.failed {
            warn!(id = %f.id, code = %f.code, "delete failed; the record will be redelivered");
        }
        Ok(())
    }

    async fn release(&self, records: &[&QueueRecord]) -> Result<(), DevstackError> {
        self.change_visibility(&self.url, records, 0).await
    }

    async fn extend(&self, records: &[&QueueRecord], visibility: Duration) -> Result<(), DevstackError> {
        let secs = i32::try_from(visibility.as_secs_f64().ceil() as u64).unwrap_or(i32::MAX);
        self.change_visibility(&self.url, records, secs).await
    }

    /// Receives everything on the DLQ, adds what is new to the list, makes it all visible again
    /// and returns the list. A peek with a zero visibility timeout would show moto's first ten
    /// messages over and over; receiving all of it first, then releasing it, reaches every
    /// message, and the list keeps those a FIFO group hides until its earlier ones are released.
    async fn dlq(&self) -> Result<Vec<DlqEntry>, DevstackError> {
        let mut held = Vec::new();
        for _ in 0..100 {
            let got = self.receive_messages(&self.dlq_url, MAX_RECEIVE, None, Some(DLQ_LIST_SECS)).await?;
            if got.is_empty() {
                break;
            }
            held.extend(got);
        }
        let mut receipts = Vec::new();
        {
            let mut listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
            for m in held {
                if let Some(r) = record_of(m.clone()) {
                    receipts.push(r);
                }
                if let Some(entry) = dlq_entry_of(m)
                    && !listed.iter().any(|e| e.message_id == entry.message_id)
                {
                    listed.push(entry);
                }
            }
        }
        self.change_visibility(&self.dlq_url, &receipts.iter().collect::<Vec<_>>(), 0).await?;
        Ok(self.listed.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    async fn send_raw(&self, group: &str, body: &str) -> Result<(), DevstackError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(fresh_dedup_id())
            .send()
            .await
            .map_err(sqs_err)?;
        Ok(())
    }
}
