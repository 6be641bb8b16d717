//! Releasing an MLS Welcome once its Commit is stored (docs/e2e.md): kept in each device's
//! inbox, its users admitted to the room's group, then posted to their open connections.

use tracing::{info, warn};

use super::{FanoutDeps, FanoutError};
use crate::domain::{HeldWelcome, Message, PendingWelcome, WELCOME_TTL_SECS};
use crate::ports::StoreError;
use crate::protocol::{ServerFrame, Welcome};

/// Keeps `welcome` for its devices, admits their users as senders of the room's group, and
/// tells their connections. Keeping and admitting are the guarantee, so their failure fails the
/// record (a retry finds the Commit stored and keeps the
/// welcome then); a post that fails is only logged, since the device reads its inbox when it
/// connects.
pub(super) async fn release(
    deps: &FanoutDeps,
    endpoint: &str,
    commit: &Message,
    welcome: Welcome,
) -> Result<(), FanoutError> {
    let now = deps.clock.now().timestamp();
    let pending = PendingWelcome {
        room: commit.room.clone(),
        seq: commit.seq,
        from: commit.from.clone(),
        welcome: welcome.message,
    };
    let to: Vec<(String, String)> = welcome.to.into_iter().map(|r| (r.user, r.device)).collect();
    let held = HeldWelcome { welcome: pending, to, expires_at: now + WELCOME_TTL_SECS };
    let mut users: Vec<String> = held.to.iter().map(|(u, _)| u.clone()).collect();
    users.sort_unstable();
    users.dedup();
    // Before the Welcome can be read (inbox or post): a user who joins from it may send at once.
    match deps.stores.messages.admit(&commit.room, &users).await {
        Ok(()) => {}
        // The record's Commit was a duplicate (its clientMsgId) of a stored message that made
        // no group: there is no group to join, so no Welcome to keep. Retrying cannot change it.
        Err(StoreError::NotFound(what)) => {
            warn!(room = %commit.room, seq = commit.seq, what, "welcome dropped: the room has no MLS group");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    deps.stores.welcomes.hold_welcome(&held).await?;
    info!(room = %commit.room, seq = commit.seq, devices = held.to.len(), "welcome released");
    for user in users.iter().map(String::as_str) {
        let connections = match deps.stores.presence.connections_of(user, now).await {
            Ok(c) => c,
            Err(e) => {
                warn!(user, error = %e, "finding connections for a welcome failed; it waits in the inbox");
                continue;
            }
        };
        for (_, device) in held.to.iter().filter(|(u, _)| u == user) {
            let frame = ServerFrame::Welcome { device: device.clone(), welcome: held.welcome.clone() }.to_json();
            for connection in &connections {
                if let Err(e) = deps.pusher.post(endpoint, connection, frame.as_bytes()).await {
                    warn!(user, connection, error = %e, "posting a welcome failed; it waits in the inbox");
                }
            }
        }
    }
    Ok(())
}
