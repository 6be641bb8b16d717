//! Choosing how a run reaches its room. A room with fewer subscribers than the threshold is
//! posted to directly, from the one Query that found it small (what every room cost before
//! shards). A larger room gets one [`ShardDelivery`] per shard on the delivery queue, whose FIFO
//! group is the room's shard: the shards are delivered in parallel, each in order.

use futures::StreamExt;
use futures::stream;

use super::publish::Posted;
use super::run::{Frames, post_page};
use super::{Deadline, FanoutDeps, FanoutError};
use crate::domain::{Message, Shard};
use crate::envelope::{Envelope, ShardDelivery};
use crate::ports::Queue;
use crate::protocol::wire;

/// The most message bytes one delivery record carries: SQS takes 256 KiB per message, and the
/// envelope's own fields need the rest.
const DELIVERY_BYTES: usize = 192 * 1024;
/// Delivery records handed to SQS at once.
const ENQUEUE_CONCURRENCY: usize = 16;

/// Delivers a run of the fanout (the whole room) directly or through its shards, by size.
pub(super) async fn route(
    deps: &FanoutDeps,
    queue: &dyn Queue,
    endpoint: &str,
    messages: &[Message],
    deadline: Deadline,
) -> Result<Posted, FanoutError> {
    let Some(first) = messages.first() else { return Ok(Posted::default()) };
    let room = first.room.as_str();
    let settings = &deps.settings;
    let probe = deps.stores.subscriptions.probe(room, settings.shard_threshold).await?;
    let now = deps.clock.now().timestamp();
    let held = probe.sharded_until.is_some_and(|until| until > now);
    let mut posted = Posted::default();
    if probe.complete && !held {
        post_page(deps, endpoint, &Frames::of(messages), probe.subscribers, deadline, &mut posted).await?;
        return Ok(posted);
    }
    // Marked before anything is queued, so a room that shrinks is not posted to directly while
    // these deliveries may still be under way; refreshed when half the hold has passed.
    let hold = i64::try_from(settings.sharded_hold.as_secs()).unwrap_or(i64::MAX);
    if probe.sharded_until.is_none_or(|until| until < now.saturating_add(hold / 2)) {
        deps.stores.subscriptions.mark_sharded(room, now.saturating_add(hold)).await?;
    }
    posted.queued = enqueue(queue, room, endpoint, messages, settings.shards).await?;
    Ok(posted)
}

/// Queues the run for every shard, each in as many records as keep within [`DELIVERY_BYTES`];
/// returns how many records were queued.
async fn enqueue(
    queue: &dyn Queue,
    room: &str,
    endpoint: &str,
    messages: &[Message],
    shards: u16,
) -> Result<usize, FanoutError> {
    // Pieces of at most DELIVERY_BYTES, at least one message each.
    let chunks = wire::pieces(messages, wire::item_len, 0, DELIVERY_BYTES);
    let envelopes: Vec<Envelope> = Shard::all_of(shards)
        .flat_map(|shard| {
            chunks.iter().map(move |chunk| {
                Envelope::Deliver(ShardDelivery {
                    room: room.to_owned(),
                    shard,
                    messages: chunk.to_vec(),
                    endpoint: endpoint.to_owned(),
                })
            })
        })
        .collect();
    let count = envelopes.len();
    let results: Vec<_> = stream::iter(envelopes)
        .map(|e| async move { queue.enqueue(&e).await })
        .buffer_unordered(ENQUEUE_CONCURRENCY)
        .collect()
        .await;
    // All or nothing for the caller: a retried run queues again, and SQS drops the repeats of
    // the ones that made it (same deduplication id within five minutes; later, clients do).
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(count)
}
