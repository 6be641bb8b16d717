//! `presence`, `status`, `read` and `typing`: who is here and what they are doing.

use super::guards::{endpoint, require_member, require_subscribed};
use super::{ActionError, Caller, SendDeps};
use crate::domain::{Connection, Status};
use crate::envelope::{Envelope, PresenceNotice};
use crate::protocol::{MemberPresence, PRESENCE_PAGE_MEMBERS, RoomId, ServerFrame, wire};
use crate::service::broadcast::{self, PushPolicy};

/// What a member entry adds to its user id: `{"user":,"status":"offline","lastSeen":"…"}`.
const MEMBER_FIELDS_BYTES: usize = 64;

/// `presence`: one page of the room's members with their status, in byte order of user id after
/// `cursor`, at most [`PRESENCE_PAGE_MEMBERS`] and at most [`wire::PAGE_BYTES`].
pub(super) async fn members(
    deps: &SendDeps,
    conn: &Connection,
    room: &RoomId,
    cursor: Option<&str>,
) -> Result<ServerFrame, ActionError> {
    require_member(deps, conn, room).await?;
    let mut users = deps.stores.subscriptions.members(room.as_str()).await?;
    users.retain(|u| cursor.is_none_or(|c| u.as_str() > c));
    users.sort_unstable();
    // The cursor is a user id, so the fixed part makes room for the longest one.
    let empty = ServerFrame::Presence { room: room.to_string(), members: vec![], has_more: true, cursor: None };
    let longest_user = users.iter().map(wire::item_len).max().unwrap_or(0);
    let overhead = wire::frame_len(&empty) + r#","cursor":"#.len() + longest_user;
    // A member's entry is its user plus at most ~60 bytes of status and lastSeen.
    let n =
        wire::fitting(users.iter().map(|u| wire::item_len(u) + MEMBER_FIELDS_BYTES), overhead, PRESENCE_PAGE_MEMBERS);
    let has_more = users.len() > n;
    users.truncate(n);
    let now = deps.clock.now().timestamp();
    let members = deps
        .stores
        .presence
        .presence(&users, now)
        .await?
        .into_iter()
        .map(|p| MemberPresence { user: p.user, status: p.status, last_seen: p.last_seen })
        .collect();
    let cursor = if has_more { users.pop() } else { None };
    Ok(ServerFrame::Presence { room: room.to_string(), members, has_more, cursor })
}

/// `status`: a transition is queued for the fanout to announce to the user's rooms; the caller
/// gets its own `presenceChanged` as the reply.
pub(super) async fn set_status(deps: &SendDeps, caller: &Caller, status: Status) -> Result<ServerFrame, ActionError> {
    let user = &caller.connection.user;
    let now = deps.clock.now();
    if let Some(p) = deps.stores.presence.set_status(user, status, now.timestamp()).await? {
        let notice = PresenceNotice {
            user: p.user,
            status: p.status,
            last_seen: None,
            at_ms: now.timestamp_millis(),
            endpoint: caller.endpoint.clone(),
        };
        deps.queue.enqueue(&Envelope::Presence(notice)).await?;
    }
    Ok(ServerFrame::PresenceChanged { user: user.clone(), status, last_seen: None })
}

/// `read`: stores the cursor and tells the room's other subscribers; the reader gets it as the reply.
pub(super) async fn read(
    deps: &SendDeps,
    caller: &Caller,
    room: &RoomId,
    seq: u64,
) -> Result<ServerFrame, ActionError> {
    let conn = &caller.connection;
    require_member(deps, conn, room).await?;
    let last = deps.stores.messages.last_seq(room.as_str()).await?;
    if seq > last {
        return Err(ActionError::BadRequest(format!("seq {seq} is past {room}'s last seq {last}")));
    }
    let stored = deps.stores.presence.set_read(&conn.user, room.as_str(), seq).await?;
    let frame = ServerFrame::Read { room: room.to_string(), user: conn.user.clone(), seq: stored };
    let audience =
        broadcast::audience(deps.stores.subscriptions.as_ref(), &[room.to_string()], |s| s.connection_id == conn.id)
            .await?;
    let endpoint = endpoint(deps, caller)?;
    broadcast::post_all(deps.pusher.as_ref(), PushPolicy::default(), &endpoint, audience, frame.to_json().as_bytes())
        .await;
    Ok(frame)
}

/// `typing`: goes to the room's other subscribers (not the typist's own devices), never stored,
/// and at most once per interval; extra ones are dropped without a reply.
pub(super) async fn typing(
    deps: &SendDeps,
    caller: &Caller,
    room: &RoomId,
) -> Result<Option<ServerFrame>, ActionError> {
    let conn = &caller.connection;
    require_subscribed(deps, conn, room).await?;
    let now_ms = deps.clock.now().timestamp_millis();
    if !deps.stores.presence.typing_allowed(&conn.id, room.as_str(), now_ms, deps.limits.typing_interval_ms).await? {
        return Ok(None);
    }
    let frame = ServerFrame::Typing { room: room.to_string(), user: conn.user.clone() }.to_json();
    let audience =
        broadcast::audience(deps.stores.subscriptions.as_ref(), &[room.to_string()], |s| s.user == conn.user).await?;
    let endpoint = endpoint(deps, caller)?;
    broadcast::post_all(deps.pusher.as_ref(), PushPolicy::default(), &endpoint, audience, frame.as_bytes()).await;
    Ok(None)
}
