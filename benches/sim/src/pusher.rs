//! PostToConnection as the simulation models it: API Gateway's account throttle (a token bucket:
//! `rate` per second, `burst` at once), then `latency`. A post over the throttle either waits for
//! its token (the ideal caller, which retries at exactly the right moment) or, as API Gateway
//! does, is answered 429 after `latency`, and the fanout's own back-off retries it. Each post's
//! messages are timed against when they were sent, for the send→deliver latency.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hdrhistogram::Histogram;
use starling_shared::ports::{PushError, Pusher};
use starling_shared::protocol::{MAX_FRAME_BYTES, ServerFrame};
use tokio::time::Instant;

/// API Gateway's account-level throttle, as a token bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throttle {
    /// Requests per second, steady.
    pub(crate) rate: f64,
    /// Requests at once, after a quiet spell.
    pub(crate) burst: f64,
}

/// The generic cell rate algorithm: when the next request may go, given the theoretical
/// arrival time of the last.
#[derive(Debug)]
struct Bucket {
    throttle: Throttle,
    /// When the bucket would be empty again if no request came: `tat` in GCRA's terms.
    tat: Option<Instant>,
}

/// What a post over the throttle gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverLimit {
    /// It waits for its token: no request is ever refused.
    Wait,
    /// 429, as API Gateway answers; the caller retries.
    Refuse,
}

impl Bucket {
    /// Reserves one request; returns how long to wait before it may go.
    fn reserve(&mut self, now: Instant) -> Duration {
        let interval = Duration::from_secs_f64(1.0 / self.throttle.rate);
        let tolerance = interval.mul_f64(self.throttle.burst);
        let tat = self.tat.map_or(now, |t| t.max(now));
        let allowed_at = tat.checked_sub(tolerance).unwrap_or(now).max(now);
        self.tat = Some(tat + interval);
        allowed_at - now
    }

    /// Takes a token if one is free now; a refused request takes none.
    fn try_take(&mut self, now: Instant) -> bool {
        let interval = Duration::from_secs_f64(1.0 / self.throttle.rate);
        let tolerance = interval.mul_f64(self.throttle.burst);
        let tat = self.tat.map_or(now, |t| t.max(now));
        if tat.checked_sub(tolerance).is_some_and(|allowed_at| allowed_at > now) {
            return false;
        }
        self.tat = Some(tat + interval);
        true
    }
}

/// A pusher that counts posts, waits for the throttle and the latency, and records the latency
/// of every message it carries.
#[derive(Debug)]
pub(crate) struct SimPusher {
    latency: Duration,
    over_limit: OverLimit,
    bucket: Mutex<Bucket>,
    posts: AtomicU64,
    throttled: AtomicU64,
    /// seq → when the message was sent (the bench fills it).
    sent: Mutex<HashMap<u64, Instant>>,
    delivered: Mutex<Histogram<u64>>,
    last_post: Mutex<Option<Instant>>,
}

impl SimPusher {
    /// A pusher with this latency per post and this throttle.
    pub(crate) fn new(latency: Duration, throttle: Throttle, over_limit: OverLimit) -> Self {
        Self {
            latency,
            over_limit,
            bucket: Mutex::new(Bucket { throttle, tat: None }),
            posts: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            sent: Mutex::default(),
            // 1 µs to an hour: `saturating_record` clamps to the bounds, so they must be set.
            delivered: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds")),
            ),
            last_post: Mutex::default(),
        }
    }

    /// Remembers when message `seq` was sent.
    pub(crate) fn sent(&self, seq: u64, at: Instant) {
        lock(&self.sent).insert(seq, at);
    }

    /// Posts made.
    pub(crate) fn posts(&self) -> u64 {
        self.posts.load(Ordering::Relaxed)
    }

    /// Posts that had to wait for the throttle, or were refused by it.
    pub(crate) fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// When the last post completed.
    pub(crate) fn last_post(&self) -> Option<Instant> {
        *lock(&self.last_post)
    }

    /// Send→deliver latency of every delivered message, in microseconds.
    pub(crate) fn delivered(&self) -> Histogram<u64> {
        lock(&self.delivered).clone()
    }

    fn record(&self, data: &[u8], now: Instant) {
        let seqs: Vec<u64> = match serde_json::from_slice::<ServerFrame>(data) {
            Ok(ServerFrame::Message(m)) => vec![m.seq],
            Ok(ServerFrame::Messages { messages, .. }) => messages.iter().map(|m| m.seq).collect(),
            _ => return,
        };
        let sent = lock(&self.sent);
        let mut histogram = lock(&self.delivered);
        for seq in seqs {
            if let Some(at) = sent.get(&seq) {
                let micros = u64::try_from(now.duration_since(*at).as_micros()).unwrap_or(u64::MAX);
                // Values past the histogram's range are clamped rather than lost.
                histogram.saturating_record(micros.max(1));
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Pusher for SimPusher {
    async fn post(&self, _endpoint: &str, _connection_id: &str, data: &[u8]) -> Result<(), PushError> {
        if data.len() > MAX_FRAME_BYTES {
            return Err(PushError::TooLarge { bytes: data.len() });
        }
        match self.over_limit {
            OverLimit::Wait => {
                let wait = lock(&self.bucket).reserve(Instant::now());
                if !wait.is_zero() {
                    self.throttled.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                }
            }
            OverLimit::Refuse => {
                if !lock(&self.bucket).try_take(Instant::now()) {
                    self.throttled.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.latency).await;
                    return Err(PushError::Throttled("429 Too Many Requests (simulated)".into()));
                }
            }
        }
        tokio::time::sleep(self.latency).await;
        let now = Instant::now();
        self.posts.fetch_add(1, Ordering::Relaxed);
        self.record(data, now);
        let mut last = lock(&self.last_post);
        *last = Some(last.map_or(now, |l| l.max(now)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_lets_a_burst_through_then_paces_at_its_rate() {
        let mut bucket = Bucket { throttle: Throttle { rate: 1_000.0, burst: 10.0 }, tat: None };
        let now = Instant::now();
        let waits: Vec<Duration> = (0..20).map(|_| bucket.reserve(now)).collect();
        assert!(waits[..11].iter().all(Duration::is_zero), "the burst (and the first) pass at once: {waits:?}");
        assert_eq!(waits[11], Duration::from_millis(1));
        assert_eq!(waits[19], Duration::from_millis(9), "then one per millisecond");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(bucket.reserve(Instant::now()).is_zero(), "a quiet second refills it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusing_bucket_takes_the_burst_then_refuses_until_a_token_is_due() {
        let mut bucket = Bucket { throttle: Throttle { rate: 1_000.0, burst: 10.0 }, tat: None };
        let now = Instant::now();
        let taken: Vec<bool> = (0..20).map(|_| bucket.try_take(now)).collect();
        assert_eq!(taken.iter().filter(|t| **t).count(), 11, "the burst and the first: {taken:?}");
        tokio::time::advance(Duration::from_micros(999)).await;
        assert!(!bucket.try_take(Instant::now()), "refusals took no token, and none is due yet");
        tokio::time::advance(Duration::from_micros(1)).await;
        assert!(bucket.try_take(Instant::now()), "one a millisecond");
    }
}

#[cfg(test)]
mod latency_tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_post_records_the_latency_of_each_message_it_carries() {
        let pusher =
            SimPusher::new(Duration::from_millis(15), Throttle { rate: 1_000.0, burst: 10.0 }, OverLimit::Wait);
        pusher.sent(1, Instant::now());
        let frame = r#"{"type":"messages","room":"r","messages":[{"room":"r","seq":1,"id":"i","from":"a","body":"b","sentAt":"t"}]}"#;
        pusher.post("e", "c", frame.as_bytes()).await.unwrap();
        assert_eq!(pusher.delivered().len(), 1);
        assert_eq!(pusher.delivered().value_at_quantile(0.5) / 1_000, 15);
    }
}
