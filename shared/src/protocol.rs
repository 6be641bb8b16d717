//! Wire protocol v1: the frames clients send and receive (DESIGN.md §2).
//!
//! Parsing is two-step on purpose: the frame is first read as a JSON object so that an error can
//! still name the `action` and `clientMsgId` the client sent, then the action's own fields are
//! validated. Nothing that fails here ever reaches the queue.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::Message;

/// API Gateway's largest WebSocket message (frames are reassembled before routing).
pub const MAX_FRAME_BYTES: usize = 128 * 1024;
/// Largest `body` of a `send`, in UTF-8 bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Longest `clientMsgId`, in characters.
pub const MAX_CLIENT_MSG_ID_CHARS: usize = 64;
/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// `history.limit` when the client gives none.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;
/// Largest `history.limit`.
pub const MAX_HISTORY_LIMIT: u32 = 100;
/// Most rooms one `sync` may name.
pub const MAX_SYNC_ROOMS: usize = 50;

/// A user's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Online,
    Away,
    Offline,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }
}

/// The error codes of protocol v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    UnknownAction,
    TooLarge,
    Unauthorized,
    Forbidden,
    NotFound,
    RateLimited,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::UnknownAction => "unknown_action",
            Self::TooLarge => "too_large",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
        }
    }
}

/// A validated room name: `[A-Za-z0-9_.:-]{1,64}`; `dm:a:b` rooms also have two sorted, distinct users.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomId(String);

impl RoomId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if len == 0 || len > MAX_ROOM_CHARS {
            return Err(format!("room must be 1 to {MAX_ROOM_CHARS} characters"));
        }
        if let Some(c) = raw.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))) {
            return Err(format!("room contains {c:?}; allowed: A-Z a-z 0-9 _ . : -"));
        }
        if raw.starts_with("dm:") {
            let parts: Vec<&str> = raw.split(':').collect();
            match parts.as_slice() {
                ["dm", a, b] if !a.is_empty() && !b.is_empty() && a < b => {}
                _ => return Err("a direct-message room is dm:<user>:<user>, users sorted and distinct".into()),
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two users of a direct-message room, or `None` for an ordinary room.
    pub fn dm_users(&self) -> Option<(&str, &str)> {
        let rest = self.0.strip_prefix("dm:")?;
        rest.split_once(':')
    }

    /// Whether `user` may join this room: anyone for ordinary rooms, only its two users for a DM.
    pub fn admits(&self, user: &str) -> bool {
        self.dm_users().is_none_or(|(a, b)| user == a || user == b)
    }
}

impl std::fmt::Display for RoomId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Join {
        room: RoomId,
    },
    Leave {
        room: RoomId,
    },
    Send {
        room: RoomId,
        body: String,
        client_msg_id: Option<String>,
    },
    History {
        room: RoomId,
        before: Option<u64>,
        limit: u32,
    },
    /// Rooms with the last seq seen; `None` resumes from the stored read cursor.
    Sync {
        rooms: Vec<(RoomId, Option<u64>)>,
    },
    Presence {
        room: RoomId,
    },
    /// `online` or `away` (never `offline`: that follows from the connections).
    SetStatus {
        status: Status,
    },
    Typing {
        room: RoomId,
    },
    Read {
        room: RoomId,
        seq: u64,
    },
    Ping,
}

impl Request {
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
            Self::Ping => "ping",
        }
    }

    pub fn room(&self) -> Option<&RoomId> {
        match self {
            Self::Join { room }
            | Self::Leave { room }
            | Self::Send { room, .. }
            | Self::History { room, .. }
            | Self::Presence { room }
            | Self::Typing { room }
            | Self::Read { room, .. } => Some(room),
            Self::Sync { rooms } if rooms.len() == 1 => Some(&rooms[0].0),
            Self::Sync { .. } | Self::SetStatus { .. } | Self::Ping => None,
        }
    }
}

/// Why a frame was refused, with what the error frame echoes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
    pub action: Option<String>,
    pub client_msg_id: Option<String>,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), action: None, client_msg_id: None }
    }

    pub fn to_frame(&self) -> ServerFrame {
        ServerFrame::Error(ErrorFrame {
            code: self.code,
            message: self.message.clone(),
            action: self.action.clone(),
            client_msg_id: self.client_msg_id.clone(),
        })
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
}

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
    Ok(Request::Sync { rooms })
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
        "send" => {
            let f: SendFields = fields_of(action, fields)?;
            let room = room_of(&f.room)?;
            if f.body.len() > MAX_BODY_BYTES {
                return Err((
                    ErrorCode::TooLarge,
                    format!("body is {} bytes; the limit is {MAX_BODY_BYTES}", f.body.len()),
                ));
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
            Ok(Request::Send { room, body: f.body, client_msg_id: f.client_msg_id })
        }
        "history" => {
            let f: HistoryFields = fields_of(action, fields)?;
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
        "sync" => parse_sync(fields_of(action, fields)?),
        "presence" => {
            let f: RoomFields = fields_of(action, fields)?;
            Ok(Request::Presence { room: room_of(&f.room)? })
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
        "ping" => Ok(Request::Ping),
        other => Err((ErrorCode::UnknownAction, format!("unknown action {other:?}"))),
    }
}

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ServerFrame {
    Joined {
        room: String,
        last_seq: u64,
    },
    Left {
        room: String,
    },
    Accepted {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
        id: String,
    },
    Message(Message),
    History {
        room: String,
        messages: Vec<Message>,
        has_more: bool,
    },
    /// Ends the messages `sync` recovered for a room. `hasMore` (only when true) means the
    /// per-room sync limit was reached: sync again from `lastSeq`.
    Synced {
        room: String,
        recovered: bool,
        last_seq: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        has_more: bool,
    },
    Presence {
        room: String,
        members: Vec<MemberPresence>,
    },
    PresenceChanged {
        user: String,
        status: Status,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_seen: Option<String>,
    },
    Typing {
        room: String,
        user: String,
    },
    Read {
        room: String,
        user: String,
        seq: u64,
    },
    Pong,
    Error(ErrorFrame),
}

/// One member in a `presence` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberPresence {
    pub user: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

impl ServerFrame {
    pub fn to_json(&self) -> String {
        // Every variant is plain data with string keys, so serialization cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from(r#"{"type":"error","code":"internal"}"#))
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError::new(code, message).to_frame()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorFrame {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ProtocolError {
        parse_request(text).unwrap_err()
    }

    #[test]
    fn every_v1_action_parses() {
        assert_eq!(parse_request(r#"{"action":"ping"}"#).unwrap(), Request::Ping);
        assert!(matches!(parse_request(r#"{"action":"join","room":"lobby"}"#).unwrap(), Request::Join { .. }));
        assert!(matches!(parse_request(r#"{"action":"leave","room":"lobby"}"#).unwrap(), Request::Leave { .. }));
        let send = parse_request(r#"{"action":"send","room":"lobby","body":"hi","clientMsgId":"c-1"}"#).unwrap();
        assert_eq!(
            send,
            Request::Send {
                room: RoomId::parse("lobby").unwrap(),
                body: "hi".into(),
                client_msg_id: Some("c-1".into())
            }
        );
        let history = parse_request(r#"{"action":"history","room":"lobby","before":10}"#).unwrap();
        assert_eq!(history, Request::History { room: RoomId::parse("lobby").unwrap(), before: Some(10), limit: 50 });
    }

    #[test]
    fn presence_sync_typing_read_and_status_parse() {
        let room = |r: &str| RoomId::parse(r).unwrap();
        assert_eq!(
            parse_request(r#"{"action":"sync","rooms":{"lobby":41,"dm:alice:bob":null}}"#).unwrap(),
            Request::Sync { rooms: vec![(room("lobby"), Some(41)), (room("dm:alice:bob"), None)] }
        );
        assert_eq!(
            parse_request(r#"{"action":"presence","room":"lobby"}"#).unwrap(),
            Request::Presence { room: room("lobby") }
        );
        assert_eq!(
            parse_request(r#"{"action":"status","status":"away"}"#).unwrap(),
            Request::SetStatus { status: Status::Away }
        );
        assert_eq!(
            parse_request(r#"{"action":"typing","room":"lobby"}"#).unwrap(),
            Request::Typing { room: room("lobby") }
        );
        assert_eq!(
            parse_request(r#"{"action":"read","room":"lobby","seq":42}"#).unwrap(),
            Request::Read { room: room("lobby"), seq: 42 }
        );
    }

    #[test]
    fn bad_presence_sync_typing_read_and_status_frames_are_refused() {
        for text in [
            r#"{"action":"sync","rooms":{}}"#,
            r#"{"action":"sync","rooms":[]}"#,
            r#"{"action":"sync","rooms":{"lobby":-1}}"#,
            r#"{"action":"sync","rooms":{"lobby":"5"}}"#,
            r#"{"action":"sync","rooms":{"bad room":1}}"#,
            r#"{"action":"status","status":"offline"}"#,
            r#"{"action":"status","status":"busy"}"#,
            r#"{"action":"read","room":"lobby","seq":0}"#,
            r#"{"action":"read","room":"lobby"}"#,
            r#"{"action":"typing"}"#,
        ] {
            assert_eq!(err(text).code, ErrorCode::BadRequest, "{text}");
        }
        let many: Map<String, Value> = (0..=MAX_SYNC_ROOMS).map(|i| (format!("r{i}"), Value::Null)).collect();
        let text = serde_json::json!({"action":"sync","rooms":many}).to_string();
        assert_eq!(err(&text).code, ErrorCode::TooLarge);
    }

    #[test]
    fn presence_frames_use_the_v1_names() {
        let synced = ServerFrame::Synced { room: "lobby".into(), recovered: true, last_seq: 57, has_more: false };
        assert_eq!(synced.to_json(), r#"{"type":"synced","room":"lobby","recovered":true,"lastSeq":57}"#);
        let presence = ServerFrame::Presence {
            room: "lobby".into(),
            members: vec![MemberPresence { user: "alice".into(), status: Status::Online, last_seen: Some("t".into()) }],
        };
        assert_eq!(
            presence.to_json(),
            r#"{"type":"presence","room":"lobby","members":[{"user":"alice","status":"online","lastSeen":"t"}]}"#
        );
        let changed = ServerFrame::PresenceChanged { user: "alice".into(), status: Status::Away, last_seen: None };
        assert_eq!(changed.to_json(), r#"{"type":"presenceChanged","user":"alice","status":"away"}"#);
        let typing = ServerFrame::Typing { room: "lobby".into(), user: "alice".into() };
        assert_eq!(typing.to_json(), r#"{"type":"typing","room":"lobby","user":"alice"}"#);
        let read = ServerFrame::Read { room: "lobby".into(), user: "alice".into(), seq: 42 };
        assert_eq!(read.to_json(), r#"{"type":"read","room":"lobby","user":"alice","seq":42}"#);
    }

    #[test]
    fn malformed_frames_are_bad_requests() {
        for text in ["not json", "[1,2]", "\"ping\"", "{}", r#"{"action":5}"#, r#"{"action":"join"}"#] {
            assert_eq!(err(text).code, ErrorCode::BadRequest, "{text}");
        }
        let e = err(r#"{"action":"send","room":"lobby","body":7,"clientMsgId":"c-9"}"#);
        assert_eq!(
            (e.code, e.action.as_deref(), e.client_msg_id.as_deref()),
            (ErrorCode::BadRequest, Some("send"), Some("c-9"))
        );
    }

    #[test]
    fn unknown_action_is_named() {
        let e = err(r#"{"action":"dance"}"#);
        assert_eq!(e.code, ErrorCode::UnknownAction);
        assert!(e.message.contains("dance"));
    }

    #[test]
    fn room_names_follow_the_pattern() {
        for ok in ["a", "lobby", "team.eng:general_1-x", &"r".repeat(64), "dm:alice:bob"] {
            assert!(RoomId::parse(ok).is_ok(), "{ok}");
        }
        for bad in
            ["", &"r".repeat(65), "has space", "é", "a/b", "dm:bob:alice", "dm:alice:alice", "dm:alice", "dm:a:b:c"]
        {
            assert!(RoomId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dm_rooms_admit_only_their_two_users() {
        let room = RoomId::parse("dm:alice:bob").unwrap();
        assert!(room.admits("alice") && room.admits("bob") && !room.admits("carol"));
        assert!(RoomId::parse("lobby").unwrap().admits("carol"));
    }

    #[test]
    fn body_limit_is_16_kib_of_utf8() {
        let at_limit = format!(r#"{{"action":"send","room":"r","body":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert!(parse_request(&at_limit).is_ok());
        // 'é' is two bytes: 8193 of them is one byte over.
        let over = format!(r#"{{"action":"send","room":"r","body":"{}"}}"#, "é".repeat(MAX_BODY_BYTES / 2 + 1));
        assert_eq!(err(&over).code, ErrorCode::TooLarge);
        let empty = r#"{"action":"send","room":"r","body":""}"#;
        assert_eq!(err(empty).code, ErrorCode::BadRequest);
    }

    #[test]
    fn frame_limit_is_enforced_before_parsing() {
        let huge = format!(r#"{{"action":"ping","pad":"{}"}}"#, "x".repeat(MAX_FRAME_BYTES));
        assert_eq!(err(&huge).code, ErrorCode::TooLarge);
    }

    #[test]
    fn client_msg_id_limit() {
        let ok = format!(r#"{{"action":"send","room":"r","body":"b","clientMsgId":"{}"}}"#, "c".repeat(64));
        assert!(parse_request(&ok).is_ok());
        let long = format!(r#"{{"action":"send","room":"r","body":"b","clientMsgId":"{}"}}"#, "c".repeat(65));
        let e = err(&long);
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert_eq!(e.client_msg_id, None, "an over-long id is not echoed back");
    }

    #[test]
    fn history_limit_range() {
        for (limit, ok) in [(0, false), (1, true), (100, true), (101, false)] {
            let text = format!(r#"{{"action":"history","room":"r","limit":{limit}}}"#);
            assert_eq!(parse_request(&text).is_ok(), ok, "limit {limit}");
        }
        assert_eq!(err(r#"{"action":"history","room":"r","before":-1}"#).code, ErrorCode::BadRequest);
        assert_eq!(err(r#"{"action":"history","room":"r","before":0}"#).code, ErrorCode::BadRequest);
    }

    #[test]
    fn server_frames_use_the_v1_names() {
        let joined = ServerFrame::Joined { room: "lobby".into(), last_seq: 41 }.to_json();
        assert_eq!(joined, r#"{"type":"joined","room":"lobby","lastSeq":41}"#);
        let accepted =
            ServerFrame::Accepted { room: "lobby".into(), client_msg_id: Some("c-1".into()), id: "X".into() };
        assert_eq!(accepted.to_json(), r#"{"type":"accepted","room":"lobby","clientMsgId":"c-1","id":"X"}"#);
        let msg = ServerFrame::Message(Message {
            room: "lobby".into(),
            seq: 42,
            id: "X".into(),
            from: "alice".into(),
            body: "hi".into(),
            sent_at: "2026-11-22T21:00:00.000Z".into(),
            client_msg_id: None,
        });
        assert_eq!(
            msg.to_json(),
            r#"{"type":"message","room":"lobby","seq":42,"id":"X","from":"alice","body":"hi","sentAt":"2026-11-22T21:00:00.000Z"}"#
        );
        assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
        let e = ProtocolError {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            action: Some("send".into()),
            client_msg_id: Some("c-1".into()),
        };
        assert_eq!(
            e.to_frame().to_json(),
            r#"{"type":"error","code":"rate_limited","message":"slow down","action":"send","clientMsgId":"c-1"}"#
        );
        let history = ServerFrame::History { room: "r".into(), messages: vec![], has_more: false }.to_json();
        assert_eq!(history, r#"{"type":"history","room":"r","messages":[],"hasMore":false}"#);
    }
}
