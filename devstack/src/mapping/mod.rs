//! The SQS → Lambda event source mapping: receive batches, invoke the fanout handler, delete
//! what succeeded and leave the reported failures to the visibility timeout (partial batch
//! responses), so the queue's redrive policy moves poison to the DLQ.

#[cfg(test)]
mod concurrent;
mod groups;
mod source;
mod sqs;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::config::MappingSettings;
use crate::events::sqs_event;
use crate::faults::{Fault, Faults};
use crate::invoke::{InvokeError, Invoker};
use crate::{App, DevstackError};
use groups::GroupLocks;
pub use source::DlqEntry;
pub(crate) use source::{QueueRecord, QueueSource, fresh_dedup_id};
pub(crate) use sqs::SqsSource;

/// How long an idle poller waits for messages before looking again (SQS long poll), and how
/// long it backs off after a failed receive.
pub const LONG_POLL: Duration = Duration::from_secs(1);

/// The running mapping: its pollers, and the switch that pauses them.
#[derive(Debug)]
pub(crate) struct EventSourceMapping {
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
    pollers: Vec<JoinHandle<()>>,
}

impl EventSourceMapping {
    /// Starts the configured number of pollers (at least one) on each of the app's queues (the
    /// queue and the delivery queue); none when the backend runs its own mapping
    /// (`event_source_mapping` off).
    pub(crate) fn start(app: &App) -> Self {
        let settings: &MappingSettings = &app.config.mapping;
        let (paused, paused_rx) = watch::channel(app.config.start_paused);
        let cancel = CancellationToken::new();
        let pollers = if app.config.event_source_mapping { settings.pollers.max(1) } else { 0 };
        // The fanout consumes both queues, each with its own pollers and its own group locks
        // (two mappings in AWS): a poller long-polling the idle delivery queue holds its
        // mapping's receive turn, which must not stall the other queue.
        let sources = [app.source.clone(), app.delivery_source.clone()];
        let pollers = sources
            .iter()
            .flat_map(|source| {
                let locks = Arc::new(GroupLocks::default());
                std::iter::repeat_n((source, locks), pollers)
            })
            .map(|(source, locks)| {
                let poller = Poller {
                    source: source.clone(),
                    invoker: app.invoker.clone(),
                    batch_size: settings.batch_size,
                    queue_name: source.name(),
                    groups: locks,
                    faults: app.faults.clone(),
                    visibility: settings.visibility_timeout,
                    max_receive_count: settings.max_receive_count,
                    function_timeout: settings.function_timeout,
                };
                tokio::spawn(poller.run(paused_rx.clone(), cancel.clone()))
            })
            .collect();
        Self { paused, cancel, pollers }
    }

    /// While paused nothing is received; a batch in flight finishes.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Stops receiving and waits for the batches in flight.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        for p in self.pollers {
            let _ = p.await;
        }
    }
}

/// One poller: receive → invoke → delete, as one concurrent invocation of the mapping.
#[derive(Debug)]
struct Poller {
    source: Arc<dyn QueueSource>,
    invoker: Arc<dyn Invoker>,
    batch_size: usize,
    queue_name: String,
    groups: Arc<GroupLocks>,
    faults: Arc<Faults>,
    visibility: Duration,
    max_receive_count: u32,
    /// Each invocation's deadline is this far ahead, and it is cut off there, as in Lambda.
    function_timeout: Duration,
}

impl Poller {
    /// Polls until cancelled. Cancellation is only observed between batches, so a batch in
    /// flight always finishes.
    async fn run(self, mut paused: watch::Receiver<bool>, cancel: CancellationToken) {
        loop {
            if !wait_while_paused(&mut paused, &cancel).await {
                return;
            }
            let Some(records) = self.next_batch(&cancel).await else { return };
            if records.is_empty() {
                continue;
            }
            // Paused while this receive was waiting: keep the records in flight until resumed,
            // as a consumer that received them would. Handing them back would let moto deliver
            // a group's last record first. On shutdown they are handed back.
            if self.hold_while_paused(&records, &mut paused, &cancel).await {
                self.invoke(&records).await;
            } else {
                self.release(&records.iter().collect::<Vec<_>>()).await;
            }
            self.groups.release(&records);
        }
    }

    /// The next batch, possibly empty; `None` once cancelled. A failed receive is logged and
    /// counts as an empty batch after a back-off.
    /// Returned records' groups are held by this poller until `run` releases them.
    async fn next_batch(&self, cancel: &CancellationToken) -> Option<Vec<QueueRecord>> {
        let turn = tokio::select! {
            _ = cancel.cancelled() => return None,
            t = self.groups.receiving.lock() => t,
        };
        let received = tokio::select! {
            _ = cancel.cancelled() => return None,
            r = self.source.receive(self.batch_size, LONG_POLL) => r,
        };
        match received {
            Ok(records) => {
                drop(turn);
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    () = self.groups.claim(&records) => {}
                }
                Some(records)
            }
            Err(e) => {
                warn!(error = %e, source = ?std::error::Error::source(&e), "receive failed; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => None,
                    _ = tokio::time::sleep(LONG_POLL) => Some(vec![]),
                }
            }
        }
    }

    /// One fanout invocation, then what its partial batch response says: delete the records
    /// that succeeded, release the ones that only queued behind a failure.
    /// Invokes the fanout with a batch until every record is done. What comes back (a whole
    /// batch after a crash, a timeout or a lost delete; the reported failures and the records of
    /// their groups behind them) stays with this poller, which keeps it in flight and hands it
    /// over again, as SQS redelivers it. Handing records back to moto instead lets it deliver a
    /// group's last record first (see docs/devstack.md). After `maxReceiveCount` rounds the rest
    /// is left to the queue's visibility timeout and redrive.
    async fn invoke(&self, records: &[QueueRecord]) {
        let mut batch = records.to_vec();
        for _ in 0..self.max_receive_count.max(1) {
            let failed = match self.invoke_once(&batch).await {
                Invoked::Skipped => return,
                Invoked::CameBack => batch.iter().map(|r| r.message_id.clone()).collect(),
                Invoked::Answered(failed) => {
                    let done: Vec<&QueueRecord> = batch.iter().filter(|r| !failed.contains(&r.message_id)).collect();
                    if let Err(e) = self.source.delete(&done).await {
                        warn!(error = %e, source = ?std::error::Error::source(&e), "delete failed; records will be redelivered");
                    }
                    failed
                }
            };
            batch.retain(|r| failed.contains(&r.message_id));
            if batch.is_empty() || !self.take_back(&mut batch).await {
                return;
            }
        }
        warn!(records = batch.len(), "records came back too often; leaving them to the queue's redrive");
    }

    /// Waits while the mapping is paused, keeping `records` in flight; `false` once cancelled.
    async fn hold_while_paused(
        &self,
        records: &[QueueRecord],
        paused: &mut watch::Receiver<bool>,
        cancel: &CancellationToken,
    ) -> bool {
        let resumed = async {
            tokio::select! {
                () = cancel.cancelled() => false,
                resumed = paused.wait_for(|p| !*p) => resumed.is_ok(),
            }
        };
        self.in_flight_while(records, resumed).await
    }

    /// One invocation, and what came of it.
    async fn invoke_once(&self, records: &[QueueRecord]) -> Invoked {
        let event = match sqs_event(&self.queue_name, records) {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "could not build the SQS event; leaving the batch to the visibility timeout");
                return Invoked::Skipped;
            }
        };
        debug!(records = records.len(), "invoking fanout");
        let invocation = tokio::time::timeout(self.function_timeout, self.invoker.fanout(event));
        let failed = match self.in_flight_while(records, invocation).await {
            Err(_) => {
                warn!(timeout = ?self.function_timeout, "fanout timed out; the whole batch comes back");
                return Invoked::CameBack;
            }
            Ok(Err(InvokeError::Crashed { .. })) => {
                warn!(records = records.len(), "fanout crashed (injected); the whole batch comes back");
                return Invoked::CameBack;
            }
            Ok(Err(e)) => {
                warn!(
                    records = records.len(), error = %e, source = ?std::error::Error::source(&e),
                    "fanout failed; the whole batch comes back"
                );
                return Invoked::CameBack;
            }
            Ok(Ok(resp)) => resp.batch_item_failures.into_iter().map(|f| f.item_identifier).collect(),
        };
        if self.faults.fire(|f| matches!(f, Fault::Redeliver { .. })).is_some() {
            warn!(records = records.len(), "batch not deleted (injected); the whole batch comes back");
            return Invoked::CameBack;
        }
        Invoked::Answered(failed)
    }

    /// Runs `invocation` (a fanout, or waiting out a pause) while keeping `records` in flight.
    /// In AWS the queue's visibility timeout is at least the function's timeout (six times it in
    /// the templates), so a batch is never delivered again while an invocation still works on
    /// it; the devstack's visibility timeout is often far shorter, to bring failed records back
    /// quickly, so it renews the batch's visibility for as long as the invocation runs.
    async fn in_flight_while<T>(&self, records: &[QueueRecord], invocation: impl Future<Output = T>) -> T {
        tokio::pin!(invocation);
        loop {
            tokio::select! {
                out = &mut invocation => return out,
                result = self.keep_in_flight(records) => {
                    if let Err(e) = result {
                        warn!(error = %e, "keeping records in flight failed; they may be delivered again");
                    }
                }
            }
        }
    }

    /// Waits half a visibility timeout, then renews a whole one for `records`.
    async fn keep_in_flight(&self, records: &[QueueRecord]) -> Result<(), DevstackError> {
        tokio::time::sleep(self.visibility / 2).await;
        self.source.extend(&records.iter().collect::<Vec<_>>(), self.visibility).await
    }

    /// Keeps records in flight for one more visibility timeout, waits it out, and counts a
    /// receive, as SQS redelivers them. `false` when the queue refused: the records then wait
    /// for their own timeout.
    async fn take_back(&self, records: &mut [QueueRecord]) -> bool {
        for _ in 0..2 {
            if let Err(e) = self.keep_in_flight(records).await {
                warn!(error = %e, "keeping records in flight failed; they wait for their visibility timeout");
                return false;
            }
        }
        for r in records.iter_mut() {
            r.receive_count += 1;
        }
        true
    }

    async fn release(&self, records: &[&QueueRecord]) {
        if let Err(e) = self.source.release(records).await {
            warn!(error = %e, source = ?std::error::Error::source(&e), "release failed; records wait for their timeout");
        }
    }
}

/// What came of one invocation.
enum Invoked {
    /// The partial batch response: the ids of the records that failed.
    Answered(HashSet<String>),
    /// The invocation crashed or timed out, or its batch was not deleted: all of it comes back.
    CameBack,
    /// No event could be built; the batch is left to its visibility timeout.
    Skipped,
}

/// Waits while the mapping is paused; `false` once cancelled.
async fn wait_while_paused(paused: &mut watch::Receiver<bool>, cancel: &CancellationToken) -> bool {
    loop {
        if cancel.is_cancelled() {
            return false;
        }
        if !*paused.borrow() {
            return true;
        }
        tokio::select! {
            _ = cancel.cancelled() => return false,
            _ = paused.changed() => {}
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn record(id: &str, group: &str) -> QueueRecord {
        QueueRecord {
            message_id: id.into(),
            receipt_handle: format!("h-{id}"),
            body: String::new(),
            group_id: group.into(),
            dedup_id: id.into(),
            sequence_number: "1".into(),
            receive_count: 1,
            sent_at_ms: 0,
            first_received_at_ms: 0,
        }
    }
}
