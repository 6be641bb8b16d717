//! Changes to the group: each is one Commit, sent alone and applied only when it comes back
//! stored (docs/protocol.md, "One Commit per epoch"). One is in flight at a time; a Commit that
//! loses its epoch (`conflict`, or another Commit processed for the same epoch) is dropped and
//! its change made again once the winner is processed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mls_rs::MlsMessage;
use starling_client::{ErrorCode, ErrorFrame, Request};
use starling_shared::protocol::{ClaimedKeyPackage, KeyRequest, Recipient, Welcome};

use super::device::SUITE;
use super::session::{Membership, Session};
use super::{E2eError, Event, identity_of};

/// A change to make.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// Make the room's group: the first Commit, epoch 0 to 1.
    Create,
    /// Add these checked KeyPackages of `user`'s devices.
    Add { user: String, packages: Vec<(String, MlsMessage)> },
    /// Remove every device of `user`.
    Remove { user: String },
    /// Update this device's keys (an empty Commit with a path).
    Rotate,
}

impl Op {
    fn what(&self) -> String {
        match self {
            Self::Create => "create the group".into(),
            Self::Add { user, .. } => format!("add {user}"),
            Self::Remove { user } => format!("remove {user}"),
            Self::Rotate => "update keys".into(),
        }
    }
}

/// A change waiting its turn, not before the group reaches `min_epoch`.
#[derive(Debug, Clone)]
pub(super) struct Queued {
    pub(super) op: Op,
    pub(super) min_epoch: u64,
}

/// The Commit sent and not yet stored or refused.
#[derive(Debug, Clone)]
pub(super) struct InFlight {
    pub(super) op: Op,
    pub(super) cmid: String,
    /// The epoch it was made in.
    pub(super) epoch: u64,
    /// The `send`, resent as is after a reconnect (the clientMsgId makes that safe).
    pub(super) request: Request,
}

impl InFlight {
    pub(super) fn is_create(&self) -> bool {
        matches!(self.op, Op::Create)
    }
}

/// Checks a claimed KeyPackage: ciphersuite 1 and a basic credential naming exactly
/// `{user}/{device}`. The server stores packages as opaque bytes, so this is what stops it (or
/// anyone who published under another name) from slipping a key into the group. The signature
/// and lifetime are checked by mls-rs when the package is added.
pub fn check_key_package(user: &str, claimed: &ClaimedKeyPackage) -> Result<MlsMessage, String> {
    let bytes = STANDARD.decode(&claimed.key_package).map_err(|e| format!("not base64: {e}"))?;
    let message = MlsMessage::from_bytes(&bytes).map_err(|e| format!("not an MLS message: {e}"))?;
    let package = message.as_key_package().ok_or("not a KeyPackage")?;
    if package.cipher_suite() != SUITE {
        return Err(format!("ciphersuite {:?}, not 1", package.cipher_suite()));
    }
    let expected = format!("{user}/{}", claimed.device);
    let basic = package.signing_identity().credential.as_basic().ok_or("not a basic credential")?;
    if basic.identifier() != expected.as_bytes() {
        let named = String::from_utf8_lossy(basic.identifier());
        return Err(format!("its credential names {named:?}, not {expected:?}"));
    }
    Ok(message)
}

impl Session {
    pub(super) fn queue(&mut self, op: Op) {
        self.ops.push_back(Queued { op, min_epoch: 0 });
    }

    pub(super) fn queue_create(&mut self) {
        self.ops.push_front(Queued { op: Op::Create, min_epoch: 0 });
    }

    /// `/add USER`: claim a package per device; the Commit follows the `keyPackages` reply.
    pub(super) fn claim(&mut self, user: &str) {
        self.claims.push(user.to_owned());
        self.send(Request::Keys(KeyRequest::Claim { user: user.to_owned() }));
    }

    pub(super) fn on_key_packages(&mut self, user: &str, packages: &[ClaimedKeyPackage]) -> Result<(), E2eError> {
        let Some(i) = self.claims.iter().position(|u| u == user) else { return Ok(()) };
        self.claims.remove(i);
        if packages.is_empty() {
            self.warn(format!("{user} has no key packages: they must start `starling chat --e2e` once"));
            return Ok(());
        }
        let mut checked = Vec::new();
        for claimed in packages {
            match check_key_package(user, claimed) {
                Ok(message) => checked.push((claimed.device.clone(), message)),
                Err(why) => {
                    self.warn(format!("refused to add {user}: the package of device {} is bad: {why}", claimed.device));
                    return Ok(());
                }
            }
        }
        self.queue(Op::Add { user: user.to_owned(), packages: checked });
        self.next_op()
    }

    /// Sends the next change when none is in flight and its epoch has come.
    pub(super) fn next_op(&mut self) -> Result<(), E2eError> {
        while self.in_flight.is_none() {
            let Some(front) = self.ops.front() else { return Ok(()) };
            let creating = matches!(front.op, Op::Create);
            let ready = match &self.membership {
                Membership::Member(g) => !creating && g.current_epoch() >= front.min_epoch,
                Membership::Outside => creating,
                Membership::Creating(_) => false,
            };
            if !ready {
                return Ok(());
            }
            let Some(Queued { op, .. }) = self.ops.pop_front() else { return Ok(()) };
            if let Err(e) = self.commit(op.clone()) {
                self.warn(format!("cannot {}: {e}", op.what()));
            }
        }
        Ok(())
    }

    /// Builds the op's Commit (and Welcome) and sends it.
    fn commit(&mut self, op: Op) -> Result<(), E2eError> {
        if let Op::Create = op {
            self.membership = Membership::Creating(Box::new(self.dev.create_group()?));
        }
        let (Membership::Member(group) | Membership::Creating(group)) = &mut self.membership else {
            return Ok(());
        };
        let epoch = group.current_epoch();
        let members: Vec<(u32, String)> = group.roster().members_iter().map(|m| (m.index, identity_of(&m))).collect();
        let mut builder = group.commit_builder();
        let (mut to, mut removed) = (Vec::new(), 0);
        match &op {
            Op::Create | Op::Rotate => {}
            Op::Add { user, packages } => {
                for (device, package) in packages {
                    let identity = format!("{user}/{device}");
                    if !members.iter().any(|(_, id)| *id == identity) {
                        builder = builder.add_member(package.clone())?;
                        to.push(Recipient { user: user.clone(), device: device.clone() });
                    }
                }
            }
            Op::Remove { user } => {
                let prefix = format!("{user}/");
                for (index, _) in members.iter().filter(|(_, id)| id.starts_with(&prefix)) {
                    builder = builder.remove_member(*index)?;
                    removed += 1;
                }
            }
        }
        if to.is_empty() && removed == 0 && matches!(op, Op::Add { .. } | Op::Remove { .. }) {
            self.emit(Event::Notice(format!("nothing to do: {}", op.what())));
            return Ok(());
        }
        let output = builder.build()?;
        let welcome = match output.welcome_messages.first() {
            Some(w) if !to.is_empty() => Some(Box::new(Welcome { message: STANDARD.encode(w.to_bytes()?), to })),
            _ => None,
        };
        if let Membership::Member(group) = &mut self.membership {
            // The pending Commit is kept with the state: after a restart, the stored Commit
            // still applies (mls-rs matches it against the pending one).
            self.dev.save(group, self.cursor)?;
        }
        let cmid = self.client_msg_id();
        let body = STANDARD.encode(output.commit_message.to_bytes()?);
        let request = Request::Send { room: self.room.clone(), body, client_msg_id: Some(cmid.clone()), welcome };
        self.send(request.clone());
        tracing::info!(room = %self.room, epoch, cmid, what = op.what(), "commit sent");
        self.in_flight = Some(InFlight { op, cmid, epoch, request });
        Ok(())
    }

    pub(super) fn on_accepted(&mut self, cmid: &str) {
        if let Some(f) = self.in_flight.as_ref().filter(|f| f.cmid == cmid) {
            let event = Event::CommitQueued { epoch: f.epoch, what: f.op.what() };
            self.emit(event);
        }
    }

    pub(super) fn on_error(&mut self, e: &ErrorFrame) -> Result<(), E2eError> {
        let cmid = e.client_msg_id.as_deref();
        let ours = self.in_flight.as_ref().is_some_and(|f| cmid == Some(f.cmid.as_str()));
        match (ours, e.code) {
            (true, ErrorCode::Conflict) => self.lost(e.epoch.unwrap_or(0)),
            (true, _) => {
                if let Some(f) = self.in_flight.take() {
                    self.drop_pending();
                    self.warn(format!("cannot {}: {} ({})", f.op.what(), e.message, e.code.as_str()));
                }
                self.next_op()
            }
            (false, ErrorCode::Conflict) => {
                // A Commit already known lost (another was processed for its epoch).
                tracing::debug!(cmid, epoch = e.epoch, "late conflict");
                Ok(())
            }
            (false, _) => {
                let text = cmid.and_then(|c| self.sent.remove(c));
                let about = text.map(|t| format!(" (message {t:?} not sent)")).unwrap_or_default();
                self.warn(format!("{}: {}{about}", e.code.as_str(), e.message));
                Ok(())
            }
        }
    }

    /// The Commit in flight lost its epoch: the room is at `epoch` now. Drop it, and make the
    /// change again once the group has processed the winner(s).
    pub(super) fn lost(&mut self, epoch: u64) -> Result<(), E2eError> {
        let Some(f) = self.in_flight.take() else { return Ok(()) };
        self.drop_pending();
        if f.is_create() {
            self.emit(Event::Notice(format!(
                "{} already has a group: a member must `/add {}`",
                self.room,
                self.dev.user()
            )));
            return Ok(());
        }
        self.emit(Event::Conflict { epoch, what: f.op.what() });
        self.ops.push_front(Queued { op: f.op, min_epoch: epoch });
        self.next_op()
    }

    /// Forgets the pending Commit: a group being created is dropped whole.
    fn drop_pending(&mut self) {
        match &mut self.membership {
            Membership::Creating(_) => self.membership = Membership::Outside,
            Membership::Member(g) => g.clear_pending_commit(),
            Membership::Outside => {}
        }
    }

    /// A Commit was processed: ours done, or, when it was another's for the epoch ours was
    /// made in, ours lost even if its `conflict` has not come (yet, or ever: a reconnect).
    pub(super) fn after_commit(&mut self, cmid: Option<&str>, epoch_before: u64) -> Result<(), E2eError> {
        let Some(f) = &self.in_flight else { return self.next_op() };
        if cmid == Some(f.cmid.as_str()) {
            self.in_flight = None;
        } else if f.epoch == epoch_before {
            let now = self.epoch().unwrap_or(0);
            return self.lost(now);
        }
        self.next_op()
    }
}
