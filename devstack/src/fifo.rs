//! The devstack's SQS FIFO emulation: message groups, 5-minute deduplication, visibility
//! timeout, receive counts and redrive to a dead-letter queue after `maxReceiveCount` receives.
//!
//! Not to be confused with the shared crate's in-memory `Queue` adapter (`RecordingQueue`, to be
//! `RecordingQueue`): that one only records envelopes for unit tests to inspect and nothing ever
//! receives from it. This one is consumed by the event source mapping exactly as SQS is, so
//! the fanout sees redeliveries, blocked groups and poison messages as it would in AWS.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use starling_shared::envelope::Envelope;
use starling_shared::ports::{DeadLetter, DeadLetters, Queue, QueueError};
use tokio::sync::Notify;

use crate::DevstackError;
use crate::ids::gateway_id;
use crate::mapping::{DlqEntry, QueueRecord, QueueSource, fresh_dedup_id};

/// SQS FIFO's deduplication interval.
const DEDUP_WINDOW: Duration = Duration::from_secs(5 * 60);

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

impl Stored {
    /// Marks this message received now and returns the record the receiver gets.
    fn take(&mut self, now: Instant, now_ms: i64, visibility_timeout: Duration) -> QueueRecord {
        self.receive_count += 1;
        self.invisible_until = Some(now + visibility_timeout);
        let receipt = gateway_id();
        self.receipt = Some(receipt.clone());
        let first = *self.first_received_at_ms.get_or_insert(now_ms);
        QueueRecord {
            message_id: self.message_id.clone(),
            receipt_handle: receipt,
            body: self.body.clone(),
            group_id: self.group.clone(),
            dedup_id: self.dedup_id.clone(),
            sequence_number: self.sequence_number.to_string(),
            receive_count: self.receive_count,
            sent_at_ms: self.sent_at_ms,
            first_received_at_ms: first,
        }
    }

    fn make_visible(&mut self) {
        self.invisible_until = None;
        self.receipt = None;
    }
}

#[derive(Debug, Default)]
struct State {
    messages: VecDeque<Stored>,
    dedup: HashMap<String, Instant>,
    dedup_order: VecDeque<(Instant, String)>,
    dlq: Vec<DlqEntry>,
    next_sequence: u64,
}

impl State {
    /// Forgets deduplication ids older than the window; `true` if `dedup_id` is still within it.
    fn seen_recently(&mut self, dedup_id: &str, now: Instant) -> bool {
        while let Some((t, _)) = self.dedup_order.front() {
            if now.duration_since(*t) < DEDUP_WINDOW {
                break;
            }
            if let Some((_, id)) = self.dedup_order.pop_front()
                && self.dedup.get(&id).is_some_and(|seen| now.duration_since(*seen) >= DEDUP_WINDOW)
            {
                self.dedup.remove(&id);
            }
        }
        self.dedup.contains_key(dedup_id)
    }

    /// Makes messages whose visibility timeout passed visible again and returns the groups still
    /// blocked by a message in flight.
    fn expire_in_flight(&mut self, now: Instant) -> HashSet<String> {
        let mut blocked = HashSet::new();
        for m in self.messages.iter_mut() {
            match m.invisible_until {
                Some(t) if t > now => {
                    blocked.insert(m.group.clone());
                }
                Some(_) => m.make_visible(),
                None => {}
            }
        }
        blocked
    }

    /// Moves the messages at `positions` (ascending) to the DLQ.
    fn redrive(&mut self, positions: Vec<usize>) {
        for i in positions.into_iter().rev() {
            if let Some(m) = self.messages.remove(i) {
                tracing::warn!(message_id = %m.message_id, group = %m.group, receives = m.receive_count, "moved to the DLQ");
                self.dlq.push(DlqEntry {
                    message_id: m.message_id,
                    group_id: m.group,
                    body: m.body,
                    receive_count: m.receive_count,
                    sent_timestamp: m.sent_at_ms,
                    reason: None,
                });
            }
        }
    }
}

/// An SQS FIFO queue in memory. `enqueue` (the `Queue` port) is what the send handler and
/// `$connect`/`$disconnect` write to; the event source mapping reads it as a [`QueueSource`].
#[derive(Debug)]
pub(crate) struct FifoEmulator {
    state: Mutex<State>,
    notify: Notify,
    visibility_timeout: Duration,
    max_receive_count: u32,
}

impl FifoEmulator {
    pub(crate) fn new(visibility_timeout: Duration, max_receive_count: u32) -> Self {
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
    fn send(&self, group: &str, body: &str, dedup_id: &str) -> bool {
        let now = Instant::now();
        let mut s = self.lock();
        if s.seen_recently(dedup_id, now) {
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
    fn receive_now(&self, max: usize) -> Vec<QueueRecord> {
        let now = Instant::now();
        let now_ms = Utc::now().timestamp_millis();
        let mut s = self.lock();
        let blocked = s.expire_in_flight(now);
        let mut out = Vec::new();
        let mut to_dlq = Vec::new();
        // Later messages of a group come in the same batch only behind its earlier ones; a group
        // is never received past a message that is in flight elsewhere.
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
            out.push(m.take(now, now_ms, self.visibility_timeout));
        }
        s.redrive(to_dlq);
        out
    }

    /// Deletes a received message; a stale receipt (the message became visible again and was
    /// received anew) is ignored, as SQS does for FIFO queues.
    fn delete_one(&self, receipt: &str) {
        let mut s = self.lock();
        if let Some(i) = s.messages.iter().position(|m| m.receipt.as_deref() == Some(receipt)) {
            s.messages.remove(i);
        }
        drop(s);
        self.notify.notify_waiters();
    }

    /// Ends a received message's invisibility now (ChangeMessageVisibility to 0). Its group
    /// stays blocked while another of its messages is in flight.
    fn release_one(&self, receipt: &str) {
        let mut s = self.lock();
        if let Some(m) = s.messages.iter_mut().find(|m| m.receipt.as_deref() == Some(receipt)) {
            m.make_visible();
        }
        drop(s);
        self.notify.notify_waiters();
    }

    /// When the earliest in-flight message becomes visible again.
    fn next_visible_at(&self) -> Option<Instant> {
        self.lock().messages.iter().filter_map(|m| m.invisible_until).min()
    }

    /// Messages not yet deleted (visible or in flight).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().messages.len()
    }
}

#[async_trait]
impl Queue for FifoEmulator {
    async fn enqueue(&self, envelope: &Envelope) -> Result<(), QueueError> {
        self.send(&envelope.group_id(), &envelope.to_json(), &envelope.dedup_id());
        Ok(())
    }
}

/// The fanout's own dead-lettering, into the same DLQ the redrive fills. Deduplicated on the
/// record id, as the FIFO DLQ is.
#[async_trait]
impl DeadLetters for FifoEmulator {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        let mut s = self.lock();
        if s.dlq.iter().any(|e| e.message_id == letter.record_id) {
            return Ok(());
        }
        let sent_timestamp = s
            .messages
            .iter()
            .find(|m| m.message_id == letter.record_id)
            .map_or_else(|| Utc::now().timestamp_millis(), |m| m.sent_at_ms);
        s.dlq.push(DlqEntry {
            message_id: letter.record_id.clone(),
            group_id: letter.group.clone().unwrap_or_default(),
            body: letter.body.clone(),
            receive_count: letter.attempts,
            sent_timestamp,
            reason: Some(letter.reason.clone()),
        });
        Ok(())
    }
}

#[async_trait]
impl QueueSource for FifoEmulator {
    fn name(&self) -> String {
        "starling-devstack.fifo".to_owned()
    }

    /// Wakes on every send, delete or release, and when the earliest in-flight message's
    /// visibility timeout ends, so a long poll returns as soon as SQS would.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<QueueRecord>, DevstackError> {
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so a send between the look and the wait is not missed.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let batch = self.receive_now(max);
            if !batch.is_empty() {
                return Ok(batch);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(vec![]);
            }
            let until = self.next_visible_at().map_or(deadline, |t| t.min(deadline));
            let _ = tokio::time::timeout(until.saturating_duration_since(now), notified).await;
        }
    }

    async fn delete(&self, records: &[&QueueRecord]) -> Result<(), DevstackError> {
        for r in records {
            self.delete_one(&r.receipt_handle);
        }
        Ok(())
    }

    async fn release(&self, records: &[&QueueRecord]) -> Result<(), DevstackError> {
        for r in records {
            self.release_one(&r.receipt_handle);
        }
        Ok(())
    }

    async fn extend(&self, records: &[&QueueRecord], visibility: Duration) -> Result<(), DevstackError> {
        let until = Instant::now() + visibility;
        let mut s = self.lock();
        for r in records {
            if let Some(m) = s.messages.iter_mut().find(|m| m.receipt.as_deref() == Some(r.receipt_handle.as_str())) {
                m.invisible_until = Some(until);
                m.receive_count += 1;
            }
        }
        Ok(())
    }

    async fn dlq(&self) -> Result<Vec<DlqEntry>, DevstackError> {
        Ok(self.lock().dlq.clone())
    }

    async fn send_raw(&self, group: &str, body: &str) -> Result<(), DevstackError> {
        self.send(group, body, &fresh_dedup_id());
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
        let q = FifoEmulator::new(Duration::from_millis(30), 5);
        for (g, b) in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3")] {
            assert!(q.send(g, b, b));
        }
        let first = q.receive_now(2);
        assert_eq!(bodies(&first), ["a1", "b1"]);
        assert!(q.receive_now(10).is_empty(), "both groups are in flight");
        q.delete_one(&first[0].receipt_handle);
        let next = q.receive_now(10);
        assert_eq!(bodies(&next), ["a2", "a3"]);
    }

    #[test]
    fn duplicates_within_the_window_are_dropped() {
        let q = FifoEmulator::new(Duration::from_secs(30), 5);
        assert!(q.send("a", "x", "d1"));
        assert!(!q.send("a", "y", "d1"));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_failed_message_comes_back_after_the_timeout_then_goes_to_the_dlq() {
        let q = FifoEmulator::new(Duration::from_millis(10), 2);
        q.send("a", "poison", "p");
        q.send("a", "next", "n");
        for attempt in 1..=2 {
            let rs = q.receive_now(1);
            assert_eq!(bodies(&rs), ["poison"]);
            assert_eq!(rs[0].receive_count, attempt);
            assert!(q.receive_now(10).is_empty(), "the group is blocked while in flight");
            std::thread::sleep(Duration::from_millis(15));
        }
        let rs = q.receive_now(10);
        assert_eq!(bodies(&rs), ["next"], "poison went to the DLQ and unblocked its group");
        assert_eq!(q.lock().dlq.len(), 1);
        assert_eq!(q.lock().dlq[0].receive_count, 2);
    }

    #[test]
    fn a_stale_receipt_deletes_nothing() {
        let q = FifoEmulator::new(Duration::from_millis(5), 5);
        q.send("a", "x", "x");
        let old = q.receive_now(1);
        std::thread::sleep(Duration::from_millis(10));
        let new = q.receive_now(1);
        q.delete_one(&old[0].receipt_handle);
        assert_eq!(q.len(), 1);
        q.delete_one(&new[0].receipt_handle);
        assert_eq!(q.len(), 0);
    }
}
