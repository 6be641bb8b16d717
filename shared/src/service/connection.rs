//! `$connect` and `$disconnect`: registering a connection, removing it, and queueing the
//! presence transitions they cause for the fanout to announce.

use std::sync::Arc;

use chrono::{DateTime, Utc};
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
    let transition = logged(deps.stores.presence.connection_opened(conn, now.timestamp()).await, &conn.id);
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
    let now = deps.clock.now();
    let (removed, transition) = forget(&deps.stores, connection_id, now).await?;
    queue_presence(deps, transition, now.timestamp_millis(), endpoint).await;
    Ok(removed)
}

/// Removes the connection and its subscriptions, and records the closed connection in its
/// user's presence: what both a `$disconnect` and a 410 from the Management API mean. Returns
/// what was removed and the presence transition to announce, if the user went offline.
pub(crate) async fn forget(
    stores: &Stores,
    connection_id: &str,
    now: DateTime<Utc>,
) -> Result<(Removed, Option<Presence>), StoreError> {
    let removed = stores.connections.remove(connection_id).await?;
    let transition = match &removed.connection {
        Some(conn) => logged(stores.presence.connection_closed(conn, now.timestamp()).await, connection_id),
        None => None,
    };
    Ok((removed, transition))
}

/// Presence is secondary to the connection itself, so a failed presence update is logged and
/// counts as no transition; the connection's own change stands.
fn logged(transition: Result<Option<Presence>, StoreError>, connection_id: &str) -> Option<Presence> {
    transition.unwrap_or_else(|e| {
        warn!(connection_id, error = %e, "presence update failed");
        None
    })
}

/// Queues a presence transition for the fanout to announce; a failure is logged, not returned.
async fn queue_presence(deps: &ConnectionDeps, transition: Option<Presence>, at_ms: i64, endpoint: Option<String>) {
    let Some(presence) = transition else { return };
    let notice =
        PresenceNotice { user: presence.user, status: presence.status, last_seen: presence.last_seen, at_ms, endpoint };
    if let Err(e) = deps.queue.enqueue(&Envelope::Presence(notice)).await {
        warn!(error = %e, "queueing a presence change failed");
    }
}
