//! The queue consumer: sequence and store each message once, then push it to every subscriber.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream;
use tracing::{info, instrument, warn};

use crate::clock::Clock;
use crate::domain::{AppendOutcome, Message, NewMessage, Status};
use crate::envelope::{Envelope, PresenceNotice, Publish};
use crate::ports::{Pusher, StoreError};
use crate::protocol::ServerFrame;
use crate::service::broadcast::{self, PushPolicy, Report};
use crate::service::{Stores, connection};

/// How the fanout function behaves; read from the environment in `config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanoutSettings {
    /// Posts in flight at once for one message.
    pub concurrency: usize,
    /// How long messages are kept (drives `expiresAt`).
    pub retention_secs: i64,
    /// Overrides the endpoint carried by each message (custom domains, the devstack).
    pub endpoint_override: Option<String>,
    /// Tries per post before a throttled or failed post fails the record.
    pub push_attempts: u32,
    /// First back-off between post retries; doubles each time.
    pub push_backoff: Duration,
}

impl FanoutSettings {
    /// How hard to try each post.
    pub fn policy(&self) -> PushPolicy {
        PushPolicy { concurrency: self.concurrency, attempts: self.push_attempts, backoff: self.push_backoff }
    }
}

impl Default for FanoutSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            retention_secs: 30 * 24 * 60 * 60,
            endpoint_override: None,
            push_attempts: 3,
            push_backoff: Duration::from_millis(50),
        }
    }
}

/// What the fanout function needs.
#[derive(Debug, Clone)]
pub struct FanoutDeps {
    /// Messages are sequenced and stored here; gone connections removed.
    pub stores: Stores,
    /// Posts to connections.
    pub pusher: Arc<dyn Pusher>,
    /// Now.
    pub clock: Arc<dyn Clock>,
    /// Tuning.
    pub settings: FanoutSettings,
}

/// One queue record, as the event source mapping hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The SQS message id, reported back when the record fails.
    pub id: String,
    /// The FIFO message group; `None` on a standard queue.
    pub group: Option<String>,
    /// The envelope's JSON.
    pub body: String,
}

/// Why a queue record failed. Whatever the variant, the record (and, to keep FIFO order, every
/// later record of its group in the batch) is reported as a batch item failure, so SQS delivers
/// it again after the visibility timeout and moves it to the DLQ after `maxReceiveCount`
/// receives.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// The record is not an envelope we understand: retrying cannot help, so it will reach the
    /// DLQ after maxReceiveCount, where a human can look at it.
    #[error("record is not a valid envelope")]
    Poison(#[source] serde_json::Error),
    /// Neither the record nor the configuration names a management endpoint: a deployment error.
    #[error("no management endpoint: the message carries none and STARLING_WS_ENDPOINT is unset")]
    NoEndpoint,
    /// Storing or reading failed: retry the record.
    #[error("storing the message failed")]
    Store(#[from] StoreError),
    /// Some posts failed for a reason other than Gone: retry the record (subscribers that got it
    /// already drop the repeated seq).
    #[error("{failed} of {total} posts failed")]
    Undelivered {
        /// Posts that failed after their retries.
        failed: usize,
        /// Posts attempted.
        total: usize,
    },
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A message was stored (or found stored) and delivered.
    Published(Delivery),
    /// A presence transition was posted to the rooms of its user.
    Announced(Announcement),
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its room.
    pub room: String,
    /// Its seq there.
    pub seq: u64,
    /// Whether it was stored now, before, or is a duplicate (then not delivered).
    pub outcome: AppendOutcome,
    /// Connections it was posted to.
    pub delivered: usize,
    /// Connections that answered 410 and were removed.
    pub gone: usize,
}

/// What happened to one presence transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Whose presence changed.
    pub user: String,
    /// To what.
    pub status: Status,
    /// Connections it was posted to.
    pub delivered: usize,
    /// Connections that answered 410 and were removed.
    pub gone: usize,
}

/// Processes a batch and returns the ids of the records to retry: a failed record and, since
/// FIFO order within a group must hold, every later record of its group.
pub async fn process_batch(deps: &FanoutDeps, records: Vec<Record>) -> Vec<String> {
    let mut groups: Vec<(Option<String>, Vec<Record>)> = Vec::new();
    for record in records {
        match record.group.clone() {
            Some(g) => match groups.iter_mut().find(|(k, _)| k.as_deref() == Some(g.as_str())) {
                Some((_, rs)) => rs.push(record),
                None => groups.push((Some(g), vec![record])),
            },
            None => groups.push((None, vec![record])),
        }
    }
    let group_count = groups.len().max(1);
    stream::iter(groups)
        .map(|(_, records)| process_group(deps, records))
        .buffer_unordered(group_count)
        .flat_map(stream::iter)
        .collect()
        .await
}

async fn process_group(deps: &FanoutDeps, records: Vec<Record>) -> Vec<String> {
    let mut failed = Vec::new();
    for record in records {
        if !failed.is_empty() {
            failed.push(record.id);
            continue;
        }
        match process_record(deps, &record).await {
            Ok(Outcome::Published(d)) => info!(
                record = %record.id, room = %d.room, seq = d.seq, outcome = ?d.outcome,
                delivered = d.delivered, gone = d.gone, "message delivered"
            ),
            Ok(Outcome::Announced(a)) => info!(
                record = %record.id, user = %a.user, status = a.status.as_str(),
                delivered = a.delivered, gone = a.gone, "presence announced"
            ),
            Err(e) => {
                warn!(record = %record.id, error = %e, source = ?std::error::Error::source(&e), "fanout record failed");
                failed.push(record.id);
            }
        }
    }
    failed
}

/// Handles one record: append (idempotent), then deliver unless it is a duplicate.
#[instrument(skip_all, fields(record = %record.id, group = ?record.group))]
pub async fn process_record(deps: &FanoutDeps, record: &Record) -> Result<Outcome, FanoutError> {
    let envelope: Envelope = serde_json::from_str(&record.body).map_err(FanoutError::Poison)?;
    match envelope {
        Envelope::Publish(p) => Ok(Outcome::Published(publish(deps, p).await?)),
        Envelope::Presence(n) => Ok(Outcome::Announced(announce_notice(deps, n).await?)),
    }
}

async fn announce_notice(deps: &FanoutDeps, n: PresenceNotice) -> Result<Announcement, FanoutError> {
    let endpoint =
        deps.settings.endpoint_override.clone().or_else(|| n.endpoint.clone()).ok_or(FanoutError::NoEndpoint)?;
    let report = announce(deps, &endpoint, &n).await?;
    remove_gone(deps, &endpoint, &report.gone).await;
    if report.failed > 0 {
        return Err(FanoutError::Undelivered { failed: report.failed, total: report.delivered + report.failed });
    }
    Ok(Announcement { user: n.user, status: n.status, delivered: report.delivered, gone: report.gone.len() })
}

async fn publish(deps: &FanoutDeps, p: Publish) -> Result<Delivery, FanoutError> {
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
    let mut delivery = Delivery {
        room: appended.message.room.clone(),
        seq: appended.message.seq,
        outcome: appended.outcome,
        delivered: 0,
        gone: 0,
    };
    if appended.outcome == AppendOutcome::Duplicate {
        return Ok(delivery);
    }
    let (delivered, gone) = deliver(deps, &endpoint, &appended.message).await?;
    delivery.delivered = delivered;
    delivery.gone = gone;
    Ok(delivery)
}

/// Pushes one message to every subscriber of its room; returns (delivered, gone).
pub async fn deliver(deps: &FanoutDeps, endpoint: &str, message: &Message) -> Result<(usize, usize), FanoutError> {
    let frame = ServerFrame::Message(message.clone()).to_json().into_bytes();
    let audience =
        broadcast::audience(deps.stores.subscriptions.as_ref(), std::slice::from_ref(&message.room), |_| false).await?;
    let total = audience.len();
    let report = broadcast::post_all(deps.pusher.as_ref(), deps.settings.policy(), endpoint, audience, &frame).await;
    remove_gone(deps, endpoint, &report.gone).await;
    if report.failed > 0 {
        return Err(FanoutError::Undelivered { failed: report.failed, total });
    }
    Ok((report.delivered, report.gone.len()))
}

/// Announces a presence transition to the subscribers of every room the user is a member of.
async fn announce(deps: &FanoutDeps, endpoint: &str, notice: &PresenceNotice) -> Result<Report, FanoutError> {
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
    Ok(broadcast::post_all(deps.pusher.as_ref(), deps.settings.policy(), endpoint, audience, &frame).await)
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
        let notice = PresenceNotice {
            user: p.user,
            status: p.status,
            last_seen: p.last_seen,
            version: p.version,
            at_ms: now.timestamp_millis(),
            endpoint: None,
        };
        // Connections found gone while announcing are removed on their next post.
        if let Err(e) = announce(deps, endpoint, &notice).await {
            warn!(user = %notice.user, error = %e, "announcing offline failed");
        }
    }
}
