//! Room names, and who a direct-message room admits.

use serde::Serialize;

use super::MAX_ROOM_CHARS;

/// A validated room name: `[A-Za-z0-9_.:-]{1,64}`; `dm:a:b` rooms also have two sorted, distinct users.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomId(String);

impl RoomId {
    /// Checks a room id as a client sent it: 1–64 characters of `A-Z a-z 0-9 _ . : -`,
    /// case-sensitive. A room starting with `dm:` must be exactly `dm:{a}:{b}` with `a` and `b`
    /// non-empty, free of `:` and `a < b` in byte order, so each pair of users has exactly one DM
    /// room. The error is the human-readable reason, sent back as a `bad_request` message.
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

    /// The room id exactly as the client spelled it (it is never normalised).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is an end-to-end encrypted room (`e2e:…`): its bodies are MLS messages that
    /// the server stores and delivers but cannot read, and does not moderate (docs/e2e.md).
    pub fn is_encrypted(&self) -> bool {
        self.0.starts_with("e2e:")
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
