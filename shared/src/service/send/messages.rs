//! `send` and `history`: the actions that move messages (`sync` is in `sync.rs`).

use super::guards::{require_member, require_subscribed};
use super::{ActionError, Caller, SendDeps};
use crate::domain::{Connection, timestamp};
use crate::envelope::{Envelope, Publish};
use crate::moderation::{Candidate, Verdict};
use crate::protocol::{RoomId, ServerFrame, Welcome, wire};

/// A `send` as parsed.
pub(super) struct Outgoing<'a> {
    pub(super) room: &'a RoomId,
    pub(super) body: &'a str,
    pub(super) client_msg_id: &'a Option<String>,
    /// Checked by the parser: only with an MLS Commit in an encrypted room.
    pub(super) welcome: Option<&'a Welcome>,
}

/// `send`: queued for the fanout to sequence and deliver (the budget was spent before).
pub(super) async fn publish(deps: &SendDeps, caller: &Caller, out: Outgoing<'_>) -> Result<ServerFrame, ActionError> {
    let Outgoing { room, body, client_msg_id, welcome } = out;
    let conn = &caller.connection;
    require_subscribed(deps, conn, room).await?;
    if room.is_encrypted() {
        super::epochs::check(deps, room, &conn.user, body).await?;
    }
    let candidate = Candidate {
        room: room.as_str(),
        from: &conn.user,
        body,
        client_msg_id: client_msg_id.as_deref(),
        connection_id: &conn.id,
    };
    // Before anything is queued: a rejected message leaves no trace, a masked one is the only
    // version that is ever queued and stored. An encrypted room's bodies are ciphertext, which no
    // rule can read: they are not moderated (docs/moderation.md).
    let verdict = if room.is_encrypted() { Verdict::Allow } else { deps.moderation.review(&candidate).await? };
    let moderated = match verdict {
        Verdict::Allow => None,
        Verdict::Replace(masked) => Some(masked),
        Verdict::Reject(reason) => return Err(ActionError::Rejected { reason }),
    };
    let body = moderated.as_deref().unwrap_or(body);
    let now = deps.clock.now();
    let id = ulid::Ulid::generate().to_string();
    let envelope = Envelope::Publish(Publish {
        // Only an encrypted room's sender may need telling later (a Commit's `conflict`).
        connection_id: room.is_encrypted().then(|| conn.id.clone()),
        id: id.clone(),
        room: room.to_string(),
        from: conn.user.clone(),
        body: body.to_owned(),
        client_msg_id: client_msg_id.clone(),
        sent_at: timestamp(now),
        endpoint: caller.endpoint.clone(),
        welcome: welcome.map(|w| Box::new(w.clone())),
    });
    deps.queue.enqueue(&envelope).await?;
    Ok(ServerFrame::Accepted { room: room.to_string(), client_msg_id: client_msg_id.clone(), id })
}

/// `history`: one page of a room's stored messages, oldest first, cut to the newest ones that
/// fit [`wire::PAGE_BYTES`]; a cut page says `hasMore`, and its first seq is the next `before`.
pub(super) async fn history(
    deps: &SendDeps,
    conn: &Connection,
    room: &RoomId,
    before: Option<u64>,
    limit: u32,
) -> Result<ServerFrame, ActionError> {
    require_member(deps, conn, room).await?;
    let now = deps.clock.now().timestamp();
    let mut page = deps.stores.messages.history(room.as_str(), before, limit, now).await?;
    let overhead = wire::frame_len(&ServerFrame::History { room: room.to_string(), messages: vec![], has_more: false });
    let fit = wire::fitting(page.messages.iter().rev().map(wire::item_len), overhead, usize::MAX);
    let cut = page.messages.len() - fit;
    let messages = page.messages.split_off(cut);
    Ok(ServerFrame::History { room: room.to_string(), messages, has_more: page.has_more || cut > 0 })
}
