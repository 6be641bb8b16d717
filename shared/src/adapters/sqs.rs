//! The SQS FIFO adapter of the `Queue` port.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::QueueAttributeName;

use super::is_throttle;
use crate::envelope::Envelope;
use crate::ports::{BoxError, Queue, QueueError};

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
        let dlq_arn = client
            .get_queue_attributes()
            .queue_url(&dlq_url)
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
        let url = client
            .create_queue()
            .queue_name(format!("{name}.fifo"))
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(queue_err)?
            .queue_url
            .unwrap_or_default();
        Ok((url, dlq_url))
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
