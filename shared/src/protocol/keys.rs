//! The key package directory's requests and reply items: `keys.publish`, `keys.count`,
//! `keys.claim` and `keys.remove` (docs/protocol.md, "Key packages"; docs/e2e.md).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest KeyPackage, in bytes once base64 is decoded (a ciphersuite-1 package with a basic
/// credential is about 300 bytes; this leaves room for X.509 credentials and extensions).
pub const MAX_KEY_PACKAGE_BYTES: usize = 4096;
/// Most one-time packages one `keys.publish` carries.
pub const MAX_KEY_PACKAGES_PER_PUBLISH: usize = 20;
/// Longest device id, in characters.
pub const MAX_DEVICE_CHARS: usize = 64;

/// The first four bytes of every serialized KeyPackage message: `version = mls10` (1) and
/// `wire_format = mls_key_package` (5), RFC 9420 §6. Anything else is not a KeyPackage.
const KEY_PACKAGE_MAGIC: [u8; 4] = [0, 1, 0, 5];

/// A request of the key package directory. The user is always the caller's, except in `Claim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRequest {
    /// `keys.publish`: adds one-time packages to the caller's device and/or replaces its
    /// last-resort package. Answered with `keys`.
    Publish {
        /// `device`: the caller's device id.
        device: String,
        /// `keyPackages`: 0–20 one-time packages (base64); absent means none.
        key_packages: Vec<String>,
        /// `lastResort`: a package kept after the one-time ones run out; replaces the last one.
        last_resort: Option<String>,
    },
    /// `keys.count`: what the caller's device holds. Answered with `keys`.
    Count {
        /// `device`: the caller's device id.
        device: String,
    },
    /// `keys.claim`: one package per device of `user`, consuming one-time packages. Answered
    /// with `keyPackages`.
    Claim {
        /// `user`: whose packages.
        user: String,
    },
    /// `keys.remove`: forgets the caller's device and every package it published. Answered with
    /// `keys` (all zero).
    Remove {
        /// `device`: the caller's device id.
        device: String,
    },
}

impl KeyRequest {
    /// The action as on the wire.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Publish { .. } => "keys.publish",
            Self::Count { .. } => "keys.count",
            Self::Claim { .. } => "keys.claim",
            Self::Remove { .. } => "keys.remove",
        }
    }

    /// The frame's fields, as [`parse`] reads them back.
    pub(super) fn put_fields(&self, frame: &mut Map<String, Value>) {
        match self {
            Self::Publish { device, key_packages, last_resort } => {
                frame.insert("device".into(), device.as_str().into());
                frame.insert("keyPackages".into(), key_packages.clone().into());
                if let Some(lr) = last_resort {
                    frame.insert("lastResort".into(), lr.as_str().into());
                }
            }
            Self::Count { device } | Self::Remove { device } => {
                frame.insert("device".into(), device.as_str().into());
            }
            Self::Claim { user } => {
                frame.insert("user".into(), user.as_str().into());
            }
        }
    }
}

/// One package of a `keyPackages` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimedKeyPackage {
    /// `device`: the device the package belongs to.
    pub device: String,
    /// `keyPackage`: the package as published (base64 of the serialized KeyPackage message).
    pub key_package: String,
    /// `lastResort`: present only when `true`: the device had no one-time package left, so this
    /// is its last-resort package, which others may be handed too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last_resort: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublishFields {
    device: String,
    #[serde(default)]
    key_packages: Option<Vec<String>>,
    #[serde(default)]
    last_resort: Option<String>,
}

#[derive(Deserialize)]
struct DeviceFields {
    device: String,
}

#[derive(Deserialize)]
struct UserFields {
    user: String,
}

/// Parses a `keys.*` action's fields; `Err` is the message of a `bad_request` (or `too_large`,
/// flagged `true`).
pub(super) fn parse(action: &str, fields: Map<String, Value>) -> Result<KeyRequest, (bool, String)> {
    let of = |e: serde_json::Error| (false, format!("invalid {action} frame: {e}"));
    match action {
        "keys.publish" => {
            let f: PublishFields = serde_json::from_value(Value::Object(fields)).map_err(of)?;
            let device = check_device(f.device)?;
            let key_packages = f.key_packages.unwrap_or_default();
            if key_packages.len() > MAX_KEY_PACKAGES_PER_PUBLISH {
                return Err((true, format!("keyPackages holds at most {MAX_KEY_PACKAGES_PER_PUBLISH} packages")));
            }
            if key_packages.is_empty() && f.last_resort.is_none() {
                return Err((false, "keys.publish needs keyPackages, lastResort or both".into()));
            }
            for (i, kp) in key_packages.iter().enumerate() {
                check_key_package(kp).map_err(|e| (e.0, format!("keyPackages[{i}] {}", e.1)))?;
            }
            if let Some(lr) = &f.last_resort {
                check_key_package(lr).map_err(|e| (e.0, format!("lastResort {}", e.1)))?;
            }
            Ok(KeyRequest::Publish { device, key_packages, last_resort: f.last_resort })
        }
        "keys.count" | "keys.remove" => {
            let f: DeviceFields = serde_json::from_value(Value::Object(fields)).map_err(of)?;
            let device = check_device(f.device)?;
            Ok(if action == "keys.count" { KeyRequest::Count { device } } else { KeyRequest::Remove { device } })
        }
        _ => {
            let f: UserFields = serde_json::from_value(Value::Object(fields)).map_err(of)?;
            crate::auth::check_user(&f.user).map_err(|e| (false, format!("user is not a user id: {e}")))?;
            Ok(KeyRequest::Claim { user: f.user })
        }
    }
}

/// Whether `action` is one of the directory's.
pub(super) fn is_key_action(action: &str) -> bool {
    matches!(action, "keys.publish" | "keys.count" | "keys.claim" | "keys.remove")
}

/// A device id: 1–64 characters from `A-Z a-z 0-9 _ . -` (so it fits a table key raw).
pub(super) fn check_device(device: String) -> Result<String, (bool, String)> {
    let n = device.chars().count();
    if n == 0 || n > MAX_DEVICE_CHARS || !device.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err((false, format!("device must be 1 to {MAX_DEVICE_CHARS} characters from A-Z a-z 0-9 _ . -")));
    }
    Ok(device)
}

/// A KeyPackage: padded standard base64 of 4 to 4,096 bytes that begin as a KeyPackage message.
fn check_key_package(text: &str) -> Result<(), (bool, String)> {
    // A cheap bound before decoding: 4,096 bytes are 5,464 base64 characters.
    if text.len() > MAX_KEY_PACKAGE_BYTES.div_ceil(3) * 4 {
        return Err((true, format!("is over {MAX_KEY_PACKAGE_BYTES} bytes")));
    }
    let bytes = STANDARD.decode(text).map_err(|e| (false, format!("is not base64 ({e})")))?;
    if bytes.len() > MAX_KEY_PACKAGE_BYTES {
        return Err((true, format!("is over {MAX_KEY_PACKAGE_BYTES} bytes")));
    }
    if !bytes.starts_with(&KEY_PACKAGE_MAGIC) {
        return Err((false, "is not an MLS 1.0 KeyPackage message (it must begin 00 01 00 05)".into()));
    }
    Ok(())
}
