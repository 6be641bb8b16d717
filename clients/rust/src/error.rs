//! What can go wrong talking to a Starling server, each case with what to do about it.

use std::time::Duration;

use tokio_tungstenite::tungstenite;

use crate::{Close, ErrorCode, ErrorFrame, ServerFrame};

/// Everything a [`Client`](crate::Client) call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No WebSocket could be opened: a bad URL, an unknown host, nothing listening, a TLS failure.
    #[error("cannot connect to {url}: check the URL and that the server is running")]
    Connect {
        /// The URL, without the token.
        url: String,
        /// Why the connection or handshake failed.
        #[source]
        source: tungstenite::Error,
    },
    /// The server answered the handshake with an HTTP error instead of upgrading.
    #[error("the server refused the connection with HTTP {status}: {}{}", refused_hint(*.status), body_suffix(.body))]
    Refused {
        /// The HTTP status (401 for a missing, bad or expired token).
        status: u16,
        /// The response body, if any.
        body: String,
    },
    /// The connection ended, with a close frame or without one (code 1006).
    #[error("the connection closed (code {}{}): open a new one to continue", .0.code, reason_suffix(&.0.reason))]
    Closed(Close),
    /// Reading from or writing to the connection failed.
    #[error("the connection failed: open a new one to continue")]
    Transport(#[source] tungstenite::Error),
    /// Nothing matching arrived in time.
    #[error(
        "no matching frame from the server within {waited:?}: the server may be slow or the request lost; \
         wait longer or retry (a repeated send with the same clientMsgId is delivered once)"
    )]
    Timeout {
        /// How long the call waited.
        waited: Duration,
    },
    /// The server sent something that is not a protocol v1 frame. The connection stays usable.
    #[error("the server sent a frame that is not protocol v1 ({frame:.200}): the server may speak another version")]
    Malformed {
        /// The frame's text (lossy for a binary frame).
        frame: String,
        /// Why it did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The server answered a request with an `error` frame.
    #[error("the server refused {}: {}: {}; {}", .0.action.as_deref().unwrap_or("a frame"), .0.code.as_str(), .0.message, server_hint(.0.code))]
    Server(Box<ErrorFrame>),
    /// The server answered a request with a frame of the wrong kind.
    #[error("the server answered with an unexpected frame ({}): the server may speak another version", .0.to_json())]
    Unexpected(Box<ServerFrame>),
}

impl ClientError {
    /// The error frame, when the server refused a request.
    pub fn error_frame(&self) -> Option<&ErrorFrame> {
        match self {
            Self::Server(frame) => Some(frame),
            _ => None,
        }
    }
}

fn refused_hint(status: u16) -> &'static str {
    match status {
        401 => "the token is missing, expired or not signed with the server's secret; connect with a fresh token",
        403 => "the authorizer denied access; use a token for a user that may connect",
        _ => "check the URL and the server's logs",
    }
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(" ({body})") }
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() { String::new() } else { format!(": {reason}") }
}

fn server_hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::RateLimited => "slow down and retry",
        ErrorCode::Internal => "retry; a send retried with the same clientMsgId is delivered once",
        ErrorCode::Unauthorized => "reconnect with a valid token",
        ErrorCode::Forbidden => "join the room first, or use a room this user may enter",
        ErrorCode::NotFound => "the room or subscription does not exist",
        ErrorCode::Rejected => "moderation refused this message; sending it again unchanged gets the same answer",
        ErrorCode::Conflict => "another commit won this epoch; process it, then commit again in the new epoch",
        ErrorCode::BadRequest | ErrorCode::UnknownAction | ErrorCode::TooLarge => "fix the request",
    }
}
