//! Frames the server sends.

use serde::{Deserialize, Serialize};

use super::{
    ClaimedKeyPackage, ErrorCode, ErrorFrame, Message, MinuteStats, PendingWelcome, ProtocolError, StatsTotals, Status,
};

/// A frame the server sends: one JSON object per WebSocket text message, tagged by `type` (the
/// variant name in camelCase, e.g. `presenceChanged`), with camelCase field names. Optional
/// fields are omitted when they have no value, never sent as `null`. Replies carry no request
/// id, so clients match them by `room` (and `accepted` by `clientMsgId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ServerFrame {
    /// `joined`: the reply to `join`. This connection is now subscribed to the room (live
    /// `message`, `typing` and `read` frames come to it) and the user is a member.
    Joined {
        /// `room`: the room joined.
        room: String,
        /// `lastSeq`: the room's last seq when the join took effect (0 for a room with no
        /// messages). Later messages arrive live; earlier ones come from `history` or `sync`. A
        /// message sequenced at the very moment of the join can be missed by both (the subscriber
        /// listing is eventually consistent); the next one then shows a seq gap, which `sync`
        /// fills.
        last_seq: u64,
    },
    /// `left`: the reply to `leave`. This connection is unsubscribed and the user's membership has
    /// ended (for all of the user's devices, although their other connections stay subscribed).
    Left {
        /// `room`: the room left.
        room: String,
    },
    /// `accepted`: the reply to `send`. The message was validated, authorized, counted against
    /// the rate limit and queued; it has no seq yet and is not yet stored. It is sequenced and
    /// stored afterwards and pushed as a `message` frame to every subscriber, the sender's own
    /// connection included: that `message` is the confirmation that it was stored.
    Accepted {
        /// `room`: the room sent to.
        room: String,
        /// `clientMsgId`: the request's `clientMsgId`; omitted when the request had none. Match
        /// `accepted` to the later `message` by this, not by `id`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
        /// `id`: the ULID given to this request. When the same sender already used this
        /// `clientMsgId` in this room within 24 h, the stored and delivered message keeps the
        /// original id, and this id appears in no message.
        id: String,
    },
    /// `message`: a stored message, with the fields of [`Message`] next to `type`. Pushed live to
    /// every connection subscribed to the room (the sender's included), in seq order per room,
    /// and posted by `sync`. Delivery is at least once, so the same `(room, seq)` can arrive more
    /// than once, live and through `sync`/`history` alike: clients drop seqs they already hold.
    Message(Message),
    /// `messages`: stored messages of one room, several in one post, in ascending seq. Only a
    /// connection that opted in at connect (`batch=1`) gets these, and it gets every live
    /// message this way instead of as `message` frames, one frame or more per fanout batch, each
    /// within 120 KiB (`wire::PAGE_BYTES`). Delivery is at least once, as for `message`.
    Messages {
        /// `room`: the room these messages are in.
        room: String,
        /// `messages`: objects with the fields of a `message` frame but no `type`, ascending.
        messages: Vec<Message>,
    },
    /// `history`: the reply to `history`, one page of the room's stored messages.
    History {
        /// `room`: the room read.
        room: String,
        /// `messages`: the newest `limit` (or fewer) retained messages with `seq` below the
        /// request's `before` (or of the whole room when it had none), in ascending seq, as
        /// objects with the fields of a `message` frame but no `type`. Fewer than `limit` when
        /// more would take the frame past 120 KiB (`wire::PAGE_BYTES`); `hasMore` is then true.
        messages: Vec<Message>,
        /// `hasMore`: always present; `true` when older retained messages exist before the first
        /// one of this page. To page back, ask again with `before` set to that first seq.
        has_more: bool,
    },
    /// `syncPage`: messages a `sync` with `"pages":true` recovered for a room, in ascending seq,
    /// as many as fit 120 KiB. Posted before the room's `synced`; never a live frame.
    SyncPage {
        /// `room`: the room these messages are in.
        room: String,
        /// `messages`: objects with the fields of a `message` frame but no `type`, ascending.
        messages: Vec<Message>,
    },
    /// Ends the messages `sync` recovered for a room. `hasMore` (only when true) means the
    /// per-room sync limit was reached: sync again from `lastSeq`.
    Synced {
        /// `room`: the room this ends. Rooms of one `sync` are not answered in request order.
        room: String,
        /// `recovered`: `true` when nothing after the requested seq was lost to retention (the
        /// first message sent is exactly the next seq, or nothing follows it). `false` when the
        /// messages right after it are past retention; what is still retained was sent anyway.
        recovered: bool,
        /// `lastSeq`: without `hasMore`, the room's last seq as read at the start of this room's
        /// sync (it can be below seqs that arrived live meanwhile: keep the highest). With
        /// `hasMore`, the seq of the last message sent, which is where the next `sync` starts.
        last_seq: u64,
        /// `hasMore`: present only when `true`: this sync stopped early for this room (the
        /// per-room `STARLING_SYNC_LIMIT`, or the request's frame or time budget) and more may
        /// follow: sync again from `lastSeq`. Every retained message after the requested seq up
        /// to `lastSeq` was sent before this frame, with or without `hasMore`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        has_more: bool,
    },
    /// `presence`: the reply to `presence`.
    Presence {
        /// `room`: the room asked about.
        room: String,
        /// `members`: one page of the room's members (joined and not left, offline ones
        /// included), in ascending byte order of user id, at most 500 and at most 120 KiB.
        members: Vec<MemberPresence>,
        /// `hasMore`: always present; `true` when members after this page exist: ask again with
        /// `cursor`.
        has_more: bool,
        /// `cursor`: present only with `hasMore`: pass it as the next request's `cursor`. Opaque.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
    },
    /// `presenceChanged`: a user's status changed. Announced once per transition (offline →
    /// online at the first connection, online/away → offline when the last connection closes or
    /// a post to it answers 410 or `presence` finds it dead, online ↔ away through `status`) to
    /// every connection subscribed to any room the user is a member of. Also the reply to
    /// `status`, always, even when nothing changed, so the caller often gets it twice. Clients
    /// treat it as state: it may repeat, and arrive late (see `version`).
    PresenceChanged {
        /// `user`: whose status changed.
        user: String,
        /// `status`: `online`, `away` or `offline`.
        status: Status,
        /// `lastSeen`: omitted except on `offline` announcements, where it is when the user's
        /// last connection closed (RFC 3339, whole seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seen: Option<String>,
        /// `version`: the user's presence version of this change. Versions of one user only grow,
        /// so a client drops a `presenceChanged` whose version is not greater than the last one
        /// it holds for that user (from `presenceChanged` or `presence`): it arrived late.
        #[serde(default)]
        version: u64,
    },
    /// `typing`: another user is typing in a room this connection is subscribed to. Posted to
    /// the room's subscribers except every connection of the typist, at most once per
    /// `STARLING_TYPING_INTERVAL_MS` (2 s) per typist connection and room; never stored and
    /// never a reply. No "stopped typing" frame exists: clients clear the indicator themselves
    /// (e.g. about 5 s after the last one, or on a `message` from that user).
    Typing {
        /// `room`: where.
        room: String,
        /// `user`: who is typing.
        user: String,
    },
    /// `read`: a user's read cursor in a room. The reply to `read`, and also posted to the
    /// room's other subscribed connections (the reader's other devices included).
    Read {
        /// `room`: the room.
        room: String,
        /// `user`: the reader.
        user: String,
        /// `seq`: the stored cursor, which never moves back: a `read` below it is answered with
        /// the current cursor. A `sync` with `null` for this room resumes after it.
        seq: u64,
    },
    /// `stats`: the reply to `stats`, the room's counters per minute.
    Stats {
        /// `room`: the room asked about.
        room: String,
        /// `minutes`: the minutes of the window that have counts, oldest first (quiet minutes are
        /// left out). When all would take the frame past 120 KiB, the oldest are left out and
        /// `hasMore` is true.
        minutes: Vec<MinuteStats>,
        /// `totals`: over the whole window, minutes left out included.
        totals: StatsTotals,
        /// `hasMore`: present only when `true`: older minutes with counts were left out.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        has_more: bool,
    },
    /// `keys`: the reply to `keys.publish`, `keys.count` and `keys.remove`: what the caller's
    /// device holds in the key package directory.
    Keys {
        /// `device`: the device.
        device: String,
        /// `oneTime`: one-time packages left. Each `keys.claim` of the user takes one; publish
        /// more before it reaches 0 (at most 100 held).
        one_time: u32,
        /// `lastResort`: always present; whether the device has a last-resort package.
        last_resort: bool,
    },
    /// `keyPackages`: the reply to `keys.claim`, one package per device of the user that has one,
    /// in ascending byte order of device id. Empty when the user has published none.
    KeyPackages {
        /// `user`: whose packages.
        user: String,
        /// `keyPackages`: the packages; one-time ones are now consumed.
        key_packages: Vec<ClaimedKeyPackage>,
    },
    /// `welcome`: posted to every open connection of a user when a Commit that adds one of the
    /// user's devices is stored (docs/e2e.md). The welcome also waits in the device's inbox
    /// until `welcomes.ack`, so a device that was offline gets it from `welcomes`.
    Welcome {
        /// `device`: the device it is for; other devices of the user ignore it.
        device: String,
        /// The welcome: `room`, `seq`, `from`, `welcome`.
        #[serde(flatten)]
        welcome: PendingWelcome,
    },
    /// `welcomes`: the reply to `welcomes` and `welcomes.ack`: the device's pending welcomes,
    /// in ascending order of room id, then seq.
    Welcomes {
        /// `device`: the device.
        device: String,
        /// `welcomes`: as many as fit 120 KiB (at least one when any is pending).
        welcomes: Vec<PendingWelcome>,
        /// `hasMore`: present only when `true`: more are pending; ack these to get the rest.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        has_more: bool,
    },
    /// `pong`: the reply to `ping`; it has no fields.
    Pong,
    /// `error`: a request was refused (see [`ErrorFrame`] and [`ErrorCode`]). The connection
    /// stays open, and the request never reached the queue.
    Error(ErrorFrame),
}

/// One member in a `presence` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberPresence {
    /// `user`: the member's user id.
    pub user: String,
    /// `status`: `offline` with no live connection, `away` with one after the user said `away`,
    /// `online` otherwise.
    pub status: Status,
    /// `lastSeen`: when one of the user's connections last closed (RFC 3339, whole seconds);
    /// omitted if none ever closed. It can be present for an online user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// `version`: the user's presence version this status is from, comparable with
    /// `presenceChanged.version`.
    #[serde(default)]
    pub version: u64,
}

impl ServerFrame {
    /// The frame as the JSON text posted or replied on the wire.
    pub fn to_json(&self) -> String {
        // Every variant is plain data with string keys, so serialization cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from(r#"{"type":"error","code":"internal"}"#))
    }

    /// The frame's `type`, as on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Joined { .. } => "joined",
            Self::Left { .. } => "left",
            Self::Accepted { .. } => "accepted",
            Self::Message(_) => "message",
            Self::Messages { .. } => "messages",
            Self::History { .. } => "history",
            Self::SyncPage { .. } => "syncPage",
            Self::Synced { .. } => "synced",
            Self::Presence { .. } => "presence",
            Self::PresenceChanged { .. } => "presenceChanged",
            Self::Typing { .. } => "typing",
            Self::Read { .. } => "read",
            Self::Stats { .. } => "stats",
            Self::Keys { .. } => "keys",
            Self::KeyPackages { .. } => "keyPackages",
            Self::Welcome { .. } => "welcome",
            Self::Welcomes { .. } => "welcomes",
            Self::Pong => "pong",
            Self::Error(_) => "error",
        }
    }

    /// An `error` frame that echoes neither `action` nor `clientMsgId`, for refusals made before
    /// the frame's action is known (a binary frame, a connection without a user).
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError::new(code, message).to_frame()
    }
}
