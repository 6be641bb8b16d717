//! End-to-end encrypted chat (`starling chat --e2e`, docs/e2e.md): MLS (RFC 9420) with mls-rs,
//! ciphersuite 1, basic credentials naming `{user}/{device}`.
//!
//! The server is the delivery service: it keeps the KeyPackage directory, orders each room's
//! messages (one Commit per epoch) and holds Welcomes; it never sees a key or a plaintext. The
//! client's rules (docs/protocol.md): apply your own Commit only when it comes back stored; on
//! `conflict`, drop it, process the winner and commit again; process messages strictly in seq
//! order; check every claimed KeyPackage's identity and ciphersuite; send a Commit that adds
//! members with their Welcome (ratchet tree inside) in the same `send`.
//!
//! | module | what |
//! |---|---|
//! | [`session`] | the session state machine, without I/O: frames and lines in, requests and events out |
//! | `ops` | Commits: create, add, remove, rotate; one in flight; conflicts and retries |
//! | `room` | messages through the group in seq order; the slash commands |
//! | [`device`] | the device's identity and MLS client |
//! | [`store`] | the state directory: mls-rs storage traits over files |
//! | `safety` | safety numbers |
//! | [`chat`] | the WebSocket and terminal loop |

pub mod chat;
pub mod device;
mod event;
mod ops;
mod room;
mod safety;
pub mod session;
pub mod store;
#[cfg(test)]
mod tests;

pub use chat::{E2eArgs, run};
pub use device::{Device, SUITE};
pub use event::{Event, MemberInfo};
pub use ops::check_key_package;
pub use room::HELP;
pub use safety::safety_number;
pub use session::{Output, Session};

/// Why the encrypted chat failed.
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    /// mls-rs refused: a message that does not decrypt or verify, a bad KeyPackage or Welcome.
    #[error("MLS: {0}")]
    Mls(#[from] mls_rs::error::MlsError),
    /// The state directory could not be read or written.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The state directory belongs to another user or device, or holds something unreadable.
    #[error("state: {0}")]
    State(String),
    /// Something from the server is not what the protocol says.
    #[error("malformed {0}")]
    Malformed(String),
    /// The crypto provider lacks ciphersuite 1 (it never does).
    #[error("ciphersuite 1 is not available")]
    Suite,
}

/// A member's identity: its basic credential's identifier, as text (`{user}/{device}`).
pub(crate) fn identity_of(member: &mls_rs::group::Member) -> String {
    match member.signing_identity.credential.as_basic() {
        Some(basic) => String::from_utf8_lossy(basic.identifier()).into_owned(),
        None => format!("member {} (not a basic credential)", member.index),
    }
}
