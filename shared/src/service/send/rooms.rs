//! `join` and `leave`.

use super::guards::forbidden_room;
use super::{ActionError, SendDeps};
use crate::domain::Connection;
use crate::protocol::{RoomId, ServerFrame};

pub(super) async fn join(deps: &SendDeps, conn: &Connection, room: &RoomId) -> Result<ServerFrame, ActionError> {
    if !room.admits(&conn.user) {
        return Err(forbidden_room(room));
    }
    // The store checks the limit in the same atomic write as the subscription: a count read
    // here first would let concurrent joins all pass it.
    if !deps.stores.subscriptions.subscribe_within(room.as_str(), conn, deps.limits.max_rooms).await? {
        return Err(ActionError::Forbidden(format!(
            "a connection may be in at most {} rooms; leave one first",
            deps.limits.max_rooms
        )));
    }
    let last_seq = deps.stores.messages.last_seq(room.as_str()).await?;
    Ok(ServerFrame::Joined { room: room.to_string(), last_seq })
}

pub(super) async fn leave(deps: &SendDeps, conn: &Connection, room: &RoomId) -> Result<ServerFrame, ActionError> {
    if !deps.stores.subscriptions.is_subscribed(room.as_str(), &conn.id).await? {
        return Err(ActionError::NotFound(format!("not subscribed to {room}")));
    }
    deps.stores.subscriptions.unsubscribe(room.as_str(), conn).await?;
    Ok(ServerFrame::Left { room: room.to_string() })
}
