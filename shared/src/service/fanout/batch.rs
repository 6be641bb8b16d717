//! A batch: records grouped by FIFO group, groups concurrently, each group in order.

use futures::StreamExt;
use futures::stream;
use tracing::{info, instrument, warn};

use super::group::process_group;
use super::publish::{announce_notice, deliver_shard, publish};
use super::{Deadline, FanoutDeps, FanoutError, Outcome, Record};
use crate::envelope::Envelope;

/// [`process_batch_within`] with no deadline.
pub async fn process_batch(deps: &FanoutDeps, records: Vec<Record>) -> Vec<String> {
    process_batch_within(deps, records, Deadline::none()).await
}

/// Processes a batch and returns the ids of the records to retry: a record that failed for a
/// reason retrying can fix (or was cut short by the deadline) and, since FIFO order within a
/// group must hold, every later record of its group. Records the fanout gives up on are
/// dead-lettered and count as done, so their group goes on.
pub async fn process_batch_within(deps: &FanoutDeps, records: Vec<Record>, deadline: Deadline) -> Vec<String> {
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
        .map(|(_, records)| process_group(deps, records, deadline))
        .buffer_unordered(group_count)
        .flat_map(stream::iter)
        .collect()
        .await
}

pub(super) fn log_outcome(record: &Record, outcome: &Outcome) {
    match outcome {
        Outcome::Published(d) => info!(
            record = %record.id, room = %d.room, seq = d.seq, outcome = ?d.outcome,
            delivered = d.delivered, gone = d.gone, failed = d.failed, "message delivered"
        ),
        Outcome::Announced(a) => info!(
            record = %record.id, user = %a.user, status = a.status.as_str(),
            delivered = a.delivered, gone = a.gone, failed = a.failed, "presence announced"
        ),
        Outcome::DeadLettered { reason } => {
            warn!(record = %record.id, group = ?record.group, reason = %reason, "record dead-lettered")
        }
    }
}

/// Handles one record: append (idempotent), then deliver unless it is a duplicate.
#[instrument(skip_all, fields(record = %record.id, group = ?record.group, receives = record.receive_count))]
pub async fn process_record(deps: &FanoutDeps, record: &Record, deadline: Deadline) -> Result<Outcome, FanoutError> {
    let envelope: Envelope = serde_json::from_str(&record.body).map_err(FanoutError::Poison)?;
    match envelope {
        Envelope::Publish(p) => Ok(Outcome::Published(publish(deps, p, deadline).await?)),
        Envelope::Presence(n) => Ok(Outcome::Announced(announce_notice(deps, n, deadline).await?)),
        Envelope::Deliver(d) => {
            Ok(Outcome::Published(deliver_shard(deps, d, record.receive_count > 1, deadline).await?))
        }
    }
}
