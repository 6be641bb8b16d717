//! Delivering a run: consecutive stored messages of one room, posted together page by page.
//! A connection that opted in to `messages` frames gets the run in as few posts as fit 120 KiB
//! (one, for any ordinary batch); any other gets one `message` frame per message. Either way a
//! connection's frames are posted one after another, so it sees the room's seqs in order.

use futures::future::join_all;
use tracing::warn;

use super::publish::{Posted, remove_gone};
use super::route::route;
use super::{Deadline, FanoutDeps, FanoutError};
use crate::domain::{Message, Shard, Subscriber};
use crate::protocol::{ServerFrame, wire};
use crate::service::broadcast;
use crate::telemetry::metric;

/// How long a delivery checkpoint is kept: far longer than any record is retried.
const CHECKPOINT_TTL_SECS: i64 = 24 * 60 * 60;

/// The frames of one run, built once for all of its subscribers.
#[derive(Debug)]
pub(super) struct Frames {
    /// One `message` frame per message, in seq order.
    single: Vec<Vec<u8>>,
    /// The same messages in `messages` frames, each within [`wire::PAGE_BYTES`].
    batched: Vec<Vec<u8>>,
    /// Each message's `sentAt`, for its fanout latency.
    sent_at: Vec<String>,
}

impl Frames {
    /// `messages` must be of one room, in ascending seq.
    pub(super) fn of(messages: &[Message]) -> Self {
        let single = messages.iter().map(|m| ServerFrame::Message(m.clone()).to_json().into_bytes()).collect();
        let sent_at = messages.iter().map(|m| m.sent_at.clone()).collect();
        let Some(first) = messages.first() else { return Self { single, batched: Vec::new(), sent_at } };
        let empty = ServerFrame::Messages { room: first.room.clone(), messages: vec![] };
        // A message always fits a frame of its own (the send path bounds bodies).
        let batched = wire::pieces(messages, wire::item_len, wire::frame_len(&empty), wire::PAGE_BYTES)
            .into_iter()
            .map(|page| {
                ServerFrame::Messages { room: first.room.clone(), messages: page.to_vec() }.to_json().into_bytes()
            })
            .collect();
        Self { single, batched, sent_at }
    }

    /// The `messages` frames.
    pub(super) fn batched(&self) -> &[Vec<u8>] {
        &self.batched
    }

    /// The `message` frames.
    pub(super) fn single(&self) -> &[Vec<u8>] {
        &self.single
    }
}

/// Delivers a run of the fanout to its whole room: through [`route`] (directly or by shards)
/// when a delivery queue is configured, else page after page from `cursor`.
pub(super) async fn deliver(
    deps: &FanoutDeps,
    endpoint: &str,
    messages: &[Message],
    cursor: Option<String>,
    deadline: Deadline,
) -> Result<Posted, FanoutError> {
    match &deps.deliveries {
        Some(queue) => route(deps, queue.as_ref(), endpoint, messages, deadline).await,
        None => deliver_run(deps, endpoint, messages, Shard::ALL, cursor, deadline).await,
    }
}

/// Posts `messages` (one room's, ascending) to every subscriber of `shard`, page by page from
/// `cursor` (the first page when `None`). After each page with more, every message's checkpoint
/// (of this shard) is saved at the next page, so a retry after the deadline (or a crash) skips
/// the finished pages. Subscribers of a page cut short get the run twice and drop the repeats.
pub(super) async fn deliver_run(
    deps: &FanoutDeps,
    endpoint: &str,
    messages: &[Message],
    shard: Shard,
    mut cursor: Option<String>,
    deadline: Deadline,
) -> Result<Posted, FanoutError> {
    let Some(first) = messages.first() else { return Ok(Posted::default()) };
    let room = first.room.as_str();
    let frames = Frames::of(messages);
    let mut posted = Posted::default();
    loop {
        if !deadline.has_time() {
            return Err(FanoutError::OutOfTime { posted: posted.delivered + posted.failed });
        }
        let page = deps.stores.subscriptions.subscribers_in(room, shard, cursor.as_deref()).await?;
        post_page(deps, endpoint, &frames, page.items, deadline, &mut posted).await?;
        let Some(next) = page.next else { return Ok(posted) };
        save_checkpoints(deps, &checkpoint_key(room, shard), messages, &next).await;
        cursor = Some(next);
    }
}

/// Posts the frames to one page of subscribers (each the set it opted in to), removes those
/// gone, and adds what happened to `posted`; a page cut short by the deadline is `OutOfTime`.
pub(super) async fn post_page(
    deps: &FanoutDeps,
    endpoint: &str,
    frames: &Frames,
    subscribers: Vec<Subscriber>,
    deadline: Deadline,
    posted: &mut Posted,
) -> Result<(), FanoutError> {
    let single: Vec<&[u8]> = frames.single().iter().map(Vec::as_slice).collect();
    let batched: Vec<&[u8]> = frames.batched().iter().map(Vec::as_slice).collect();
    // Set 0 is the `message` frames, set 1 the `messages` frames.
    let targets = subscribers.into_iter().map(|s| (s.connection_id, usize::from(s.batch))).collect();
    let sets: [&[&[u8]]; 2] = [&single, &batched];
    let policy = deps.settings.policy();
    let report =
        broadcast::post_each_until(deps.pusher.as_ref(), policy, endpoint, targets, &sets, deadline.stop_at()).await;
    metric::run_posted(report.posts, frames.sent_at.iter().map(String::as_str), deps.clock.now());
    remove_gone(deps, endpoint, &report.gone).await;
    posted.add(&report);
    if report.unsent > 0 {
        return Err(FanoutError::OutOfTime { posted: posted.delivered + posted.failed });
    }
    Ok(())
}

/// Where a shard's delivery checkpoints are kept: under the room for the whole room, under
/// `room#index/of` for one shard (room names have no `#`).
fn checkpoint_key(room: &str, shard: Shard) -> String {
    if shard.is_all() { room.to_owned() } else { format!("{room}#{}/{}", shard.index, shard.of) }
}

/// Remembers, for each message of the run, that the pages before `next` got it. A failed save
/// only costs re-posting those pages on a retry.
async fn save_checkpoints(deps: &FanoutDeps, key: &str, messages: &[Message], next: &str) {
    let expires_at = deps.clock.now().timestamp() + CHECKPOINT_TTL_SECS;
    let saves = messages.iter().map(|m| async move {
        if let Err(e) = deps.ledger.save_delivery_checkpoint(key, m.seq, next, expires_at).await {
            warn!(room = %m.room, seq = m.seq, error = %e, "saving the delivery checkpoint failed; a retry posts this page again");
        }
    });
    join_all(saves).await;
}

/// Where an earlier attempt at delivering `message` to `shard` stopped; a failed read only costs
/// re-posting from the start.
pub(super) async fn checkpoint(deps: &FanoutDeps, message: &Message, shard: Shard) -> Option<String> {
    let key = checkpoint_key(&message.room, shard);
    match deps.ledger.delivery_checkpoint(&key, message.seq).await {
        Ok(c) => c,
        Err(e) => {
            warn!(room = %message.room, seq = message.seq, error = %e, "reading the delivery checkpoint failed; posting to every page");
            None
        }
    }
}
