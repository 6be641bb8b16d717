//! Client requests: parsed as a JSON object first, then validated per action.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    DEFAULT_HISTORY_LIMIT, ErrorCode, MAX_BODY_BYTES, MAX_CLIENT_MSG_ID_CHARS, MAX_FRAME_BYTES, MAX_HISTORY_LIMIT,
    MAX_SYNC_ROOMS, ProtocolError, RoomId, Status,
};

/// A validated client request. The frame's `action` picks the variant and its camelCase fields
/// have passed the checks described on each field; fields the action does not use are ignored.
/// Anything that fails is answered with an `error` frame and never reaches the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `join`: subscribes this connection to the room and makes the user a member (a room is
    /// created by its first join). Answered with `joined`. Joining a room the connection is
    /// already in succeeds again and does not count toward the `STARLING_MAX_ROOMS` (100) limit;
    /// beyond that limit `join` is `forbidden`.
    Join {
        /// `room`: the room id; a DM room must include the caller (`forbidden` otherwise).
        room: RoomId,
    },
    /// `leave`: unsubscribes this connection and ends the user's membership, for all of the
    /// user's devices (their other connections stay subscribed). Answered with `left`, or
    /// `not_found` when this connection is not subscribed.
    Leave {
        /// `room`: a room this connection is subscribed to.
        room: RoomId,
    },
    /// `send`: publishes a message. Answered with `accepted` once it is queued and counted
    /// against the connection's rate limit; the stored message, with its seq, then arrives as a
    /// `message` frame on every subscribed connection, the sender's included.
    Send {
        /// `room`: a room this connection is subscribed to (`forbidden` otherwise).
        room: RoomId,
        /// `body`: the text, 1 byte to 16 KiB (16,384 bytes) of UTF-8, measured after JSON
        /// decoding. Empty is `bad_request`, longer is `too_large`. Delivered exactly as sent.
        body: String,
        /// `clientMsgId`: optional idempotency key of 1–64 characters (Unicode scalar values);
        /// `null` is the same as absent. A repeat with the same room, sender and id within 24 h of
        /// the first being stored is answered `accepted` but neither stored nor delivered again,
        /// so clients always set it to make retrying a `send` safe.
        client_msg_id: Option<String>,
        /// `welcome`: only with an MLS Commit in an `e2e:` room (`bad_request` otherwise): the
        /// Welcome for the devices the Commit adds, held until the Commit is stored and dropped
        /// if it loses its epoch. Boxed: most sends have none.
        welcome: Option<Box<super::Welcome>>,
    },
    /// `history`: one page of the room's stored messages, newest page first, each page in
    /// ascending seq. Answered with `history`. Needs membership or a subscription of this
    /// connection.
    History {
        /// `room`: the room to read.
        room: RoomId,
        /// `before`: only messages with `seq < before`; at least 1 (0 is `bad_request`). Absent or
        /// `null` starts from the newest. To page back, pass the lowest seq of the last page.
        before: Option<u64>,
        /// `limit`: the page size, 1–100 (`bad_request` outside). Optional on the wire, where
        /// absent or `null` means 50; here it is always filled in.
        limit: u32,
    },
    /// Rooms with the last seq seen; `None` resumes from the stored read cursor.
    Sync {
        /// `rooms`: a JSON object of 1–50 entries (none is `bad_request`, more is `too_large`)
        /// from room id to the last seq the client holds: an integer ≥ 0 (0 means from the start)
        /// or `null`. Kept in the order `serde_json`'s map yields, which without its
        /// `preserve_order` feature (the deployed build) is byte order of room id, not the
        /// request's order; clients match the replies by `room`.
        rooms: Vec<(RoomId, Option<u64>)>,
        /// `pages`: optional, `true` to get each room's messages in `syncPage` frames (many
        /// messages per frame) instead of one `message` frame each. Absent, `null` or `false`
        /// keeps the original one-frame-per-message form.
        pages: bool,
    },
    /// `presence`: lists the room's members (offline ones included) with their status, one page
    /// at a time. Answered with `presence`. Needs membership or a subscription of this connection.
    Presence {
        /// `room`: the room to list.
        room: RoomId,
        /// `cursor`: optional; the previous page's `cursor`, to get the page after it. Absent or
        /// `null` starts from the first page. At most 1,024 bytes (`bad_request` beyond).
        cursor: Option<String>,
    },
    /// `status` on the wire: `online` or `away` (never `offline`: that follows from the connections).
    SetStatus {
        /// `status`: `"online"` or `"away"`; `"offline"` or any other value is `bad_request`. It
        /// applies to all of the user's devices. Answered with the caller's own
        /// `presenceChanged`, always; an actual change is also announced to the user's rooms.
        status: Status,
    },
    /// `typing`: tells the room's other users that this user is typing. Never stored and never
    /// answered on success; at most one per `STARLING_TYPING_INTERVAL_MS` (2 s) per connection
    /// and room gets through, and the others are dropped silently.
    Typing {
        /// `room`: a room this connection is subscribed to (`forbidden` otherwise).
        room: RoomId,
    },
    /// `read`: moves the user's read cursor in the room forward and tells the room's other
    /// connections. Answered with `read` carrying the stored cursor. Needs membership or a
    /// subscription of this connection.
    Read {
        /// `room`: the room read.
        room: RoomId,
        /// `seq`: the last seq the user has read, from 1 (0 is `bad_request`) to the room's last
        /// seq (past it is `bad_request`). A seq below the stored cursor leaves the cursor as is.
        seq: u64,
    },
    /// `stats`: the room's activity counters per minute (messages, senders, deliveries) over the
    /// last `minutes`. Answered with `stats`. Needs membership or a subscription of this
    /// connection.
    Stats {
        /// `room`: the room.
        room: RoomId,
        /// `minutes`: how far back, 1–1440 (`bad_request` outside); absent or `null` means 60.
        minutes: u32,
    },
    /// `keys.publish`, `keys.count`, `keys.claim`, `keys.remove`: the MLS key package directory
    /// (docs/e2e.md). Answered with `keys` or `keyPackages`.
    Keys(super::KeyRequest),
    /// `welcomes`, `welcomes.ack`: the caller's device's inbox of MLS Welcomes (docs/e2e.md).
    /// Answered with `welcomes`.
    Welcomes(super::WelcomeRequest),
    /// `ping`: no fields; answered with `pong`. Only frames from the client reset API Gateway's
    /// 10-minute idle timeout, so an otherwise quiet client sends one about every 5 minutes.
    Ping,
}

impl Request {
    /// The frame's JSON text, which [`parse_request`] reads back as this request: what a client
    /// sends. Kept beside the parser so the wire names of each action are in one module.
    pub fn to_json(&self) -> String {
        let mut frame = Map::new();
        frame.insert("action".into(), self.action().into());
        let mut put = |key: &str, value: Value| {
            frame.insert(key.into(), value);
        };
        match self {
            Self::Join { room } | Self::Leave { room } | Self::Typing { room } => {
                put("room", room.as_str().into());
            }
            Self::Presence { room, cursor } => {
                put("room", room.as_str().into());
                if let Some(c) = cursor {
                    put("cursor", c.as_str().into());
                }
            }
            Self::Send { room, body, client_msg_id, welcome } => {
                put("room", room.as_str().into());
                put("body", body.as_str().into());
                if let Some(id) = client_msg_id {
                    put("clientMsgId", id.as_str().into());
                }
                if let Some(w) = welcome {
                    put("welcome", serde_json::to_value(w).unwrap_or_default());
                }
            }
            Self::History { room, before, limit } => {
                put("room", room.as_str().into());
                put("limit", (*limit).into());
                if let Some(b) = before {
                    put("before", (*b).into());
                }
            }
            Self::Sync { rooms, pages } => {
                let rooms = rooms.iter().map(|(room, seq)| (room.to_string(), seq.map_or(Value::Null, Value::from)));
                put("rooms", Value::Object(rooms.collect()));
                if *pages {
                    put("pages", true.into());
                }
            }
            Self::SetStatus { status } => put("status", status.as_str().into()),
            Self::Read { room, seq } => {
                put("room", room.as_str().into());
                put("seq", (*seq).into());
            }
            Self::Stats { room, minutes } => {
                put("room", room.as_str().into());
                put("minutes", (*minutes).into());
            }
            Self::Keys(k) => k.put_fields(&mut frame),
            Self::Welcomes(w) => w.put_fields(&mut frame),
            Self::Ping => {}
        }
        Value::Object(frame).to_string()
    }

    /// The `action` this request was sent as (`SetStatus` is `status`), as echoed in error frames
    /// and logged.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Join { .. } => "join",
            Self::Leave { .. } => "leave",
            Self::Send { .. } => "send",
            Self::History { .. } => "history",
            Self::Sync { .. } => "sync",
            Self::Presence { .. } => "presence",
            Self::SetStatus { .. } => "status",
            Self::Typing { .. } => "typing",
            Self::Read { .. } => "read",
            Self::Stats { .. } => "stats",
            Self::Keys(k) => k.action(),
            Self::Welcomes(w) => w.action(),
            Self::Ping => "ping",
        }
    }

    /// The room the request concerns, for the invocation log line: `None` for `status`, `ping`
    /// and a `sync` of more than one room.
    pub fn room(&self) -> Option<&RoomId> {
        match self {
            Self::Join { room }
            | Self::Leave { room }
            | Self::Send { room, .. }
            | Self::History { room, .. }
            | Self::Presence { room, .. }
            | Self::Typing { room }
            | Self::Read { room, .. }
            | Self::Stats { room, .. } => Some(room),
            Self::Sync { rooms, .. } if rooms.len() == 1 => Some(&rooms[0].0),
            Self::Welcomes(super::WelcomeRequest::Ack { room, .. }) => Some(room),
            Self::Sync { .. } | Self::SetStatus { .. } | Self::Keys(_) | Self::Welcomes(_) | Self::Ping => None,
        }
    }
}

/// Parses and validates one text frame.
pub fn parse_request(text: &str) -> Result<Request, ProtocolError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(ProtocolError::new(
            ErrorCode::TooLarge,
            format!("frame is {} bytes; the limit is {MAX_FRAME_BYTES}", text.len()),
        ));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ProtocolError::new(ErrorCode::BadRequest, format!("frame is not valid JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ProtocolError::new(ErrorCode::BadRequest, "frame must be a JSON object"));
    };
    let action = match fields.get("action") {
        Some(Value::String(a)) => a.clone(),
        Some(_) => return Err(ProtocolError::new(ErrorCode::BadRequest, "\"action\" must be a string")),
        None => return Err(ProtocolError::new(ErrorCode::BadRequest, "frame has no \"action\"")),
    };
    let client_msg_id = fields.get("clientMsgId").and_then(Value::as_str).map(str::to_owned);
    parse_action(&action, fields).map_err(|(code, message)| ProtocolError {
        code,
        message,
        action: Some(action.clone()),
        client_msg_id: client_msg_id.filter(|id| id.chars().count() <= MAX_CLIENT_MSG_ID_CHARS),
    })
}

type FieldError = (ErrorCode, String);

fn bad(message: impl Into<String>) -> FieldError {
    (ErrorCode::BadRequest, message.into())
}

fn fields_of<T: for<'de> Deserialize<'de>>(action: &str, fields: Map<String, Value>) -> Result<T, FieldError> {
    serde_json::from_value(Value::Object(fields)).map_err(|e| bad(format!("invalid {action} frame: {e}")))
}

fn room_of(raw: &str) -> Result<RoomId, FieldError> {
    RoomId::parse(raw).map_err(bad)
}

#[derive(Deserialize)]
struct RoomFields {
    room: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendFields {
    room: String,
    body: String,
    #[serde(default)]
    client_msg_id: Option<String>,
    #[serde(default)]
    welcome: Option<super::Welcome>,
}

#[derive(Deserialize)]
struct HistoryFields {
    room: String,
    #[serde(default)]
    before: Option<u64>,
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Deserialize)]
struct SyncFields {
    rooms: Map<String, Value>,
    #[serde(default)]
    pages: Option<bool>,
}

#[derive(Deserialize)]
struct PresenceFields {
    room: String,
    #[serde(default)]
    cursor: Option<String>,
}

/// Longest `presence.cursor`: a user id with room to spare.
const MAX_CURSOR_BYTES: usize = 1024;

#[derive(Deserialize)]
struct StatusFields {
    status: Status,
}

#[derive(Deserialize)]
struct ReadFields {
    room: String,
    seq: u64,
}

fn parse_sync(fields: SyncFields) -> Result<Request, FieldError> {
    if fields.rooms.is_empty() {
        return Err(bad("rooms must name at least one room"));
    }
    if fields.rooms.len() > MAX_SYNC_ROOMS {
        return Err((ErrorCode::TooLarge, format!("a sync may name at most {MAX_SYNC_ROOMS} rooms")));
    }
    let mut rooms = Vec::with_capacity(fields.rooms.len());
    for (name, seq) in fields.rooms {
        let room = room_of(&name)?;
        let seq = match seq {
            Value::Null => None,
            Value::Number(n) => {
                Some(n.as_u64().ok_or_else(|| bad(format!("rooms.{name} must be a seq (0 or more) or null")))?)
            }
            _ => return Err(bad(format!("rooms.{name} must be a seq (0 or more) or null"))),
        };
        rooms.push((room, seq));
    }
    Ok(Request::Sync { rooms, pages: fields.pages.unwrap_or(false) })
}

fn parse_send(f: SendFields) -> Result<Request, FieldError> {
    let room = room_of(&f.room)?;
    if f.body.len() > MAX_BODY_BYTES {
        return Err((ErrorCode::TooLarge, format!("body is {} bytes; the limit is {MAX_BODY_BYTES}", f.body.len())));
    }
    if f.body.is_empty() {
        return Err(bad("body must not be empty"));
    }
    if let Some(id) = &f.client_msg_id {
        let n = id.chars().count();
        if n == 0 || n > MAX_CLIENT_MSG_ID_CHARS {
            return Err(bad(format!("clientMsgId must be 1 to {MAX_CLIENT_MSG_ID_CHARS} characters")));
        }
    }
    let framing = if room.is_encrypted() { Some(super::mls::read_framing(&f.body).map_err(bad)?) } else { None };
    if let Some(welcome) = &f.welcome {
        if !framing.is_some_and(|m| m.content_type == super::mls::ContentType::Commit) {
            return Err(bad("welcome goes only with an MLS Commit in an e2e: room"));
        }
        super::welcome::check(welcome)
            .map_err(|(too_large, m)| (if too_large { ErrorCode::TooLarge } else { ErrorCode::BadRequest }, m))?;
    }
    Ok(Request::Send { room, body: f.body, client_msg_id: f.client_msg_id, welcome: f.welcome.map(Box::new) })
}

fn parse_history(f: HistoryFields) -> Result<Request, FieldError> {
    let room = room_of(&f.room)?;
    let limit = f.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
    if !(1..=MAX_HISTORY_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be 1 to {MAX_HISTORY_LIMIT}")));
    }
    if f.before == Some(0) {
        return Err(bad("before must be a seq of 1 or more"));
    }
    Ok(Request::History { room, before: f.before, limit })
}

fn parse_action(action: &str, fields: Map<String, Value>) -> Result<Request, FieldError> {
    match action {
        "join" => {
            let f: RoomFields = fields_of(action, fields)?;
            Ok(Request::Join { room: room_of(&f.room)? })
        }
        "leave" => {
            let f: RoomFields = fields_of(action, fields)?;
            Ok(Request::Leave { room: room_of(&f.room)? })
        }
        "send" => parse_send(fields_of(action, fields)?),
        "history" => parse_history(fields_of(action, fields)?),
        "sync" => parse_sync(fields_of(action, fields)?),
        "presence" => {
            let f: PresenceFields = fields_of(action, fields)?;
            if f.cursor.as_ref().is_some_and(|c| c.len() > MAX_CURSOR_BYTES) {
                return Err(bad(format!("cursor must be at most {MAX_CURSOR_BYTES} bytes")));
            }
            Ok(Request::Presence { room: room_of(&f.room)?, cursor: f.cursor })
        }
        "status" => {
            let f: StatusFields = fields_of(action, fields)?;
            if f.status == Status::Offline {
                return Err(bad("status must be online or away"));
            }
            Ok(Request::SetStatus { status: f.status })
        }
        "typing" => {
            let f: RoomFields = fields_of(action, fields)?;
            Ok(Request::Typing { room: room_of(&f.room)? })
        }
        "read" => {
            let f: ReadFields = fields_of(action, fields)?;
            if f.seq == 0 {
                return Err(bad("seq must be 1 or more"));
            }
            Ok(Request::Read { room: room_of(&f.room)?, seq: f.seq })
        }
        "stats" => {
            let (room, minutes) = super::stats::parse(fields_of(action, fields)?).map_err(bad)?;
            Ok(Request::Stats { room, minutes })
        }
        "ping" => Ok(Request::Ping),
        keys if super::keys::is_key_action(keys) => super::keys::parse(keys, fields)
            .map(Request::Keys)
            .map_err(|(too_large, m)| (if too_large { ErrorCode::TooLarge } else { ErrorCode::BadRequest }, m)),
        inbox if super::welcome::is_welcome_action(inbox) => {
            super::welcome::parse(inbox, fields).map(Request::Welcomes).map_err(bad)
        }
        other => Err((ErrorCode::UnknownAction, format!("unknown action {other:?}"))),
    }
}
