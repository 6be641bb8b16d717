//! The open connections, which the management API posts to and deletes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use tokio::sync::{Notify, mpsc};

use crate::events::ConnectionMeta;

/// What is sent to a client.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(String),
    Binary(Vec<u8>),
}

impl Outbound {
    /// What it counts against the outbox: its payload, and a frame header's worth, so that
    /// empty frames cannot pile up for free.
    pub(crate) fn weight(&self) -> usize {
        const FRAME_OVERHEAD: usize = 16;
        FRAME_OVERHEAD
            + match self {
                Self::Text(t) => t.len(),
                Self::Binary(b) => b.len(),
            }
    }
}

/// Why a post did not reach the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PostRefused {
    /// The socket's writer has gone: 410.
    Gone,
    /// The client has not drained what was sent: the post is refused and the connection closes.
    OutboxFull,
}

/// One open connection, as the management API sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) meta: ConnectionMeta,
    /// The socket's writer, which keeps posts and replies in order.
    tx: mpsc::UnboundedSender<Outbound>,
    last_active_ms: AtomicI64,
    /// Set by `DELETE @connections/{id}`.
    kill: Notify,
    /// Bytes handed to the writer and not yet written to the socket, at most `outbox_limit`:
    /// a client that does not read cannot make the devstack hold more for it.
    queued: AtomicUsize,
    outbox_limit: usize,
    /// Set once the outbox overflowed; the socket then closes the connection.
    overflowed: AtomicBool,
    overflow: Notify,
    /// The registry's high-water mark of any outbox, for tests.
    high_water: Arc<AtomicUsize>,
}

impl Conn {
    /// A connection whose outbox holds at most `outbox_limit` bytes, and the receiving end its
    /// socket's writer drains (calling [`Conn::written`] for each).
    pub(crate) fn new(
        meta: ConnectionMeta,
        outbox_limit: usize,
        high_water: Arc<AtomicUsize>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let last_active_ms = AtomicI64::new(meta.connected_at_ms);
        let conn = Self {
            meta,
            tx,
            last_active_ms,
            kill: Notify::new(),
            queued: AtomicUsize::new(0),
            outbox_limit,
            overflowed: AtomicBool::new(false),
            overflow: Notify::new(),
            high_water,
        };
        (Arc::new(conn), rx)
    }

    /// PostToConnection: UTF-8 data goes as a text frame, anything else as binary.
    pub(crate) fn post(&self, data: Vec<u8>) -> Result<(), PostRefused> {
        let out = match String::from_utf8(data) {
            Ok(text) => Outbound::Text(text),
            Err(e) => Outbound::Binary(e.into_bytes()),
        };
        self.enqueue(out)
    }

    /// Sends a route response or an integration error to the client; lost if it has gone, and
    /// counted against the outbox like a post.
    pub(crate) fn reply(&self, text: String) {
        let _ = self.enqueue(Outbound::Text(text));
    }

    fn enqueue(&self, out: Outbound) -> Result<(), PostRefused> {
        if self.overflowed.load(Ordering::SeqCst) {
            return Err(PostRefused::Gone);
        }
        let weight = out.weight();
        let before = self.queued.fetch_add(weight, Ordering::SeqCst);
        if before + weight > self.outbox_limit {
            self.queued.fetch_sub(weight, Ordering::SeqCst);
            self.overflowed.store(true, Ordering::SeqCst);
            self.overflow.notify_one();
            return Err(PostRefused::OutboxFull);
        }
        self.high_water.fetch_max(before + weight, Ordering::SeqCst);
        self.tx.send(out).map_err(|_| {
            self.queued.fetch_sub(weight, Ordering::SeqCst);
            PostRefused::Gone
        })
    }

    /// The writer wrote (or dropped) `out`: its bytes leave the outbox.
    pub(crate) fn written(&self, out: &Outbound) {
        self.queued.fetch_sub(out.weight(), Ordering::SeqCst);
    }

    /// Resolves once a post or reply found the outbox full (also for one before this wait).
    pub(crate) async fn outbox_overflowed(&self) {
        self.overflow.notified().await;
    }

    pub(crate) fn last_active_ms(&self) -> i64 {
        self.last_active_ms.load(Ordering::Relaxed)
    }

    /// Restarts the idle clock: the client sent a frame.
    pub(crate) fn touch(&self) {
        self.last_active_ms.store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }

    /// DeleteConnection: the socket closes it with 1000.
    pub(crate) fn delete(&self) {
        self.kill.notify_one();
    }

    /// Resolves once `delete` was called (also for a call made before this wait began).
    pub(crate) async fn deleted(&self) {
        self.kill.notified().await;
    }
}

/// The open connections by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    conns: Mutex<HashMap<String, Arc<Conn>>>,
    /// The most bytes any connection's outbox held at once (see [`Conn::new`]).
    high_water: Arc<AtomicUsize>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection to register, counted in this registry's outbox high-water mark.
    pub(crate) fn new_conn(
        &self,
        meta: ConnectionMeta,
        outbox_limit: usize,
    ) -> (Arc<Conn>, mpsc::UnboundedReceiver<Outbound>) {
        Conn::new(meta, outbox_limit, self.high_water.clone())
    }

    /// The most bytes any connection's outbox has held at once.
    pub(crate) fn outbox_high_water(&self) -> usize {
        self.high_water.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Conn>> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn insert(&self, conn: Arc<Conn>) {
        self.lock().insert(conn.meta.connection_id.clone(), conn);
    }

    /// From here on, posts to this id answer 410.
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}
