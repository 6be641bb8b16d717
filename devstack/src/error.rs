//! The devstack's one error type.

use std::net::SocketAddr;

use starling_shared::ports::{QueueError, StoreError};

/// Why the devstack could not start, or a queue request it made failed.
#[derive(Debug, thiserror::Error)]
pub enum DevstackError {
    /// The listener could not be bound (or its address read).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is one API Gateway or SQS would refuse.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The DynamoDB table could not be created.
    #[error("creating the DynamoDB table failed")]
    Table(#[source] StoreError),
    /// The SQS queue or its DLQ could not be created.
    #[error("creating the SQS queues failed (an existing queue with other attributes cannot be reused)")]
    Queues(#[source] QueueError),
    /// A request of the event source mapping (or of a test helper) to SQS failed.
    #[error("SQS request failed")]
    Sqs(#[source] Box<dyn std::error::Error + Send + Sync>),
}
