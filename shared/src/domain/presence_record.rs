//! A user's presence record and its transitions, the same for every store: the store reads the
//! record, applies one of these, and writes it back only if nobody wrote it meanwhile (the
//! version), so transitions apply in one order and each gets a greater version than the last.

use std::collections::BTreeMap;

use super::connection::{
    ACTIVITY_GRANULARITY_SECS, CONNECTION_TTL_SLACK_SECS, Connection, IDLE_TIMEOUT_SECS, MAX_CONNECTION_SECS,
    MAX_CONNECTIONS_PER_USER,
};
use super::presence::{Presence, Status};
use super::time::timestamp_secs;

/// One connection counted in a user's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    /// The connection's `expiresAt` (epoch s): its opening plus the two-hour limit and TTL slack.
    pub expires_at: i64,
    /// Its last recorded activity (epoch s); `None` for records written before activity was
    /// tracked, which then count only the two-hour limit.
    pub active_at: Option<i64>,
}

impl Tracked {
    /// A connection just opened.
    pub fn opened(conn: &Connection) -> Self {
        Self { expires_at: conn.expires_at(), active_at: Some(conn.connected_at_ms / 1000) }
    }

    fn opened_at(&self) -> i64 {
        self.expires_at - MAX_CONNECTION_SECS - CONNECTION_TTL_SLACK_SECS
    }

    /// The last moment (epoch s) API Gateway can still hold this connection open: two hours after
    /// it opened, or ten minutes after its last recorded activity, plus the recording granularity.
    pub fn deadline(&self) -> i64 {
        let lifetime = self.opened_at() + MAX_CONNECTION_SECS;
        let idle = self.active_at.map_or(lifetime, |a| a + IDLE_TIMEOUT_SECS);
        lifetime.min(idle) + ACTIVITY_GRANULARITY_SECS
    }

    /// Whether the connection can still be open at `now`.
    pub fn live(&self, now: i64) -> bool {
        now < self.deadline()
    }

    fn last_activity(&self) -> i64 {
        self.active_at.unwrap_or_else(|| self.opened_at())
    }
}

/// A user's presence as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresenceRecord {
    /// Connection id → the connection, for every connection not yet closed.
    pub connections: BTreeMap<String, Tracked>,
    /// The user said `away`.
    pub away: bool,
    /// When a connection of the user last closed (epoch s).
    pub last_seen: Option<i64>,
    /// The status last announced; `None` in records older than announcements being recorded.
    pub announced: Option<Status>,
    /// Grows with every write of the record.
    pub version: u64,
}

/// What opening a connection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opened {
    /// The transition to announce: `online` when the user was offline before.
    pub transition: Option<Presence>,
    /// Connections no longer counted: past their deadline, or the least recently active beyond
    /// [`MAX_CONNECTIONS_PER_USER`]. The caller removes their items.
    pub dropped: Vec<String>,
}

/// What `status` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    /// The user's presence after it, with its version.
    pub current: Presence,
    /// Whether the status others see changed (then it is announced).
    pub changed: bool,
}

impl PresenceRecord {
    fn live(&self, now: i64) -> bool {
        self.connections.values().any(|t| t.live(now))
    }

    /// The status the stored connections stand for at `now`.
    pub fn status(&self, now: i64) -> Status {
        match (self.live(now), self.away) {
            (false, _) => Status::Offline,
            (true, true) => Status::Away,
            (true, false) => Status::Online,
        }
    }

    /// The status others were last told.
    fn shown(&self, now: i64) -> Status {
        self.announced.unwrap_or_else(|| self.status(now))
    }

    /// The presence as a listing shows it at `now`, with the connections to forget.
    pub fn presence(&self, user: &str, now: i64) -> Presence {
        Presence {
            user: user.to_owned(),
            status: self.status(now),
            last_seen: self.last_seen.map(timestamp_secs),
            version: self.version,
            stale: self.connections.iter().filter(|(_, t)| !t.live(now)).map(|(id, _)| id.clone()).collect(),
        }
    }

    fn transition(&mut self, user: &str, status: Status, last_seen: Option<i64>) -> Presence {
        self.announced = Some(status);
        Presence {
            user: user.to_owned(),
            status,
            last_seen: last_seen.map(timestamp_secs),
            version: self.version,
            stale: Vec::new(),
        }
    }

    /// Counts `conn`, dropping dead connections and the least recently active beyond the cap.
    pub fn open(&mut self, conn: &Connection, now: i64) -> Opened {
        let before = self.shown(now);
        let mut dropped: Vec<String> = self
            .connections
            .iter()
            .filter(|(id, t)| !t.live(now) && **id != conn.id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &dropped {
            self.connections.remove(id);
        }
        self.connections.remove(&conn.id);
        while self.connections.len() >= MAX_CONNECTIONS_PER_USER {
            let oldest = self.connections.iter().min_by_key(|(_, t)| t.last_activity()).map(|(id, _)| id.clone());
            let Some(id) = oldest else { break };
            self.connections.remove(&id);
            dropped.push(id);
        }
        self.connections.insert(conn.id.clone(), Tracked::opened(conn));
        self.version += 1;
        let transition = (before == Status::Offline).then(|| {
            self.away = false;
            self.transition(&conn.user, Status::Online, None)
        });
        Opened { transition, dropped }
    }

    /// Stops counting `connection_id`. `None` when it was not counted (nothing to write);
    /// otherwise the `offline` transition, if the user had no other live connection.
    pub fn close(&mut self, user: &str, connection_id: &str, now: i64) -> Option<Option<Presence>> {
        let before = self.shown(now);
        let tracked = self.connections.remove(connection_id)?;
        // A connection found dead was last seen at its last activity, not when it was found.
        let seen = if tracked.live(now) { now } else { tracked.last_activity().min(now) };
        self.last_seen = Some(self.last_seen.map_or(seen, |s| s.max(seen)));
        self.version += 1;
        let offline = !self.live(now) && before != Status::Offline;
        Some(offline.then(|| self.transition(user, Status::Offline, self.last_seen)))
    }

    /// Sets or clears `away`; a transition only while the user has a live connection.
    pub fn set_away(&mut self, user: &str, away: bool, now: i64) -> StatusSet {
        let before = self.shown(now);
        self.away = away;
        self.version += 1;
        let after = self.status(now);
        let changed = after != Status::Offline && after != before;
        let current = if changed { self.transition(user, after, None) } else { self.presence(user, now) };
        StatusSet { current: Presence { last_seen: None, stale: Vec::new(), ..current }, changed }
    }

    /// The connections that can still be open at `now`.
    pub fn live_connections(&self, now: i64) -> Vec<String> {
        self.connections.iter().filter(|(_, t)| t.live(now)).map(|(id, _)| id.clone()).collect()
    }

    /// Records activity of `connection_id`; `false` when nothing needs writing (unknown
    /// connection, or activity recorded less than [`ACTIVITY_GRANULARITY_SECS`] ago).
    pub fn touch(&mut self, connection_id: &str, now: i64) -> bool {
        let Some(t) = self.connections.get_mut(connection_id) else { return false };
        if t.active_at.is_some_and(|a| now - a < ACTIVITY_GRANULARITY_SECS) {
            return false;
        }
        t.active_at = Some(now);
        self.version += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(id: &str, at: i64) -> Connection {
        Connection { id: id.into(), user: "alice".into(), connected_at_ms: at * 1000, batch: false }
    }

    #[test]
    fn an_idle_connection_dies_after_the_idle_limit_and_activity_keeps_it() {
        let t0 = 1_800_000_000;
        let mut r = PresenceRecord::default();
        r.open(&conn("a", t0), t0);
        assert_eq!(r.status(t0 + IDLE_TIMEOUT_SECS + ACTIVITY_GRANULARITY_SECS - 1), Status::Online);
        assert_eq!(r.status(t0 + IDLE_TIMEOUT_SECS + ACTIVITY_GRANULARITY_SECS), Status::Offline);
        assert!(r.touch("a", t0 + 500));
        assert!(!r.touch("a", t0 + 530), "activity is recorded at most once a minute");
        assert_eq!(r.status(t0 + 1000), Status::Online);
        assert_eq!(r.presence("alice", t0 + 1200).stale, ["a"]);
    }

    #[test]
    fn versions_grow_with_every_transition() {
        let t0 = 1_800_000_000;
        let mut r = PresenceRecord::default();
        let online = r.open(&conn("a", t0), t0).transition.unwrap();
        let offline = r.close("alice", "a", t0 + 1).unwrap().unwrap();
        assert!(offline.version > online.version);
        assert_eq!(r.close("alice", "a", t0 + 2), None, "a repeated close writes nothing");
    }

    #[test]
    fn opening_beyond_the_cap_drops_the_least_recently_active() {
        let t0 = 1_800_000_000;
        let mut r = PresenceRecord::default();
        for i in 0..MAX_CONNECTIONS_PER_USER {
            r.open(&conn(&format!("c{i}"), t0 + i as i64), t0 + i as i64);
        }
        let opened = r.open(&conn("new", t0 + 100), t0 + 100);
        assert_eq!(opened.dropped, ["c0"]);
        assert_eq!(r.connections.len(), MAX_CONNECTIONS_PER_USER);
    }
}
