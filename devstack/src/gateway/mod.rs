//! The WebSocket side of API Gateway: the handshake (authorizer, then `$connect`), route
//! selection on `action`, `$disconnect`, the limits, and the connections the management API
//! posts to.

mod authorizer;
mod handshake;
mod integration;
mod query;
mod registry;
mod socket;

pub(crate) use handshake::handshake;
pub(crate) use registry::{PostRefused, Registry};

/// The server or the management API closed the connection.
const CLOSE_NORMAL: u16 = 1000;
/// Idle, too old, or the devstack is shutting down.
const CLOSE_GOING_AWAY: u16 = 1001;
/// The client's close frame had no status code (reported to `$disconnect`, never sent).
const CLOSE_NO_STATUS: u16 = 1005;
/// The connection broke without a close frame (reported to `$disconnect`, never sent).
const CLOSE_ABNORMAL: u16 = 1006;
/// A frame or message over the limits.
const CLOSE_TOO_BIG: u16 = 1009;
