//! [`FanoutLedger`] in memory: failure counts per record and delivery checkpoints per message.
//! Nothing expires here (the store lives as long as a test or a devstack run); DynamoDB's TTL
//! only sweeps these items, nothing relies on it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::MemoryStore;
use crate::ports::{FanoutLedger, StoreError};

#[derive(Debug, Default)]
struct Ledger {
    failures: HashMap<String, u32>,
    /// (room, seq) → cursor of the first page not yet posted to
    checkpoints: HashMap<(String, u64), String>,
}

/// The ledger's own lock: it is never taken together with the store's.
#[derive(Debug, Default)]
pub(super) struct LedgerState(Mutex<Ledger>);

impl LedgerState {
    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl FanoutLedger for MemoryStore {
    async fn record_failure(&self, record_id: &str, _expires_at: i64) -> Result<u32, StoreError> {
        let mut l = self.ledger.lock();
        let n = l.failures.entry(record_id.to_owned()).or_default();
        *n += 1;
        Ok(*n)
    }

    async fn delivery_checkpoint(&self, room: &str, seq: u64) -> Result<Option<String>, StoreError> {
        Ok(self.ledger.lock().checkpoints.get(&(room.to_owned(), seq)).cloned())
    }

    async fn save_delivery_checkpoint(
        &self,
        room: &str,
        seq: u64,
        cursor: &str,
        _expires_at: i64,
    ) -> Result<(), StoreError> {
        self.ledger.lock().checkpoints.insert((room.to_owned(), seq), cursor.to_owned());
        Ok(())
    }
}
