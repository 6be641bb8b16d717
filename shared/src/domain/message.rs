//! Messages: as sent, as stored with their seq, and as read back in pages.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// How long `(sender, clientMsgId)` stays deduplicated.
pub const DEDUP_WINDOW_SECS: i64 = 24 * 60 * 60;

/// A stored, sequenced message; also the `message` frame and the items of `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The room it was sent to.
    pub room: String,
    /// Its place in the room: gap-free, from 1.
    pub seq: u64,
    /// The server-given id (a ULID).
    pub id: String,
    /// The sender's user id.
    pub from: String,
    /// The text, as sent.
    pub body: String,
    /// When `send` accepted it.
    pub sent_at: String,
    /// The sender's idempotency key, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// A message to sequence and store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The server-given id.
    pub id: String,
    /// The room.
    pub room: String,
    /// The sender.
    pub from: String,
    /// The text.
    pub body: String,
    /// The sender's idempotency key.
    pub client_msg_id: Option<String>,
    /// When `send` accepted it.
    pub sent_at: String,
    /// Epoch seconds after which the message is past retention.
    pub expires_at: i64,
    /// Epoch seconds now, to tell a live dedup record from an expired one (TTL is lazy).
    pub now: i64,
    /// For an MLS Commit in an encrypted room: the epoch it moves its group from. At most one
    /// Commit is stored per epoch (docs/e2e.md).
    pub commit: Option<CommitEpoch>,
}

/// Where an MLS Commit applies: its group and the epoch it was made in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitEpoch {
    /// The group's id, base64 (the room holds one group: the first stored Commit names it).
    pub group_id: String,
    /// The epoch the Commit moves the group from; it is stored only if this is the room's.
    pub epoch: u64,
}

/// Where an encrypted room's MLS group is: what its stored Commits made of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomEpoch {
    /// The number of Commits stored (0 before the first).
    pub epoch: u64,
    /// The group's id, base64, named by the first stored Commit.
    pub group_id: Option<String>,
    /// The users `send` lets into the group (docs/e2e.md, "Who may send"): the sender of the
    /// Commit that made it and every user a Welcome was released for. Empty for a group made
    /// before the server kept it: such a room stays open to every subscriber.
    pub admitted: BTreeSet<String>,
}

impl RoomEpoch {
    /// Whether `user` may send anything but a group-creating Commit into the room's group.
    pub fn admits(&self, user: &str) -> bool {
        self.group_id.is_none() || self.admitted.is_empty() || self.admitted.contains(user)
    }
}

impl NewMessage {
    /// The message as stored once it has `seq`.
    pub fn sequenced(&self, seq: u64) -> Message {
        Message {
            room: self.room.clone(),
            seq,
            id: self.id.clone(),
            from: self.from.clone(),
            body: self.body.clone(),
            sent_at: self.sent_at.clone(),
            client_msg_id: self.client_msg_id.clone(),
        }
    }

    /// The key that makes the message unique: `DEDUP#<from>#<clientMsgId>`, or `MSGID#<id>`
    /// without a client id. `#` and `%` in `from` are percent-escaped, so `from` never contains
    /// the separator and no two `(from, clientMsgId)` pairs share a key (user `a` with `b#x` and
    /// user `a#b` with `x` differ). Senders without `#` or `%` keep the key they always had.
    pub fn dedup_key(&self) -> String {
        match &self.client_msg_id {
            Some(client_msg_id) => format!("DEDUP#{}#{client_msg_id}", escape_separator(&self.from)),
            None => format!("MSGID#{}", self.id),
        }
    }
}

/// `s` with `%` and `#` percent-escaped: injective, and the result has no `#`.
fn escape_separator(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['#', '%']) {
        return s.into();
    }
    s.replace('%', "%25").replace('#', "%23").into()
}

/// Whether `append` stored a new message or found it stored already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored now with a new seq: deliver it.
    Fresh,
    /// The same message id was stored before (a redelivered queue record): deliver it again,
    /// since the earlier attempt may have died before delivering; clients drop seen seqs.
    Redelivered,
    /// Another message with the same sender and clientMsgId was stored within the dedup window:
    /// do not deliver it again.
    Duplicate,
    /// An MLS Commit for an epoch the room has left (another Commit won it) or for another group:
    /// not stored. `epoch` is the room's current one, which the sender is told.
    Conflict {
        /// The room's epoch now.
        epoch: u64,
    },
}

/// What `append` did, and the stored message (the earlier one for a duplicate; for a conflict,
/// the message as sent, with seq 0, which was not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The message as stored.
    pub message: Message,
    /// Whether it was stored now.
    pub outcome: AppendOutcome,
}

/// One page of history, ascending by seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// Older messages exist before the first one returned.
    pub has_more: bool,
}

/// What a `sync` finds for one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPage {
    /// Live messages after the given seq, ascending, at most the limit.
    pub messages: Vec<Message>,
    /// False when messages after the given seq are past retention (then use `history`).
    pub recovered: bool,
    /// More messages follow the last one returned.
    pub has_more: bool,
    /// The room's last seq.
    pub last_seq: u64,
}
