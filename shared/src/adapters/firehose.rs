//! The Amazon Data Firehose adapter of [`ExportSink`]: `PutRecordBatch` to one delivery stream,
//! in batches within the service's limits, retrying the records it reports as failed.
//!
//! Firehose writes records to S3 back to back, with no separator of its own, so each record is
//! one JSON line that ends in `\n` (the caller's): the S3 objects are then JSON Lines.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_firehose::Client;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use tracing::warn;

use crate::ports::{BoxError, ExportError, ExportSink};

/// Records one `PutRecordBatch` takes at most.
pub const MAX_BATCH_RECORDS: usize = 500;
/// Bytes of record data one `PutRecordBatch` takes at most (4 MiB).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Attempts at a batch's refused records (the first send included) before giving up on them.
const ATTEMPTS: u32 = 3;
/// First pause before re-sending refused records; doubles each time.
const BACKOFF: Duration = Duration::from_millis(100);

/// Puts records on one Firehose delivery stream.
#[derive(Debug, Clone)]
pub struct FirehoseSink {
    client: Client,
    stream: String,
    backoff: Duration,
}

impl FirehoseSink {
    /// Sends through `client` to the delivery stream named `stream` (its name, not its ARN).
    pub fn new(client: Client, stream: impl Into<String>) -> Self {
        Self { client, stream: stream.into(), backoff: BACKOFF }
    }

    /// Pauses `backoff` (doubling) between re-sends of refused records instead of 100 ms (tests).
    #[must_use]
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// The delivery stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Sends one batch, then re-sends the records Firehose refused (`ErrorCode` on their entry),
    /// up to [`ATTEMPTS`] sends in all.
    async fn put_batch(&self, batch: &[Vec<u8>]) -> Result<(), ExportError> {
        let mut pending: Vec<&Vec<u8>> = batch.iter().collect();
        let mut code = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 2)).await;
            }
            let records = pending
                .iter()
                .map(|data| Record::builder().data(Blob::new(data.as_slice())).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ExportError::Failed(Box::new(e)))?;
            let out = self
                .client
                .put_record_batch()
                .delivery_stream_name(&self.stream)
                .set_records(Some(records))
                .send()
                .await
                .map_err(|e| ExportError::Failed(BoxError::from(e)))?;
            if out.failed_put_count == 0 {
                return Ok(());
            }
            let refused: Vec<&Vec<u8>> = pending
                .iter()
                .zip(&out.request_responses)
                .filter(|(_, entry)| entry.error_code.is_some())
                .map(|(data, entry)| {
                    code = entry.error_code.clone().unwrap_or_default();
                    *data
                })
                .collect();
            warn!(stream = %self.stream, attempt, refused = refused.len(), code = %code, "firehose refused records");
            // An answer without per-record entries says nothing about which: send them all again.
            if !refused.is_empty() {
                pending = refused;
            }
        }
        Err(ExportError::Refused { failed: pending.len(), total: batch.len(), attempts: ATTEMPTS, code })
    }
}

/// `records` cut into consecutive batches of at most [`MAX_BATCH_RECORDS`] records and
/// [`MAX_BATCH_BYTES`] bytes (a record over the byte limit goes alone, and Firehose refuses it).
pub fn batches(records: &[Vec<u8>]) -> Vec<&[Vec<u8>]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, record) in records.iter().enumerate() {
        let full = i - start == MAX_BATCH_RECORDS || bytes + record.len() > MAX_BATCH_BYTES;
        if i > start && full {
            out.push(&records[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += record.len();
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

#[async_trait]
impl ExportSink for FirehoseSink {
    async fn put(&self, records: &[Vec<u8>]) -> Result<(), ExportError> {
        for batch in batches(records) {
            self.put_batch(batch).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_within_both_limits_and_lose_nothing() {
        let small: Vec<Vec<u8>> = (0..1_201).map(|i| vec![b'x'; 10 + i % 7]).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [500, 500, 201]);
        let big: Vec<Vec<u8>> = (0..9).map(|_| vec![b'y'; 1024 * 1024]).collect();
        let sizes: Vec<usize> = batches(&big).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [4, 4, 1]);
        assert!(batches(&[]).is_empty());
        let total: usize = batches(&small).iter().map(|b| b.len()).sum();
        assert_eq!(total, small.len());
    }
}
