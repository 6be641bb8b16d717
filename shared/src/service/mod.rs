//! Domain logic. It works on the ports only: no client is built here.

pub mod broadcast;
pub mod connection;
pub mod fanout;
pub mod send;

use std::sync::Arc;

use crate::ports::{
    ConnectionStore, KeyDirectory, MessageStore, PresenceStore, RateLimiter, RoomStats, Store, SubscriptionStore,
    WelcomeInbox,
};

/// The store ports, each on its own so a test or the devstack can replace one (fault injection
/// wraps `messages` alone); [`Stores::new`] fills them all from one store.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Connections and what hangs off them.
    pub connections: Arc<dyn ConnectionStore>,
    /// Subscriptions and memberships.
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// Sequenced messages.
    pub messages: Arc<dyn MessageStore>,
    /// Presence, read cursors, the typing gate.
    pub presence: Arc<dyn PresenceStore>,
    /// Rate windows.
    pub limiter: Arc<dyn RateLimiter>,
    /// Per-room, per-minute counters (docs/analytics.md).
    pub stats: Arc<dyn RoomStats>,
    /// The MLS key package directory (docs/e2e.md).
    pub keys: Arc<dyn KeyDirectory>,
    /// Each device's inbox of MLS Welcomes (docs/e2e.md).
    pub welcomes: Arc<dyn WelcomeInbox>,
}

impl Stores {
    /// Every port from one store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            connections: store.clone(),
            subscriptions: store.clone(),
            messages: store.clone(),
            presence: store.clone(),
            limiter: store.clone(),
            stats: store.clone(),
            keys: store.clone(),
            welcomes: store,
        }
    }
}
