//! An in-memory SQS FIFO queue: message groups, 5-minute deduplication, visibility timeout,
//! receive counts and redrive to a dead-letter queue after `maxReceiveCount` receives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use serde::Serialize;
use starling_shared::envelope::Envelope;
use starling_shared::ports::{Queue, QueueError};
use tokio::sync::Notify;

use crate::events::QueueRecord;
use crate::ids::gateway_id;

/// SQS FIFO's deduplication interval.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(5 * 60);

/// A message that was moved to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqEntry {
    pub message_id: String,
    pub group_id: String,
    pub body: String,
    pub receive_count: u32,
    /// Epoch milliseconds when it was first sent to the source queue.
    pub sent_timestamp: i64,
}

#[derive(Debug)]
struct Stored {
    message_id: String,
    group: String,
    body: String,
    dedup_id: String,
    sequence_number: u64,
    sent_at_ms: i64,
    first_received_at_ms: Option<i64>,
    receive_count: u32,
    /// `Some` while in flight: invisible until then, and its group is blocked.
    invisible_until: Option<Instant>,
    receipt: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    messages: VecDeque<Stored>,
    dedup: HashMap<String, Instant>,
    dedup_order: VecDeque<(Instant, String)>,
    dlq: Vec<DlqEntry>,
    next_sequence: u64,
}

/// The FIFO queue. `enqueue` (the `Queue` port) is what the send handler writes to; the
/// event source mapping calls `receive` and `delete`.
#[derive(Debug)]
pub struct MemoryFifo {
    state: Mutex<State>,
    notify: Notify,
    visibility_timeout: Duration,
    max_receive_count: u32,
}

impl MemoryFifo {
    pub fn new(visibility_timeout: Duration, max_receive_count: u32) -> Self {
        Self {
            state: Mutex::default(),
            notify: Notify::new(),
            visibility_timeout,
            max_receive_count: max_receive_count.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a message; a repeated `dedup_id` within five minutes is accepted and dropped.
    /// Returns whether the message was stored.
    pub fn send(&self, group: &str, body: &str, dedup_id: &str) -> bool {
        let now = Instant::now();
        let mut s = self.lock();
        while let Some((t, _)) = s.dedup_order.front() {
            if now.duration_since(*t) < DEDUP_WINDOW {
                break;
            }
            if let Some((_, id)) = s.dedup_order.pop_front()
                && s.dedup.get(&id).is_some_and(|seen| now.duration_since(*seen) >= DEDUP_WINDOW)
            {
                s.dedup.remove(&id);
            }
        }
        if s.dedup.contains_key(dedup_id) {
            return false;
        }
        s.dedup.insert(dedup_id.to_owned(), now);
        s.dedup_order.push_back((now, dedup_id.to_owned()));
        s.next_sequence += 1;
        let sequence_number = s.next_sequence;
        s.messages.push_back(Stored {
            message_id: ulid::Ulid::generate().to_string().to_ascii_lowercase(),
            group: group.to_owned(),
            body: body.to_owned(),
            dedup_id: dedup_id.to_owned(),
            sequence_number,
            sent_at_ms: Utc::now().timestamp_millis(),
            first_received_at_ms: None,
            receive_count: 0,
            invisible_until: None,
            receipt: None,
        });
        drop(s);
        self.notify.notify_waiters();
        true
    }

    /// Receives up to `max` messages as SQS FIFO does: in order within each group, and nothing
    /// from a group that has a message in flight. A message already received `maxReceiveCount`
    /// times moves to the DLQ instead.
    pub fn receive(&self, max: usize) -> Vec<QueueRecord> {
        let now = Instant::now();
        let now_ms = Utc::now().timestamp_millis();
        let mut s = self.lock();
        let mut blocked: HashSet<String> = HashSet::new();
        for m in s.messages.iter_mut() {
            match m.invisible_until {
                Some(t) if t > now => {
                    blocked.insert(m.group.clone());
                }
                Some(_) => {
                    m.invisible_until = None;
                    m.receipt = None;
                }
                None => {}
            }
        }
        let mut out = Vec::new();
        let mut to_dlq = Vec::new();
        for (i, m) in s.messages.iter_mut().enumerate() {
            if out.len() >= max {
                break;
            }
            if blocked.contains(&m.group) {
                continue;
            }
            if m.receive_count >= self.max_receive_count {
                to_dlq.push(i);
                continue;
            }
            m.receive_count += 1;
            m.invisible_until = Some(now + self.visibility_timeout);
            let receipt = gateway_id();
            m.receipt = Some(receipt.clone());
            let first = *m.first_received_at_ms.get_or_insert(now_ms);
            out.push(QueueRecord {
                message_id: m.message_id.clone(),
                receipt_handle: receipt,
                body: m.body.clone(),
                group_id: m.group.clone(),
                dedup_id: m.dedup_id.clone(),
                sequence_number: m.sequence_number.to_string(),
                receive_count: m.receive_count,
                sent_at_ms: m.sent_at_ms,
                first_received_at_ms: first,
            });
            // Later messages of a group come in the same batch only behind this one; a group
            // is never received past a message that is in flight elsewhere.
        }
        for i in to_dlq.into_iter().rev() {
            if let Some(m) = s.messages.remove(i) {
                tracing::warn!(message_id = %m.message_id, group = %m.group, receives = m.receive_count, "moved to the DLQ");
                s.dlq.push(DlqEntry {
                    message_id: m.message_id,
                    group_id: m.group,
                    body: m.body,
                    receive_count: m.receive_count,
                    sent_timestamp: m.sent_at_ms,
                });
            }
        }
        out
    }

    /// Deletes a received message; a stale receipt (the message became visible again and was
    /// received anew) is ignored, as SQS does for FIFO queues.
    pub fn delete(&self, receipt: &str) {
        let mut s = self.lock();
        if let Some(i) = s.messages.iter().position(|m| m.receipt.as_deref() == Some(receipt)) {
            s.messages.remove(i);
        }
        drop(s);
        self.notify.notify_waiters();
    }

    /// Ends a received message's invisibility now (ChangeMessageVisibility to 0). Its group
    /// stays blocked while another of its messages is in flight.
    pub fn release(&self, receipt: &str) {
        let mut s = self.lock();
        if let Some(m) = s.messages.iter_mut().find(|m| m.receipt.as_deref() == Some(receipt)) {
            m.invisible_until = None;
            m.receipt = None;
        }
        drop(s);
        self.notify.notify_waiters();
    }

    /// When the earliest in-flight message becomes visible again.
    pub fn next_visible_at(&self) -> Option<Instant> {
        self.lock().messages.iter().filter_map(|m| m.invisible_until).min()
    }

    /// A future that resolves on the next send or delete; create it before checking the queue.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    pub fn dlq(&self) -> Vec<DlqEntry> {
        self.lock().dlq.clone()
    }

    /// Messages not yet deleted (visible or in flight).
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Queue for MemoryFifo {
    async fn enqueue(&self, envelope: &Envelope) -> Result<(), QueueError> {
        self.send(&envelope.group_id(), &envelope.to_json(), &envelope.dedup_id());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bodies(rs: &[QueueRecord]) -> Vec<&str> {
        rs.iter().map(|r| r.body.as_str()).collect()
    }

    #[test]
    fn groups_are_ordered_and_blocked_while_in_flight() {
        let q = MemoryFifo::new(Duration::from_millis(30), 5);
        for (g, b) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3")] {
            assert!(q.send(g, b, b));
        }
        let first = q.receive(2);
        assert_eq!(bodies(&first), ["a1", "b1"]);
        assert!(q.receive(10).is_empty(), "both groups are in flight");
        q.delete(&first[0].receipt_handle);
        let next = q.receive(10);
        assert_eq!(bodies(&next), ["a2", "a3"]);
    }

    #[test]
    fn duplicates_within_the_window_are_dropped() {
        let q = MemoryFifo::new(Duration::from_secs(30), 5);
        assert!(q.send("a", "x", "d1"));
        assert!(!q.send("a", "y", "d1"));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_failed_message_comes_back_after_the_timeout_then_goes_to_the_dlq() {
        let q = MemoryFifo::new(Duration::from_millis(10), 2);
        q.send("a", "poison", "p");
        q.send("a", "next", "n");
        for attempt in 1..=2 {
            let rs = q.receive(1);
            assert_eq!(bodies(&rs), ["poison"]);
            assert_eq!(rs[0].receive_count, attempt);
            assert!(q.receive(10).is_empty(), "the group is blocked while in flight");
            std::thread::sleep(Duration::from_millis(15));
        }
        let rs = q.receive(10);
        assert_eq!(bodies(&rs), ["next"], "poison went to the DLQ and unblocked its group");
        assert_eq!(q.dlq().len(), 1);
        assert_eq!(q.dlq()[0].receive_count, 2);
    }

    #[test]
    fn a_stale_receipt_deletes_nothing() {
        let q = MemoryFifo::new(Duration::from_millis(5), 5);
        q.send("a", "x", "x");
        let old = q.receive(1);
        std::thread::sleep(Duration::from_millis(10));
        let new = q.receive(1);
        q.delete(&old[0].receipt_handle);
        assert_eq!(q.len(), 1);
        q.delete(&new[0].receipt_handle);
        assert!(q.is_empty());
    }
}
