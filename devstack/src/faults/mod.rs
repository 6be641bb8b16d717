//! Fault injection for tests, chaos runs and demos. Faults are planned as data ([`Fault`]),
//! over HTTP (`POST /{stage}/_devstack/faults` when the devstack runs with `--faults`) or
//! through [`Faults::add`], and fire where the real failure would happen: in the fanout's
//! ports, the Management API, the DynamoDB client, the event source mapping and the gateway.
//! The service code is unchanged; only what it talks to misbehaves.

pub(crate) mod dynamo;
pub(crate) mod http;
pub(crate) mod invocation;
mod ports;
mod spec;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

pub(crate) use ports::Faulty;
pub use spec::{AppendFault, CrashPoint, DisconnectMode, DynamoFault, Fault, FaultError};

/// A planned fault and how often it still fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveFault {
    /// Its id, as `POST` answered it.
    pub id: u64,
    /// What it does.
    pub fault: Fault,
    /// How many more times it fires; `None` while it fires always.
    pub remaining: Option<u64>,
    /// How many times it has fired.
    pub fired: u64,
}

/// Planned failures, shared by the running devstack and whoever drives it.
#[derive(Debug, Default)]
pub struct Faults {
    next_id: AtomicU64,
    active: Mutex<Vec<ActiveFault>>,
    append_calls: AtomicU64,
    /// (call number, how) of appends to fail; call numbers count from 1.
    planned_appends: Mutex<Vec<(u64, AppendFault)>>,
    /// The functions run behind the Invoke API, where only the gateway's and the mapping's
    /// own faults can fire.
    remote_functions: bool,
    /// Every envelope queued since [`Faults::record_enqueues`], as the queue's message body;
    /// `None` (not recording) by default, so a long-running devstack keeps nothing.
    enqueued: Mutex<Option<Vec<String>>>,
}

impl Faults {
    /// No faults planned; `remote_functions` in the Lambda Invoke mode.
    pub(crate) fn new(remote_functions: bool) -> Self {
        Self { remote_functions, ..Self::default() }
    }

    /// Plans a fault; returns its id.
    pub fn add(&self, fault: Fault) -> Result<u64, FaultError> {
        let remaining = fault.validate()?;
        if self.remote_functions && !fault.fires_outside_functions() {
            return Err(FaultError::NeedsInProcessFunctions);
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        self.lock().push(ActiveFault { id, fault, remaining, fired: 0 });
        Ok(id)
    }

    /// Removes every planned fault.
    pub fn clear(&self) {
        self.lock().clear();
        self.planned_appends.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The planned faults, including used-up ones (with `remaining: Some(0)`) until `clear`.
    pub fn active(&self) -> Vec<ActiveFault> {
        self.lock().clone()
    }

    /// Fails the `n`-th append from now (1 = the next one).
    pub fn fail_append_in(&self, n: u64, how: AppendFault) {
        let at = self.append_calls.load(Ordering::SeqCst) + n.max(1);
        self.planned_appends.lock().unwrap_or_else(|p| p.into_inner()).push((at, how));
    }

    /// Fails every append of a message whose body contains `needle` (before storing), for as
    /// long as the devstack runs: a message the fanout can never store.
    pub fn fail_appends_containing(&self, needle: &str) {
        let fault = Fault::Append {
            room: None,
            body_contains: Some(needle.to_owned()),
            when: AppendFault::BeforeStore,
            times: -1,
        };
        // Always valid: `times` is -1.
        let _ = self.add(fault);
    }

    /// Fails the next `n` enqueues, as an SQS outage would (the sender gets `internal`).
    pub fn fail_enqueues(&self, n: u64) {
        let times = i64::try_from(n).unwrap_or(i64::MAX);
        // A count of 0 plans nothing; any other count is valid.
        if times > 0 {
            let _ = self.add(Fault::Enqueue { times });
        }
    }

    /// From now on, keeps the body of every envelope the senders queue, for [`Faults::enqueued`]:
    /// what a test reads to show what crossed the queue (an encrypted room's plaintext never does).
    pub fn record_enqueues(&self) {
        self.enqueued.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(Vec::new);
    }

    /// The bodies queued since [`Faults::record_enqueues`], in order (empty if not recording).
    pub fn enqueued(&self) -> Vec<String> {
        self.enqueued.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default()
    }

    pub(crate) fn note_enqueued(&self, body: String) {
        if let Some(kept) = self.enqueued.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            kept.push(body);
        }
    }

    /// Appends the fanout has attempted so far.
    pub fn append_calls(&self) -> u64 {
        self.append_calls.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ActiveFault>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether any planned fault that still fires satisfies `matches`, without using it up.
    pub(crate) fn armed(&self, matches: impl Fn(&Fault) -> bool) -> bool {
        self.lock().iter().any(|a| a.remaining != Some(0) && matches(&a.fault))
    }

    /// Fires the first planned fault that still fires and satisfies `matches`: counts it and
    /// returns it.
    pub(crate) fn fire(&self, matches: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut active = self.lock();
        let a = active.iter_mut().find(|a| a.remaining != Some(0) && matches(&a.fault))?;
        if let Some(n) = a.remaining.as_mut() {
            *n -= 1;
        }
        a.fired += 1;
        tracing::info!(fault_id = a.id, fault = ?a.fault, "injecting fault");
        Some(a.fault.clone())
    }

    /// The fault planned for the next append by call number, if any (counts the call).
    fn next_planned_append(&self) -> Option<AppendFault> {
        let call = self.append_calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut planned = self.planned_appends.lock().unwrap_or_else(|p| p.into_inner());
        let i = planned.iter().position(|(at, _)| *at == call)?;
        Some(planned.remove(i).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_remote_functions_only_gateway_and_mapping_faults_are_accepted() {
        let faults = Faults::new(true);
        assert!(faults.add(Fault::Redeliver { times: 1 }).is_ok());
        let late = Fault::Disconnect { mode: DisconnectMode::Late, delay_ms: 10, times: 1 };
        assert!(faults.add(late).is_ok());
        assert!(matches!(faults.add(Fault::Enqueue { times: 1 }), Err(FaultError::NeedsInProcessFunctions)));
        let crash = Fault::Crash { at: CrashPoint::MidPosts, times: 1 };
        assert!(matches!(faults.add(crash), Err(FaultError::NeedsInProcessFunctions)));
        assert_eq!(faults.active().len(), 2);
    }

    #[test]
    fn a_counted_fault_fires_exactly_its_times_and_an_always_fault_forever() {
        let faults = Faults::default();
        faults.add(Fault::Enqueue { times: 2 }).unwrap();
        let fired = (0..5).filter(|_| faults.fire(|f| matches!(f, Fault::Enqueue { .. })).is_some()).count();
        assert_eq!(fired, 2);
        faults.add(Fault::Redeliver { times: -1 }).unwrap();
        let fired = (0..50).filter(|_| faults.fire(|f| matches!(f, Fault::Redeliver { .. })).is_some()).count();
        assert_eq!(fired, 50);
        assert_eq!(faults.active().iter().map(|a| a.fired).collect::<Vec<_>>(), [2, 50]);
    }

    #[test]
    fn clear_removes_every_fault() {
        let faults = Faults::default();
        faults.add(Fault::Enqueue { times: -1 }).unwrap();
        faults.clear();
        assert!(faults.fire(|_| true).is_none());
        assert!(faults.active().is_empty());
    }

    #[test]
    fn invalid_times_are_refused() {
        let faults = Faults::default();
        assert!(matches!(faults.add(Fault::Enqueue { times: 0 }), Err(FaultError::Times(0))));
        assert!(matches!(faults.add(Fault::Enqueue { times: -2 }), Err(FaultError::Times(-2))));
        assert!(faults.active().is_empty());
    }
}
