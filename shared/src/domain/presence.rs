//! Whether a user is reachable, as other users see it.

use serde::{Deserialize, Serialize};

/// A user's presence status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// At least one live connection, not away.
    Online,
    /// At least one live connection, and the user said `away`.
    Away,
    /// No live connection.
    Offline,
}

/// A user's presence as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The user.
    pub user: String,
    /// Their status now.
    pub status: Status,
    /// When the user's last connection closed (for `offline`), or last changed status.
    pub last_seen: Option<String>,
    /// The user's presence version when this was true: it grows with every change of the user's
    /// presence, so of two presences of one user the greater version is the newer.
    pub version: u64,
    /// Connections still counted in the presence record although they are past their liveness
    /// deadline (their `$disconnect` was lost): whoever reads this forgets them.
    pub stale: Vec<String>,
}

impl Status {
    /// The status as the protocol spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }
}
