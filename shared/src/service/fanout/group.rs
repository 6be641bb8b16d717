//! One FIFO group of a batch, in order: a room's messages are stored one by one, then delivered
//! together as a run; a presence group's notices are announced one by one.

use tracing::{info, warn};

use super::batch::log_outcome;
use super::give_up::{Settled, settle};
use super::publish::{Stored, Target, announce_notice, store};
use super::run::{checkpoint, deliver, deliver_run};
use super::{Deadline, FanoutDeps, FanoutError, Outcome, Record, export, stats};
use crate::domain::{AppendOutcome, Message};
use crate::envelope::{Envelope, PresenceNotice, ShardDelivery};
use crate::ports::StoreError;
use crate::telemetry::chain;

/// Stored messages of one room, endpoint and target, waiting to be delivered together, with the
/// records they came from.
#[derive(Debug, Default)]
struct Run {
    records: Vec<Record>,
    messages: Vec<Message>,
    /// Per message: stored by this attempt at the room (what the room counters count).
    fresh: Vec<bool>,
    endpoint: String,
    target: Target,
    /// Where every message's earlier attempt stopped, when they all stopped at the same page;
    /// `None` posts to every page (repeats are dropped by clients).
    resume: Option<String>,
}

impl Run {
    /// Whether `stored` can join this run: same room, endpoint and target (one set of posts).
    fn admits(&self, stored: &Stored) -> bool {
        self.messages.first().is_none_or(|m| {
            m.room == stored.message.room && self.endpoint == stored.endpoint && self.target == stored.target
        })
    }

    fn push(&mut self, stored: Stored) {
        if self.messages.is_empty() {
            self.endpoint = stored.endpoint;
            self.target = stored.target;
            self.resume = stored.resume;
        } else if self.resume != stored.resume {
            self.resume = None;
        }
        self.fresh.push(stored.outcome == AppendOutcome::Fresh && stored.target == Target::Room);
        self.messages.push(stored.message);
    }
}

/// Processes one group in order until a record must be retried; returns that record and the
/// ones behind it. Messages are delivered when the group ends, before a record that is not a
/// message joining the run, and before a record is left for a retry, so every stored message of
/// the group is delivered (or retried) in seq order.
pub(super) async fn process_group(deps: &FanoutDeps, records: Vec<Record>, deadline: Deadline) -> Vec<String> {
    let mut run = Run::default();
    let mut records = records.into_iter();
    while let Some(record) = records.next() {
        if !deadline.has_time() {
            // Not started, so not a failed attempt: the retry starts here.
            warn!(record = %record.id, left = records.len(), "deadline near; leaving the rest of the group for the retry");
            let mut retry = flush(deps, std::mem::take(&mut run), deadline).await;
            retry.extend(rest(record, records));
            return retry;
        }
        let staged = match serde_json::from_str::<Envelope>(&record.body).map_err(FanoutError::Poison) {
            Ok(Envelope::Publish(p)) => store(deps, p).await.map(|s| Staged::Messages(vec![s])),
            Ok(Envelope::Deliver(d)) => Ok(Staged::Messages(for_shard(deps, &record, d).await)),
            Ok(Envelope::Presence(n)) => Ok(Staged::Notice(n)),
            Err(e) => Err(e),
        };
        let result = match staged {
            Ok(Staged::Messages(stored)) => {
                let stored: Vec<Stored> = stored.into_iter().filter(|s| fresh(&record, s)).collect();
                if stored.is_empty() {
                    continue;
                }
                if !stored.iter().all(|s| run.admits(s)) {
                    let retry = flush(deps, std::mem::take(&mut run), deadline).await;
                    if !retry.is_empty() {
                        return [retry, rest(record, records)].concat();
                    }
                }
                stored.into_iter().for_each(|s| run.push(s));
                run.records.push(record);
                continue;
            }
            Ok(Staged::Notice(n)) if superseded(&n, records.as_slice()) => {
                info!(record = %record.id, user = %n.user, version = n.version, "presence coalesced into the next transition");
                continue;
            }
            Ok(Staged::Notice(n)) => {
                let retry = flush(deps, std::mem::take(&mut run), deadline).await;
                if !retry.is_empty() {
                    return [retry, rest(record, records)].concat();
                }
                announce_notice(deps, n, deadline).await.map(Outcome::Announced)
            }
            Err(e) => Err(e),
        };
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => match settle(deps, &record, e).await {
                Settled::DeadLettered(reason) => Outcome::DeadLettered { reason },
                Settled::Retry => {
                    let retry = flush(deps, std::mem::take(&mut run), deadline).await;
                    return [retry, rest(record, records)].concat();
                }
            },
        };
        log_outcome(&record, &outcome);
    }
    flush(deps, run, deadline).await
}

/// Whether the next record of the group is a later transition of the same user: presence is
/// state, so only the last of a burst is announced (one announcement where a reconnecting or
/// flapping client made several, however far behind the fanout is).
fn superseded(notice: &PresenceNotice, next: &[Record]) -> bool {
    let Some(next) = next.first() else { return false };
    match serde_json::from_str::<Envelope>(&next.body) {
        Ok(Envelope::Presence(later)) => later.user == notice.user && later.version >= notice.version,
        _ => false,
    }
}

/// The record's id and those of the records behind it.
fn rest(record: Record, records: std::vec::IntoIter<Record>) -> Vec<String> {
    std::iter::once(record.id).chain(records.map(|r| r.id)).collect()
}

/// Whether a staged message is to be delivered: a duplicate is not (it was delivered already).
fn fresh(record: &Record, stored: &Stored) -> bool {
    if stored.outcome == AppendOutcome::Duplicate {
        info!(record = %record.id, room = %stored.message.room, seq = stored.message.seq, "duplicate message; not delivered again");
        return false;
    }
    if matches!(stored.outcome, AppendOutcome::Conflict { .. }) {
        return false;
    }
    true
}

/// The messages of a shard delivery, staged for a run of that shard. Only a redelivered record
/// can have been delivered in part, so only its checkpoints are read.
async fn for_shard(deps: &FanoutDeps, record: &Record, d: ShardDelivery) -> Vec<Stored> {
    let mut staged = Vec::with_capacity(d.messages.len());
    for message in d.messages {
        let resume = if record.receive_count > 1 { checkpoint(deps, &message, d.shard).await } else { None };
        let target = Target::Shard(d.shard);
        staged.push(Stored { message, outcome: AppendOutcome::Fresh, endpoint: d.endpoint.clone(), resume, target });
    }
    staged
}

/// What a record turned into before any post.
enum Staged {
    Messages(Vec<Stored>),
    Notice(PresenceNotice),
}

/// Delivers the run; returns the ids of its records to retry. When the delivery fails, each
/// record is settled in turn as if it had failed alone: the first one to be retried is retried
/// with every record after it (FIFO order), and those dead-lettered before it are done.
async fn flush(deps: &FanoutDeps, run: Run, deadline: Deadline) -> Vec<String> {
    let Some(first) = run.messages.first() else { return Vec::new() };
    let (room, seqs) = (first.room.clone(), (first.seq, run.messages.last().map_or(first.seq, |m| m.seq)));
    let delivery = async {
        match run.target {
            Target::Room => deliver(deps, &run.endpoint, &run.messages, run.resume, deadline).await,
            Target::Shard(shard) => deliver_run(deps, &run.endpoint, &run.messages, shard, run.resume, deadline).await,
        }
    };
    // Analytics beside the delivery, never in its way (docs/analytics.md).
    let exported = async {
        if run.target == Target::Room {
            export::export_run(deps, &run.messages).await;
        }
    };
    let (delivered, ()) = futures::join!(delivery, exported);
    let posts = match &delivered {
        Ok(p) => p.delivered,
        Err(FanoutError::OutOfTime { posted }) => *posted,
        Err(_) => 0,
    };
    stats::count_run(deps, stats::run_counts(deps, &run.messages, &run.fresh, posts)).await;
    let e = match delivered {
        Ok(p) => {
            info!(
                room = %room, shard = ?run.target, first_seq = seqs.0, last_seq = seqs.1, messages = run.messages.len(),
                delivered = p.delivered, gone = p.gone, failed = p.failed, queued = p.queued, "messages delivered"
            );
            return Vec::new();
        }
        Err(e) => e,
    };
    // Only a store failure or the deadline can stop a delivery; neither error can be cloned, so
    // the records after the first are settled with the first's cause, as text.
    let cause = chain(&e);
    let mut error = Some(e);
    let mut records = run.records.into_iter();
    while let Some(record) = records.next() {
        let e = error.take().unwrap_or_else(|| FanoutError::Store(StoreError::Failed(cause.clone().into())));
        match settle(deps, &record, e).await {
            Settled::DeadLettered(reason) => log_outcome(&record, &Outcome::DeadLettered { reason }),
            Settled::Retry => return std::iter::once(record.id).chain(records.map(|r| r.id)).collect(),
        }
    }
    Vec::new()
}
