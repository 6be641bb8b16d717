//! A client for Starling's WebSocket protocol v1.
//!
//! [`Client`] connects to a Starling WebSocket URL with a token, sends typed [`Request`]s,
//! parses what the server sends into [`ServerFrame`]s and waits, with a timeout, for a frame
//! or for a request's reply. Frames read while waiting for another one are kept, in order,
//! for later reads. Every failure is a [`ClientError`] that says what to do about it.
//!
//! The protocol types are `starling_shared`'s, re-exported here so that callers need only
//! this crate and so that a move inside `starling_shared` is one edit, in this file.

mod client;
mod error;
mod merge;
mod wire;

pub use client::{Client, Close, DEFAULT_TIMEOUT};
pub use error::ClientError;
pub use merge::{Inbox, SeqTracker, Step};
pub use wire::{answers, parse_frame};

pub use starling_shared::protocol::{
    ErrorCode, ErrorFrame, MemberPresence, Message, MinuteStats, Request, RoomId, ServerFrame, StatsTotals, Status,
};
