//! MLS Welcome messages held for devices (docs/e2e.md): what the fanout keeps once a Commit is
//! stored, and what a device reads back.

use serde::{Deserialize, Serialize};

/// How long a welcome waits in a device's inbox: a device offline for longer joins by being
/// added again.
pub const WELCOME_TTL_SECS: i64 = 14 * 24 * 3600;

/// A Welcome released by its stored Commit, for each of its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldWelcome {
    /// The welcome as each device reads it.
    pub welcome: PendingWelcome,
    /// The devices, as (user, device).
    pub to: Vec<(String, String)>,
    /// When it expires (epoch s).
    pub expires_at: i64,
}

/// One welcome waiting in a device's inbox, as the `welcome` and `welcomes` frames carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingWelcome {
    /// `room`: the encrypted room whose group it joins.
    pub room: String,
    /// `seq`: the seq of the Commit that added the device: sync the room from here.
    pub seq: u64,
    /// `from`: who committed.
    pub from: String,
    /// `welcome`: the base64 Welcome message.
    pub welcome: String,
}
