//! The per-user budget every action spends from, and the gates of `read` and `status`.
//!
//! One budget per user (the authorizer's `sub`), shared by all of the user's connections, in
//! fixed windows of `rate_window_secs`. Each action costs its weight ([`cost`]); an action
//! whose cost does not fit in what is left of the window is refused with `rate_limited` and a
//! `retryAfterMs` until the next window, before it has done anything.

use super::{ActionError, Caller, SendDeps};
use crate::protocol::{KeyRequest, Request, WelcomeRequest};

/// Cost of a `history` page: a Query of up to 100 messages and a reply of up to 128 KiB.
pub const HISTORY_COST: u64 = 5;
/// Fixed cost of a `sync`; each room named adds [`SYNC_ROOM_COST`].
pub const SYNC_COST: u64 = 5;
/// What each room of a `sync` adds: a read and a Query of up to `sync_limit` messages.
pub const SYNC_ROOM_COST: u64 = 1;
/// Fixed cost of `stats`; each started hour of its window adds [`STATS_HOUR_COST`] (a Query of
/// up to 60 counter items).
pub const STATS_COST: u64 = 4;
/// What each started hour of a `stats` window adds.
pub const STATS_HOUR_COST: u64 = 1;
/// Cost of `keys.claim`: it consumes another user's one-time packages (a transaction per
/// device), so a user draining someone's packages is slowed down.
pub const CLAIM_COST: u64 = 5;

/// What an action spends from the user's budget. The weights follow the work and the traffic
/// an action causes: a message read from the store or a frame posted to others costs more than
/// a `ping`.
///
/// | action | cost |
/// |---|---|
/// | `ping`, `leave`, `send`, `typing`, `read`, `status` | 1 |
/// | `join`, `presence` | 2 |
/// | `history` | 5 |
/// | `sync` | 5 + 1 per room (6–55) |
/// | `stats` | 4 + 1 per started hour of its window (5 for the default hour, 28 for a day) |
/// | `keys.count` | 1 |
/// | `keys.publish`, `keys.remove` | 2 |
/// | `keys.claim` | 5 |
/// | `send` with a `welcome` | 1 + 1 per device it is for (2–51): each device's copy is a write |
/// | `welcomes.ack` | 1 |
/// | `welcomes` | 2 |
pub fn cost(request: &Request) -> u64 {
    match request {
        Request::Send { welcome: Some(w), .. } => 1 + w.to.len() as u64,
        Request::Ping
        | Request::Leave { .. }
        | Request::Send { .. }
        | Request::Welcomes(WelcomeRequest::Ack { .. })
        | Request::Typing { .. }
        | Request::Read { .. }
        | Request::SetStatus { .. } => 1,
        Request::Keys(KeyRequest::Count { .. }) => 1,
        Request::Join { .. }
        | Request::Presence { .. }
        | Request::Welcomes(WelcomeRequest::List { .. })
        | Request::Keys(KeyRequest::Publish { .. } | KeyRequest::Remove { .. }) => 2,
        Request::Keys(KeyRequest::Claim { .. }) => CLAIM_COST,
        Request::History { .. } => HISTORY_COST,
        Request::Sync { rooms, .. } => SYNC_COST + SYNC_ROOM_COST * rooms.len() as u64,
        Request::Stats { minutes, .. } => STATS_COST + STATS_HOUR_COST * u64::from(minutes.div_ceil(60)),
    }
}

/// Spends the request's cost from the caller's budget: `RateLimited` (with the milliseconds
/// until the next window) when it does not fit, in which case nothing was counted.
pub(super) async fn spend(deps: &SendDeps, caller: &Caller, request: &Request) -> Result<(), ActionError> {
    let limit = deps.limits.rate_limit;
    let window = deps.limits.rate_window_secs.max(1);
    let now_ms = deps.clock.now().timestamp_millis();
    let window_start = now_ms.div_euclid(1000).div_euclid(window) * window;
    // A cost above the whole budget could never pass; it is charged as the whole budget instead,
    // so a small `STARLING_RATE_LIMIT` still admits every action in an otherwise idle window.
    let cost = cost(request).min(limit);
    let admitted = deps
        .stores
        .limiter
        .spend(&caller.connection.user, window_start, cost, limit, window_start + 2 * window)
        .await?;
    if admitted {
        return Ok(());
    }
    let retry_after_ms = ((window_start + window) * 1000 - now_ms).max(1);
    Err(ActionError::RateLimited {
        reason: format!("this user spent its budget of {limit} in {window}s"),
        retry_after_ms,
    })
}

/// Passes the user's gate `gate`, at most once per `interval_ms`: `None` when it passed,
/// `Some(ms)` until it opens again. For what is announced to others (`read`, `status`).
pub(super) async fn gate(
    deps: &SendDeps,
    user: &str,
    gate: &str,
    interval_ms: i64,
) -> Result<Option<i64>, ActionError> {
    let now_ms = deps.clock.now().timestamp_millis();
    Ok(deps.stores.limiter.pass_gate(user, gate, now_ms, interval_ms).await?)
}
