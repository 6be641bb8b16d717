//! The room counters a run adds to (docs/analytics.md, "Counters"): one atomic update per run,
//! after its delivery. Best effort: a failed or slow update is logged and dropped, never a
//! failed record, and never holds up the run's delivery.

use std::collections::BTreeSet;
use std::time::Duration;

use tracing::warn;

use super::FanoutDeps;
use crate::domain::{Message, RunCounts, STATS_TTL_SECS, minute_of};

/// The longest a counter update may take.
const STATS_TIMEOUT: Duration = Duration::from_secs(1);

/// What a run adds to its room's counters: the messages it stored for the first time (`fresh`,
/// one flag per message; a message found stored on a retry was counted by the attempt that
/// stored it) and their senders, and its deliveries: each message once per connection that got
/// the run (`reached`; a connection whose post failed gets nothing more of the run).
pub(super) fn run_counts(deps: &FanoutDeps, messages: &[Message], fresh: &[bool], reached: usize) -> Option<RunCounts> {
    let first = messages.first()?;
    let now = deps.clock.now();
    let new: Vec<&Message> = messages.iter().zip(fresh).filter(|(_, f)| **f).map(|(m, _)| m).collect();
    let counts = RunCounts {
        room: first.room.clone(),
        minute: minute_of(now),
        messages: new.len() as u64,
        deliveries: (reached as u64).saturating_mul(messages.len() as u64),
        senders: new.iter().map(|m| m.from.clone()).collect::<BTreeSet<_>>(),
        expires_at: now.timestamp() + STATS_TTL_SECS,
    };
    (!counts.is_empty()).then_some(counts)
}

/// Adds the counts to the room's minute; logs what fails.
pub(super) async fn count_run(deps: &FanoutDeps, counts: Option<RunCounts>) {
    let Some(counts) = counts else { return };
    let outcome = tokio::time::timeout(STATS_TIMEOUT, deps.stores.stats.add(&counts)).await;
    let error = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(e)) => crate::telemetry::chain(&e),
        Err(_) => format!("timed out after {} ms", STATS_TIMEOUT.as_millis()),
    };
    crate::telemetry::metric::stats_failed();
    warn!(
        room = %counts.room, minute = %counts.minute, messages = counts.messages, deliveries = counts.deliveries,
        error = %error, "stats_failed: room counters not updated; this run is missing from them"
    );
}
