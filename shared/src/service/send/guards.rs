//! Who may do what: membership, subscription, DM rooms, and where to post.

use super::{ActionError, Caller, SendDeps};
use crate::domain::Connection;
use crate::protocol::RoomId;

/// The management endpoint that reaches the caller's API.
pub(super) fn endpoint(deps: &SendDeps, caller: &Caller) -> Result<String, ActionError> {
    deps.endpoint_override.clone().or_else(|| caller.endpoint.clone()).ok_or(ActionError::NoEndpoint)
}

/// Reading a room (history, sync, presence, read) takes membership or a live subscription.
pub(super) async fn require_member(deps: &SendDeps, conn: &Connection, room: &RoomId) -> Result<(), ActionError> {
    if !room.admits(&conn.user) {
        return Err(forbidden_room(room));
    }
    if deps.stores.subscriptions.is_member(room.as_str(), &conn.user).await?
        || deps.stores.subscriptions.is_subscribed(room.as_str(), &conn.id).await?
    {
        Ok(())
    } else {
        Err(ActionError::Forbidden(format!("join {room} first")))
    }
}

/// Sending to a room (send, typing) takes a live subscription of this connection.
pub(super) async fn require_subscribed(deps: &SendDeps, conn: &Connection, room: &RoomId) -> Result<(), ActionError> {
    if !room.admits(&conn.user) {
        return Err(forbidden_room(room));
    }
    if deps.stores.subscriptions.is_subscribed(room.as_str(), &conn.id).await? {
        Ok(())
    } else {
        Err(ActionError::Forbidden(format!("join {room} first")))
    }
}

/// The same words for every refused DM room, so a refusal tells nothing about the room.
pub(super) fn forbidden_room(room: &RoomId) -> ActionError {
    ActionError::Forbidden(format!("{room} is not open to you"))
}
