//! `send`, `history` and `sync`: the actions that move messages.

use super::guards::{endpoint, require_member, require_subscribed};
use super::{ActionError, Caller, SendDeps};
use crate::domain::{Connection, timestamp};
use crate::envelope::{Envelope, Publish};
use crate::protocol::{ProtocolError, RoomId, ServerFrame};
use crate::service::broadcast::{self, PushPolicy};

/// `send`: queued for the fanout to sequence and deliver (the budget was spent before).
pub(super) async fn publish(
    deps: &SendDeps,
    caller: &Caller,
    room: &RoomId,
    body: &str,
    client_msg_id: &Option<String>,
) -> Result<ServerFrame, ActionError> {
    let conn = &caller.connection;
    require_subscribed(deps, conn, room).await?;
    let now = deps.clock.now();
    let id = ulid::Ulid::generate().to_string();
    let envelope = Envelope::Publish(Publish {
        id: id.clone(),
        room: room.to_string(),
        from: conn.user.clone(),
        body: body.to_owned(),
        client_msg_id: client_msg_id.clone(),
        sent_at: timestamp(now),
        endpoint: caller.endpoint.clone(),
    });
    deps.queue.enqueue(&envelope).await?;
    Ok(ServerFrame::Accepted { room: room.to_string(), client_msg_id: client_msg_id.clone(), id })
}

/// `history`: one page of a room's stored messages, oldest first.
pub(super) async fn history(
    deps: &SendDeps,
    conn: &Connection,
    room: &RoomId,
    before: Option<u64>,
    limit: u32,
) -> Result<ServerFrame, ActionError> {
    require_member(deps, conn, room).await?;
    let now = deps.clock.now().timestamp();
    let page = deps.stores.messages.history(room.as_str(), before, limit, now).await?;
    Ok(ServerFrame::History { room: room.to_string(), messages: page.messages, has_more: page.has_more })
}

/// `sync`: per room, the missed messages in seq order, then `synced`. Every frame but the last is
/// posted to the caller in order; the last is the reply, which API Gateway sends after them.
pub(super) async fn sync(
    deps: &SendDeps,
    caller: &Caller,
    rooms: &[(RoomId, Option<u64>)],
) -> Result<Option<ServerFrame>, ActionError> {
    let conn = &caller.connection;
    let endpoint = endpoint(deps, caller)?;
    let now = deps.clock.now().timestamp();
    let mut frames: Vec<ServerFrame> = Vec::new();
    let mut pending: Option<ServerFrame> = None;
    for (room, seq) in rooms {
        let room_frames = match sync_room(deps, conn, room, *seq, now).await {
            Ok(f) => f,
            Err(e @ (ActionError::Forbidden(_) | ActionError::NotFound(_))) => vec![
                ProtocolError {
                    code: e.code(),
                    message: format!("{room}: {e}"),
                    action: Some("sync".into()),
                    client_msg_id: None,
                }
                .to_frame(),
            ],
            Err(e) => return Err(e),
        };
        frames.extend(room_frames);
        // Post as we go so a room of 1,000 messages is not held in memory twice.
        let last = frames.pop();
        for frame in pending.take().into_iter().chain(frames.drain(..)) {
            broadcast::post_with_retry(
                deps.pusher.as_ref(),
                PushPolicy::default(),
                &endpoint,
                &conn.id,
                frame.to_json().as_bytes(),
            )
            .await?;
        }
        pending = last;
    }
    Ok(pending)
}

async fn sync_room(
    deps: &SendDeps,
    conn: &Connection,
    room: &RoomId,
    seq: Option<u64>,
    now: i64,
) -> Result<Vec<ServerFrame>, ActionError> {
    require_member(deps, conn, room).await?;
    let after = match seq {
        Some(s) => s,
        None => deps.stores.presence.read_cursor(&conn.user, room.as_str()).await?.unwrap_or(0),
    };
    let page = deps.stores.messages.since(room.as_str(), after, deps.limits.sync_limit, now).await?;
    let last_seq = if page.has_more { page.messages.last().map_or(after, |m| m.seq) } else { page.last_seq };
    let mut frames: Vec<ServerFrame> = page.messages.into_iter().map(ServerFrame::Message).collect();
    frames.push(ServerFrame::Synced {
        room: room.to_string(),
        recovered: page.recovered,
        last_seq,
        has_more: page.has_more,
    });
    Ok(frames)
}
