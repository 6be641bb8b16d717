//! What travels on the queue between `send`, `$connect`/`$disconnect` and the fanout: the
//! envelope, and the FIFO group and deduplication ids derived from it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{Message, Shard, Status};

/// A message accepted by `send`, on its way to the fanout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Publish {
    /// The server-given id (a ULID), also in `accepted`.
    pub id: String,
    /// The room.
    pub room: String,
    /// The sender.
    pub from: String,
    /// The text.
    pub body: String,
    /// The sender's idempotency key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// When `send` accepted it.
    pub sent_at: String,
    /// The management API endpoint of the sender's API (`https://{domain}/{stage}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The sender's connection, told by the fanout when its MLS Commit lost its epoch
    /// (`conflict`). Absent in records queued by releases before encrypted rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// The MLS Welcome sent with a Commit, for the fanout to keep and post once the Commit is
    /// stored (dropped with a Commit that lost its epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome: Option<Box<crate::protocol::Welcome>>,
}

/// A presence transition to announce to the subscribers of the user's rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceNotice {
    /// Whose presence changed.
    pub user: String,
    /// The new status.
    pub status: Status,
    /// When the user was last seen, for `offline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// The user's presence version of this transition (greater for later transitions), sent to
    /// clients so they can drop announcements that arrive after newer ones. 0 in notices queued
    /// before versions existed.
    #[serde(default)]
    pub version: u64,
    /// When the transition happened (epoch ms).
    pub at_ms: i64,
    /// The management API endpoint of the API the transition happened on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// Stored messages of a large room for the subscribers of one shard: what the fanout puts on the
/// delivery queue, one per shard, and the fanout's deliveries take off it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardDelivery {
    /// The room.
    pub room: String,
    /// Which of the room's subscribers.
    pub shard: Shard,
    /// The messages, stored already, in ascending seq.
    pub messages: Vec<Message>,
    /// The management API endpoint to post through.
    pub endpoint: String,
}

/// The body of every queue message. Tagged so several kinds share the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Envelope {
    /// A message to sequence, store and deliver.
    Publish(Publish),
    /// A presence transition to announce.
    Presence(PresenceNotice),
    /// A large room's messages for one shard (on the delivery queue).
    Deliver(ShardDelivery),
}

impl Envelope {
    /// The FIFO message group: one per room, so a room's messages are handled in order; one per
    /// user for presence, so a user's transitions stay in order. `@` cannot start a room name,
    /// so the two never share a group; the user id is hashed to fit the group id's alphabet.
    pub fn group_id(&self) -> String {
        match self {
            Self::Publish(p) => p.room.clone(),
            Self::Presence(n) => format!("@presence:{}", &hex::encode(Sha256::digest(n.user.as_bytes()))[..32]),
            // Room names have no `#`, so a shard's group is never a room's.
            Self::Deliver(d) => format!("{}#{}", d.room, d.shard.index),
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
            Self::Deliver(d) => {
                let (first, last) = (d.messages.first().map_or(0, |m| m.seq), d.messages.last().map_or(0, |m| m.seq));
                let text = format!("d\0{}\0{}\0{}\0{first}\0{last}", d.room, d.shard.index, d.shard.of);
                hex::encode(Sha256::digest(text.as_bytes()))
            }
            Self::Presence(n) => {
                let mut h = Sha256::new();
                // The version tells transitions apart even within one millisecond.
                h.update(format!("p\0{}\0{}\0{}\0{}", n.user, n.status.as_str(), n.at_ms, n.version).as_bytes());
                hex::encode(h.finalize())
            }
        }
    }

    /// The queue message body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(room: &str, from: &str, cmid: Option<&str>, id: &str) -> Envelope {
        Envelope::Publish(Publish {
            connection_id: None,
            welcome: None,
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
}
