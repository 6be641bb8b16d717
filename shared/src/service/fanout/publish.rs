//! Storing a message and posting it, page by page, to its room; announcing presence.

use tracing::warn;

use super::{Announcement, Deadline, Delivery, FanoutDeps, FanoutError};
use crate::domain::{AppendOutcome, Message, NewMessage};
use crate::envelope::{PresenceNotice, Publish};
use crate::protocol::ServerFrame;
use crate::service::broadcast::{self, Report};
use crate::service::connection;

/// How long a delivery checkpoint is kept: far longer than any record is retried.
const CHECKPOINT_TTL_SECS: i64 = 24 * 60 * 60;

/// Posts made for one message or notice.
#[derive(Debug, Default)]
struct Posted {
    delivered: usize,
    gone: usize,
    failed: usize,
}

impl Posted {
    fn add(&mut self, r: &Report) {
        self.delivered += r.delivered;
        self.gone += r.gone.len();
        self.failed += r.failed;
    }
}

pub(super) async fn announce_notice(
    deps: &FanoutDeps,
    n: PresenceNotice,
    deadline: Deadline,
) -> Result<Announcement, FanoutError> {
    let endpoint =
        deps.settings.endpoint_override.clone().or_else(|| n.endpoint.clone()).ok_or(FanoutError::NoEndpoint)?;
    let report = announce(deps, &endpoint, &n, deadline).await?;
    remove_gone(deps, &endpoint, &report.gone).await;
    if report.unsent > 0 {
        return Err(FanoutError::OutOfTime { posted: report.delivered + report.failed });
    }
    Ok(Announcement {
        user: n.user,
        status: n.status,
        delivered: report.delivered,
        gone: report.gone.len(),
        failed: report.failed,
    })
}

pub(super) async fn publish(deps: &FanoutDeps, p: Publish, deadline: Deadline) -> Result<Delivery, FanoutError> {
    let endpoint = deps.settings.endpoint_override.clone().or(p.endpoint).ok_or(FanoutError::NoEndpoint)?;
    let now = deps.clock.now().timestamp();
    let appended = deps
        .stores
        .messages
        .append(NewMessage {
            id: p.id,
            room: p.room,
            from: p.from,
            body: p.body,
            client_msg_id: p.client_msg_id,
            sent_at: p.sent_at,
            expires_at: now + deps.settings.retention_secs,
            now,
        })
        .await?;
    let message = appended.message;
    let mut delivery = Delivery {
        room: message.room.clone(),
        seq: message.seq,
        outcome: appended.outcome,
        delivered: 0,
        gone: 0,
        failed: 0,
    };
    let resume = match appended.outcome {
        AppendOutcome::Duplicate => return Ok(delivery),
        AppendOutcome::Fresh => None,
        // An earlier attempt stored it and may have posted to some pages before it stopped.
        AppendOutcome::Redelivered => checkpoint(deps, &message).await,
    };
    let posted = deliver_from(deps, &endpoint, &message, resume, deadline).await?;
    delivery.delivered = posted.delivered;
    delivery.gone = posted.gone;
    delivery.failed = posted.failed;
    Ok(delivery)
}

/// Where an earlier attempt stopped; a failed read only costs re-posting from the start.
async fn checkpoint(deps: &FanoutDeps, message: &Message) -> Option<String> {
    match deps.ledger.delivery_checkpoint(&message.room, message.seq).await {
        Ok(c) => c,
        Err(e) => {
            warn!(room = %message.room, seq = message.seq, error = %e, "reading the delivery checkpoint failed; posting to every page");
            None
        }
    }
}

/// Pushes one message to every subscriber of its room, with no deadline; returns
/// (delivered, gone). Connections whose posts fail are logged and counted, not an error.
pub async fn deliver(deps: &FanoutDeps, endpoint: &str, message: &Message) -> Result<(usize, usize), FanoutError> {
    let posted = deliver_from(deps, endpoint, message, None, Deadline::none()).await?;
    Ok((posted.delivered, posted.gone))
}

/// Posts page by page from `cursor` (the first page when `None`). After each page of a room with
/// more, the next page's cursor is saved, so a retry after the deadline (or a crash) does not
/// post to the finished pages again. Subscribers of a page cut short get it twice and drop the
/// repeated seq.
async fn deliver_from(
    deps: &FanoutDeps,
    endpoint: &str,
    message: &Message,
    mut cursor: Option<String>,
    deadline: Deadline,
) -> Result<Posted, FanoutError> {
    let frame = ServerFrame::Message(message.clone()).to_json().into_bytes();
    let mut posted = Posted::default();
    loop {
        if !deadline.has_time() {
            return Err(FanoutError::OutOfTime { posted: posted.delivered + posted.failed });
        }
        let page = deps.stores.subscriptions.subscribers(&message.room, cursor.as_deref()).await?;
        let ids = page.items.into_iter().map(|s| s.connection_id).collect();
        let policy = deps.settings.policy();
        let report =
            broadcast::post_all_until(deps.pusher.as_ref(), policy, endpoint, ids, &frame, deadline.stop_at()).await;
        remove_gone(deps, endpoint, &report.gone).await;
        posted.add(&report);
        if report.unsent > 0 {
            return Err(FanoutError::OutOfTime { posted: posted.delivered + posted.failed });
        }
        let Some(next) = page.next else { return Ok(posted) };
        let expires_at = deps.clock.now().timestamp() + CHECKPOINT_TTL_SECS;
        if let Err(e) = deps.ledger.save_delivery_checkpoint(&message.room, message.seq, &next, expires_at).await {
            warn!(room = %message.room, seq = message.seq, error = %e, "saving the delivery checkpoint failed; a retry posts this page again");
        }
        cursor = Some(next);
    }
}

/// Announces a presence transition to the subscribers of every room the user is a member of.
async fn announce(
    deps: &FanoutDeps,
    endpoint: &str,
    notice: &PresenceNotice,
    deadline: Deadline,
) -> Result<Report, FanoutError> {
    let rooms = deps.stores.subscriptions.rooms_of(&notice.user).await?;
    let frame = ServerFrame::PresenceChanged {
        user: notice.user.clone(),
        status: notice.status,
        last_seen: notice.last_seen.clone(),
        version: notice.version,
    }
    .to_json()
    .into_bytes();
    let audience = broadcast::audience(deps.stores.subscriptions.as_ref(), &rooms, |_| false).await?;
    let policy = deps.settings.policy();
    Ok(broadcast::post_all_until(deps.pusher.as_ref(), policy, endpoint, audience, &frame, deadline.stop_at()).await)
}

/// Removes connections that answered 410, and announces users that went offline with them.
/// A failed clean-up is not the message's failure: the next post to it answers 410 again.
async fn remove_gone(deps: &FanoutDeps, endpoint: &str, gone: &[String]) {
    for id in gone {
        let now = deps.clock.now();
        let offline = match connection::forget(&deps.stores, id, now).await {
            Ok((_, transition)) => transition,
            Err(e) => {
                warn!(connection_id = %id, error = %e, "removing a gone connection failed");
                continue;
            }
        };
        let Some(p) = offline else { continue };
        let notice = crate::envelope::PresenceNotice {
            user: p.user,
            status: p.status,
            last_seen: p.last_seen,
            version: p.version,
            at_ms: now.timestamp_millis(),
            endpoint: None,
        };
        // Connections found gone while announcing are removed on their next post.
        if let Err(e) = announce(deps, endpoint, &notice, Deadline::none()).await {
            warn!(user = %notice.user, error = %e, "announcing offline failed");
        }
    }
}
