//! Posting one frame to many connections: bounded concurrency, retries of throttled posts, and a
//! report of who is gone. Used by the fanout (messages, presence) and by `typing`/`read`.
//!
//! A throttle (429) is usually API Gateway's account-wide limit on requests, so a throttled post
//! gets more tries than a failing one, backing off for up to about 1.5 s in all. It gets no more:
//! one connection whose posts are throttled for good must not hold up its room (each run waits
//! for its slowest connection), so it then misses the frame live and catches up with `sync`. A
//! back-off that would cross the caller's deadline leaves the post `unsent`, for the caller to
//! retry.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use futures::stream;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::domain::Subscriber;
use crate::ports::{PushError, Pusher, StoreError, SubscriptionStore};
use crate::telemetry::metric;

/// How hard to try one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushPolicy {
    /// Posts in flight at once.
    pub concurrency: usize,
    /// Tries per post before a failing post counts as failed.
    pub attempts: u32,
    /// Tries per post before a throttled (429) post counts as failed.
    pub throttle_attempts: u32,
    /// First back-off between tries; doubles each time.
    pub backoff: Duration,
    /// The longest back-off, reached after a few doublings by a post throttled for long.
    pub max_backoff: Duration,
}

impl Default for PushPolicy {
    fn default() -> Self {
        Self {
            concurrency: 64,
            attempts: 3,
            throttle_attempts: 6,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// What a broadcast did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Connections whose posts all succeeded, possibly after retries.
    pub delivered: usize,
    /// Posts that succeeded: a connection gets one per frame of its set.
    pub posts: usize,
    /// Connections that answered 410: the caller removes them.
    pub gone: Vec<String>,
    /// Posts still throttled or failing after `PushPolicy::attempts` tries. Each concerns one
    /// connection, so no caller fails for them: the fanout logs and counts them (the connection
    /// catches up with `sync`), `typing` and `read` ignore them.
    pub failed: usize,
    /// Posts not attempted because the caller's deadline came first, or whose back-off from a
    /// throttle would have crossed it: the caller retries them.
    pub unsent: usize,
}

/// Every subscriber of a room, across pages.
pub async fn subscribers_of(subs: &dyn SubscriptionStore, room: &str) -> Result<Vec<Subscriber>, StoreError> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = subs.subscribers(room, cursor.as_deref()).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// Who gets a room-wide push that is state, not data (`presenceChanged`, `typing`, `read`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    /// Every subscriber of the rooms with fewer than the limit, each connection once.
    pub connections: Vec<String>,
    /// Rooms left out because they have at least the limit of subscribers: their members ask
    /// with `presence` instead of being pushed to.
    pub skipped_rooms: usize,
}

/// Every subscriber of any of the rooms with fewer than `limit` subscribers (each connection
/// once, except those `skip` rejects), each room read with one probe: a state change is never
/// pushed to a large room (docs/protocol.md, "Large rooms").
pub async fn small_rooms_audience(
    subs: &dyn SubscriptionStore,
    rooms: &[String],
    limit: usize,
    skip: impl Fn(&Subscriber) -> bool,
) -> Result<Audience, StoreError> {
    let mut seen = HashSet::new();
    let mut audience = Audience::default();
    for room in rooms {
        let probe = subs.probe(room, limit).await?;
        if !probe.complete {
            audience.skipped_rooms += 1;
            continue;
        }
        for s in probe.subscribers {
            if !skip(&s) && seen.insert(s.connection_id.clone()) {
                audience.connections.push(s.connection_id);
            }
        }
    }
    Ok(audience)
}

/// Posts `frame` to each connection, `policy.concurrency` at a time.
pub async fn post_all(
    pusher: &dyn Pusher,
    policy: PushPolicy,
    endpoint: &str,
    connection_ids: Vec<String>,
    frame: &[u8],
) -> Report {
    post_all_until(pusher, policy, endpoint, connection_ids, frame, None).await
}

/// [`post_all`], but no post starts at or after `stop_at`: those are counted as `unsent`.
pub async fn post_all_until(
    pusher: &dyn Pusher,
    policy: PushPolicy,
    endpoint: &str,
    connection_ids: Vec<String>,
    frame: &[u8],
    stop_at: Option<Instant>,
) -> Report {
    let frames: [&[u8]; 1] = [frame];
    let targets = connection_ids.into_iter().map(|id| (id, 0)).collect();
    post_each_until(pusher, policy, endpoint, targets, &[&frames], stop_at).await
}

/// Posts each connection the frames of the set its target names (an index into `frame_sets`), in
/// their order, one after another, `policy.concurrency` connections at a time, so each
/// connection gets them in order. A connection whose post fails
/// after its retries (or answers 410) gets none of the frames after it: it catches up with
/// `sync`. A connection not started by `stop_at`, or whose throttled post would have backed off
/// past it, is `unsent`; one started otherwise finishes its frames.
pub async fn post_each_until(
    pusher: &dyn Pusher,
    policy: PushPolicy,
    endpoint: &str,
    targets: Vec<(String, usize)>,
    frame_sets: &[&[&[u8]]],
    stop_at: Option<Instant>,
) -> Report {
    let in_time = move || stop_at.is_none_or(|t| Instant::now() < t);
    let results: Vec<(String, usize, Result<(), Missed>)> = stream::iter(targets)
        .map(|(id, set)| async move {
            if !in_time() {
                return (id, 0, Err(Missed::OutOfTime));
            }
            let frames = frame_sets.get(set).copied().unwrap_or_default();
            for (posts, frame) in frames.iter().enumerate() {
                if let Err(e) = post_until(pusher, policy, endpoint, &id, frame, stop_at).await {
                    return (id, posts, Err(e));
                }
            }
            (id, frames.len(), Ok(()))
        })
        .buffer_unordered(policy.concurrency.max(1))
        .collect()
        .await;
    let mut report = Report::default();
    for (id, posts, r) in results {
        report.posts += posts;
        match r {
            Ok(()) => report.delivered += 1,
            Err(Missed::OutOfTime) => report.unsent += 1,
            Err(Missed::Refused(PushError::Gone(_))) => report.gone.push(id),
            Err(Missed::Refused(e)) => {
                warn!(connection_id = %id, error = %e, source = ?std::error::Error::source(&e), "post failed after its retries; this connection misses the frame");
                report.failed += 1;
            }
        }
    }
    metric::gone(report.gone.len());
    report
}

/// Why a post did not land.
#[derive(Debug)]
enum Missed {
    /// Refused for good, or failing after its tries.
    Refused(PushError),
    /// Not started before the deadline, or throttled with no time left to back off.
    OutOfTime,
}

/// One post, retried on throttles and failures (not on Gone or TooLarge, which are final).
pub async fn post_with_retry(
    pusher: &dyn Pusher,
    policy: PushPolicy,
    endpoint: &str,
    connection_id: &str,
    frame: &[u8],
) -> Result<(), PushError> {
    match post_until(pusher, policy, endpoint, connection_id, frame, None).await {
        Ok(()) => Ok(()),
        Err(Missed::Refused(e)) => Err(e),
        // Not reached: without a deadline nothing runs out of time.
        Err(Missed::OutOfTime) => Err(PushError::Throttled("throttled past the deadline".into())),
    }
}

/// One post. Gone and TooLarge are final; a failure is tried `policy.attempts` times, a throttle
/// `policy.throttle_attempts` times. Back-offs double up to `policy.max_backoff`, each spread by
/// the connection id, so the posts a throttle refused together do not all come back at once; a
/// throttle whose back-off would cross `stop_at` is `OutOfTime`.
async fn post_until(
    pusher: &dyn Pusher,
    policy: PushPolicy,
    endpoint: &str,
    connection_id: &str,
    frame: &[u8],
    stop_at: Option<Instant>,
) -> Result<(), Missed> {
    let mut backoff = policy.backoff;
    let mut attempt = 1;
    loop {
        let e = match pusher.post(endpoint, connection_id, frame).await {
            Ok(()) => return Ok(()),
            Err(e @ (PushError::Gone(_) | PushError::TooLarge { .. })) => return Err(Missed::Refused(e)),
            Err(e) => e,
        };
        let throttled = matches!(e, PushError::Throttled(_));
        if throttled {
            metric::post_throttled();
        }
        if attempt >= if throttled { policy.throttle_attempts } else { policy.attempts }.max(1) {
            return Err(Missed::Refused(e));
        }
        let pause = spread(backoff, connection_id, attempt);
        if throttled {
            if stop_at.is_some_and(|t| Instant::now() + pause >= t) {
                debug!(connection_id, attempt, "post throttled with no time left; the caller retries it");
                return Err(Missed::OutOfTime);
            }
            debug!(connection_id, attempt, "post throttled; retrying");
        } else {
            warn!(connection_id, attempt, error = %e, "post failed; retrying");
        }
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(policy.max_backoff.max(policy.backoff));
        attempt += 1;
    }
}

/// Between half of `backoff` and all of it, by a hash of the connection and the attempt:
/// spread like random jitter, but the same in every run.
fn spread(backoff: Duration, connection_id: &str, attempt: u32) -> Duration {
    let mut h = crc32fast::Hasher::new();
    h.update(connection_id.as_bytes());
    h.update(&attempt.to_le_bytes());
    let fraction = f64::from(h.finalize()) / f64::from(u32::MAX);
    backoff.mul_f64(0.5 + fraction / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backoff_is_spread_over_its_upper_half_and_differs_between_connections() {
        let b = Duration::from_millis(800);
        let waits: Vec<Duration> = (0..50).map(|i| spread(b, &format!("conn{i}="), 3)).collect();
        assert!(waits.iter().all(|w| *w >= b / 2 && *w <= b), "{waits:?}");
        let distinct: HashSet<Duration> = waits.iter().copied().collect();
        assert!(distinct.len() > 40, "posts throttled together come back at different times: {}", distinct.len());
        assert_eq!(spread(b, "conn1=", 3), spread(b, "conn1=", 3), "the same in every run");
    }
}
