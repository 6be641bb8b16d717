//! The reconnect procedure of protocol v1 (`docs/protocol.md`, "Sync"): every seq of a room
//! delivered exactly once and in order, while live `message` frames and `sync`'s pages arrive
//! interleaved. [`SeqTracker`] is one room's merge; [`Inbox`] runs the procedure for many rooms
//! from the frames a connection receives.

use std::collections::BTreeMap;

use starling_shared::protocol::MAX_SYNC_ROOMS;

use crate::{Message, Request, RoomId, ServerFrame};

/// One room's messages, put in seq order. Messages at or below [`delivered`](Self::delivered)
/// are duplicates and dropped; messages after a gap wait until the gap is filled by a sync page
/// or settled by `synced`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqTracker {
    delivered: u64,
    pending: BTreeMap<u64, Message>,
}

impl SeqTracker {
    /// A room whose every seq up to `delivered` the application already has (0: none).
    pub fn new(delivered: u64) -> Self {
        Self { delivered, pending: BTreeMap::new() }
    }

    /// The highest seq delivered, every one below it delivered or known gone (retention).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Whether messages wait behind a gap (which a `sync` from [`delivered`](Self::delivered)
    /// fills).
    pub fn has_gap(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Takes one message, live or synced; returns the messages now deliverable, in seq order.
    pub fn offer(&mut self, message: Message) -> Vec<Message> {
        if message.seq > self.delivered {
            self.pending.entry(message.seq).or_insert(message);
        }
        self.drain()
    }

    /// A `synced` with this `lastSeq`: every retained message after the seq the sync started
    /// from, up to `last_seq`, was sent before it, so a seq up to `last_seq` still missing is
    /// gone (past retention). Delivers what waits up to there and moves past the gap.
    pub fn settle(&mut self, last_seq: u64) -> Vec<Message> {
        let rest = self.pending.split_off(&last_seq.saturating_add(1));
        let mut out: Vec<Message> = std::mem::replace(&mut self.pending, rest).into_values().collect();
        self.delivered = self.delivered.max(last_seq);
        out.extend(self.drain());
        out
    }

    fn drain(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > self.delivered + 1 {
                break;
            }
            let message = entry.remove();
            if message.seq > self.delivered {
                self.delivered = message.seq;
                out.push(message);
            }
        }
        out
    }
}

/// What one frame meant to an [`Inbox`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// Messages to show now, each room's in seq order, each seq once.
    pub deliver: Vec<Message>,
    /// A `sync` to send now: a room answered `hasMore`, or a live gap showed up.
    pub follow_up: Option<Request>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Room {
    tracker: SeqTracker,
    /// A `sync` of this room is out, and its `synced` has not come.
    syncing: bool,
    /// This room needs a `sync` once none is out.
    wanted: bool,
}

/// The sync procedure for the rooms of one user: feed it every frame the connection receives
/// ([`on_frame`](Self::on_frame)) and send the requests it returns. After a (re)connect, `join`
/// each room and then send [`sync_request`](Self::sync_request); live messages that arrive
/// ahead of the synced ones wait in the room's [`SeqTracker`] until the pages fill the gap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inbox {
    rooms: BTreeMap<String, Room>,
}

impl Inbox {
    /// An inbox tracking no room.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tracks `room`, whose seqs up to `delivered` the application has; a room already tracked
    /// keeps its state.
    pub fn track(&mut self, room: &RoomId, delivered: u64) {
        let state = Room { tracker: SeqTracker::new(delivered), syncing: false, wanted: false };
        self.rooms.entry(room.to_string()).or_insert(state);
    }

    /// The room's delivered seq, when tracked.
    pub fn delivered(&self, room: &str) -> Option<u64> {
        self.rooms.get(room).map(|r| r.tracker.delivered())
    }

    /// Whether any room waits for a `synced`.
    pub fn syncing(&self) -> bool {
        self.rooms.values().any(|r| r.syncing)
    }

    /// After a (re)connect and the `join`s: a `sync` (in pages) of every tracked room from its
    /// delivered seq. Syncs sent on an earlier connection are forgotten: their frames are lost.
    pub fn sync_request(&mut self) -> Option<Request> {
        for room in self.rooms.values_mut() {
            room.syncing = false;
            room.wanted = true;
        }
        self.wanted_request()
    }

    /// A `sync` of the rooms that want one and have none out, up to the protocol's 50 rooms
    /// (the rest follow as those finish).
    fn wanted_request(&mut self) -> Option<Request> {
        let mut rooms = Vec::new();
        let wanted = self.rooms.iter_mut().filter(|(_, r)| r.wanted && !r.syncing);
        for (name, room) in wanted.take(MAX_SYNC_ROOMS) {
            let Ok(id) = RoomId::parse(name) else { continue };
            room.syncing = true;
            room.wanted = false;
            rooms.push((id, Some(room.tracker.delivered())));
        }
        (!rooms.is_empty()).then_some(Request::Sync { rooms, pages: true })
    }

    /// Takes one frame from the connection.
    pub fn on_frame(&mut self, frame: &ServerFrame) -> Step {
        let mut step = Step::default();
        match frame {
            ServerFrame::Message(m) => step.deliver = self.offer(&m.room, [m.clone()]),
            ServerFrame::SyncPage { room, messages } | ServerFrame::Messages { room, messages } => {
                step.deliver = self.offer(room, messages.iter().cloned());
            }
            ServerFrame::Synced { room: name, last_seq, has_more, .. } => {
                let Some(room) = self.rooms.get_mut(name) else { return step };
                step.deliver = room.tracker.settle(*last_seq);
                room.syncing = false;
                // More to fetch, or a live message came after a gap the sync did not cover.
                room.wanted |= *has_more || room.tracker.has_gap();
            }
            _ => return step,
        }
        for room in self.rooms.values_mut() {
            room.wanted |= !room.syncing && room.tracker.has_gap();
        }
        step.follow_up = self.wanted_request();
        step
    }

    fn offer(&mut self, room: &str, messages: impl IntoIterator<Item = Message>) -> Vec<Message> {
        let Some(room) = self.rooms.get_mut(room) else { return Vec::new() };
        messages.into_iter().flat_map(|m| room.tracker.offer(m)).collect()
    }
}

#[cfg(test)]
mod tests;
