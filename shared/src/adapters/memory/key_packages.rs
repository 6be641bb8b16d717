//! [`KeyDirectory`] in memory: the same rules as the DynamoDB items, under their own lock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::{ClaimedKey, DeviceKeys, MAX_DEVICES_PER_USER, MAX_ONE_TIME_PER_DEVICE, PublishOutcome};
use crate::ports::{KeyDirectory, StoreError};

#[derive(Debug, Default)]
struct Device {
    one_time: VecDeque<String>,
    last_resort: Option<String>,
}

impl Device {
    fn keys(&self) -> DeviceKeys {
        DeviceKeys { one_time: self.one_time.len() as u32, last_resort: self.last_resort.is_some() }
    }
}

/// user → device → packages. The directory's own lock: never taken together with the store's.
#[derive(Debug, Default)]
pub(super) struct KeyState(Mutex<BTreeMap<String, BTreeMap<String, Device>>>);

impl KeyState {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, BTreeMap<String, Device>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl KeyDirectory for MemoryStore {
    async fn publish_keys(
        &self,
        user: &str,
        device: &str,
        one_time: &[String],
        last_resort: Option<&str>,
    ) -> Result<PublishOutcome, StoreError> {
        let mut users = self.keys.lock();
        let devices = users.entry(user.to_owned()).or_default();
        if !devices.contains_key(device) && devices.len() >= MAX_DEVICES_PER_USER {
            return Ok(PublishOutcome::TooManyDevices);
        }
        let held = devices.get(device).map_or(0, |d| d.one_time.len() as u32);
        if held + one_time.len() as u32 > MAX_ONE_TIME_PER_DEVICE {
            return Ok(PublishOutcome::TooManyPackages { held });
        }
        let entry = devices.entry(device.to_owned()).or_default();
        entry.one_time.extend(one_time.iter().cloned());
        if let Some(lr) = last_resort {
            entry.last_resort = Some(lr.to_owned());
        }
        Ok(PublishOutcome::Published(entry.keys()))
    }

    async fn key_count(&self, user: &str, device: &str) -> Result<DeviceKeys, StoreError> {
        let users = self.keys.lock();
        Ok(users.get(user).and_then(|d| d.get(device)).map(Device::keys).unwrap_or_default())
    }

    async fn claim_keys(&self, user: &str) -> Result<Vec<ClaimedKey>, StoreError> {
        let mut users = self.keys.lock();
        let Some(devices) = users.get_mut(user) else { return Ok(Vec::new()) };
        let mut claimed = Vec::new();
        for (name, device) in devices.iter_mut() {
            let (key_package, last_resort) = match device.one_time.pop_front() {
                Some(kp) => (kp, false),
                None => match &device.last_resort {
                    Some(lr) => (lr.clone(), true),
                    None => continue,
                },
            };
            claimed.push(ClaimedKey { device: name.clone(), key_package, last_resort });
        }
        Ok(claimed)
    }

    async fn remove_device(&self, user: &str, device: &str) -> Result<(), StoreError> {
        let mut users = self.keys.lock();
        if let Some(devices) = users.get_mut(user) {
            devices.remove(device);
        }
        Ok(())
    }
}
