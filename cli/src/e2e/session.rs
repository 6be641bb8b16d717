//! The encrypted chat of one device in one room, without I/O: feed it the server's frames and
//! the user's lines, send the requests it returns and show the events. The loop that does the
//! I/O is [`super::chat`]; the tests drive the same loop over real WebSockets.
//!
//! Start-up: `keys.count` (and `keys.publish` when fewer than [`LOW_WATER`] one-time packages
//! are left, or no last-resort one), then `join` the room, then read the device's `welcomes` and
//! join the groups they offer, then: a member syncs the room from the seq its state has
//! processed; a device outside the group tries to create it (a Commit for epoch 0, which gets
//! `conflict` when the room already has a group) and otherwise waits to be added.

use std::collections::{BTreeSet, HashMap, VecDeque};

use starling_client::{Inbox, Request, RoomId, ServerFrame};
use starling_shared::protocol::{KeyRequest, MAX_KEY_PACKAGES_PER_PUBLISH, PendingWelcome, WelcomeRequest};

use super::device::{Device, Group};
use super::ops::{InFlight, Queued};
use super::{E2eError, Event};

/// Publish more one-time KeyPackages when fewer than this many are left.
pub const LOW_WATER: u32 = 5;
/// How many one-time KeyPackages a device tops up to.
pub const HIGH_WATER: u32 = 10;

/// What the session asks of its loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this request.
    Send(Request),
    /// Show this.
    Event(Event),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// `keys.count` is out.
    Counting,
    /// This many `keys.publish` replies are due.
    Publishing(usize),
    /// `join` is out.
    Joining,
    /// This many `welcomes` replies are due.
    Welcomes(usize),
    /// Chatting.
    Ready,
    /// Reconnected: `join` is out again.
    Rejoining,
}

/// Where this device stands with the room's group.
pub(super) enum Membership {
    /// Not in the group: wait for a Welcome.
    Outside,
    /// Made a group whose first Commit is on its way (in [`Session::in_flight`]).
    Creating(Box<Group>),
    /// In the group.
    Member(Box<Group>),
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Outside => f.write_str("Outside"),
            Self::Creating(g) => write!(f, "Creating({})", hex::encode(g.group_id())),
            Self::Member(g) => write!(f, "Member({}, epoch {})", hex::encode(g.group_id()), g.current_epoch()),
        }
    }
}

/// One device's encrypted chat in one room.
#[derive(Debug)]
pub struct Session {
    pub(super) dev: Device,
    pub(super) room: RoomId,
    pub(super) stage: Stage,
    pub(super) membership: Membership,
    /// The last seq processed (or skipped) by the group.
    pub(super) cursor: u64,
    pub(super) inbox: Inbox,
    pub(super) tracked: bool,
    pub(super) ops: VecDeque<Queued>,
    pub(super) in_flight: Option<InFlight>,
    /// Users whose `keys.claim` is out, for `/add`.
    pub(super) claims: Vec<String>,
    /// Welcomes handled, by (room, seq).
    pub(super) seen: BTreeSet<(String, u64)>,
    /// Welcomes of this room that wait for a `sync` in progress to end.
    pub(super) deferred: Vec<PendingWelcome>,
    /// This device's application messages in flight: clientMsgId → plaintext.
    pub(super) sent: HashMap<String, String>,
    pub(super) counter: u64,
    pub(super) out: Vec<Output>,
}

impl Session {
    /// The session of `dev` in `room`.
    pub fn new(dev: Device, room: RoomId) -> Self {
        Self {
            dev,
            room,
            stage: Stage::Counting,
            membership: Membership::Outside,
            cursor: 0,
            inbox: Inbox::new(),
            tracked: false,
            ops: VecDeque::new(),
            in_flight: None,
            claims: Vec::new(),
            seen: BTreeSet::new(),
            deferred: Vec::new(),
            sent: HashMap::new(),
            counter: 0,
            out: Vec::new(),
        }
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// The group's epoch, when this device is a member.
    pub fn epoch(&self) -> Option<u64> {
        match &self.membership {
            Membership::Member(g) => Some(g.current_epoch()),
            _ => None,
        }
    }

    /// The first requests, on a new connection.
    pub fn start(&mut self) -> Vec<Output> {
        self.stage = Stage::Counting;
        self.send(Request::Keys(KeyRequest::Count { device: self.dev.device().to_owned() }));
        self.take()
    }

    /// After a reconnect: join again, then sync and resend what is in flight.
    pub fn reconnected(&mut self) -> Vec<Output> {
        self.stage = Stage::Rejoining;
        self.send(Request::Join { room: self.room.clone() });
        self.take()
    }

    /// One frame from the server.
    pub fn on_frame(&mut self, frame: &ServerFrame) -> Vec<Output> {
        if let Err(e) = self.frame(frame) {
            self.warn(format!("{e}"));
        }
        self.take()
    }

    fn frame(&mut self, frame: &ServerFrame) -> Result<(), E2eError> {
        match frame {
            ServerFrame::Keys { device, one_time, last_resort } if device == self.dev.device() => {
                self.on_keys(*one_time, *last_resort)
            }
            ServerFrame::Joined { room, last_seq } if room == self.room.as_str() => self.on_joined(*last_seq),
            ServerFrame::Welcome { device, welcome } if device == self.dev.device() => {
                self.welcome(welcome.clone())?;
                self.ready_if_done()
            }
            ServerFrame::Welcomes { device, welcomes, .. } if device == self.dev.device() => {
                if let Stage::Welcomes(due) = &mut self.stage {
                    *due = due.saturating_sub(1);
                }
                for w in welcomes {
                    self.welcome(w.clone())?;
                }
                self.ready_if_done()
            }
            ServerFrame::KeyPackages { user, key_packages } => self.on_key_packages(user, key_packages),
            ServerFrame::Accepted { client_msg_id: Some(cmid), .. } => {
                self.on_accepted(cmid);
                Ok(())
            }
            ServerFrame::Error(e) if self.startup_error(e) => self.ready_if_done(),
            ServerFrame::Error(e) => self.on_error(e),
            ServerFrame::Message(_)
            | ServerFrame::Messages { .. }
            | ServerFrame::SyncPage { .. }
            | ServerFrame::Synced { .. } => self.on_room_frame(frame),
            _ => Ok(()),
        }
    }

    fn on_keys(&mut self, one_time: u32, last_resort: bool) -> Result<(), E2eError> {
        match self.stage {
            Stage::Counting => {}
            Stage::Publishing(due) => {
                self.stage = Stage::Publishing(due.saturating_sub(1));
                if due <= 1 {
                    self.emit(Event::Published { one_time });
                    self.join_room();
                }
                return Ok(());
            }
            _ => return Ok(()),
        }
        let missing = if one_time < LOW_WATER { (HIGH_WATER - one_time) as usize } else { 0 };
        if missing == 0 && last_resort {
            self.join_room();
            return Ok(());
        }
        let mut packages = self.dev.key_packages(missing)?;
        let mut last = if last_resort { None } else { Some(self.dev.last_resort()?) };
        let mut due = 0;
        while !packages.is_empty() || last.is_some() {
            let rest = packages.split_off(packages.len().min(MAX_KEY_PACKAGES_PER_PUBLISH));
            let batch = std::mem::replace(&mut packages, rest);
            let device = self.dev.device().to_owned();
            self.send(Request::Keys(KeyRequest::Publish { device, key_packages: batch, last_resort: last.take() }));
            due += 1;
        }
        self.stage = Stage::Publishing(due);
        Ok(())
    }

    /// A start-up request refused: say so and go on without it (no key packages published, or
    /// the inbox unread until the next start), so the chat still starts. Whether it was one.
    fn startup_error(&mut self, e: &starling_client::ErrorFrame) -> bool {
        let action = e.action.as_deref().unwrap_or_default();
        match (self.stage, action) {
            (Stage::Counting, "keys.count") | (Stage::Publishing(1), "keys.publish") => self.join_room(),
            (Stage::Publishing(due), "keys.publish") => self.stage = Stage::Publishing(due - 1),
            (Stage::Welcomes(due), "welcomes" | "welcomes.ack") => self.stage = Stage::Welcomes(due.saturating_sub(1)),
            _ => return false,
        }
        self.warn(format!("{action}: {} ({})", e.message, e.code.as_str()));
        true
    }

    fn join_room(&mut self) {
        self.stage = Stage::Joining;
        self.send(Request::Join { room: self.room.clone() });
    }

    fn on_joined(&mut self, last_seq: u64) -> Result<(), E2eError> {
        match self.stage {
            Stage::Joining => {
                self.cursor = last_seq;
                self.load_member()?;
                self.stage = Stage::Welcomes(1);
                self.send(Request::Welcomes(WelcomeRequest::List { device: self.dev.device().to_owned() }));
            }
            Stage::Rejoining => {
                self.stage = Stage::Ready;
                self.send(Request::Welcomes(WelcomeRequest::List { device: self.dev.device().to_owned() }));
                if let Some(sync) = self.inbox.sync_request() {
                    self.send(sync);
                }
                if let Some(f) = &self.in_flight {
                    self.out.push(Output::Send(f.request.clone()));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A group kept for this room makes this device a member from the seq it processed.
    fn load_member(&mut self) -> Result<(), E2eError> {
        let Some(entry) = self.dev.rooms().get(self.room.as_str())? else { return Ok(()) };
        let id = hex::decode(&entry.group).map_err(|e| E2eError::State(format!("rooms.json: {e}")))?;
        let group = self.dev.load_group(&id)?;
        self.cursor = self.dev.cursor(&id)?;
        self.membership = Membership::Member(Box::new(group));
        Ok(())
    }

    /// Ends start-up once every `welcomes` reply is in: track the room, and create its group
    /// when this device is not in it.
    fn ready_if_done(&mut self) -> Result<(), E2eError> {
        if self.stage != Stage::Welcomes(0) {
            return Ok(());
        }
        self.stage = Stage::Ready;
        self.track(self.cursor);
        self.emit(Event::Ready { room: self.room.to_string(), epoch: self.epoch() });
        if matches!(self.membership, Membership::Outside) {
            self.queue_create();
        }
        self.next_op()
    }

    /// Starts (or restarts) the sync procedure of the room from `from`. A new [`Inbox`]: a seq
    /// before what an older one delivered is wanted again after a Welcome. Only called when no
    /// `sync` is out (see [`Session::welcome`]), so no late `synced` of an older sync can settle
    /// the new one.
    pub(super) fn track(&mut self, from: u64) {
        self.inbox = Inbox::new();
        self.inbox.track(&self.room, from);
        self.tracked = true;
        if let Some(sync) = self.inbox.sync_request() {
            self.send(sync);
        }
    }

    /// A Welcome for this device: join its group, keep it, ack it.
    fn welcome(&mut self, w: PendingWelcome) -> Result<(), E2eError> {
        if !self.seen.insert((w.room.clone(), w.seq)) {
            return Ok(());
        }
        let ours = w.room == self.room.as_str();
        if ours && self.tracked && self.inbox.syncing() {
            // Joined now, the group would start before messages a sync in progress is about to
            // settle; after its `synced`.
            self.seen.remove(&(w.room.clone(), w.seq));
            self.deferred.push(w);
            return Ok(());
        }
        let result = self.join_welcome(&w, ours);
        if let Err(e) = result {
            self.warn(format!("cannot join {} from {}'s welcome (#{}): {e}", w.room, w.from, w.seq));
        }
        let Ok(room) = RoomId::parse(&w.room) else { return Ok(()) };
        if let Stage::Welcomes(due) = &mut self.stage {
            *due += 1;
        }
        let device = self.dev.device().to_owned();
        self.send(Request::Welcomes(WelcomeRequest::Ack { device, room, seq: w.seq }));
        Ok(())
    }

    fn join_welcome(&mut self, w: &PendingWelcome, ours: bool) -> Result<(), E2eError> {
        if ours && let Membership::Member(g) = &self.membership {
            // Already in the group, from an earlier Welcome or its own creation.
            tracing::debug!(
                room = w.room,
                seq = w.seq,
                epoch = g.current_epoch(),
                "welcome for a group already joined"
            );
            return Ok(());
        }
        let (mut group, info) = self.dev.join(&w.welcome)?;
        self.dev.save(&mut group, w.seq)?;
        let entry = super::store::RoomEntry { group: hex::encode(group.group_id()) };
        self.dev.rooms().set(&w.room, Some(entry))?;
        let epoch = group.current_epoch();
        let by = group.member_at_index(info.sender).map(|m| super::identity_of(&m)).unwrap_or_default();
        tracing::info!(room = w.room, seq = w.seq, epoch, by, "joined a group from a welcome");
        self.emit(Event::Welcomed { room: w.room.clone(), seq: w.seq, from: by, epoch });
        if ours {
            if let Some(f) = self.in_flight.take_if(|f| f.is_create()) {
                tracing::debug!(cmid = f.cmid, "dropped our own group: the room has one");
            }
            self.membership = Membership::Member(Box::new(group));
            self.cursor = w.seq;
            if self.stage == Stage::Ready {
                self.track(w.seq);
            }
        }
        Ok(())
    }

    /// Welcomes deferred during a sync, once it has ended.
    pub(super) fn run_deferred(&mut self) -> Result<(), E2eError> {
        if self.inbox.syncing() {
            return Ok(());
        }
        for w in std::mem::take(&mut self.deferred) {
            self.welcome(w)?;
        }
        Ok(())
    }

    pub(super) fn send(&mut self, request: Request) {
        self.out.push(Output::Send(request));
    }

    pub(super) fn emit(&mut self, event: Event) {
        self.out.push(Output::Event(event));
    }

    pub(super) fn warn(&mut self, text: String) {
        tracing::warn!(room = %self.room, "{text}");
        self.emit(Event::Warning(text));
    }

    /// A fresh clientMsgId: the device and a time make it unique across restarts.
    pub(super) fn client_msg_id(&mut self) -> String {
        self.counter += 1;
        let now = chrono::Utc::now().timestamp_millis();
        let device: String = self.dev.device().chars().take(32).collect();
        format!("e2e-{device}-{now}-{}", self.counter)
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }
}
