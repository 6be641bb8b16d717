//! `presence`, `status`, `read` and `typing`: who is here and what they are doing.

use super::budget::gate;
use super::guards::{endpoint, require_member, require_subscribed};
use super::{ActionError, Caller, SendDeps};
use crate::domain::Status;
use crate::envelope::Envelope;
use crate::protocol::{MemberPresence, PRESENCE_PAGE_MEMBERS, RoomId, ServerFrame, wire};
use crate::service::broadcast::{self, PushPolicy, Report};
use crate::service::connection;

/// What a member entry adds to its user id:
/// `{"user":,"status":"offline","lastSeen":"2026-01-01T00:00:00.000Z","version":18446744073709551615}`.
const MEMBER_FIELDS_BYTES: usize = 96;

/// `presence`: one page of the room's members with their status, in byte order of user id after
/// `cursor`, at most [`PRESENCE_PAGE_MEMBERS`] and at most [`wire::PAGE_BYTES`]. Members still
/// counted through a connection whose `$disconnect` was lost are forgotten first (their offline
/// transition is queued), so the listing and the announcements agree.
pub(super) async fn members(
    deps: &SendDeps,
    caller: &Caller,
    room: &RoomId,
    cursor: Option<&str>,
) -> Result<ServerFrame, ActionError> {
    require_member(deps, &caller.connection, room).await?;
    let mut users = deps.stores.subscriptions.members(room.as_str()).await?;
    users.retain(|u| cursor.is_none_or(|c| u.as_str() > c));
    users.sort_unstable();
    // The cursor is a user id, so the fixed part makes room for the longest one.
    let empty = ServerFrame::Presence { room: room.to_string(), members: vec![], has_more: true, cursor: None };
    let longest_user = users.iter().map(wire::item_len).max().unwrap_or(0);
    let overhead = wire::frame_len(&empty) + r#","cursor":"#.len() + longest_user;
    let n =
        wire::fitting(users.iter().map(|u| wire::item_len(u) + MEMBER_FIELDS_BYTES), overhead, PRESENCE_PAGE_MEMBERS);
    let has_more = users.len() > n;
    users.truncate(n);
    let now = deps.clock.now();
    let members = connection::presence_of(&deps.stores, deps.queue.as_ref(), &users, now, caller.endpoint.clone())
        .await?
        .into_iter()
        .map(|p| MemberPresence { user: p.user, status: p.status, last_seen: p.last_seen, version: p.version })
        .collect();
    let cursor = if has_more { users.pop() } else { None };
    Ok(ServerFrame::Presence { room: room.to_string(), members, has_more, cursor })
}

/// `status`: a transition is queued for the fanout to announce to the user's rooms; the caller
/// gets its own `presenceChanged` as the reply. A change sooner than `status_interval_ms` after
/// the last one is refused before it is stored, so toggling cannot flood the user's rooms.
pub(super) async fn set_status(deps: &SendDeps, caller: &Caller, status: Status) -> Result<ServerFrame, ActionError> {
    let user = &caller.connection.user;
    let now = deps.clock.now();
    let current = deps.stores.presence.presence(std::slice::from_ref(user), now.timestamp()).await?;
    let changes = current.first().is_none_or(|p| p.status != status);
    if changes && let Some(retry_after_ms) = gate(deps, user, "status", deps.limits.status_interval_ms).await? {
        let reason = format!("status may change once per {} ms", deps.limits.status_interval_ms);
        return Err(ActionError::RateLimited { reason, retry_after_ms });
    }
    let set = deps.stores.presence.set_status(user, status, now.timestamp()).await?;
    let version = set.current.version;
    if set.changed {
        let notice = connection::notice(set.current, now.timestamp_millis(), caller.endpoint.clone());
        deps.queue.enqueue(&Envelope::Presence(notice)).await?;
    }
    Ok(ServerFrame::PresenceChanged { user: user.clone(), status, last_seen: None, version })
}

/// `read`: stores the cursor and tells the room's other subscribers; the reader gets it as the
/// reply. Only a read that moves the cursor is told, and at most one per `read_interval_ms` per
/// user and room (the cursor of the others is stored all the same).
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
    let before = deps.stores.presence.read_cursor(&conn.user, room.as_str()).await?;
    let stored = deps.stores.presence.set_read(&conn.user, room.as_str(), seq).await?;
    let frame = ServerFrame::Read { room: room.to_string(), user: conn.user.clone(), seq: stored };
    let moved = before.is_none_or(|b| stored > b);
    if !moved || gate(deps, &conn.user, &format!("read#{room}"), deps.limits.read_interval_ms).await?.is_some() {
        return Ok(frame);
    }
    let rooms = [room.to_string()];
    let limit = deps.limits.presence_push_limit;
    let subs = deps.stores.subscriptions.as_ref();
    let audience = broadcast::small_rooms_audience(subs, &rooms, limit, |s| s.connection_id == conn.id).await?;
    let endpoint = endpoint(deps, caller)?;
    let json = frame.to_json();
    let report = broadcast::post_all(
        deps.pusher.as_ref(),
        PushPolicy::default(),
        &endpoint,
        audience.connections,
        json.as_bytes(),
    )
    .await;
    forget_gone(deps, caller, &report).await;
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
    let rooms = [room.to_string()];
    let limit = deps.limits.presence_push_limit;
    let subs = deps.stores.subscriptions.as_ref();
    let audience = broadcast::small_rooms_audience(subs, &rooms, limit, |s| s.user == conn.user).await?;
    let endpoint = endpoint(deps, caller)?;
    let report = broadcast::post_all(
        deps.pusher.as_ref(),
        PushPolicy::default(),
        &endpoint,
        audience.connections,
        frame.as_bytes(),
    )
    .await;
    forget_gone(deps, caller, &report).await;
    Ok(None)
}

/// Connections that answered 410 are forgotten as the fanout forgets them, and users left with
/// no connection are announced offline.
async fn forget_gone(deps: &SendDeps, caller: &Caller, report: &Report) {
    let now = deps.clock.now();
    connection::forget_gone(&deps.stores, deps.queue.as_ref(), &report.gone, now, caller.endpoint.clone()).await;
}
