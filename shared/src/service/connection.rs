//! `$connect` and `$disconnect`: registering a connection, removing it, and queueing the
//! presence transitions they cause for the fanout to announce.

use std::sync::Arc;

use tracing::warn;

use crate::clock::Clock;
use crate::domain::{Connection, Presence, Removed};
use crate::envelope::{Envelope, PresenceNotice};
use crate::ports::{Queue, StoreError};
use crate::service::Stores;

/// What `connect` and `disconnect` need.
#[derive(Debug, Clone)]
pub struct ConnectionDeps {
    /// Connections and presence.
    pub stores: Stores,
    /// Where presence transitions go, for the fanout to announce.
    pub queue: Arc<dyn Queue>,
    /// Now.
    pub clock: Arc<dyn Clock>,
}

/// Registers the connection and records it in its user's presence. The connection must stand
/// even when presence fails, so only the registration's failure is returned.
pub async fn open(deps: &ConnectionDeps, conn: &Connection, endpoint: Option<String>) -> Result<(), StoreError> {
    deps.stores.connections.register(conn).await?;
    let now = deps.clock.now();
    let transition = deps.stores.presence.connection_opened(conn, now.timestamp()).await;
    queue_presence(deps, transition, now.timestamp_millis(), endpoint).await;
    Ok(())
}

/// Removes the connection and its subscriptions, and records the closed connection in its
/// user's presence. Idempotent: AWS may deliver `$disconnect` late, twice or never.
pub async fn close(
    deps: &ConnectionDeps,
    connection_id: &str,
    endpoint: Option<String>,
) -> Result<Removed, StoreError> {
    let removed = deps.stores.connections.remove(connection_id).await?;
    if let Some(conn) = &removed.connection {
        let now = deps.clock.now();
        let transition = deps.stores.presence.connection_closed(conn, now.timestamp()).await;
        queue_presence(deps, transition, now.timestamp_millis(), endpoint).await;
    }
    Ok(removed)
}

/// Queues a presence transition for the fanout to announce. Presence is secondary to the
/// connection itself, so a failure here is logged, not returned.
async fn queue_presence(
    deps: &ConnectionDeps,
    transition: Result<Option<Presence>, StoreError>,
    at_ms: i64,
    endpoint: Option<String>,
) {
    let presence = match transition {
        Ok(Some(p)) => p,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, "presence update failed");
            return;
        }
    };
    let notice =
        PresenceNotice { user: presence.user, status: presence.status, last_seen: presence.last_seen, at_ms, endpoint };
    if let Err(e) = deps.queue.enqueue(&Envelope::Presence(notice)).await {
        warn!(error = %e, "queueing a presence change failed");
    }
}
