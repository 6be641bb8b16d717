//! MLS Welcome messages (docs/e2e.md): the `welcome` a Commit carries in `send`, the frames
//! that deliver it, and the `welcomes` and `welcomes.ack` requests of a device's inbox.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::domain::PendingWelcome;

use super::RoomId;
use super::keys::check_device;

/// Largest `welcome.message`, in characters of base64 text (48 KiB of Welcome: the ratchet tree
/// of about 200 members travels inside it).
pub const MAX_WELCOME_CHARS: usize = 64 * 1024;
/// Most devices one Welcome is for.
pub const MAX_WELCOME_RECIPIENTS: usize = 50;

/// `version = mls10` (1) and `wire_format = mls_welcome` (3), RFC 9420 §6.
const WELCOME_MAGIC: [u8; 4] = [0, 1, 0, 3];

/// The `welcome` of a `send`: an MLS Welcome for the devices a Commit adds, held by the server
/// until the Commit is stored and dropped if it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// `message`: the base64 of the serialized Welcome message.
    pub message: String,
    /// `to`: the devices it is for.
    pub to: Vec<Recipient>,
}

/// One device a Welcome is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Recipient {
    /// `user`: the user id.
    pub user: String,
    /// `device`: the user's device id, as in its KeyPackage's `keys.claim` entry.
    pub device: String,
}

/// A request of a device's welcome inbox; the user is always the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WelcomeRequest {
    /// `welcomes`: the device's pending welcomes. Answered with `welcomes`.
    List {
        /// `device`: the caller's device id.
        device: String,
    },
    /// `welcomes.ack`: the device has joined from this welcome (or given up on it): remove it.
    /// Answered with `welcomes`, the ones still pending.
    Ack {
        /// `device`: the caller's device id.
        device: String,
        /// `room`: the welcome's room.
        room: RoomId,
        /// `seq`: the seq of the Commit the welcome came with.
        seq: u64,
    },
}

impl WelcomeRequest {
    /// The action as on the wire.
    pub fn action(&self) -> &'static str {
        match self {
            Self::List { .. } => "welcomes",
            Self::Ack { .. } => "welcomes.ack",
        }
    }

    /// The caller's device the request is about.
    pub fn device(&self) -> &str {
        match self {
            Self::List { device } | Self::Ack { device, .. } => device,
        }
    }

    /// The frame's fields, as [`parse`] reads them back.
    pub(super) fn put_fields(&self, frame: &mut Map<String, Value>) {
        frame.insert("device".into(), self.device().into());
        if let Self::Ack { room, seq, .. } = self {
            frame.insert("room".into(), room.as_str().into());
            frame.insert("seq".into(), (*seq).into());
        }
    }
}

#[derive(Deserialize)]
struct WelcomeFields {
    device: String,
    #[serde(default)]
    room: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
}

/// Whether `action` is one of the inbox's.
pub(super) fn is_welcome_action(action: &str) -> bool {
    matches!(action, "welcomes" | "welcomes.ack")
}

/// Parses a `welcomes*` action's fields; `Err` is the message of a `bad_request`.
pub(super) fn parse(action: &str, fields: Map<String, Value>) -> Result<WelcomeRequest, String> {
    let f: WelcomeFields =
        serde_json::from_value(Value::Object(fields)).map_err(|e| format!("invalid {action} frame: {e}"))?;
    let device = check_device(f.device).map_err(|(_, m)| m)?;
    if action == "welcomes" {
        return Ok(WelcomeRequest::List { device });
    }
    let room = f.room.ok_or("welcomes.ack needs room")?;
    let room = RoomId::parse(&room).map_err(|e| e.to_string())?;
    match f.seq {
        Some(seq) if seq > 0 => Ok(WelcomeRequest::Ack { device, room, seq }),
        _ => Err("welcomes.ack needs seq, 1 or more".into()),
    }
}

/// Checks a `send`'s `welcome`; `Err` is (too large, message).
pub(super) fn check(welcome: &Welcome) -> Result<(), (bool, String)> {
    if welcome.message.len() > MAX_WELCOME_CHARS {
        return Err((true, format!("welcome.message is over {MAX_WELCOME_CHARS} characters")));
    }
    let bytes =
        STANDARD.decode(&welcome.message).map_err(|e| (false, format!("welcome.message is not base64 ({e})")))?;
    if !bytes.starts_with(&WELCOME_MAGIC) {
        return Err((false, "welcome.message is not an MLS 1.0 Welcome message (it must begin 00 01 00 03)".into()));
    }
    if welcome.to.is_empty() {
        return Err((false, "welcome.to must name at least one device".into()));
    }
    if welcome.to.len() > MAX_WELCOME_RECIPIENTS {
        return Err((true, format!("welcome.to names at most {MAX_WELCOME_RECIPIENTS} devices")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in welcome.to.iter().enumerate() {
        crate::auth::check_user(&r.user).map_err(|e| (false, format!("welcome.to[{i}].user is not a user id: {e}")))?;
        check_device(r.device.clone()).map_err(|(_, m)| (false, format!("welcome.to[{i}].{m}")))?;
        if !seen.insert(r) {
            return Err((false, format!("welcome.to[{i}] names {}/{} twice", r.user, r.device)));
        }
    }
    Ok(())
}
