//! Every key of the table, and every key prefix a query or a parser relies on.
//!
//! Values are appended raw (no escaping), so the layout here is exactly what is stored; changing a
//! format is a data migration, not a refactor (`tests::every_key_has_its_stored_format` pins them).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::Item;
use crate::domain::{NewMessage, Shard, bucket};

/// The table's partition key attribute.
pub(super) const PK: &str = "pk";
/// The table's sort key attribute.
pub(super) const SK: &str = "sk";
/// `gsi1`'s partition key attribute.
pub(super) const GSI1_PK: &str = "gsi1pk";
/// `gsi1`'s sort key attribute.
pub(super) const GSI1_SK: &str = "gsi1sk";
/// The attribute DynamoDB's TTL deletes by.
pub(super) const EXPIRES_AT: &str = "expiresAt";

const CONN: &str = "CONN#";
const USER: &str = "USER#";
const ROOM: &str = "ROOM#";
/// Both sides of a subscription share it: `ROOM#r / SUB#c` and `CONN#c / SUB#r`.
const SUB: &str = "SUB#";
const MEMBER: &str = "MEMBER#";
const MSG: &str = "MSG#";
const RATE: &str = "RATE#";
const READ: &str = "READ#";
const TYPING: &str = "TYPING#";
const DELIVERED: &str = "DELIVERED#";
/// A room's per-minute counters. `STATS#` sorts between `MSGID#` and `SUB!`, outside every range
/// a room is read by (`MEMBER#…`, `MSG#…`, `SUB!`..`SUB$`).
const STATS: &str = "STATS#";
const RECORD: &str = "RECORD#";
/// A user's key package directory (docs/e2e.md): `DEVICES`, `DEVICE#d`, `KP#d#<ulid>`.
const KEYS: &str = "KEYS#";
const DEVICE: &str = "DEVICE#";
const KEY_PACKAGE: &str = "KP#";
const DEVICES_SK: &str = "DEVICES";
/// A device's inbox of MLS Welcomes (docs/e2e.md): `WELCOME#u#d / {room}#<seq:020>`.
const WELCOME: &str = "WELCOME#";
const FAILURES_SK: &str = "FAILURES";
const GATE: &str = "GATE#";
const CONNECTION_SK: &str = "CONN";
const HEAD_SK: &str = "HEAD";
const PRESENCE_SK: &str = "PRESENCE";

/// Sort-key prefix of the subscription items in a room's or a connection's partition.
pub(super) const SUBSCRIPTION_PREFIX: &str = SUB;
/// The sort key of a room's route item: `!` sorts before `#`, so it comes first in the range
/// [`ROUTE_SK`, [`SUBSCRIPTION_END`]] the probe reads, and never in a `SUB#` listing.
pub(super) const ROUTE_SK: &str = "SUB!";
/// Past every `SUB#…` sort key (`$` sorts after `#`): the end of the probe's range.
pub(super) const SUBSCRIPTION_END: &str = "SUB$";

/// The inclusive sort-key range of a shard's subscribers in a room's partition. The shards'
/// ranges are disjoint and together cover every `SUB#…` key, so each subscriber item a release
/// before shards wrote (`SUB#{connectionId}`, no bucket) is read by exactly one shard: the one
/// its key sorts into, always the same, so its order holds too. Connection ids are ASCII, so a
/// key below the next shard's first (`SUB#10`) is at most that key's last character less one,
/// followed by the highest character (`SUB#1/\u{10FFFF}`).
pub(super) fn shard_range(shard: Shard) -> (String, String) {
    let (first, last) = shard.buckets();
    let from = if first == 0 { SUB.to_owned() } else { format!("{SUB}{first:02x}") };
    let below = match last.checked_add(1) {
        Some(next) => {
            let hex = format!("{next:02x}");
            let (head, tail) = hex.split_at(1);
            let less = tail.bytes().next().map_or('/', |c| char::from(c.saturating_sub(1)));
            format!("{SUB}{head}{less}")
        }
        None => SUB.to_owned(),
    };
    (from, format!("{below}{}", char::MAX))
}
/// Sort-key prefix of the device items in a user's key partition.
pub(super) const DEVICE_PREFIX: &str = DEVICE;

/// The partition of a user's key package directory.
pub(super) fn keys_partition(user: &str) -> String {
    format!("{KEYS}{user}")
}

/// The partition of one device's welcome inbox.
pub(super) fn welcome_partition(user: &str, device: &str) -> String {
    format!("{WELCOME}{user}#{device}")
}

/// Sort-key prefix of one device's one-time packages (device ids have no `#`).
pub(super) fn key_package_prefix(device: &str) -> String {
    format!("{KEY_PACKAGE}{device}#")
}

/// Sort-key prefix of the membership items in a room's partition.
pub(super) const MEMBER_PREFIX: &str = MEMBER;

/// The partition of a connection: its item, its rooms and typing gates (and the per-connection
/// rate windows of older releases, which TTL removes).
pub(super) fn connection_partition(connection_id: &str) -> String {
    format!("{CONN}{connection_id}")
}

/// The partition of a room: subscribers, members, head, messages and dedup records.
pub(super) fn room_partition(room: &str) -> String {
    format!("{ROOM}{room}")
}

/// The partition of a user: connections, presence, rate windows and gates; also `gsi1pk` of the user's memberships.
pub(super) fn user_partition(user: &str) -> String {
    format!("{USER}{user}")
}

/// The sort key of message `seq`: zero-padded so that string order is seq order.
pub(super) fn message_sort_key(seq: u64) -> String {
    format!("{MSG}{seq:020}")
}

/// The user whose partition `pk` is, if it is a user partition.
pub(super) fn user_of_partition(pk: &str) -> Option<&str> {
    pk.strip_prefix(USER)
}

/// What a sort key in a connection's partition is, for removing the connection.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ConnectionSortKey<'a> {
    /// `CONN`: the connection item itself.
    Connection,
    /// `SUB#r`: the connection is subscribed to room `r`.
    Subscription(&'a str),
    /// Anything else (typing gates, rate windows of older releases): deleted with the connection, nothing more.
    Other,
}

/// Classifies a sort key of a connection's partition.
pub(super) fn classify_connection_sort_key(sk: &str) -> ConnectionSortKey<'_> {
    if sk == CONNECTION_SK {
        ConnectionSortKey::Connection
    } else if let Some(room) = sk.strip_prefix(SUB) {
        ConnectionSortKey::Subscription(room)
    } else {
        ConnectionSortKey::Other
    }
}

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    /// Partition key.
    pub(super) pk: String,
    /// Sort key.
    pub(super) sk: String,
}

impl Key {
    /// `CONN#c / CONN`: the connection.
    pub(super) fn connection(connection_id: &str) -> Self {
        Self { pk: connection_partition(connection_id), sk: CONNECTION_SK.to_owned() }
    }

    /// `USER#u / CONN#c`: one of a user's connections.
    pub(super) fn user_connection(user: &str, connection_id: &str) -> Self {
        Self { pk: user_partition(user), sk: connection_partition(connection_id) }
    }

    /// `ROOM#r / SUB#bb#c`: an online subscriber of a room, what the fanout queries, under
    /// its bucket `bb` (two hex digits) so one shard of the room is one range of sort keys.
    pub(super) fn subscriber(room: &str, connection_id: &str) -> Self {
        Self { pk: room_partition(room), sk: format!("{SUB}{:02x}#{connection_id}", bucket(connection_id)) }
    }

    /// `ROOM#r / SUB#c`: a subscriber as releases before shards wrote it. Such items are never
    /// written now; they are honoured (a membership check, a leave) until TTL removes them.
    pub(super) fn legacy_subscriber(room: &str, connection_id: &str) -> Self {
        Self { pk: room_partition(room), sk: format!("{SUB}{connection_id}") }
    }

    /// `ROOM#r / SUB!`: the room's delivery route (sharded until when). It sorts just before the
    /// subscribers, so the fanout's probe reads it in the same Query, at no extra request.
    pub(super) fn room_route(room: &str) -> Self {
        Self { pk: room_partition(room), sk: ROUTE_SK.to_owned() }
    }

    /// `CONN#c / SUB#r`: the inverse of [`Key::subscriber`], so a disconnect finds its rooms.
    pub(super) fn connection_room(connection_id: &str, room: &str) -> Self {
        Self { pk: connection_partition(connection_id), sk: format!("{SUB}{room}") }
    }

    /// `ROOM#r / MEMBER#u`: a member of a room; survives disconnects.
    pub(super) fn member(room: &str, user: &str) -> Self {
        Self { pk: room_partition(room), sk: format!("{MEMBER}{user}") }
    }

    /// `USER#u / ROOM#r` on `gsi1`: the member item seen from the user.
    pub(super) fn member_by_user(user: &str, room: &str) -> Self {
        Self { pk: user_partition(user), sk: room_partition(room) }
    }

    /// `ROOM#r / HEAD`: the room's last seq.
    pub(super) fn head(room: &str) -> Self {
        Self { pk: room_partition(room), sk: HEAD_SK.to_owned() }
    }

    /// `ROOM#r / MSG#<seq:020>`: a stored message.
    pub(super) fn message(room: &str, seq: u64) -> Self {
        Self { pk: room_partition(room), sk: message_sort_key(seq) }
    }

    /// `ROOM#r / DEDUP#<from, escaped>#<clientMsgId>`, or `ROOM#r / MSGID#<id>` without a client
    /// id: [`NewMessage::dedup_key`].
    pub(super) fn dedup(msg: &NewMessage) -> Self {
        Self { pk: room_partition(&msg.room), sk: msg.dedup_key() }
    }

    /// `USER#u / RATE#<windowStart>`: the cost a user spent in one rate window.
    pub(super) fn rate_window(user: &str, window_start: i64) -> Self {
        Self { pk: user_partition(user), sk: format!("{RATE}{window_start}") }
    }

    /// `USER#u / GATE#<gate>`: when the user's gate (e.g. `status`) last passed.
    pub(super) fn gate(user: &str, gate: &str) -> Self {
        Self { pk: user_partition(user), sk: format!("{GATE}{gate}") }
    }

    /// `USER#u / PRESENCE`: the user's live connections, `away` and `lastSeen`.
    pub(super) fn presence(user: &str) -> Self {
        Self { pk: user_partition(user), sk: PRESENCE_SK.to_owned() }
    }

    /// `USER#u / READ#r`: how far the user has read in a room.
    pub(super) fn read_cursor(user: &str, room: &str) -> Self {
        Self { pk: user_partition(user), sk: format!("{READ}{room}") }
    }

    /// `CONN#c / TYPING#r`: when the connection last announced typing in a room.
    pub(super) fn typing(connection_id: &str, room: &str) -> Self {
        Self { pk: connection_partition(connection_id), sk: format!("{TYPING}{room}") }
    }

    /// `RECORD#<queue message id> / FAILURES`: the fanout's failed attempts at one queue record.
    pub(super) fn record_failures(record_id: &str) -> Self {
        Self { pk: format!("{RECORD}{record_id}"), sk: FAILURES_SK.to_owned() }
    }

    /// `ROOM#r / DELIVERED#<seq:020>`: how far the fanout got delivering message `seq`.
    pub(super) fn delivery_checkpoint(room: &str, seq: u64) -> Self {
        Self { pk: room_partition(room), sk: format!("{DELIVERED}{seq:020}") }
    }

    /// `ROOM#r / STATS#<minute>`: the room's counters of one minute (`2026-11-24T17:05Z`).
    pub(super) fn room_stats(room: &str, minute: &str) -> Self {
        Self { pk: room_partition(room), sk: format!("{STATS}{minute}") }
    }

    /// `KEYS#u / DEVICES`: the set of the user's device ids, which bounds their number.
    pub(super) fn key_devices(user: &str) -> Self {
        Self { pk: keys_partition(user), sk: DEVICES_SK.to_owned() }
    }

    /// `KEYS#u / DEVICE#d`: a device's one-time count and last-resort package.
    pub(super) fn key_device(user: &str, device: &str) -> Self {
        Self { pk: keys_partition(user), sk: format!("{DEVICE}{device}") }
    }

    /// `KEYS#u / KP#d#<id>`: one one-time package (ids are ULIDs, so they list oldest first).
    pub(super) fn key_package(user: &str, device: &str, id: &str) -> Self {
        Self { pk: keys_partition(user), sk: format!("{}{id}", key_package_prefix(device)) }
    }

    /// `WELCOME#u#d / {room}#<seq:020>`: a welcome waiting for device `d` of user `u`. Neither
    /// user ids nor device ids nor room ids have a `#`, and every room id character sorts after
    /// it, so a device's inbox lists in order of room id, then seq.
    pub(super) fn welcome(user: &str, device: &str, room: &str, seq: u64) -> Self {
        Self { pk: welcome_partition(user, device), sk: format!("{room}#{seq:020}") }
    }

    /// Any item of a user's key partition, by the sort key a Query of it returned.
    pub(super) fn in_keys(user: &str, sk: String) -> Self {
        Self { pk: keys_partition(user), sk }
    }

    /// Any item of a connection's partition, by the sort key a Query of it returned.
    pub(super) fn in_connection(connection_id: &str, sk: String) -> Self {
        Self { pk: connection_partition(connection_id), sk }
    }

    /// A key in a room's partition at a sort key handed out earlier as a page cursor.
    pub(super) fn room_cursor(room: &str, sk: &str) -> Self {
        Self { pk: room_partition(room), sk: sk.to_owned() }
    }

    /// The key as the attribute map requests take.
    pub(super) fn into_item(self) -> Item {
        HashMap::from([(PK.to_owned(), AttributeValue::S(self.pk)), (SK.to_owned(), AttributeValue::S(self.sk))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_its_stored_format() {
        let msg = |client_msg_id: Option<&str>| NewMessage {
            commit: None,
            id: "01ID".into(),
            room: "lobby".into(),
            from: "alice".into(),
            body: String::new(),
            client_msg_id: client_msg_id.map(Into::into),
            sent_at: String::new(),
            expires_at: 0,
            now: 0,
        };
        let cases = [
            (Key::connection("c1="), "CONN#c1=", "CONN"),
            (Key::user_connection("alice", "c1="), "USER#alice", "CONN#c1="),
            (Key::subscriber("lobby", "c1="), "ROOM#lobby", "SUB#c8#c1="),
            (Key::room_route("lobby"), "ROOM#lobby", "SUB!"),
            (Key::connection_room("c1=", "lobby"), "CONN#c1=", "SUB#lobby"),
            (Key::member("lobby", "alice"), "ROOM#lobby", "MEMBER#alice"),
            (Key::member_by_user("alice", "lobby"), "USER#alice", "ROOM#lobby"),
            (Key::head("lobby"), "ROOM#lobby", "HEAD"),
            (Key::message("lobby", 42), "ROOM#lobby", "MSG#00000000000000000042"),
            (Key::message("lobby", u64::MAX), "ROOM#lobby", "MSG#18446744073709551615"),
            (Key::dedup(&msg(Some("c-1"))), "ROOM#lobby", "DEDUP#alice#c-1"),
            (Key::dedup(&msg(None)), "ROOM#lobby", "MSGID#01ID"),
            (Key::rate_window("alice", 1_800_000_000), "USER#alice", "RATE#1800000000"),
            (Key::gate("alice", "status"), "USER#alice", "GATE#status"),
            (Key::presence("alice"), "USER#alice", "PRESENCE"),
            (Key::read_cursor("alice", "lobby"), "USER#alice", "READ#lobby"),
            (Key::typing("c1=", "lobby"), "CONN#c1=", "TYPING#lobby"),
            (Key::in_connection("c1=", "RATE#1".into()), "CONN#c1=", "RATE#1"),
            (Key::record_failures("7a1b-uuid"), "RECORD#7a1b-uuid", "FAILURES"),
            (Key::delivery_checkpoint("lobby", 42), "ROOM#lobby", "DELIVERED#00000000000000000042"),
            (Key::room_cursor("lobby", "SUB#c1="), "ROOM#lobby", "SUB#c1="),
            (Key::room_stats("lobby", "2026-11-24T17:05Z"), "ROOM#lobby", "STATS#2026-11-24T17:05Z"),
            (Key::key_devices("alice"), "KEYS#alice", "DEVICES"),
            (Key::key_device("alice", "phone"), "KEYS#alice", "DEVICE#phone"),
            (Key::key_package("alice", "phone", "01KP"), "KEYS#alice", "KP#phone#01KP"),
            (Key::in_keys("alice", "KP#phone#01KP".into()), "KEYS#alice", "KP#phone#01KP"),
            (Key::welcome("alice", "phone", "e2e:team", 7), "WELCOME#alice#phone", "e2e:team#00000000000000000007"),
        ];
        for (key, pk, sk) in cases {
            assert_eq!((key.pk.as_str(), key.sk.as_str()), (pk, sk));
        }
        assert_eq!((SUBSCRIPTION_PREFIX, MEMBER_PREFIX), ("SUB#", "MEMBER#"));
        let max = char::MAX;
        assert_eq!(shard_range(Shard::ALL), ("SUB#".to_owned(), format!("SUB#{max}")));
        assert_eq!(shard_range(Shard { index: 1, of: 4 }), ("SUB#40".to_owned(), format!("SUB#8/{max}")));
        assert_eq!(shard_range(Shard { index: 0, of: 16 }), ("SUB#".to_owned(), format!("SUB#1/{max}")));
        assert_eq!(shard_range(Shard { index: 9, of: 16 }), ("SUB#90".to_owned(), format!("SUB#a/{max}")));
        assert_eq!(shard_range(Shard { index: 9, of: 256 }), ("SUB#09".to_owned(), format!("SUB#0`{max}")));
        assert_eq!(shard_range(Shard { index: 10, of: 256 }), ("SUB#0a".to_owned(), format!("SUB#0a{max}")));
        assert_eq!(shard_range(Shard { index: 15, of: 256 }), ("SUB#0f".to_owned(), format!("SUB#1/{max}")));
        assert!(
            ROUTE_SK < "SUB#00#" && "SUB#ff#~~~" < SUBSCRIPTION_END,
            "the probe's range holds the route and every subscriber"
        );
        let stats = Key::room_stats("lobby", "9999-12-31T23:59Z").sk;
        let stats_first = Key::room_stats("lobby", "0000-01-01T00:00Z").sk;
        assert!(
            !stats.starts_with(SUB) && !stats.starts_with(MEMBER) && !stats.starts_with(MSG),
            "no prefix listing of a room reads the counters"
        );
        assert!(
            (stats_first.as_str() > message_sort_key(u64::MAX).as_str() && stats.as_str() < ROUTE_SK),
            "the counters sort outside the messages' and the subscribers' ranges"
        );
    }

    /// Every subscriber key, of this release or of one before shards, is in exactly one shard's
    /// range, and a current key in the shard of its bucket.
    #[test]
    fn shard_ranges_split_every_subscriber_key_once() {
        let alphabet: Vec<char> = ('A'..='Z').chain('a'..='z').chain('0'..='9').chain("+/=-_".chars()).collect();
        let mut ids: Vec<String> = alphabet
            .iter()
            .flat_map(|a| alphabet.iter().map(move |b| format!("{a}{b}Xy0=")).collect::<Vec<_>>())
            .collect();
        ids.extend(["0", "f", "ff", "0a", "09", "L0SM9cOFvHcCIhw="].map(str::to_owned));
        for of in [1, 2, 3, 5, 16, 17, 255, 256] {
            let ranges: Vec<(Shard, (String, String))> =
                (0..of).map(|index| Shard { index, of }).map(|s| (s, shard_range(s))).collect();
            let holding = |sk: &str| -> Vec<Shard> {
                ranges.iter().filter(|(_, (a, b))| a.as_str() <= sk && sk <= b.as_str()).map(|(s, _)| *s).collect()
            };
            for id in &ids {
                let legacy = Key::legacy_subscriber("r", id).sk;
                assert_eq!(holding(&legacy).len(), 1, "{legacy} in {of} shards");
                let current = Key::subscriber("r", id).sk;
                let shards = holding(&current);
                assert_eq!(shards.len(), 1, "{current} in {of} shards");
                assert!(shards[0].contains(id), "{current} is read by the shard of its bucket ({of} shards)");
            }
            assert!(holding(ROUTE_SK).is_empty(), "the route item is no subscriber");
        }
    }

    #[test]
    fn parsers_invert_their_builders() {
        assert_eq!(user_of_partition(&user_partition("alice")), Some("alice"));
        assert_eq!(user_of_partition("ROOM#lobby"), None);
        let sort_keys = [
            Key::connection("c1=").sk,
            Key::connection_room("c1=", "lobby").sk,
            Key::in_connection("c1=", "RATE#1".into()).sk,
            Key::typing("c1=", "lobby").sk,
        ];
        let classified: Vec<_> = sort_keys.iter().map(|sk| classify_connection_sort_key(sk)).collect();
        assert_eq!(
            classified,
            [
                ConnectionSortKey::Connection,
                ConnectionSortKey::Subscription("lobby"),
                ConnectionSortKey::Other,
                ConnectionSortKey::Other
            ]
        );
    }
}
