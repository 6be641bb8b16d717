//! The fanout's and the senders' ports wrapped so that planned faults fire in them.

use std::sync::Arc;

use async_trait::async_trait;
use starling_shared::domain::{Appended, HistoryPage, NewMessage, SyncPage};
use starling_shared::envelope::Envelope;
use starling_shared::ports::{MessageStore, PushError, Pusher, Queue, QueueError, StoreError};

use super::{AppendFault, CrashPoint, Fault, Faults, invocation};

/// A port wrapped so that it fails the calls `Faults` plans: a `MessageStore` fails planned
/// appends (or crashes after one), a `Queue` planned enqueues, a `Pusher` crashes mid-posts.
#[derive(Debug)]
pub(crate) struct Faulty<P: ?Sized> {
    inner: Arc<P>,
    faults: Arc<Faults>,
}

impl<P: ?Sized> Faulty<P> {
    pub(crate) fn wrap(inner: Arc<P>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }

    /// Fires a crash planned at `at` when running inside a fanout invocation.
    async fn crash_if_planned(&self, at: CrashPoint) {
        if invocation::inside() && self.faults.fire(|f| matches!(f, Fault::Crash { at: a, .. } if *a == at)).is_some() {
            invocation::crash().await;
        }
    }
}

fn injected(how: AppendFault) -> StoreError {
    StoreError::Failed(format!("injected append failure ({how:?})").into())
}

impl Faulty<dyn MessageStore> {
    fn append_fault(&self, msg: &NewMessage) -> Option<AppendFault> {
        let planned = self.faults.next_planned_append();
        planned.or_else(|| {
            let fault = self.faults.fire(|f| match f {
                Fault::Append { room, body_contains, .. } => {
                    room.as_ref().is_none_or(|r| *r == msg.room)
                        && body_contains.as_ref().is_none_or(|s| msg.body.contains(s.as_str()))
                }
                _ => false,
            });
            match fault {
                Some(Fault::Append { when, .. }) => Some(when),
                _ => None,
            }
        })
    }
}

#[async_trait]
impl MessageStore for Faulty<dyn MessageStore> {
    async fn append(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        let stall = self
            .faults
            .fire(|f| matches!(f, Fault::Stall { room, .. } if room.as_ref().is_none_or(|r| *r == msg.room)));
        if let Some(Fault::Stall { delay_ms, .. }) = stall {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        }
        match self.append_fault(&msg) {
            None => {}
            Some(AppendFault::BeforeStore) => return Err(injected(AppendFault::BeforeStore)),
            Some(AppendFault::AfterStore) => {
                self.inner.append(msg).await?;
                return Err(injected(AppendFault::AfterStore));
            }
        }
        let appended = self.inner.append(msg).await?;
        self.crash_if_planned(CrashPoint::AfterStore).await;
        Ok(appended)
    }

    async fn last_seq(&self, room: &str) -> Result<u64, StoreError> {
        self.inner.last_seq(room).await
    }

    async fn room_epoch(&self, room: &str) -> Result<starling_shared::domain::RoomEpoch, StoreError> {
        self.inner.room_epoch(room).await
    }

    async fn admit(&self, room: &str, users: &[String]) -> Result<(), StoreError> {
        self.inner.admit(room, users).await
    }

    async fn history(&self, room: &str, before: Option<u64>, limit: u32, now: i64) -> Result<HistoryPage, StoreError> {
        self.inner.history(room, before, limit, now).await
    }

    async fn since(&self, room: &str, after: u64, limit: usize, now: i64) -> Result<SyncPage, StoreError> {
        self.inner.since(room, after, limit, now).await
    }
}

#[async_trait]
impl Queue for Faulty<dyn Queue> {
    async fn enqueue(&self, envelope: &Envelope) -> Result<(), QueueError> {
        if self.faults.fire(|f| matches!(f, Fault::Enqueue { .. })).is_some() {
            return Err(QueueError::Failed("injected enqueue failure".into()));
        }
        self.inner.enqueue(envelope).await?;
        self.faults.note_enqueued(envelope.to_json());
        Ok(())
    }
}

#[async_trait]
impl Pusher for Faulty<dyn Pusher> {
    async fn post(&self, endpoint: &str, connection_id: &str, data: &[u8]) -> Result<(), PushError> {
        self.inner.post(endpoint, connection_id, data).await?;
        self.crash_if_planned(CrashPoint::MidPosts).await;
        Ok(())
    }
}
