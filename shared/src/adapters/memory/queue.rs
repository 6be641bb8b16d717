//! A queue that records.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::envelope::Envelope;
use crate::ports::{Queue, QueueError};

/// A queue that only records what is enqueued, for tests to drain by hand. It has none of SQS
/// FIFO's semantics (groups, visibility, redelivery, DLQ): the devstack's `FifoEmulator` has them.
#[derive(Debug, Default)]
pub struct RecordingQueue {
    items: Mutex<VecDeque<Envelope>>,
}

impl RecordingQueue {
    /// Takes everything enqueued so far, oldest first.
    pub fn drain(&self) -> Vec<Envelope> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect()
    }

    /// How many envelopes are waiting.
    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Queue for RecordingQueue {
    async fn enqueue(&self, envelope: &Envelope) -> Result<(), QueueError> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).push_back(envelope.clone());
        Ok(())
    }
}
