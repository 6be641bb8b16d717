//! What a failed record becomes: retried, or dead-lettered with its reason.

use tracing::{error, warn};

use super::{FanoutDeps, FanoutError, Record};
use crate::ports::DeadLetter;
use crate::telemetry::{chain, metric};

/// How long a record's failure count is kept: far longer than any record is retried.
const LEDGER_TTL_SECS: i64 = 24 * 60 * 60;

/// What became of a failed record.
#[derive(Debug)]
pub(super) enum Settled {
    /// Sent to the DLQ with this reason: the record is done and its group goes on.
    DeadLettered(String),
    /// Report it (and its group's later records) as a batch item failure.
    Retry,
}

/// Decides a failed record's fate. Poison is dead-lettered at once; running out of time is
/// retried without counting; any other failure counts one attempt in the ledger, and the
/// record is dead-lettered when its own attempts reach `max_attempts`. Receives spent queued
/// behind another record are not attempts, so `ApproximateReceiveCount` decides only at
/// `receive_ceiling`, the last receive before the queue's redrive would move it silently.
pub(super) async fn settle(deps: &FanoutDeps, record: &Record, e: FanoutError) -> Settled {
    let cause = chain(&e);
    let (attempts, reason) = if e.is_poison() {
        (1, format!("poison: {cause}"))
    } else if matches!(e, FanoutError::OutOfTime { .. }) {
        warn!(record = %record.id, error = %cause, "fanout record cut short; retrying");
        return Settled::Retry;
    } else {
        let expires_at = deps.clock.now().timestamp() + LEDGER_TTL_SECS;
        let at_ceiling = record.receive_count >= deps.settings.receive_ceiling;
        match deps.ledger.record_failure(&record.id, expires_at).await {
            Ok(n) if n >= deps.settings.max_attempts => (n, format!("gave up after {n} failed attempts: {cause}")),
            // The queue would redrive it on the next receive, without a reason.
            Ok(n) if at_ceiling => (
                n,
                format!(
                    "gave up after {} receives ({n} failed attempts), the redrive's limit: {cause}",
                    record.receive_count
                ),
            ),
            Ok(n) => {
                warn!(record = %record.id, attempt = n, error = %cause, "fanout record failed; retrying");
                return Settled::Retry;
            }
            Err(le) if at_ceiling => (
                record.receive_count,
                format!(
                    "gave up after {} receives (failures could not be counted: {}): {cause}",
                    record.receive_count,
                    chain(&le)
                ),
            ),
            Err(le) => {
                warn!(record = %record.id, error = %cause, ledger_error = %chain(&le), "fanout record failed and its failure could not be counted; retrying");
                return Settled::Retry;
            }
        }
    };
    let letter = DeadLetter {
        record_id: record.id.clone(),
        group: record.group.clone(),
        body: record.body.clone(),
        reason: reason.clone(),
        attempts,
    };
    match deps.dead_letters.dead_letter(&letter).await {
        Ok(()) => {
            metric::dead_lettered();
            Settled::DeadLettered(reason)
        }
        Err(de) => {
            // Not lost: the record is retried and dead-lettered again on its next failure.
            error!(record = %record.id, reason = %reason, error = %chain(&de), "dead-lettering failed; retrying the record");
            Settled::Retry
        }
    }
}
