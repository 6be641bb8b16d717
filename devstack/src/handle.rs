//! The running devstack, as the binary and the end-to-end tests hold it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use starling_shared::domain::{Message, Status};
use starling_shared::ports::StoreError;
use starling_shared::service::broadcast;
use tracing::info;

use crate::DevstackError;
use crate::app::App;
use crate::config::Config;
use crate::faults::Faults;
use crate::mapping::{DlqEntry, EventSourceMapping};
use crate::serve::Server;

/// A running devstack.
#[derive(Debug)]
pub struct Handle {
    pub(crate) addr: SocketAddr,
    pub(crate) app: Arc<App>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) mapping: EventSourceMapping,
    pub(crate) server: Server,
}

impl Handle {
    /// The bound address (with the real port when the config asked for 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/STAGE`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.app.config.stage)
    }

    /// `http://ADDR/STAGE`, the management API's endpoint.
    pub fn management_url(&self) -> String {
        format!("http://{}/{}", self.addr, self.app.config.stage)
    }

    /// `http://ADDR/`, the chat page.
    pub fn page_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &Config {
        &self.app.config
    }

    /// Fault injection into the fanout's ports.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.app.registry.len()
    }

    /// The most bytes any connection's outbox has held at once since the start: never more
    /// than `limits.outbox_bytes` (a test hook for the bound).
    pub fn outbox_high_water_bytes(&self) -> usize {
        self.app.registry.outbox_high_water()
    }

    /// Ids of the open connections.
    pub fn connection_ids(&self) -> Vec<String> {
        self.app.registry.ids()
    }

    /// Connection ids subscribed to `room`, as the store has them (every page).
    pub async fn subscribers(&self, room: &str) -> Result<Vec<String>, StoreError> {
        let subscribers = broadcast::subscribers_of(self.app.stores.subscriptions.as_ref(), room).await?;
        Ok(subscribers.into_iter().map(|s| s.connection_id).collect())
    }

    /// Every live stored message of `room`, ascending by seq, read from the store (not through
    /// the protocol), as a checker of what was stored sees it.
    pub async fn stored_messages(&self, room: &str) -> Result<Vec<Message>, StoreError> {
        let messages = self.app.stores.messages.as_ref();
        let now = chrono::Utc::now().timestamp();
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = messages.history(room, before, 100, now).await?;
            before = page.messages.first().map(|m| m.seq);
            let more = page.has_more && before.is_some();
            all.splice(0..0, page.messages);
            if !more {
                return Ok(all);
            }
        }
    }

    /// The user's presence as the store has it.
    pub async fn presence_of(&self, user: &str) -> Result<Status, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let found = self.app.stores.presence.presence(&[user.to_owned()], now).await?;
        Ok(found.first().map_or(Status::Offline, |p| p.status))
    }

    /// Stops the event source mapping from receiving (a batch in flight finishes).
    pub fn pause_fanout(&self) {
        self.mapping.set_paused(true);
    }

    /// Lets the event source mapping receive again.
    pub fn resume_fanout(&self) {
        self.mapping.set_paused(false);
    }

    /// Puts a raw body on the queue in `group`, as a foreign or corrupt writer would.
    pub async fn enqueue_raw(&self, group: &str, body: &str) -> Result<(), DevstackError> {
        self.app.source.send_raw(group, body).await
    }

    /// What is in the dead-letter queues (of the queue and of the delivery queue).
    pub async fn dlq(&self) -> Result<Vec<DlqEntry>, DevstackError> {
        let mut entries = self.app.source.dlq().await?;
        // On SQS both queues redrive to the one DLQ, which each source lists.
        for entry in self.app.delivery_source.dlq().await? {
            if !entries.iter().any(|e| e.message_id == entry.message_id) {
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    /// Graceful shutdown: the fanout finishes the batches in flight, every client gets a close
    /// frame (1001) and its `$disconnect` runs, then the listener stops.
    pub async fn shutdown(self) {
        info!("shutting down: finishing in-flight fanouts");
        self.mapping.stop().await;
        info!(connections = self.app.registry.len(), "closing connections");
        self.app.closing.cancel();
        self.app.sockets.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.app.sockets.wait()).await;
        self.server.stop().await;
        info!("stopped");
    }
}
