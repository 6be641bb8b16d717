//! The room's messages, in seq order, through the group; and what the user types.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mls_rs::error::MlsError;
use mls_rs::group::{CommitEffect, CommitMessageDescription, ReceivedMessage, Sender};
use mls_rs::{MlsMessage, MlsMessageDescription};
use starling_client::{Message, Request, ServerFrame};

use super::device::Group;
use super::ops::Op;
use super::session::{Membership, Session};
use super::store::RoomEntry;
use super::{E2eError, Event, MemberInfo, identity_of, safety_number};

/// The help text of the slash commands.
pub const HELP: &str = "/add USER: add every device of USER | /remove USER | /members: members and safety numbers \
     | /rotate: update this device's keys | /quit | anything else is sent encrypted";

impl Session {
    /// A line the user typed.
    pub fn on_line(&mut self, line: &str) -> Vec<super::Output> {
        if let Err(e) = self.line(line.trim()) {
            self.warn(format!("{e}"));
        }
        std::mem::take(&mut self.out)
    }

    fn line(&mut self, line: &str) -> Result<(), E2eError> {
        let (command, arg) = line.split_once(' ').map_or((line, ""), |(c, a)| (c, a.trim()));
        let member = matches!(self.membership, Membership::Member(_));
        match command {
            "" => Ok(()),
            "/help" => {
                self.emit(Event::Notice(HELP.into()));
                Ok(())
            }
            _ if command.starts_with('/') && !member => {
                self.warn("this device is not in the group yet".into());
                Ok(())
            }
            "/add" | "/remove" if arg.is_empty() || arg.contains(['/', ' ']) => {
                self.warn(format!("{command} takes one user id"));
                Ok(())
            }
            "/add" => {
                self.claim(arg);
                Ok(())
            }
            "/remove" => {
                self.queue(Op::Remove { user: arg.to_owned() });
                self.next_op()
            }
            "/rotate" => {
                self.queue(Op::Rotate);
                self.next_op()
            }
            "/members" => {
                let members = self.members();
                self.emit(Event::Members(members));
                Ok(())
            }
            _ if command.starts_with('/') => {
                self.warn(format!("unknown command {command}; /help lists them"));
                Ok(())
            }
            _ => self.say(line),
        }
    }

    /// The group's members with their safety numbers.
    pub fn members(&self) -> Vec<MemberInfo> {
        let Membership::Member(group) = &self.membership else { return Vec::new() };
        let me = group.current_member_index();
        group
            .roster()
            .members_iter()
            .map(|m| MemberInfo {
                identity: identity_of(&m),
                safety_number: safety_number(&identity_of(&m), m.signing_identity.signature_key.as_bytes()),
                me: m.index == me,
            })
            .collect()
    }

    /// Encrypts and sends one application message.
    fn say(&mut self, text: &str) -> Result<(), E2eError> {
        let Membership::Member(group) = &mut self.membership else {
            self.warn("this device is not in the group yet: nothing was sent".into());
            return Ok(());
        };
        let message = group.encrypt_application_message(text.as_bytes(), Vec::new())?;
        // The ratchet moved: saved before the ciphertext leaves, so a restart never reuses a key.
        self.dev.save(group, self.cursor)?;
        let cmid = self.client_msg_id();
        let body = STANDARD.encode(message.to_bytes()?);
        self.sent.insert(cmid.clone(), text.to_owned());
        self.send(Request::Send { room: self.room.clone(), body, client_msg_id: Some(cmid), welcome: None });
        Ok(())
    }

    /// A frame of the room's messages, through the sync procedure's [`starling_client::Inbox`].
    pub(super) fn on_room_frame(&mut self, frame: &ServerFrame) -> Result<(), E2eError> {
        if !self.tracked {
            return Ok(());
        }
        let step = self.inbox.on_frame(frame);
        for m in &step.deliver {
            if let Err(e) = self.process(m) {
                self.warn(format!("#{}: {e}", m.seq));
            }
        }
        if let Some(follow_up) = step.follow_up {
            self.send(follow_up);
        }
        if let ServerFrame::Synced { recovered, .. } = frame {
            if !recovered {
                self.warn("messages of this room are past retention: the group may have missed commits".into());
            }
            self.run_deferred()?;
        }
        Ok(())
    }

    /// One message, in seq order.
    fn process(&mut self, m: &Message) -> Result<(), E2eError> {
        if m.room != self.room.as_str() || m.seq <= self.cursor {
            return Ok(());
        }
        match &self.membership {
            Membership::Member(_) => self.decrypt(m)?,
            Membership::Creating(_) => self.while_creating(m)?,
            Membership::Outside => self.emit(Event::Locked { seq: m.seq, from: m.from.clone() }),
        }
        self.cursor = m.seq;
        if let Membership::Member(group) = &mut self.membership {
            self.dev.save(group, m.seq)?;
        }
        Ok(())
    }

    /// While our group's first Commit is on its way: it is ours (the room is ours now), or
    /// another group's Commit (the room was taken: ours will get `conflict`).
    fn while_creating(&mut self, m: &Message) -> Result<(), E2eError> {
        let ours = self.in_flight.as_ref().is_some_and(|f| f.is_create() && m.client_msg_id.as_ref() == Some(&f.cmid));
        if !ours {
            if parse(&m.body).is_ok_and(|msg| is_commit(&msg)) {
                self.lost(0)?;
            }
            self.emit(Event::Locked { seq: m.seq, from: m.from.clone() });
            return Ok(());
        }
        let Membership::Creating(mut group) = std::mem::replace(&mut self.membership, Membership::Outside) else {
            return Ok(());
        };
        group.apply_pending_commit()?;
        self.dev.save(&mut group, m.seq)?;
        self.dev.rooms().set(self.room.as_str(), Some(RoomEntry { group: hex::encode(group.group_id()) }))?;
        let epoch = group.current_epoch();
        self.membership = Membership::Member(group);
        self.in_flight = None;
        tracing::info!(room = %self.room, seq = m.seq, "created the room's group");
        self.emit(Event::Created { epoch });
        self.next_op()
    }

    fn decrypt(&mut self, m: &Message) -> Result<(), E2eError> {
        let Membership::Member(group) = &mut self.membership else { return Ok(()) };
        let message = match parse(&m.body) {
            Ok(message) => message,
            Err(reason) => {
                self.emit(Event::Undecryptable { seq: m.seq, from: m.from.clone(), reason });
                return Ok(());
            }
        };
        let before = roster(group);
        let epoch_before = group.current_epoch();
        match group.process_incoming_message(message) {
            Ok(ReceivedMessage::ApplicationMessage(d)) => {
                let sender = lookup(&before, d.sender_index);
                let text = String::from_utf8_lossy(d.data()).into_owned();
                self.emit(Event::Text { seq: m.seq, sender, from: m.from.clone(), text, own: false });
            }
            Ok(ReceivedMessage::Commit(d)) => {
                self.committed(m, &before, d)?;
                self.after_commit(m.client_msg_id.as_deref(), epoch_before)?;
            }
            Ok(ReceivedMessage::Proposal(_)) => {
                self.emit(Event::Notice(format!("#{} a proposal from {}; the next commit includes it", m.seq, m.from)));
            }
            Ok(_) => {}
            Err(MlsError::CantProcessMessageFromSelf) => {
                let text = m.client_msg_id.as_ref().and_then(|c| self.sent.remove(c));
                let text = text.unwrap_or_else(|| "(sent from this device before a restart)".into());
                let sender = self.dev.identity();
                self.emit(Event::Text { seq: m.seq, sender, from: m.from.clone(), text, own: true });
            }
            Err(e) => self.emit(Event::Undecryptable { seq: m.seq, from: m.from.clone(), reason: e.to_string() }),
        }
        Ok(())
    }

    /// A processed Commit: tell what changed; when it removed this device, forget the group.
    fn committed(
        &mut self,
        m: &Message,
        before: &[(u32, String)],
        d: CommitMessageDescription,
    ) -> Result<(), E2eError> {
        let by = lookup(before, d.committer);
        if let CommitEffect::Removed { remover, .. } = &d.effect {
            let by = match remover {
                Sender::Member(i) => lookup(before, *i),
                _ => by,
            };
            if let Membership::Member(group) = std::mem::replace(&mut self.membership, Membership::Outside) {
                self.dev.forget(group.group_id())?;
            }
            self.dev.rooms().set(self.room.as_str(), None)?;
            self.in_flight = None;
            self.ops.clear();
            self.emit(Event::RemovedSelf { seq: m.seq, by });
            return Ok(());
        }
        let Membership::Member(group) = &self.membership else { return Ok(()) };
        let after = roster(group);
        let names = |a: &[(u32, String)], b: &[(u32, String)]| -> Vec<String> {
            a.iter().filter(|x| !b.contains(x)).map(|(_, id)| id.clone()).collect()
        };
        let (added, removed) = (names(&after, before), names(before, &after));
        self.emit(Event::Changed { seq: m.seq, by, added, removed, epoch: group.current_epoch() });
        Ok(())
    }
}

fn roster(group: &Group) -> Vec<(u32, String)> {
    group.roster().members_iter().map(|m| (m.index, identity_of(&m))).collect()
}

fn lookup(roster: &[(u32, String)], index: u32) -> String {
    roster.iter().find(|(i, _)| *i == index).map_or_else(|| format!("member {index}"), |(_, id)| id.clone())
}

/// A room message's body: base64 of one MLS message.
fn parse(body: &str) -> Result<MlsMessage, String> {
    let bytes = STANDARD.decode(body).map_err(|e| format!("not base64: {e}"))?;
    MlsMessage::from_bytes(&bytes).map_err(|e| format!("not an MLS message: {e}"))
}

/// Whether the clear framing says Commit.
fn is_commit(message: &MlsMessage) -> bool {
    use mls_rs::group::ContentType;
    match message.description() {
        MlsMessageDescription::PrivateProtocolMessage { content_type, .. }
        | MlsMessageDescription::PublicProtocolMessage { content_type, .. } => content_type == ContentType::Commit,
        _ => false,
    }
}
