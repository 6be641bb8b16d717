//! Wire protocol v1: the frames clients send and receive (specified in `docs/protocol.md`).
//!
//! Parsing is two-step on purpose: the frame is first read as a JSON object so that an error can
//! still name the `action` and `clientMsgId` the client sent, then the action's own fields are
//! validated. Nothing that fails here ever reaches the queue.

mod error;
mod frame;
mod keys;
pub mod mls;
mod request;
mod room;
mod stats;
#[cfg(test)]
mod tests;
mod welcome;
pub mod wire;

pub use crate::domain::{Message, Status};
pub use error::{ErrorCode, ErrorFrame, ProtocolError};
pub use frame::{MemberPresence, ServerFrame};
pub use keys::{ClaimedKeyPackage, KeyRequest, MAX_DEVICE_CHARS, MAX_KEY_PACKAGE_BYTES, MAX_KEY_PACKAGES_PER_PUBLISH};
pub use request::{Request, parse_request};
pub use room::RoomId;
pub use stats::{DEFAULT_STATS_MINUTES, MAX_STATS_MINUTES, MinuteStats, StatsTotals};
pub use welcome::{MAX_WELCOME_CHARS, MAX_WELCOME_RECIPIENTS, PendingWelcome, Recipient, Welcome, WelcomeRequest};
pub use wire::{OversizeFrame, PAGE_BYTES, WireFrame};

/// API Gateway's largest WebSocket message, 128 KiB (frames are reassembled before routing):
/// the limit on every client frame and on every frame the server sends (see [`wire`]).
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
/// Most members one `presence` page lists.
pub const PRESENCE_PAGE_MEMBERS: usize = 500;
/// Most rooms one `sync` may name.
pub const MAX_SYNC_ROOMS: usize = 50;
