//! Sources of "now", so retention, rate windows and dedup windows can be tested.

use chrono::{DateTime, Utc};

/// A source of "now".
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock: what every deployed function uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[cfg(any(test, feature = "test-util"))]
pub use manual::ManualClock;

#[cfg(any(test, feature = "test-util"))]
mod manual {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use chrono::{DateTime, TimeZone, Utc};

    use super::Clock;

    /// A clock that only moves when told to (tests; behind the `test-util` feature).
    #[derive(Debug, Clone)]
    pub struct ManualClock(Arc<AtomicI64>);

    impl ManualClock {
        /// A clock stopped at `t`.
        pub fn at(t: DateTime<Utc>) -> Self {
            Self(Arc::new(AtomicI64::new(t.timestamp_millis())))
        }

        /// Moves the clock forward (or back, with a negative duration).
        pub fn advance(&self, by: chrono::Duration) {
            self.0.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
        }

        /// Now, in epoch milliseconds.
        pub fn now_ms(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> DateTime<Utc> {
            Utc.timestamp_millis_opt(self.now_ms()).single().unwrap_or_default()
        }
    }
}
