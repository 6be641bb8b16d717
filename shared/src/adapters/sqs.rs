//! The SQS FIFO adapters of the `Queue` and `DeadLetters` ports.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};

use super::is_throttle;
use crate::envelope::Envelope;
use crate::ports::{BoxError, DeadLetter, DeadLetters, Queue, QueueError};

/// Sends envelopes to a FIFO queue: one message group per room, dedup id from the envelope.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// Sends through `client` to the FIFO queue at `url` (the queue URL, not its name or ARN).
    /// The queue must be FIFO: every send sets a message group and deduplication id.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    /// The URL of the queue this sends to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates `{name}.fifo` with a `{name}-dlq.fifo` dead-letter queue (redrive after
    /// `max_receive_count`), unless they exist; returns (queue url, dlq url). For the devstack
    /// and tests; in AWS the queues come from SAM or CDK.
    pub async fn create_fifo_with_dlq(
        client: &Client,
        name: &str,
        visibility_timeout_secs: u32,
        max_receive_count: u32,
    ) -> Result<(String, String), QueueError> {
        let dlq_url = client
            .create_queue()
            .queue_name(format!("{name}-dlq.fifo"))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .map_err(queue_err)?
            .queue_url
            .unwrap_or_default();
        let url = Self::create_redriven(
            client,
            &format!("{name}.fifo"),
            &dlq_url,
            visibility_timeout_secs,
            max_receive_count,
        )
        .await?;
        Ok((url, dlq_url))
    }

    /// Creates the delivery queue beside `{name}.fifo`: `{name}-deliver.fifo`, with the same
    /// attributes and the same DLQ (`dlq_url`), as the templates do; returns its url.
    pub async fn create_delivery_queue(
        client: &Client,
        name: &str,
        dlq_url: &str,
        visibility_timeout_secs: u32,
        max_receive_count: u32,
    ) -> Result<String, QueueError> {
        let queue = format!("{name}-deliver.fifo");
        Self::create_redriven(client, &queue, dlq_url, visibility_timeout_secs, max_receive_count).await
    }

    /// Creates the FIFO queue `queue` redriving to `dlq_url` after `max_receive_count` receives.
    async fn create_redriven(
        client: &Client,
        queue: &str,
        dlq_url: &str,
        visibility_timeout_secs: u32,
        max_receive_count: u32,
    ) -> Result<String, QueueError> {
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(queue_err)?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count});
        let attributes = HashMap::from([
            (QueueAttributeName::FifoQueue, "true".to_owned()),
            (QueueAttributeName::VisibilityTimeout, visibility_timeout_secs.to_string()),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        ]);
        let created = client.create_queue().queue_name(queue).set_attributes(Some(attributes)).send().await;
        Ok(created.map_err(queue_err)?.queue_url.unwrap_or_default())
    }
}

fn queue_err<E, R>(e: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let throttled = is_throttle(e.code());
    let boxed: BoxError = Box::new(e);
    if throttled { QueueError::Throttled(boxed) } else { QueueError::Failed(boxed) }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, envelope: &Envelope) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(envelope.to_json())
            .message_group_id(envelope.group_id())
            .message_deduplication_id(envelope.dedup_id())
            .send()
            .await
            .map_err(queue_err)?;
        Ok(())
    }
}

/// The message group of dead letters from a standard queue (a FIFO queue requires one).
const UNGROUPED: &str = "ungrouped";
/// Longest reason sent: message attributes count towards SQS's message size limit.
const MAX_REASON_CHARS: usize = 2048;

/// Message attribute names of a dead letter, as the DLQ's reader (a human, the devstack) sees them.
pub mod dead_letter_attributes {
    /// Why the fanout gave up on it.
    pub const REASON: &str = "starlingReason";
    /// The record's own failed attempts.
    pub const ATTEMPTS: &str = "starlingAttempts";
    /// Its message id in the main queue.
    pub const ORIGINAL_MESSAGE_ID: &str = "starlingOriginalMessageId";
}

/// Sends what the fanout gives up on to the FIFO dead-letter queue: same group, deduplicated on
/// the original message id, the reason and attempt count as message attributes.
#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: Client,
    url: String,
}

impl SqsDeadLetters {
    /// Sends through `client` to the FIFO DLQ at `url` (the queue URL).
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

fn attribute(data_type: &str, value: String) -> Result<MessageAttributeValue, QueueError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| QueueError::Failed(Box::new(e)))
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        use dead_letter_attributes::{ATTEMPTS, ORIGINAL_MESSAGE_ID, REASON};
        let reason: String = letter.reason.chars().take(MAX_REASON_CHARS).collect();
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(&letter.body)
            .message_group_id(letter.group.as_deref().unwrap_or(UNGROUPED))
            .message_deduplication_id(&letter.record_id)
            .message_attributes(REASON, attribute("String", reason)?)
            .message_attributes(ATTEMPTS, attribute("Number", letter.attempts.to_string())?)
            .message_attributes(ORIGINAL_MESSAGE_ID, attribute("String", letter.record_id.clone())?)
            .send()
            .await
            .map_err(queue_err)?;
        Ok(())
    }
}
