//! Error codes, and the error frame that carries them.

use serde::{Deserialize, Serialize};

use super::ServerFrame;

/// The error codes of protocol v1: the `code` of an `error` frame, in snake_case on the wire.
///
/// A code never changes meaning within v1 (only the human `message` next to it may change), so
/// clients branch on the code. A client that meets a code it does not know treats it like
/// `internal`. Every code answers one request and leaves the connection open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// `bad_request`: the frame cannot be understood or breaks a rule of its action. Triggers:
    /// invalid JSON, not an object, no `action` or a non-string one, a missing or wrongly typed
    /// field, a malformed room id or DM room, an empty `body`, a `clientMsgId` empty or over 64
    /// characters, `history.limit` outside 1–100 or `before` below 1, `sync.rooms` empty or with
    /// a value that is not an integer ≥ 0 or `null`, a `status` other than `online`/`away`, a
    /// `read.seq` of 0 or past the room's last seq, or a binary WebSocket frame. The client fixes
    /// the request; sending it again unchanged gets the same answer.
    BadRequest,
    /// `unknown_action`: `action` is a string but not one of the fifteen v1 actions (values are
    /// case-sensitive: `"Join"` is unknown). The server does not support it, so the client does
    /// not retry; it is what a newer client gets from an older server.
    UnknownAction,
    /// `too_large`: a `send.body` over 16 KiB, a `sync` naming more than 50 rooms, a `keys.publish`
    /// with more than 20 `keyPackages` or a KeyPackage over 4,096 bytes, or a frame over 128 KiB
    /// (API Gateway normally closes the connection with 1009 before that one is parsed). The client
    /// shortens or splits the request: a shorter body, several smaller `sync`s.
    TooLarge,
    /// `unauthorized`: the request reached the server without an authorized user on the
    /// connection. Behind the `$connect` authorizer this cannot happen (a bad token is refused at
    /// the handshake with HTTP 401, never with this code); the client reconnects with a valid
    /// token.
    Unauthorized,
    /// `forbidden`: the caller may not do this. `send`/`typing` without a subscription on this
    /// connection, `history`/`sync`/`presence`/`read` without membership or a subscription
    /// (`"join … first"`), any action on a DM room of other users (`"… is not open to you"`), or a
    /// `join` beyond the connection's room limit. The client joins first, leaves another room, or
    /// gives up; retrying unchanged does not help. Also a `keys.publish` past a device's 100
    /// one-time KeyPackages or a user's 10 devices (`keys.remove` one first).
    Forbidden,
    /// `not_found`: the thing named does not exist: a `leave` of a room this connection is not
    /// subscribed to (nothing to do), or a `join` from a connection that is no longer registered,
    /// e.g. one that has just disconnected (reconnect).
    NotFound,
    /// `rate_limited`: the user (all their connections together) spent their budget of
    /// `STARLING_RATE_LIMIT` cost units in the current fixed window of `STARLING_RATE_WINDOW_SECS`
    /// (100 per 10 s by default), where every action costs its weight (`ping`/`send` 1,
    /// `history` 5, `sync` 5 + 1 per room, …); or a `status` change came less than
    /// `STARLING_STATUS_INTERVAL_MS` (2 s) after the last. The refused request did nothing (a
    /// `send` was not queued) and cost nothing; the frame's `retryAfterMs` says when to send it
    /// again (a `send` with the same `clientMsgId`).
    RateLimited,
    /// `rejected`: moderation refused a `send` for its content: a word or phrase the rules
    /// reject, too many links or mentions, a flood of one repeated character, or the operator's
    /// moderation hook. The frame's `reason` says which (`blocked_term`, `too_many_links`,
    /// `too_many_mentions`, `repeated_characters`, or the hook's own code). Nothing was queued or
    /// stored; sending the same body again gets the same answer (docs/moderation.md).
    Rejected,
    /// `conflict`: an MLS Commit sent to an encrypted room lost its epoch: another Commit for the
    /// same epoch was stored first (or the room's group is another). Posted by the fanout after
    /// `accepted`, with the room's current `epoch`; the Commit was not stored. The client drops
    /// its pending commit, processes the winning Commit (it arrives as a `message`), and commits
    /// again in the new epoch (docs/e2e.md).
    Conflict,
    /// `internal`: storage, the queue or the Management API was unavailable, or the deployment is
    /// misconfigured. The client retries with backoff: a `send` with the same `clientMsgId`
    /// (which makes the retry safe), a `sync` from the messages already received.
    Internal,
}

impl ErrorCode {
    /// The code as spelled on the wire (the serde name), without going through serde; used for
    /// the `outcome` field of the invocation log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::UnknownAction => "unknown_action",
            Self::TooLarge => "too_large",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::Rejected => "rejected",
            Self::Conflict => "conflict",
            Self::Internal => "internal",
        }
    }
}

/// Why a frame was refused, with what the error frame echoes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ProtocolError {
    /// What went wrong, as the client branches on it.
    pub code: ErrorCode,
    /// Detail for people and logs; clients must not parse it.
    pub message: String,
    /// The request's `action` as sent, once the frame was read far enough to have one (an
    /// unknown action included); `None` when it was not JSON, not an object, or had no string
    /// `action`.
    pub action: Option<String>,
    /// The `clientMsgId` to echo, so a client can tell which `send` failed. `None` when the
    /// request had none or it was over 64 characters (an over-long id is not echoed).
    pub client_msg_id: Option<String>,
}

impl ProtocolError {
    /// An error that echoes neither `action` nor `clientMsgId`: for failures found before the
    /// frame's `action` could be read (too large, not JSON, a binary frame, a connection with no
    /// user).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), action: None, client_msg_id: None }
    }

    /// The `error` frame sent back to the client.
    pub fn to_frame(&self) -> ServerFrame {
        ServerFrame::Error(ErrorFrame {
            code: self.code,
            message: self.message.clone(),
            action: self.action.clone(),
            client_msg_id: self.client_msg_id.clone(),
            retry_after_ms: None,
            reason: None,
            epoch: None,
        })
    }
}

/// The body of an `error` frame (`{"type":"error","code":…,"message":…}`): a request was
/// refused. The connection stays open and usable, and the refused request never reached the
/// queue, except for `conflict`, which the fanout posts after `accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorFrame {
    /// `code`: one of the v1 error codes, the field clients branch on.
    pub code: ErrorCode,
    /// `message`: human-readable detail. It may change at any time, so clients never parse it.
    /// For a refused room of a `sync`, it starts with the room (`"secret: join secret first"`).
    pub message: String,
    /// `action`: the request's `action` as sent, an unknown one included. Omitted when the frame
    /// could not be read that far (not JSON, not an object, no string `action`, a binary frame)
    /// and for `unauthorized`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `clientMsgId`: for `send`, the request's `clientMsgId`; also echoed when a frame of any
    /// action fails validation while carrying a string `clientMsgId` of at most 64 characters.
    /// Omitted otherwise, including when the id was too long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// `retryAfterMs`: for `rate_limited` only, the milliseconds after which the same request
    /// would be admitted (the next budget window, or the reopening of a `status` gate). Omitted
    /// for every other code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// `reason`: for `rejected` only, why moderation refused the message, a snake_case code:
    /// `blocked_term`, `too_many_links`, `too_many_mentions`, `repeated_characters`, or a code
    /// the operator's hook chose. Omitted for every other code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `epoch`: for `conflict` only, the encrypted room's current MLS epoch: the number of Commits
    /// it has stored. Omitted for every other code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}
