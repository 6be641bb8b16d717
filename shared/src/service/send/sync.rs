//! `sync`: per room, the messages after the client's seq, then `synced`. Every frame but the last
//! is posted to the caller as it is made; the last is the reply, which API Gateway sends after
//! them. One request makes at most `SendLimits::sync_max_frames` frames of messages and starts no new
//! ones after `SendLimits::sync_time_budget_ms`, so it ends well inside the integration's 29 s;
//! a room it could not finish answers `synced` with `hasMore` and the client syncs again.

use std::time::Duration;

use tokio::time::Instant;

use super::guards::{endpoint, require_member};
use super::{ActionError, Caller, SendDeps};
use crate::domain::Message;
use crate::ports::PushError;
use crate::protocol::{ProtocolError, RoomId, ServerFrame, WireFrame, wire};
use crate::service::broadcast::{self, PushPolicy};

/// Messages read from the store at once: a few pages' worth, so a request stopped by its budget
/// has not read a room's whole backlog for nothing.
const READ_CHUNK: usize = 100;

/// The caller's frames of one `sync`: each frame is held until the next one comes, so the last
/// becomes the reply, and every frame counts against the request's budget.
struct Outbox<'a> {
    deps: &'a SendDeps,
    endpoint: String,
    connection_id: &'a str,
    held: Option<ServerFrame>,
    frames: usize,
    max_frames: usize,
    deadline: Instant,
}

impl Outbox<'_> {
    /// True once the request may start no more message frames.
    fn exhausted(&self) -> bool {
        self.frames >= self.max_frames || Instant::now() >= self.deadline
    }

    async fn push(&mut self, frame: ServerFrame) -> Result<(), ActionError> {
        self.frames += 1;
        if let Some(previous) = self.held.replace(frame) {
            let wire = WireFrame::encode(&previous).map_err(|e| PushError::TooLarge { bytes: e.bytes })?;
            let policy = PushPolicy::default();
            broadcast::post_with_retry(
                self.deps.pusher.as_ref(),
                policy,
                &self.endpoint,
                self.connection_id,
                wire.as_bytes(),
            )
            .await?;
        }
        Ok(())
    }
}

/// `sync` of `rooms`; `pages` picks `syncPage` frames over one `message` frame per message.
pub(super) async fn sync(
    deps: &SendDeps,
    caller: &Caller,
    rooms: &[(RoomId, Option<u64>)],
    pages: bool,
) -> Result<Option<ServerFrame>, ActionError> {
    let conn = &caller.connection;
    let mut out = Outbox {
        deps,
        endpoint: endpoint(deps, caller)?,
        connection_id: &conn.id,
        held: None,
        frames: 0,
        max_frames: deps.limits.sync_max_frames.max(1),
        deadline: Instant::now() + Duration::from_millis(deps.limits.sync_time_budget_ms),
    };
    for (room, seq) in rooms {
        match sync_room(&mut out, caller, room, *seq, pages).await {
            Ok(()) => {}
            Err(e @ (ActionError::Forbidden(_) | ActionError::NotFound(_))) => {
                let refusal = ProtocolError {
                    code: e.code(),
                    message: format!("{room}: {e}"),
                    action: Some("sync".into()),
                    client_msg_id: None,
                };
                out.push(refusal.to_frame()).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out.held.take())
}

/// What one room's sync has done so far.
struct RoomProgress {
    /// The last seq sent (or the start).
    sent_to: u64,
    /// Messages sent for this room.
    count: usize,
    /// From the first read: whether nothing after the start was lost to retention.
    recovered: Option<bool>,
}

async fn sync_room(
    out: &mut Outbox<'_>,
    caller: &Caller,
    room: &RoomId,
    seq: Option<u64>,
    pages: bool,
) -> Result<(), ActionError> {
    let deps = out.deps;
    let conn = &caller.connection;
    require_member(deps, conn, room).await?;
    let after = match seq {
        Some(s) => s,
        None => deps.stores.presence.read_cursor(&conn.user, room.as_str()).await?.unwrap_or(0),
    };
    let now = deps.clock.now().timestamp();
    let limit = deps.limits.sync_limit.max(1);
    let mut progress = RoomProgress { sent_to: after, count: 0, recovered: None };
    let synced = |p: &RoomProgress, last_seq: u64, has_more: bool| ServerFrame::Synced {
        room: room.to_string(),
        // A room the budget stopped before its first read has lost nothing as far as is known.
        recovered: p.recovered.unwrap_or(true),
        last_seq,
        has_more,
    };
    loop {
        if out.exhausted() || progress.count >= limit {
            return out.push(synced(&progress, progress.sent_to, true)).await;
        }
        let want = READ_CHUNK.min(limit - progress.count);
        let page = deps.stores.messages.since(room.as_str(), progress.sent_to, want, now).await?;
        progress.recovered.get_or_insert(page.recovered);
        if !send_messages(out, room, page.messages, pages, &mut progress).await? {
            return out.push(synced(&progress, progress.sent_to, true)).await;
        }
        if !page.has_more {
            return out.push(synced(&progress, page.last_seq, false)).await;
        }
    }
}

/// Sends `messages` (ascending) in as few frames as fit; false when the budget ran out first.
async fn send_messages(
    out: &mut Outbox<'_>,
    room: &RoomId,
    mut messages: Vec<Message>,
    pages: bool,
    progress: &mut RoomProgress,
) -> Result<bool, ActionError> {
    let overhead = wire::frame_len(&ServerFrame::SyncPage { room: room.to_string(), messages: vec![] });
    while !messages.is_empty() {
        if out.exhausted() {
            return Ok(false);
        }
        let n = if pages { wire::fitting(messages.iter().map(wire::item_len), overhead, usize::MAX) } else { 1 };
        let rest = messages.split_off(n.max(1));
        let Some(last) = messages.last() else { break };
        let sent_to = last.seq;
        let frame = match messages.pop() {
            Some(only) if !pages => ServerFrame::Message(only),
            Some(last) => {
                messages.push(last);
                ServerFrame::SyncPage { room: room.to_string(), messages }
            }
            None => break,
        };
        out.push(frame).await?;
        progress.sent_to = sent_to;
        progress.count += n.max(1);
        messages = rest;
    }
    Ok(true)
}
