//! The FIFO group lock the mapping keeps itself. SQS hands out nothing of a message group while
//! a batch of it is in flight, so a room's messages are never processed by two invocations at
//! once. moto does not lock groups: two concurrent receives can take one room's messages, and
//! their fanouts then race and deliver out of order. Receiving one poller at a time, and
//! claiming each group received before processing it, restores SQS's rule on any backend.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::QueueRecord;

/// Which message groups a poller holds.
#[derive(Debug, Default)]
pub(crate) struct GroupLocks {
    /// Taken around each receive, so a later receive sees only what came after an earlier one.
    pub(crate) receiving: tokio::sync::Mutex<()>,
    held: Mutex<HashSet<String>>,
    freed: Notify,
}

impl GroupLocks {
    /// Waits until no other poller holds a group of `records`, then holds them all. Records of
    /// a held group were received after that group's batch, so they are processed after it, as
    /// SQS would have handed them out; they are not returned to the queue, because every
    /// receive counts towards maxReceiveCount.
    pub(crate) async fn claim(&self, records: &[QueueRecord]) {
        let groups: HashSet<&str> = records.iter().map(|r| r.group_id.as_str()).collect();
        loop {
            let freed = self.freed.notified();
            {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                if groups.iter().all(|g| !held.contains(*g)) {
                    held.extend(groups.iter().map(|g| (*g).to_owned()));
                    return;
                }
            }
            freed.await;
        }
    }

    /// Gives the groups of a finished batch back.
    pub(crate) fn release(&self, records: &[QueueRecord]) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for r in records {
            held.remove(&r.group_id);
        }
        self.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::tests::record;

    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_later_batch_of_a_held_group_waits_until_the_group_is_released() {
        let locks = Arc::new(GroupLocks::default());
        let first = vec![record("a1", "a"), record("a2", "a")];
        locks.claim(&first).await;
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { locks.claim(&[record("a3", "a"), record("b1", "b")]).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a3 must wait while a1 and a2 are in flight");
        locks.claim(&[record("c1", "c")]).await;
        locks.release(&first);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("claimed once released").unwrap();
    }
}
