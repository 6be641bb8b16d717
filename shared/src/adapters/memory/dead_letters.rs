//! A dead-letter queue that records what the fanout gives up on.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{DeadLetter, DeadLetters, QueueError};

/// Records every dead letter, for tests to inspect. Deduplicates on the record id, as the FIFO
/// DLQ does within its window.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    letters: Mutex<Vec<DeadLetter>>,
}

impl MemoryDeadLetters {
    /// What was dead-lettered, oldest first.
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl DeadLetters for MemoryDeadLetters {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        let mut letters = self.letters.lock().unwrap_or_else(|p| p.into_inner());
        if !letters.iter().any(|l| l.record_id == letter.record_id) {
            letters.push(letter.clone());
        }
        Ok(())
    }
}
