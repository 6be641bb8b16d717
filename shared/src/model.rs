//! The domain's data: connections, subscriptions, messages and what travels on the queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// API Gateway closes every WebSocket connection after two hours.
pub const MAX_CONNECTION_SECS: i64 = 2 * 60 * 60;
/// Connection-scoped items outlive the connection by this much, so a lost `$disconnect` is
/// cleaned by TTL but a late one still finds its items.
pub const CONNECTION_TTL_SLACK_SECS: i64 = 15 * 60;
/// How long `(sender, clientMsgId)` stays deduplicated.
pub const DEDUP_WINDOW_SECS: i64 = 24 * 60 * 60;

/// A stored, sequenced message; also the `message` frame and the items of `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub room: String,
    pub seq: u64,
    pub id: String,
    pub from: String,
    pub body: String,
    pub sent_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// A registered WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub user: String,
    /// Epoch milliseconds, as API Gateway reports `connectedAt`.
    pub connected_at_ms: i64,
}

impl Connection {
    /// When the items of this connection may be deleted by TTL (epoch seconds).
    pub fn expires_at(&self) -> i64 {
        self.connected_at_ms / 1000 + MAX_CONNECTION_SECS + CONNECTION_TTL_SLACK_SECS
    }
}

/// One online subscriber of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub connection_id: String,
    pub user: String,
}

/// One page of a paginated listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next: Option<String>,
}

/// What a connection that called `remove` was attached to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub user: Option<String>,
    pub rooms: Vec<String>,
    /// The connection as it was registered, when it still was.
    pub connection: Option<Connection>,
}

/// A message accepted by `send`, on its way to the fanout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Publish {
    pub id: String,
    pub room: String,
    pub from: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    pub sent_at: String,
    /// The management API endpoint of the sender's API (`https://{domain}/{stage}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// A presence transition to announce to the subscribers of the user's rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceNotice {
    pub user: String,
    pub status: crate::protocol::Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// When the transition happened (epoch ms), to tell notices apart for deduplication.
    pub at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// The body of every queue message. Tagged so several kinds share the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Envelope {
    Publish(Publish),
    Presence(PresenceNotice),
}

impl Envelope {
    /// The FIFO message group: one per room, so a room's messages are handled in order; one per
    /// user for presence, so a user's transitions stay in order. `@` cannot start a room name,
    /// so the two never share a group; the user id is hashed to fit the group id's alphabet.
    pub fn group_id(&self) -> String {
        match self {
            Self::Publish(p) => p.room.clone(),
            Self::Presence(n) => format!("@presence:{}", &hex::encode(Sha256::digest(n.user.as_bytes()))[..32]),
        }
    }

    /// The FIFO deduplication id: from room, sender and clientMsgId when there is one (so a
    /// client's retry is dropped), else the message id. Hashed to fit SQS's 128-character limit
    /// and alphabet whatever the user ids contain.
    pub fn dedup_id(&self) -> String {
        match self {
            Self::Publish(p) => {
                let mut h = Sha256::new();
                match &p.client_msg_id {
                    Some(cmid) => {
                        for part in ["c", &p.room, &p.from, cmid] {
                            h.update(part.as_bytes());
                            h.update([0]);
                        }
                    }
                    None => {
                        h.update(b"m\0");
                        h.update(p.id.as_bytes());
                    }
                }
                hex::encode(h.finalize())
            }
            Self::Presence(n) => {
                let mut h = Sha256::new();
                h.update(format!("p\0{}\0{}\0{}", n.user, n.status.as_str(), n.at_ms).as_bytes());
                hex::encode(h.finalize())
            }
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A source of "now", so retention, rate windows and dedup windows can be tested.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Arc::new(AtomicI64::new(t.timestamp_millis())))
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.0.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }

    pub fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0.load(Ordering::SeqCst)).single().unwrap_or_default()
    }
}

/// The protocol's timestamp form of epoch seconds.
pub fn timestamp_secs(secs: i64) -> String {
    timestamp(Utc.timestamp_opt(secs, 0).single().unwrap_or_default())
}

/// `2026-11-22T21:00:00.000Z`, the protocol's timestamp form.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(room: &str, from: &str, cmid: Option<&str>, id: &str) -> Envelope {
        Envelope::Publish(Publish {
            id: id.into(),
            room: room.into(),
            from: from.into(),
            body: "b".into(),
            client_msg_id: cmid.map(Into::into),
            sent_at: "t".into(),
            endpoint: None,
        })
    }

    #[test]
    fn dedup_id_follows_sender_and_client_msg_id() {
        let a = publish("r", "alice", Some("c-1"), "ID1").dedup_id();
        assert_eq!(a, publish("r", "alice", Some("c-1"), "ID2").dedup_id(), "a retry with a new id is the same");
        assert_ne!(a, publish("r", "bob", Some("c-1"), "ID1").dedup_id(), "another sender differs");
        assert_ne!(a, publish("r2", "alice", Some("c-1"), "ID1").dedup_id(), "another room differs");
        assert_ne!(publish("r", "alice", None, "ID1").dedup_id(), publish("r", "alice", None, "ID2").dedup_id());
        assert!(a.len() <= 128 && a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn envelope_is_tagged_with_its_kind() {
        let json = publish("r", "alice", None, "ID1").to_json();
        assert!(json.starts_with(r#"{"kind":"publish","#), "{json}");
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, publish("r", "alice", None, "ID1"));
    }

    #[test]
    fn timestamps_have_millis_and_z() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 21, 0, 0).unwrap();
        assert_eq!(timestamp(t), "2026-11-22T21:00:00.000Z");
    }
}
