//! `welcomes` and `welcomes.ack`: a device's inbox of MLS Welcomes (docs/e2e.md). The fanout
//! fills it when a Commit that adds the device is stored; only the device's own user reads it.

use super::{ActionError, Caller, SendDeps};
use crate::protocol::{ServerFrame, WelcomeRequest, wire};

/// Welcomes read per reply: each is at most 64 KiB, so a 120 KiB frame holds one to a few
/// dozen small ones.
const PAGE: usize = 50;

/// Runs one inbox request for the caller; both answer with the welcomes still pending.
pub(super) async fn welcomes(
    deps: &SendDeps,
    caller: &Caller,
    request: &WelcomeRequest,
) -> Result<ServerFrame, ActionError> {
    let user = caller.connection.user.as_str();
    let device = request.device();
    if let WelcomeRequest::Ack { room, seq, .. } = request {
        deps.stores.welcomes.ack_welcome(user, device, room.as_str(), *seq).await?;
    }
    let now = deps.clock.now().timestamp();
    // One more than a page says whether more are waiting.
    let mut pending = deps.stores.welcomes.pending_welcomes(user, device, PAGE + 1, now).await?;
    let overhead =
        wire::frame_len(&ServerFrame::Welcomes { device: device.to_owned(), welcomes: vec![], has_more: true });
    let fit = wire::fitting(pending.iter().map(wire::item_len), overhead, PAGE);
    let has_more = pending.len() > fit;
    pending.truncate(fit);
    Ok(ServerFrame::Welcomes { device: device.to_owned(), welcomes: pending, has_more })
}
