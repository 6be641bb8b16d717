//! What an encrypted chat session tells its user, as values (the tests read them) and as lines
//! (the terminal prints them).

use std::fmt;

/// One member of the group, as `/members` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// The credential's identity, `{user}/{device}`.
    pub identity: String,
    /// Its safety number ([`super::safety_number`]).
    pub safety_number: String,
    /// This device.
    pub me: bool,
}

/// Something the session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Key packages were published: how many one-time ones the device holds now.
    Published {
        /// One-time packages on the server.
        one_time: u32,
    },
    /// Start-up is done: the room is joined and this device is, or is not yet, in its group.
    Ready {
        /// The room.
        room: String,
        /// The group's epoch when this device is a member.
        epoch: Option<u64>,
    },
    /// This device made the room's group: its first Commit was stored.
    Created {
        /// The epoch now (1).
        epoch: u64,
    },
    /// This device joined a room's group from a Welcome.
    Welcomed {
        /// The room.
        room: String,
        /// The seq of the Commit that added it.
        seq: u64,
        /// Who committed.
        from: String,
        /// The group's epoch.
        epoch: u64,
    },
    /// A decrypted message.
    Text {
        /// Its seq.
        seq: u64,
        /// The sender's identity, `{user}/{device}`, as the group authenticates it.
        sender: String,
        /// The sender's user as the server says (from the token); a mismatch is flagged.
        from: String,
        /// The plaintext.
        text: String,
        /// Sent by this device.
        own: bool,
    },
    /// A Commit changed the group.
    Changed {
        /// Its seq.
        seq: u64,
        /// Who committed.
        by: String,
        /// Identities added.
        added: Vec<String>,
        /// Identities removed.
        removed: Vec<String>,
        /// The new epoch.
        epoch: u64,
    },
    /// This device was removed from the group.
    RemovedSelf {
        /// The seq of the Commit.
        seq: u64,
        /// Who removed it.
        by: String,
    },
    /// A message this device cannot read because it is not in the group.
    Locked {
        /// Its seq.
        seq: u64,
        /// The server's sender.
        from: String,
    },
    /// A message that failed to decrypt or verify.
    Undecryptable {
        /// Its seq.
        seq: u64,
        /// The server's sender.
        from: String,
        /// Why.
        reason: String,
    },
    /// A Commit of this device is queued and waits to be stored.
    CommitQueued {
        /// The epoch it was made in.
        epoch: u64,
        /// What it does.
        what: String,
    },
    /// Another Commit won the epoch; this device's change is retried after it.
    Conflict {
        /// The room's epoch now.
        epoch: u64,
        /// What is retried.
        what: String,
    },
    /// `/members`.
    Members(Vec<MemberInfo>),
    /// Information.
    Notice(String),
    /// Something went wrong, and the session goes on.
    Warning(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Published { one_time } => write!(f, "(published key packages: {one_time} one-time on the server)"),
            Self::Ready { room, epoch: Some(e) } => {
                write!(f, "joined {room}, encrypted (epoch {e}); /help for commands")
            }
            Self::Ready { room, epoch: None } => {
                write!(f, "joined {room}; this device is not in its group: it makes the group if the room has none")
            }
            Self::Created { epoch } => write!(f, "(created the group; epoch {epoch})"),
            Self::Welcomed { room, seq, from, epoch } => {
                write!(f, "#{seq} (joined the group of {room}: added by {from}; epoch {epoch})")
            }
            Self::Text { seq, sender, from, text, own } => {
                let me = if *own { " (you)" } else { "" };
                let user = sender.split('/').next().unwrap_or_default();
                if user == from {
                    write!(f, "#{seq} {sender}{me}: {text}")
                } else {
                    write!(f, "#{seq} {sender}{me} [! sent by {from}]: {text}")
                }
            }
            Self::Changed { seq, by, added, removed, epoch } => {
                write!(f, "#{seq} ({by}")?;
                if !added.is_empty() {
                    write!(f, " added {}", added.join(", "))?;
                }
                if !removed.is_empty() {
                    write!(f, " removed {}", removed.join(", "))?;
                }
                if added.is_empty() && removed.is_empty() {
                    write!(f, " updated keys")?;
                }
                write!(f, "; epoch {epoch})")
            }
            Self::RemovedSelf { seq, by } => write!(f, "#{seq} (you were removed from the group by {by})"),
            Self::Locked { seq, from } => write!(f, "#{seq} {from}: (encrypted; this device is not in the group)"),
            Self::Undecryptable { seq, from, reason } => write!(f, "#{seq} {from}: (cannot decrypt: {reason})"),
            Self::CommitQueued { epoch, what } => write!(f, "({what}: commit for epoch {epoch} sent)"),
            Self::Conflict { epoch, what } => write!(f, "(another commit won; {what} again at epoch {epoch})"),
            Self::Members(members) => {
                writeln!(f, "{} members (compare safety numbers out of band):", members.len())?;
                for (i, m) in members.iter().enumerate() {
                    let me = if m.me { " (you)" } else { "" };
                    let end = if i + 1 < members.len() { "\n" } else { "" };
                    write!(f, "  {}{me}: {}{end}", m.identity, m.safety_number)?;
                }
                Ok(())
            }
            Self::Notice(text) => write!(f, "({text})"),
            Self::Warning(text) => write!(f, "! {text}"),
        }
    }
}
