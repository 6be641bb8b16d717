//! `keys.*`: the MLS key package directory (docs/e2e.md). A device publishes and counts under the
//! caller's own user only; any user may claim another's packages, which is how they add that
//! user to an encrypted group.

use super::{ActionError, Caller, SendDeps};
use crate::domain::{DeviceKeys, MAX_DEVICES_PER_USER, MAX_ONE_TIME_PER_DEVICE, PublishOutcome};
use crate::protocol::{ClaimedKeyPackage, KeyRequest, ServerFrame};

/// Runs one `keys.*` request for the caller.
pub(super) async fn keys(deps: &SendDeps, caller: &Caller, request: &KeyRequest) -> Result<ServerFrame, ActionError> {
    let user = caller.connection.user.as_str();
    let directory = &deps.stores.keys;
    match request {
        KeyRequest::Publish { device, key_packages, last_resort } => {
            match directory.publish_keys(user, device, key_packages, last_resort.as_deref()).await? {
                PublishOutcome::Published(held) => Ok(keys_frame(device, &held)),
                PublishOutcome::TooManyDevices => Err(ActionError::Forbidden(format!(
                    "a user may have key packages for at most {MAX_DEVICES_PER_USER} devices; keys.remove one first"
                ))),
                PublishOutcome::TooManyPackages { held } => Err(ActionError::Forbidden(format!(
                    "device {device} holds {held} one-time key packages; at most {MAX_ONE_TIME_PER_DEVICE}, so at \
                     most {} more",
                    MAX_ONE_TIME_PER_DEVICE.saturating_sub(held)
                ))),
            }
        }
        KeyRequest::Count { device } => Ok(keys_frame(device, &directory.key_count(user, device).await?)),
        KeyRequest::Remove { device } => {
            directory.remove_device(user, device).await?;
            Ok(keys_frame(device, &DeviceKeys::default()))
        }
        KeyRequest::Claim { user: owner } => {
            let claimed = directory.claim_keys(owner).await?;
            tracing::info!(owner = %owner, devices = claimed.len(), "key packages claimed");
            let key_packages = claimed
                .into_iter()
                .map(|c| ClaimedKeyPackage { device: c.device, key_package: c.key_package, last_resort: c.last_resort })
                .collect();
            Ok(ServerFrame::KeyPackages { user: owner.clone(), key_packages })
        }
    }
}

fn keys_frame(device: &str, held: &DeviceKeys) -> ServerFrame {
    ServerFrame::Keys { device: device.to_owned(), one_time: held.one_time, last_resort: held.last_resort }
}
