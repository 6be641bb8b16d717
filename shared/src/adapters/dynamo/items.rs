//! The stored items, their conversions from and to domain types, and their (de)serialization
//! with `serde_dynamo`. Attribute names are the camelCase of the field names.
//!
//! The presence item, the read cursor, the rate window and the typing gate are not here: they are
//! only ever changed by update expressions (string-set `ADD`/`DELETE`, counters), never written
//! whole, so each is read where it is updated.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Item;
use super::keys::{Key, PK, SK};
use crate::domain::NewMessage;
use crate::domain::{Connection, DEDUP_WINDOW_SECS, Message, Subscriber};
use crate::ports::StoreError;

/// `CONN#c / CONN`: the connection.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionItem {
    pk: String,
    sk: String,
    connection_id: String,
    pub(super) user: String,
    connected_at: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    batch: bool,
    expires_at: i64,
}

impl From<&Connection> for ConnectionItem {
    fn from(conn: &Connection) -> Self {
        let Key { pk, sk } = Key::connection(&conn.id);
        Self {
            pk,
            sk,
            connection_id: conn.id.clone(),
            user: conn.user.clone(),
            connected_at: conn.connected_at_ms,
            batch: conn.batch,
            expires_at: conn.expires_at(),
        }
    }
}

impl From<ConnectionItem> for Connection {
    fn from(item: ConnectionItem) -> Self {
        Self { id: item.connection_id, user: item.user, connected_at_ms: item.connected_at, batch: item.batch }
    }
}

/// `USER#u / CONN#c`: one of a user's connections.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserConnectionItem {
    pk: String,
    sk: String,
    connection_id: String,
    expires_at: i64,
}

impl From<&Connection> for UserConnectionItem {
    fn from(conn: &Connection) -> Self {
        let Key { pk, sk } = Key::user_connection(&conn.user, &conn.id);
        Self { pk, sk, connection_id: conn.id.clone(), expires_at: conn.expires_at() }
    }
}

/// `ROOM#r / SUB#c`: what the fanout queries.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SubscriberItem {
    pk: String,
    sk: String,
    connection_id: String,
    user: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    batch: bool,
    expires_at: i64,
}

impl SubscriberItem {
    /// `conn` subscribed to `room`; gone by TTL with the connection.
    pub(super) fn new(room: &str, conn: &Connection) -> Self {
        let Key { pk, sk } = Key::subscriber(room, &conn.id);
        Self {
            pk,
            sk,
            connection_id: conn.id.clone(),
            user: conn.user.clone(),
            batch: conn.batch,
            expires_at: conn.expires_at(),
        }
    }
}

/// The attributes the subscriber listing projects out of a [`SubscriberItem`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SubscriberProjection {
    connection_id: String,
    user: String,
    #[serde(default)]
    batch: bool,
}

/// What [`SubscriberProjection`] projects, for the query's `ProjectionExpression`
/// (`#u` is `user` and `#b` is `batch`, reserved words).
pub(super) const SUBSCRIBER_PROJECTION: &str = "connectionId, #u, #b";

impl From<SubscriberProjection> for Subscriber {
    fn from(row: SubscriberProjection) -> Self {
        Self { connection_id: row.connection_id, user: row.user, batch: row.batch }
    }
}

/// `ROOM#r / SUB!`: until when the room is delivered through its shards.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RouteItem {
    pk: String,
    sk: String,
    pub(super) sharded_until: i64,
    expires_at: i64,
}

impl RouteItem {
    /// Sharded until `until`; gone by TTL a day later.
    pub(super) fn new(room: &str, until: i64) -> Self {
        let Key { pk, sk } = Key::room_route(room);
        Self { pk, sk, sharded_until: until, expires_at: until.saturating_add(24 * 60 * 60) }
    }
}

/// `CONN#c / SUB#r`: the inverse, so a disconnect finds its rooms with one Query.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConnectionRoomItem {
    pk: String,
    sk: String,
    room: String,
    expires_at: i64,
}

impl ConnectionRoomItem {
    /// `room` among the rooms of `conn`; gone by TTL with the connection.
    pub(super) fn new(room: &str, conn: &Connection) -> Self {
        let Key { pk, sk } = Key::connection_room(&conn.id, room);
        Self { pk, sk, room: room.to_owned(), expires_at: conn.expires_at() }
    }
}

/// `ROOM#r / MEMBER#u`, inverted by `gsi1` (`USER#u` / `ROOM#r`) for "rooms of a user".
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MemberItem {
    pk: String,
    sk: String,
    pub(super) room: String,
    pub(super) user: String,
    gsi1pk: String,
    gsi1sk: String,
}

impl MemberItem {
    /// `user` as a member of `room`; no TTL: membership outlives connections.
    pub(super) fn new(room: &str, user: &str) -> Self {
        let Key { pk, sk } = Key::member(room, user);
        let Key { pk: gsi1pk, sk: gsi1sk } = Key::member_by_user(user, room);
        Self { pk, sk, room: room.to_owned(), user: user.to_owned(), gsi1pk, gsi1sk }
    }
}

/// `ROOM#r / HEAD` as read back: the last seq given out in the room (written by an UpdateItem in
/// each append's transaction, so the epoch attributes survive the appends of other messages).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HeadItem {
    pub(super) last_seq: u64,
    /// An encrypted room's MLS epoch: the number of Commits stored (docs/e2e.md).
    #[serde(default)]
    pub(super) epoch: u64,
    /// An encrypted room's MLS group id (base64), named by its first stored Commit.
    #[serde(default)]
    pub(super) group_id: Option<String>,
    /// The users an encrypted room's group admits (a string set; RoomEpoch::admitted).
    #[serde(default)]
    pub(super) admitted: BTreeSet<String>,
}

/// `ROOM#r / MSG#<seq:020>`: a stored message, with its retention as TTL.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MessageItem {
    pk: String,
    sk: String,
    room: String,
    pub(super) seq: u64,
    id: String,
    from: String,
    body: String,
    sent_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_msg_id: Option<String>,
    pub(super) expires_at: i64,
}

impl MessageItem {
    /// `message`, kept until `expires_at`.
    pub(super) fn new(message: Message, expires_at: i64) -> Self {
        let Key { pk, sk } = Key::message(&message.room, message.seq);
        Self {
            pk,
            sk,
            room: message.room,
            seq: message.seq,
            id: message.id,
            from: message.from,
            body: message.body,
            sent_at: message.sent_at,
            client_msg_id: message.client_msg_id,
            expires_at,
        }
    }
}

impl From<MessageItem> for Message {
    fn from(item: MessageItem) -> Self {
        Self {
            room: item.room,
            seq: item.seq,
            id: item.id,
            from: item.from,
            body: item.body,
            sent_at: item.sent_at,
            client_msg_id: item.client_msg_id,
        }
    }
}

/// `ROOM#r / DEDUP#…` or `MSGID#…`: which seq a message (or a client message id) was given.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DedupItem {
    pk: String,
    sk: String,
    id: String,
    pub(super) seq: u64,
    pub(super) expires_at: i64,
}

impl DedupItem {
    /// `msg` stored at `seq`, deduplicated for [`DEDUP_WINDOW_SECS`] from its `now`.
    pub(super) fn new(msg: &NewMessage, seq: u64) -> Self {
        let Key { pk, sk } = Key::dedup(msg);
        Self { pk, sk, id: msg.id.clone(), seq, expires_at: msg.now + DEDUP_WINDOW_SECS }
    }
}

/// Serializes an item for a write.
pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Failed(Box::new(e)))
}

/// Reads an item back into its type; a mismatch is `Corrupt`, naming the item's key.
pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let key_part = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).map_or("?", String::as_str);
    let key = format!("{}/{}", key_part(PK), key_part(SK));
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt { key, source: Box::new(e) })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn attribute_names(item: &Item) -> BTreeSet<&str> {
        item.keys().map(String::as_str).collect()
    }

    fn sk(item: &Item) -> &str {
        item[SK].as_s().unwrap()
    }

    /// The stored attribute names of each whole-written item; a rename here is a data migration.
    #[test]
    fn items_keep_their_stored_attribute_names() {
        let conn =
            Connection { id: "c1=".into(), user: "alice".into(), connected_at_ms: 1_795_000_000_000, batch: false };
        let msg = NewMessage {
            commit: None,
            id: "01ID".into(),
            room: "lobby".into(),
            from: "alice".into(),
            body: "hi".into(),
            client_msg_id: Some("c-1".into()),
            sent_at: "t".into(),
            expires_at: 2_000_000_000,
            now: 1_800_000_000,
        };
        let batched = Connection { batch: true, ..conn.clone() };
        let cases: [(Item, &str, &[&str]); 9] = [
            (
                to_item(&ConnectionItem::from(&conn)).unwrap(),
                "CONN",
                &["connectedAt", "connectionId", "expiresAt", "user"],
            ),
            (to_item(&UserConnectionItem::from(&conn)).unwrap(), "CONN#c1=", &["connectionId", "expiresAt"]),
            (
                to_item(&SubscriberItem::new("lobby", &conn)).unwrap(),
                "SUB#c8#c1=",
                &["connectionId", "expiresAt", "user"],
            ),
            (
                to_item(&SubscriberItem::new("lobby", &batched)).unwrap(),
                "SUB#c8#c1=",
                &["batch", "connectionId", "expiresAt", "user"],
            ),
            (to_item(&RouteItem::new("lobby", 1_795_000_000)).unwrap(), "SUB!", &["expiresAt", "shardedUntil"]),
            (to_item(&ConnectionRoomItem::new("lobby", &conn)).unwrap(), "SUB#lobby", &["expiresAt", "room"]),
            (
                to_item(&MemberItem::new("lobby", "alice")).unwrap(),
                "MEMBER#alice",
                &["gsi1pk", "gsi1sk", "room", "user"],
            ),
            (
                to_item(&MessageItem::new(msg.sequenced(7), msg.expires_at)).unwrap(),
                "MSG#00000000000000000007",
                &["body", "clientMsgId", "expiresAt", "from", "id", "room", "sentAt", "seq"],
            ),
            (to_item(&DedupItem::new(&msg, 7)).unwrap(), "DEDUP#alice#c-1", &["expiresAt", "id", "seq"]),
        ];
        for (item, want_sk, attributes) in cases {
            let want: BTreeSet<&str> = [PK, SK].into_iter().chain(attributes.iter().copied()).collect();
            assert_eq!((sk(&item), attribute_names(&item)), (want_sk, want));
        }
    }

    #[test]
    fn a_message_reads_back_as_it_was_stored() {
        let message = Message {
            room: "lobby".into(),
            seq: 3,
            id: "01ID".into(),
            from: "alice".into(),
            body: "hi".into(),
            sent_at: "t".into(),
            client_msg_id: None,
        };
        let item = to_item(&MessageItem::new(message.clone(), 9)).unwrap();
        assert!(!item.contains_key("clientMsgId"));
        assert_eq!(Message::from(from_item::<MessageItem>(item).unwrap()), message);
    }

    #[test]
    fn an_unreadable_item_is_corrupt_and_named_by_its_key() {
        let item = Key::head("lobby").into_item();
        let err = from_item::<HeadItem>(item).unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt { key, .. } if key == "ROOM#lobby/HEAD"), "{err:?}");
    }
}
