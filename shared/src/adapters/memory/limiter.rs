//! The rate limiter's state in memory: what `MemoryStore`'s `RateLimiter` delegates to.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Per-user weighted windows and gates, each decision atomic under one mutex (as the DynamoDB
/// conditional update is).
#[derive(Debug, Default)]
pub(super) struct MemoryLimiter {
    state: Mutex<LimiterState>,
}

#[derive(Debug, Default)]
struct LimiterState {
    /// user → (window start, cost spent in it): only the current window matters.
    windows: HashMap<String, (i64, u64)>,
    /// (user, gate) → when it last passed (epoch ms)
    gates: HashMap<(String, String), i64>,
}

impl MemoryLimiter {
    fn lock(&self) -> MutexGuard<'_, LimiterState> {
        // Every mutation happens after its check, so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// See `RateLimiter::spend`.
    pub(super) fn spend(&self, user: &str, window_start: i64, cost: u64, limit: u64) -> bool {
        let mut s = self.lock();
        let entry = s.windows.entry(user.to_owned()).or_insert((window_start, 0));
        if window_start < entry.0 {
            // A caller with a late clock: its window is over, and only the current one is kept.
            return cost <= limit;
        }
        if window_start > entry.0 {
            // One entry per user: a newer window replaces the old, so memory stays bounded.
            *entry = (window_start, 0);
        }
        match entry.1.checked_add(cost) {
            Some(total) if total <= limit => {
                entry.1 = total;
                true
            }
            _ => false,
        }
    }

    /// The user's rate window and gates (for growth tests).
    pub(super) fn entries_of(&self, user: &str) -> usize {
        let s = self.lock();
        usize::from(s.windows.contains_key(user)) + s.gates.keys().filter(|(u, _)| u == user).count()
    }

    /// See `RateLimiter::pass_gate`.
    pub(super) fn pass_gate(&self, user: &str, gate: &str, now_ms: i64, interval_ms: i64) -> Option<i64> {
        let mut s = self.lock();
        let last = s.gates.entry((user.to_owned(), gate.to_owned())).or_insert(i64::MIN);
        let opens_at = last.saturating_add(interval_ms);
        if now_ms < opens_at {
            return Some(opens_at - now_ms);
        }
        *last = now_ms;
        None
    }
}
