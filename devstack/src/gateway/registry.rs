//! The open connections, which the management API posts to and deletes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
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

/// One open connection, as the management API sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) meta: ConnectionMeta,
    /// The socket's writer, which keeps posts and replies in order.
    tx: mpsc::UnboundedSender<Outbound>,
    last_active_ms: AtomicI64,
    /// Set by `DELETE @connections/{id}`.
    kill: Notify,
}

impl Conn {
    /// A connection and the receiving end its socket's writer drains.
    pub(crate) fn new(meta: ConnectionMeta) -> (Arc<Self>, mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let last_active_ms = AtomicI64::new(meta.connected_at_ms);
        (Arc::new(Self { meta, tx, last_active_ms, kill: Notify::new() }), rx)
    }

    /// PostToConnection: UTF-8 data goes as a text frame, anything else as binary. `false` once
    /// the socket's writer has gone.
    pub(crate) fn post(&self, data: Vec<u8>) -> bool {
        let out = match String::from_utf8(data) {
            Ok(text) => Outbound::Text(text),
            Err(e) => Outbound::Binary(e.into_bytes()),
        };
        self.tx.send(out).is_ok()
    }

    /// Sends a route response or an integration error to the client; lost if it has gone.
    pub(crate) fn reply(&self, text: String) {
        let _ = self.tx.send(Outbound::Text(text));
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
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
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
