//! [`WelcomeInbox`] in memory: (user, device) → (room, seq) → welcome, under its own lock.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::{HeldWelcome, PendingWelcome};
use crate::ports::{StoreError, WelcomeInbox};

type Inbox = BTreeMap<(String, u64), (PendingWelcome, i64)>;

/// Every device's inbox. Never locked together with the store's other state.
#[derive(Debug, Default)]
pub(super) struct WelcomeState(Mutex<BTreeMap<(String, String), Inbox>>);

impl WelcomeState {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, String), Inbox>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl WelcomeInbox for MemoryStore {
    async fn hold_welcome(&self, held: &HeldWelcome) -> Result<(), StoreError> {
        let mut inboxes = self.welcomes.lock();
        let w = &held.welcome;
        for device in &held.to {
            let inbox = inboxes.entry(device.clone()).or_default();
            inbox.insert((w.room.clone(), w.seq), (w.clone(), held.expires_at));
        }
        Ok(())
    }

    async fn pending_welcomes(
        &self,
        user: &str,
        device: &str,
        limit: usize,
        now: i64,
    ) -> Result<Vec<PendingWelcome>, StoreError> {
        let inboxes = self.welcomes.lock();
        let Some(inbox) = inboxes.get(&(user.to_owned(), device.to_owned())) else { return Ok(vec![]) };
        Ok(inbox.values().filter(|(_, expires)| *expires > now).take(limit).map(|(w, _)| w.clone()).collect())
    }

    async fn ack_welcome(&self, user: &str, device: &str, room: &str, seq: u64) -> Result<(), StoreError> {
        if let Some(inbox) = self.welcomes.lock().get_mut(&(user.to_owned(), device.to_owned())) {
            inbox.remove(&(room.to_owned(), seq));
        }
        Ok(())
    }
}
