//! `$connect` and `$disconnect`: registering a connection, removing it, and queueing the
//! presence transitions they cause for the fanout to announce.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::clock::Clock;
use crate::domain::{Connection, Opened, Presence, Removed};
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

/// Registers the connection and records it in its user's presence, removing the items of the
/// connections presence stopped counting (dead ones whose `$disconnect` was lost, or the least
/// recently active beyond the per-user cap). The connection must stand even when presence fails,
/// so only the registration's failure is returned.
pub async fn open(deps: &ConnectionDeps, conn: &Connection, endpoint: Option<String>) -> Result<(), StoreError> {
    deps.stores.connections.register(conn).await?;
    let now = deps.clock.now();
    let opened = deps.stores.presence.connection_opened(conn, now.timestamp()).await.unwrap_or_else(|e| {
        warn!(connection_id = %conn.id, error = %e, "presence update failed");
        Opened::default()
    });
    for id in &opened.dropped {
        if let Err(e) = deps.stores.connections.remove(id).await {
            warn!(connection_id = %id, error = %e, "removing a connection presence dropped failed");
        }
    }
    announce_later(deps.queue.as_ref(), opened.transition.into_iter().collect(), now.timestamp_millis(), endpoint)
        .await;
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
    announce_later(deps.queue.as_ref(), transition.into_iter().collect(), now.timestamp_millis(), endpoint).await;
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

/// Forgets connections that answered 410 to a post, as [`forget`] does, and queues the offline
/// transitions that causes. Failures are logged: the next post to a gone connection answers 410
/// again.
pub(crate) async fn forget_gone(
    stores: &Stores,
    queue: &dyn Queue,
    gone: &[String],
    now: DateTime<Utc>,
    endpoint: Option<String>,
) {
    let mut offline = Vec::new();
    for id in gone {
        match forget(stores, id, now).await {
            Ok((_, transition)) => offline.extend(transition),
            Err(e) => warn!(connection_id = %id, error = %e, "removing a gone connection failed"),
        }
    }
    announce_later(queue, offline, now.timestamp_millis(), endpoint).await;
}

/// Forgets connections of `user` that presence still counts although API Gateway cannot hold
/// them any more (their `$disconnect` was lost), and queues the offline transition that causes.
/// Their presence entries go even when their connection items are already gone (TTL).
async fn forget_stale(
    stores: &Stores,
    queue: &dyn Queue,
    user: &str,
    stale: &[String],
    now: DateTime<Utc>,
    endpoint: Option<String>,
) {
    let mut offline = Vec::new();
    for id in stale {
        if let Err(e) = stores.connections.remove(id).await {
            warn!(connection_id = %id, error = %e, "removing a stale connection failed");
        }
        let counted = Connection { id: id.clone(), user: user.to_owned(), connected_at_ms: 0, batch: false };
        offline.extend(logged(stores.presence.connection_closed(&counted, now.timestamp()).await, id));
    }
    announce_later(queue, offline, now.timestamp_millis(), endpoint).await;
}

/// The presence of `users` at `now`, after forgetting the connections it found dead (see
/// [`forget_stale`]), so what it answers agrees with what is announced.
pub(crate) async fn presence_of(
    stores: &Stores,
    queue: &dyn Queue,
    users: &[String],
    now: DateTime<Utc>,
    endpoint: Option<String>,
) -> Result<Vec<Presence>, StoreError> {
    let listed = stores.presence.presence(users, now.timestamp()).await?;
    if listed.iter().all(|p| p.stale.is_empty()) {
        return Ok(listed);
    }
    for p in listed.iter().filter(|p| !p.stale.is_empty()) {
        forget_stale(stores, queue, &p.user, &p.stale, now, endpoint.clone()).await;
    }
    stores.presence.presence(users, now.timestamp()).await
}

/// The queue message announcing a transition.
pub(crate) fn notice(presence: Presence, at_ms: i64, endpoint: Option<String>) -> PresenceNotice {
    PresenceNotice {
        user: presence.user,
        status: presence.status,
        last_seen: presence.last_seen,
        version: presence.version,
        at_ms,
        endpoint,
    }
}

/// Queues presence transitions for the fanout to announce; a failure is logged, not returned.
async fn announce_later(queue: &dyn Queue, transitions: Vec<Presence>, at_ms: i64, endpoint: Option<String>) {
    for presence in transitions {
        let user = presence.user.clone();
        if let Err(e) = queue.enqueue(&Envelope::Presence(notice(presence, at_ms, endpoint.clone()))).await {
            warn!(user = %user, error = %e, "queueing a presence change failed");
        }
    }
}
