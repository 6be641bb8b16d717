//! Fault injection for tests and demos: wrappers around the fanout's ports that fail chosen
//! calls. The service code is unchanged; only what it talks to misbehaves.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use starling_shared::domain::{Appended, HistoryPage, NewMessage, SyncPage};
use starling_shared::envelope::Envelope;
use starling_shared::ports::{MessageStore, Queue, QueueError, StoreError};

/// How an injected append failure fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendFault {
    /// The append fails before anything is stored (a throttle, a timeout on the way in).
    BeforeStore,
    /// The message is stored, then the call fails (the fanout dies before delivering): the
    /// redelivered record must find it stored and deliver it under the same seq.
    AfterStore,
}

/// Planned failures, shared by the running devstack and whoever drives it.
#[derive(Debug, Default)]
pub struct Faults {
    append_calls: AtomicU64,
    /// (call number, how) of appends to fail; call numbers count from 1.
    planned_appends: Mutex<Vec<(u64, AppendFault)>>,
    /// How many of the next enqueues (by the `send` handler and `$connect`/`$disconnect`) fail.
    failing_enqueues: AtomicU64,
    /// Appends of messages whose body contains one of these always fail before storing.
    failing_bodies: Mutex<Vec<String>>,
}

impl Faults {
    /// Fails the `n`-th append from now (1 = the next one).
    pub fn fail_append_in(&self, n: u64, how: AppendFault) {
        let at = self.append_calls.load(Ordering::SeqCst) + n.max(1);
        self.planned_appends.lock().unwrap_or_else(|p| p.into_inner()).push((at, how));
    }

    /// Fails every append of a message whose body contains `needle` (before storing), for as
    /// long as the devstack runs: a message the fanout can never store.
    pub fn fail_appends_containing(&self, needle: &str) {
        self.failing_bodies.lock().unwrap_or_else(|p| p.into_inner()).push(needle.to_owned());
    }

    fn always_fails(&self, body: &str) -> bool {
        self.failing_bodies.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|n| body.contains(n.as_str()))
    }

    /// Fails the next `n` enqueues, as an SQS outage would (the sender gets `internal`).
    pub fn fail_enqueues(&self, n: u64) {
        self.failing_enqueues.store(n, Ordering::SeqCst);
    }

    fn next_enqueue_fails(&self) -> bool {
        self.failing_enqueues.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    /// Appends the fanout has attempted so far.
    pub fn append_calls(&self) -> u64 {
        self.append_calls.load(Ordering::SeqCst)
    }

    fn next_append(&self) -> Option<AppendFault> {
        let call = self.append_calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut planned = self.planned_appends.lock().unwrap_or_else(|p| p.into_inner());
        let i = planned.iter().position(|(at, _)| *at == call)?;
        Some(planned.remove(i).1)
    }
}

/// A port wrapped so that it fails the calls `Faults` plans: a `MessageStore` fails planned
/// appends, a `Queue` planned enqueues.
#[derive(Debug)]
pub(crate) struct Faulty<P: ?Sized> {
    inner: Arc<P>,
    faults: Arc<Faults>,
}

impl<P: ?Sized> Faulty<P> {
    pub(crate) fn wrap(inner: Arc<P>, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

fn injected(how: AppendFault) -> StoreError {
    StoreError::Failed(format!("injected append failure ({how:?})").into())
}

#[async_trait]
impl MessageStore for Faulty<dyn MessageStore> {
    async fn append(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        if self.faults.always_fails(&msg.body) {
            self.faults.append_calls.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Failed("injected append failure (body always fails)".into()));
        }
        match self.faults.next_append() {
            None => self.inner.append(msg).await,
            Some(AppendFault::BeforeStore) => Err(injected(AppendFault::BeforeStore)),
            Some(AppendFault::AfterStore) => {
                self.inner.append(msg).await?;
                Err(injected(AppendFault::AfterStore))
            }
        }
    }

    async fn last_seq(&self, room: &str) -> Result<u64, StoreError> {
        self.inner.last_seq(room).await
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
        if self.faults.next_enqueue_fails() {
            return Err(QueueError::Failed("injected enqueue failure".into()));
        }
        self.inner.enqueue(envelope).await
    }
}
