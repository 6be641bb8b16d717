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
use crate::telemetry::metric;

/// Messages read from the store at once: a page or two of ordinary messages, so a request stopped
/// by its budget has not read a room's whole backlog for nothing.
const READ_CHUNK: usize = 250;

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
            metric::served(&previous);
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
    /// The last seq read (or the start): where the next read starts.
    read_to: u64,
    /// Messages read for this room.
    count: usize,
    /// From the first read: whether nothing after the start was lost to retention.
    recovered: Option<bool>,
    /// Read but not sent yet: the start of a page that more messages may still fill.
    buffered: Vec<Message>,
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
    let mut progress = RoomProgress { sent_to: after, read_to: after, count: 0, recovered: None, buffered: vec![] };
    let synced = |p: &RoomProgress, last_seq: u64, has_more: bool| ServerFrame::Synced {
        room: room.to_string(),
        // A room the budget stopped before its first read has lost nothing as far as is known.
        recovered: p.recovered.unwrap_or(true),
        last_seq,
        has_more,
    };
    loop {
        if out.exhausted() {
            return out.push(synced(&progress, progress.sent_to, true)).await;
        }
        let want = READ_CHUNK.min(limit - progress.count);
        let page = deps.stores.messages.since(room.as_str(), progress.read_to, want, now).await?;
        progress.recovered.get_or_insert(page.recovered);
        progress.count += page.messages.len();
        progress.read_to = page.messages.last().map_or(progress.read_to, |m| m.seq);
        progress.buffered.extend(page.messages);
        let room_done = !page.has_more;
        let request_done = progress.count >= limit;
        if !send_pages(out, room, pages, &mut progress, room_done || request_done).await? {
            return out.push(synced(&progress, progress.sent_to, true)).await;
        }
        if room_done {
            return out.push(synced(&progress, page.last_seq, false)).await;
        }
        if request_done {
            return out.push(synced(&progress, progress.sent_to, true)).await;
        }
    }
}

/// Sends the buffered messages in as few frames as fit: only full pages unless `flush`, so a
/// page is not cut at a read's end. False when the budget ran out first.
async fn send_pages(
    out: &mut Outbox<'_>,
    room: &RoomId,
    pages: bool,
    progress: &mut RoomProgress,
    flush: bool,
) -> Result<bool, ActionError> {
    let overhead = wire::frame_len(&ServerFrame::SyncPage { room: room.to_string(), messages: vec![] });
    while !progress.buffered.is_empty() {
        let n =
            if pages { wire::fitting(progress.buffered.iter().map(wire::item_len), overhead, usize::MAX) } else { 1 };
        if n >= progress.buffered.len() && !flush {
            break;
        }
        if out.exhausted() {
            return Ok(false);
        }
        let rest = progress.buffered.split_off(n.max(1));
        let mut messages = std::mem::replace(&mut progress.buffered, rest);
        let Some(last_seq) = messages.last().map(|m| m.seq) else { break };
        let frame = match messages.pop() {
            Some(only) if !pages => ServerFrame::Message(only),
            Some(last) => {
                messages.push(last);
                ServerFrame::SyncPage { room: room.to_string(), messages }
            }
            None => break,
        };
        progress.sent_to = last_seq;
        out.push(frame).await?;
    }
    Ok(true)
}
