//! The epoch checks of a `send` into an encrypted room (docs/e2e.md), before anything is
//! queued: they keep messages no member could read out of the room. One Commit per epoch is
//! the fanout's conditional write, not this.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{ActionError, SendDeps};
use crate::protocol::RoomId;
use crate::protocol::mls::{self, ContentType};

/// Checks `body` (the parser read its framing) against the room's stored epoch and group: a
/// message from an epoch the room has not reached, or (other than a Commit) for another group,
/// was made by a client that applied a Commit the room never stored, so no member could read
/// it: `bad_request`, nothing queued.
///
/// A Commit from a past epoch is left to the fanout, which answers `conflict` unless it is a
/// retry of a Commit already stored (its clientMsgId's dedup record, which only the fanout
/// reads, comes first); a Commit for another group gets `conflict` there too. Other messages
/// from past epochs pass: members keep past epochs' keys. The room's epoch only grows, and a
/// client moves past it only after seeing the Commit stored, so this read never refuses an
/// honest client.
///
/// Only admitted users (`RoomEpoch::admits`: the group's creator and those a Welcome was
/// released for) may send into a group that exists: without this, anyone subscribed could send
/// a Commit with the room's group id and epoch, which the server cannot tell from a member's
/// and would store, moving the room to an epoch no member can reach. A stranger's epoch-0
/// Commit still goes on, to be answered `conflict` (the group exists), as clients expect.
pub(super) async fn check(deps: &SendDeps, room: &RoomId, user: &str, body: &str) -> Result<(), ActionError> {
    let framing = mls::read_framing(body).map_err(ActionError::BadRequest)?;
    let now = deps.stores.messages.room_epoch(room.as_str()).await?;
    let creating = framing.content_type == ContentType::Commit && framing.epoch == 0;
    if !creating && !now.admits(user) {
        return Err(ActionError::Forbidden(format!(
            "{user} is not in {room}'s MLS group: a member must add you (a Welcome) before you can send there"
        )));
    }
    if framing.epoch > now.epoch {
        return Err(ActionError::BadRequest(format!(
            "the message is from epoch {}, but {room} is at epoch {}: only stored Commits move the group on",
            framing.epoch, now.epoch
        )));
    }
    let group = STANDARD.encode(&framing.group_id);
    if framing.content_type != ContentType::Commit && now.group_id.as_ref().is_some_and(|g| *g != group) {
        return Err(ActionError::BadRequest(format!("the message belongs to another MLS group than {room}'s")));
    }
    Ok(())
}
