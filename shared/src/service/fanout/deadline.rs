//! The invocation's deadline, less a safety margin.

use std::time::Duration;

use tokio::time::Instant;

/// When the fanout must stop starting work: the invocation's deadline less the settings'
/// margin. `none()` never stops (tests, benches without a limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    stop_at: Option<Instant>,
}

impl Deadline {
    /// No limit.
    pub fn none() -> Self {
        Self { stop_at: None }
    }

    /// Stops `margin` before `deadline`.
    pub fn at(deadline: Instant, margin: Duration) -> Self {
        Self { stop_at: Some(deadline.checked_sub(margin).unwrap_or(deadline)) }
    }

    /// The deadline of a Lambda invocation, given as epoch milliseconds (`Context::deadline`);
    /// 0 (no deadline given, as in a hand-built context) means no limit.
    pub fn from_epoch_ms(deadline_ms: u64, now_ms: u64, margin: Duration) -> Self {
        if deadline_ms == 0 {
            return Self::none();
        }
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        Self::at(Instant::now() + left, margin)
    }

    /// Whether work may still start.
    pub fn has_time(&self) -> bool {
        self.stop_at.is_none_or(|t| Instant::now() < t)
    }

    /// When posting must stop, if ever.
    pub fn stop_at(&self) -> Option<Instant> {
        self.stop_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stops_a_margin_before_the_deadline() {
        let d = Deadline::from_epoch_ms(10_000, 9_000, Duration::from_millis(300));
        assert!(d.has_time());
        tokio::time::sleep(Duration::from_millis(699)).await;
        assert!(d.has_time());
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(!d.has_time());
        assert!(Deadline::from_epoch_ms(0, 9_000, Duration::from_secs(1)).has_time());
    }
}
