//! Every store port in memory. One mutex makes each port call atomic, as the DynamoDB
//! transactions are.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::limiter::MemoryLimiter;
use crate::domain::{
    AppendOutcome, Appended, Connection, DEDUP_WINDOW_SECS, HistoryPage, Message, NewMessage, Opened, Page, Presence,
    PresenceRecord, Probe, Removed, RoomEpoch, Shard, Status, StatusSet, Subscriber, SyncPage,
};
use crate::ports::{ConnectionStore, MessageStore, PresenceStore, RateLimiter, StoreError, SubscriptionStore};

#[derive(Debug)]
struct StoredMessage {
    message: Message,
    expires_at: i64,
}

#[derive(Debug)]
struct DedupRecord {
    seq: u64,
    expires_at: i64,
}

#[derive(Debug, Default)]
struct State {
    connections: HashMap<String, Connection>,
    user_connections: BTreeSet<(String, String)>,
    /// room → connection id → user
    subscribers: BTreeMap<String, BTreeMap<String, Subscriber>>,
    /// connection id → rooms
    subscriptions: HashMap<String, BTreeSet<String>>,
    /// room → users
    members: BTreeMap<String, BTreeSet<String>>,
    heads: HashMap<String, u64>,
    /// room → its MLS group (epoch, group id, admitted senders), once a Commit was stored.
    epochs: HashMap<String, RoomEpoch>,
    messages: HashMap<String, BTreeMap<u64, StoredMessage>>,
    /// (room, dedup key) → record
    dedup: HashMap<(String, String), DedupRecord>,
    presence: HashMap<String, PresenceRecord>,
    /// (user, room) → read cursor
    reads: HashMap<(String, String), u64>,
    /// (connection, room) → last typing (epoch ms)
    typing: HashMap<(String, String), i64>,
    /// room → delivered through its shards until (epoch seconds)
    sharded: HashMap<String, i64>,
}

/// Every store port in memory.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    limiter: MemoryLimiter,
    page_size: usize,
    /// The fanout's failure counts and delivery checkpoints (`super::ledger`).
    pub(super) ledger: super::ledger::LedgerState,
    /// Per-room, per-minute counters (`super::stats`).
    pub(super) stats: super::stats::StatsState,
    /// The key package directory (`super::key_packages`).
    pub(super) keys: super::key_packages::KeyState,
    /// Each device's welcome inbox (`super::welcomes`).
    pub(super) welcomes: super::welcomes::WelcomeState,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store that lists subscribers 1,000 to a page (see [`Self::with_page_size`]).
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            limiter: MemoryLimiter::default(),
            page_size: 1000,
            ledger: Default::default(),
            stats: Default::default(),
            keys: Default::default(),
            welcomes: Default::default(),
        }
    }

    /// Pages subscriber listings by `n`, to exercise pagination.
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied write (each call mutates
        // after all checks), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connection ids of a user (for tests and the devstack's inspection).
    pub fn connections_of(&self, user: &str) -> Vec<String> {
        let s = self.lock();
        s.user_connections.iter().filter(|(u, _)| u == user).map(|(_, c)| c.clone()).collect()
    }

    /// How many entries the store holds for a user and their connections: connections (and their
    /// user index), both sides of subscriptions, presence entries, the user's rate window and
    /// gates, and every typing gate (for growth tests).
    pub fn entries_of(&self, user: &str) -> usize {
        let s = self.lock();
        let ids: BTreeSet<&String> = s.user_connections.iter().filter(|(u, _)| u == user).map(|(_, c)| c).collect();
        let subscribers = s.subscribers.values().flat_map(BTreeMap::values).filter(|sub| sub.user == user).count();
        let subscriptions: usize = ids.iter().map(|c| s.subscriptions.get(*c).map_or(0, BTreeSet::len)).sum();
        // Typing gates carry no user: all of them count.
        let per_connection = self.limiter.entries_of(user) + s.typing.len();
        let presence = s.presence.get(user).map_or(0, |p| p.connections.len());
        ids.len() * 2 + subscribers + subscriptions + presence + per_connection
    }

    /// Users who are members of a room.
    pub fn members_of(&self, room: &str) -> Vec<String> {
        self.lock().members.get(room).map(|m| m.iter().cloned().collect()).unwrap_or_default()
    }

    /// How many messages are stored for a room.
    pub fn message_count(&self, room: &str) -> usize {
        self.lock().messages.get(room).map_or(0, BTreeMap::len)
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn register(&self, conn: &Connection) -> Result<(), StoreError> {
        let mut s = self.lock();
        s.connections.insert(conn.id.clone(), conn.clone());
        s.user_connections.insert((conn.user.clone(), conn.id.clone()));
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        Ok(self.lock().connections.get(connection_id).cloned())
    }

    async fn remove(&self, connection_id: &str) -> Result<Removed, StoreError> {
        let mut s = self.lock();
        let conn = s.connections.remove(connection_id);
        if let Some(c) = &conn {
            s.user_connections.remove(&(c.user.clone(), c.id.clone()));
        }
        let rooms: Vec<String> = s.subscriptions.remove(connection_id).unwrap_or_default().into_iter().collect();
        for room in &rooms {
            if let Some(subs) = s.subscribers.get_mut(room) {
                subs.remove(connection_id);
                if subs.is_empty() {
                    s.subscribers.remove(room);
                }
            }
        }
        s.typing.retain(|(c, _), _| c != connection_id);
        Ok(Removed { user: conn.as_ref().map(|c| c.user.clone()), rooms, connection: conn })
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn subscribe_within(&self, room: &str, conn: &Connection, max_rooms: usize) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if !s.connections.contains_key(&conn.id) {
            return Err(StoreError::NotFound(format!("connection {}", conn.id)));
        }
        let rooms = s.subscriptions.get(&conn.id);
        if rooms.is_some_and(|r| r.len() >= max_rooms && !r.contains(room)) {
            return Ok(false);
        }
        let subscriber = Subscriber { connection_id: conn.id.clone(), user: conn.user.clone(), batch: conn.batch };
        s.subscribers.entry(room.to_owned()).or_default().insert(conn.id.clone(), subscriber);
        s.subscriptions.entry(conn.id.clone()).or_default().insert(room.to_owned());
        s.members.entry(room.to_owned()).or_default().insert(conn.user.clone());
        Ok(true)
    }

    async fn unsubscribe(&self, room: &str, conn: &Connection) -> Result<(), StoreError> {
        let mut s = self.lock();
        if let Some(subs) = s.subscribers.get_mut(room) {
            subs.remove(&conn.id);
        }
        if let Some(rooms) = s.subscriptions.get_mut(&conn.id) {
            rooms.remove(room);
        }
        if let Some(members) = s.members.get_mut(room) {
            members.remove(&conn.user);
        }
        Ok(())
    }

    async fn is_subscribed(&self, room: &str, connection_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().subscribers.get(room).is_some_and(|s| s.contains_key(connection_id)))
    }

    async fn subscription_count(&self, connection_id: &str) -> Result<usize, StoreError> {
        Ok(self.lock().subscriptions.get(connection_id).map_or(0, BTreeSet::len))
    }

    async fn subscribers_in(
        &self,
        room: &str,
        shard: Shard,
        cursor: Option<&str>,
    ) -> Result<Page<Subscriber>, StoreError> {
        let s = self.lock();
        let Some(subs) = s.subscribers.get(room) else {
            return Ok(Page { items: vec![], next: None });
        };
        let after = cursor.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let mut iter = subs.range::<str, _>((after, std::ops::Bound::Unbounded)).filter(|(c, _)| shard.contains(c));
        let items: Vec<Subscriber> = iter.by_ref().take(self.page_size).map(|(_, sub)| sub.clone()).collect();
        let next = match (items.len() == self.page_size, iter.next()) {
            (true, Some(_)) => items.last().map(|s| s.connection_id.clone()),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn probe(&self, room: &str, limit: usize) -> Result<Probe, StoreError> {
        let s = self.lock();
        let all = s.subscribers.get(room);
        let subscribers: Vec<Subscriber> = all.into_iter().flat_map(BTreeMap::values).take(limit).cloned().collect();
        let complete = all.is_none_or(|a| a.len() < limit);
        Ok(Probe { subscribers, complete, sharded_until: s.sharded.get(room).copied() })
    }

    async fn mark_sharded(&self, room: &str, until: i64) -> Result<(), StoreError> {
        self.lock().sharded.insert(room.to_owned(), until);
        Ok(())
    }

    async fn is_member(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        Ok(self.lock().members.get(room).is_some_and(|m| m.contains(user)))
    }

    async fn members(&self, room: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.members_of(room))
    }

    async fn rooms_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let s = self.lock();
        Ok(s.members.iter().filter(|(_, users)| users.contains(user)).map(|(room, _)| room.clone()).collect())
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn append(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        let mut s = self.lock();
        let key = (msg.room.clone(), msg.dedup_key());
        if let Some(rec) = s.dedup.get(&key).filter(|r| r.expires_at >= msg.now) {
            let seq = rec.seq;
            let stored = s
                .messages
                .get(&msg.room)
                .and_then(|m| m.get(&seq))
                .map(|m| m.message.clone())
                .ok_or_else(|| StoreError::NotFound(format!("message {} #{seq}", msg.room)))?;
            let outcome = if stored.id == msg.id { AppendOutcome::Redelivered } else { AppendOutcome::Duplicate };
            return Ok(Appended { message: stored, outcome });
        }
        if let Some(commit) = &msg.commit {
            // One Commit per epoch: the check and the move to the next epoch under one lock,
            // as the DynamoDB head update does them in one transaction.
            let group = s.epochs.entry(msg.room.clone()).or_default();
            if commit.epoch != group.epoch || group.group_id.as_ref().is_some_and(|g| *g != commit.group_id) {
                let epoch = group.epoch;
                return Ok(Appended { message: msg.sequenced(0), outcome: AppendOutcome::Conflict { epoch } });
            }
            if group.group_id.is_none() {
                group.admitted.insert(msg.from.clone());
            }
            group.epoch += 1;
            group.group_id = Some(commit.group_id.clone());
        }
        let seq = s.heads.get(&msg.room).copied().unwrap_or(0) + 1;
        let message = msg.sequenced(seq);
        s.heads.insert(msg.room.clone(), seq);
        s.messages
            .entry(msg.room.clone())
            .or_default()
            .insert(seq, StoredMessage { message: message.clone(), expires_at: msg.expires_at });
        s.dedup.insert(key, DedupRecord { seq, expires_at: msg.now + DEDUP_WINDOW_SECS });
        Ok(Appended { message, outcome: AppendOutcome::Fresh })
    }

    async fn last_seq(&self, room: &str) -> Result<u64, StoreError> {
        Ok(self.lock().heads.get(room).copied().unwrap_or(0))
    }

    async fn room_epoch(&self, room: &str) -> Result<RoomEpoch, StoreError> {
        Ok(self.lock().epochs.get(room).cloned().unwrap_or_default())
    }

    async fn admit(&self, room: &str, users: &[String]) -> Result<(), StoreError> {
        let mut s = self.lock();
        let group = s.epochs.get_mut(room).filter(|g| g.group_id.is_some());
        let group = group.ok_or_else(|| StoreError::NotFound(format!("the MLS group of {room}")))?;
        group.admitted.extend(users.iter().cloned());
        Ok(())
    }

    async fn history(&self, room: &str, before: Option<u64>, limit: u32, now: i64) -> Result<HistoryPage, StoreError> {
        let s = self.lock();
        let Some(msgs) = s.messages.get(room) else {
            return Ok(HistoryPage { messages: vec![], has_more: false });
        };
        let upper = before.unwrap_or(u64::MAX);
        let mut newest_first = msgs.range(..upper).rev().filter(|(_, m)| m.expires_at >= now);
        let mut messages: Vec<Message> =
            newest_first.by_ref().take(limit as usize).map(|(_, m)| m.message.clone()).collect();
        let has_more = newest_first.next().is_some();
        messages.reverse();
        Ok(HistoryPage { messages, has_more })
    }

    async fn since(&self, room: &str, after: u64, limit: usize, now: i64) -> Result<SyncPage, StoreError> {
        let s = self.lock();
        let last_seq = s.heads.get(room).copied().unwrap_or(0);
        let empty = BTreeMap::new();
        let msgs = s.messages.get(room).unwrap_or(&empty);
        let mut live = msgs.range(after.saturating_add(1)..).filter(|(_, m)| m.expires_at >= now);
        let messages: Vec<Message> = live.by_ref().take(limit).map(|(_, m)| m.message.clone()).collect();
        let has_more = live.next().is_some();
        let recovered = match messages.first() {
            Some(first) => first.seq == after + 1,
            None => last_seq <= after,
        };
        Ok(SyncPage { messages, recovered, has_more, last_seq })
    }
}

#[async_trait]
impl PresenceStore for MemoryStore {
    async fn connection_opened(&self, conn: &Connection, now: i64) -> Result<Opened, StoreError> {
        Ok(self.lock().presence.entry(conn.user.clone()).or_default().open(conn, now))
    }

    async fn connection_closed(&self, conn: &Connection, now: i64) -> Result<Option<Presence>, StoreError> {
        let mut s = self.lock();
        let Some(record) = s.presence.get_mut(&conn.user) else { return Ok(None) };
        Ok(record.close(&conn.user, &conn.id, now).flatten())
    }

    async fn set_status(&self, user: &str, status: Status, now: i64) -> Result<StatusSet, StoreError> {
        Ok(self.lock().presence.entry(user.to_owned()).or_default().set_away(user, status == Status::Away, now))
    }

    async fn presence(&self, users: &[String], now: i64) -> Result<Vec<Presence>, StoreError> {
        let s = self.lock();
        Ok(users.iter().map(|u| s.presence.get(u).cloned().unwrap_or_default().presence(u, now)).collect())
    }

    async fn connections_of(&self, user: &str, now: i64) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().presence.get(user).map(|r| r.live_connections(now)).unwrap_or_default())
    }

    async fn touch(&self, conn: &Connection, now: i64) -> Result<(), StoreError> {
        if let Some(record) = self.lock().presence.get_mut(&conn.user) {
            record.touch(&conn.id, now);
        }
        Ok(())
    }

    async fn set_read(&self, user: &str, room: &str, seq: u64) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let cursor = s.reads.entry((user.to_owned(), room.to_owned())).or_insert(0);
        *cursor = (*cursor).max(seq);
        Ok(*cursor)
    }

    async fn read_cursor(&self, user: &str, room: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.lock().reads.get(&(user.to_owned(), room.to_owned())).copied())
    }

    async fn typing_allowed(
        &self,
        connection_id: &str,
        room: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let last = s.typing.entry((connection_id.to_owned(), room.to_owned())).or_insert(i64::MIN);
        if now_ms.saturating_sub(*last) < interval_ms {
            return Ok(false);
        }
        *last = now_ms;
        Ok(true)
    }
}

#[async_trait]
impl RateLimiter for MemoryStore {
    async fn spend(
        &self,
        user: &str,
        window_start: i64,
        cost: u64,
        limit: u64,
        _expires_at: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.limiter.spend(user, window_start, cost, limit))
    }

    async fn pass_gate(
        &self,
        user: &str,
        gate: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self.limiter.pass_gate(user, gate, now_ms, interval_ms))
    }
}
