//! [`RoomStats`] in memory: the same buckets as the DynamoDB items, under their own lock. Nothing
//! expires here; the store lives as long as a test or a devstack run.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::{MAX_COUNTED_SENDERS, MinuteCounts, RunCounts};
use crate::ports::{RoomStats, StoreError};

/// (room, minute) → counts. The stats' own lock: never taken together with the store's.
#[derive(Debug, Default)]
pub(super) struct StatsState(Mutex<BTreeMap<(String, String), MinuteCounts>>);

impl StatsState {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, String), MinuteCounts>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl RoomStats for MemoryStore {
    async fn add(&self, counts: &RunCounts) -> Result<(), StoreError> {
        let mut buckets = self.stats.lock();
        let bucket = buckets.entry((counts.room.clone(), counts.minute.clone())).or_default();
        bucket.minute.clone_from(&counts.minute);
        bucket.messages += counts.messages;
        bucket.deliveries += counts.deliveries;
        // As the DynamoDB update: the whole run's senders while the set is under the cap.
        if bucket.senders.len() < MAX_COUNTED_SENDERS {
            bucket.senders.extend(counts.senders.iter().cloned());
        }
        Ok(())
    }

    async fn minutes(&self, room: &str, first: &str, last: &str) -> Result<Vec<MinuteCounts>, StoreError> {
        let buckets = self.stats.lock();
        let range = (room.to_owned(), first.to_owned())..=(room.to_owned(), last.to_owned());
        Ok(buckets.range(range).map(|(_, c)| c.clone()).collect())
    }
}
