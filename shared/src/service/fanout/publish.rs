//! Storing a message and posting it, page by page, to its room; announcing presence.

use tracing::{info, warn};

use super::{Announcement, Deadline, Delivery, FanoutDeps, FanoutError, run};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::domain::{AppendOutcome, CommitEpoch, Message, NewMessage, Shard};
use crate::envelope::{PresenceNotice, Publish, ShardDelivery};
use crate::protocol::{ErrorCode, ProtocolError, ServerFrame, mls};
use crate::service::broadcast::{self, Report};
use crate::service::connection;

/// Posts made for one message, run or notice.
#[derive(Debug, Default)]
pub(super) struct Posted {
    pub(super) delivered: usize,
    pub(super) gone: usize,
    pub(super) failed: usize,
    /// Shard deliveries queued instead of posts (a large room).
    pub(super) queued: usize,
}

impl Posted {
    pub(super) fn add(&mut self, r: &Report) {
        self.delivered += r.delivered;
        self.gone += r.gone.len();
        self.failed += r.failed;
    }
}

/// A message the fanout stored (or found stored), ready to be delivered.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    /// The message with its seq.
    pub(super) message: Message,
    /// Stored now, before, or a duplicate (which is not delivered).
    pub(super) outcome: AppendOutcome,
    /// The Management API to post through.
    pub(super) endpoint: String,
    /// The subscriber page an earlier attempt stopped at, for a redelivered message.
    pub(super) resume: Option<String>,
    /// Who it goes to.
    pub(super) target: Target,
}

/// Who a run goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Target {
    /// The whole room: a run of the fanout, routed directly or through shards by size.
    #[default]
    Room,
    /// One shard of a large room: a run of shard deliveries, posted directly.
    Shard(Shard),
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

/// Sequences and stores the message, exactly once (a redelivered record finds it stored), and
/// reads where an earlier attempt at delivering it stopped.
pub(super) async fn store(deps: &FanoutDeps, p: Publish) -> Result<Stored, FanoutError> {
    let endpoint = deps.settings.endpoint_override.clone().or(p.endpoint).ok_or(FanoutError::NoEndpoint)?;
    let now = deps.clock.now().timestamp();
    let commit = commit_of(&p.room, &p.body);
    let (sender, client_msg_id, welcome) = (p.connection_id, p.client_msg_id.clone(), p.welcome);
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
            commit,
        })
        .await?;
    // A Commit that lost its epoch takes its Welcome with it; a stored one releases it, also
    // when found stored by a retry, in case the attempt that stored it stopped before this.
    if let Some(w) = welcome.filter(|_| !matches!(appended.outcome, AppendOutcome::Conflict { .. })) {
        super::welcome::release(deps, &endpoint, &appended.message, *w).await?;
    }
    let resume = match appended.outcome {
        AppendOutcome::Fresh | AppendOutcome::Duplicate => None,
        AppendOutcome::Conflict { epoch } => {
            tell_conflict(deps, &endpoint, sender.as_deref(), &appended.message.room, client_msg_id, epoch).await;
            None
        }
        // An earlier attempt stored it and may have posted to some pages before it stopped.
        AppendOutcome::Redelivered => run::checkpoint(deps, &appended.message, Shard::ALL).await,
    };
    Ok(Stored { message: appended.message, outcome: appended.outcome, endpoint, resume, target: Target::Room })
}

/// The epoch an encrypted room's message commits from, when it is an MLS Commit. `send` checked
/// the framing; a body that no longer parses (a record from an older release) is stored as is.
fn commit_of(room: &str, body: &str) -> Option<CommitEpoch> {
    if !room.starts_with("e2e:") {
        return None;
    }
    let framing = mls::read_framing(body).ok()?;
    (framing.content_type == mls::ContentType::Commit)
        .then(|| CommitEpoch { group_id: STANDARD.encode(&framing.group_id), epoch: framing.epoch })
}

/// Tells the sender of a Commit that lost its epoch, once: the record is done either way (the
/// Commit must not be stored later), so a failed post is only logged; the client finds out from
/// the room (its Commit never arrives; the winner does).
async fn tell_conflict(
    deps: &FanoutDeps,
    endpoint: &str,
    connection: Option<&str>,
    room: &str,
    client_msg_id: Option<String>,
    epoch: u64,
) {
    info!(room, epoch, client_msg_id = client_msg_id.as_deref().unwrap_or(""), "commit lost its epoch; not stored");
    let Some(connection) = connection else { return };
    let mut error = ProtocolError::new(
        ErrorCode::Conflict,
        format!("{room} is at epoch {epoch}: another commit was stored first; process it and commit again"),
    );
    error.action = Some("send".to_owned());
    error.client_msg_id = client_msg_id;
    let mut frame = error.to_frame();
    if let ServerFrame::Error(f) = &mut frame {
        f.epoch = Some(epoch);
    }
    if let Err(e) = deps.pusher.post(endpoint, connection, frame.to_json().as_bytes()).await {
        warn!(room, connection, error = %e, "telling the sender of a conflict failed");
    }
}

/// Stores one message and delivers it on its own (the batch path delivers runs instead).
pub(super) async fn publish(deps: &FanoutDeps, p: Publish, deadline: Deadline) -> Result<Delivery, FanoutError> {
    let stored = store(deps, p).await?;
    let mut delivery = Delivery {
        room: stored.message.room.clone(),
        seq: stored.message.seq,
        outcome: stored.outcome,
        delivered: 0,
        gone: 0,
        failed: 0,
    };
    if matches!(stored.outcome, AppendOutcome::Duplicate | AppendOutcome::Conflict { .. }) {
        return Ok(delivery);
    }
    let posted = run::deliver(deps, &stored.endpoint, &[stored.message], stored.resume, deadline).await?;
    delivery.delivered = posted.delivered;
    delivery.gone = posted.gone;
    delivery.failed = posted.failed;
    Ok(delivery)
}

/// Posts a shard delivery's messages to the subscribers of its shard (a record handled alone). A
/// `redelivered` record resumes where its first message's checkpoint says, as in a batch.
pub(super) async fn deliver_shard(
    deps: &FanoutDeps,
    d: ShardDelivery,
    redelivered: bool,
    deadline: Deadline,
) -> Result<Delivery, FanoutError> {
    let (first, last) = (d.messages.first().map_or(0, |m| m.seq), d.messages.last().map_or(0, |m| m.seq));
    let resume = match d.messages.first() {
        Some(m) if redelivered => run::checkpoint(deps, m, d.shard).await,
        _ => None,
    };
    let posted = run::deliver_run(deps, &d.endpoint, &d.messages, d.shard, resume, deadline).await?;
    Ok(Delivery {
        room: d.room,
        seq: last.max(first),
        outcome: AppendOutcome::Redelivered,
        delivered: posted.delivered,
        gone: posted.gone,
        failed: posted.failed,
    })
}

/// Pushes one message to every subscriber of its room, with no deadline; returns
/// (delivered, gone). Connections whose posts fail are logged and counted, not an error.
pub async fn deliver(deps: &FanoutDeps, endpoint: &str, message: &Message) -> Result<(usize, usize), FanoutError> {
    let posted = run::deliver(deps, endpoint, std::slice::from_ref(message), None, Deadline::none()).await?;
    Ok((posted.delivered, posted.gone))
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
    let limit = deps.settings.presence_push_limit;
    let audience =
        broadcast::small_rooms_audience(deps.stores.subscriptions.as_ref(), &rooms, limit, |_| false).await?;
    if audience.skipped_rooms > 0 {
        info!(user = %notice.user, skipped_rooms = audience.skipped_rooms, "presence not pushed to large rooms");
    }
    let policy = deps.settings.policy();
    let connections = audience.connections;
    Ok(broadcast::post_all_until(deps.pusher.as_ref(), policy, endpoint, connections, &frame, deadline.stop_at()).await)
}

/// Removes connections that answered 410, and announces users that went offline with them.
/// A failed clean-up is not the message's failure: the next post to it answers 410 again.
pub(super) async fn remove_gone(deps: &FanoutDeps, endpoint: &str, gone: &[String]) {
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
