//! `stats`: a room's activity counters per minute, as the fanout keeps them
//! (docs/analytics.md). Members only, like every read of a room.

use std::collections::BTreeSet;

use super::guards::require_member;
use super::{ActionError, SendDeps};
use crate::domain::{Connection, MinuteCounts, window};
use crate::protocol::{MinuteStats, RoomId, ServerFrame, StatsTotals, wire};

/// `stats`: the room's minutes with counts among the last `minutes`, oldest first.
pub(super) async fn stats(
    deps: &SendDeps,
    conn: &Connection,
    room: &RoomId,
    minutes: u32,
) -> Result<ServerFrame, ActionError> {
    require_member(deps, conn, room).await?;
    let (first, last) = window(deps.clock.now(), minutes);
    let counts = deps.stores.stats.minutes(room.as_str(), &first, &last).await?;
    Ok(stats_frame(room.as_str(), counts))
}

/// The `stats` frame of `counts` (ascending by minute): totals over all of them, and as many of
/// the newest minutes as fit [`wire::PAGE_BYTES`]; `hasMore` when older ones were left out.
pub fn stats_frame(room: &str, counts: Vec<MinuteCounts>) -> ServerFrame {
    let mut senders: BTreeSet<&str> = BTreeSet::new();
    let mut totals = StatsTotals::default();
    for c in &counts {
        totals.messages = totals.messages.saturating_add(c.messages);
        totals.deliveries = totals.deliveries.saturating_add(c.deliveries);
        senders.extend(c.senders.iter().map(String::as_str));
    }
    totals.senders = senders.len() as u64;
    let mut minutes: Vec<MinuteStats> = counts
        .iter()
        .map(|c| MinuteStats {
            minute: c.minute.clone(),
            messages: c.messages,
            senders: c.senders.len() as u64,
            deliveries: c.deliveries,
        })
        .collect();
    let empty = ServerFrame::Stats { room: room.to_owned(), minutes: vec![], totals: totals.clone(), has_more: true };
    let fit = wire::fitting(minutes.iter().rev().map(wire::item_len), wire::frame_len(&empty), usize::MAX);
    let cut = minutes.len() - fit;
    let minutes = minutes.split_off(cut);
    ServerFrame::Stats { room: room.to_owned(), minutes, totals, has_more: cut > 0 }
}
