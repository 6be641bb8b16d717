//! [`KeyDirectory`] on the table, in the user's key partition `KEYS#u`:
//!
//! - `DEVICES`: `devices`, the string set of the user's device ids. Adding a device is an `ADD`
//!   conditional on the set's size, so concurrent publishes of new devices never pass the limit.
//! - `DEVICE#d`: `oneTime` (how many one-time packages the device holds) and `lastResort`.
//! - `KP#d#<ulid>`: `keyPackage`, one one-time package.
//!
//! `oneTime` changes only in the transaction that adds or deletes packages, so it is exact: a
//! publish conditions on it, and a claim deletes one package and decrements it together, with
//! the package's existence as the condition, so two claimers never get the same package.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::Deserialize;

use super::items::from_item;
use super::keys::{DEVICE_PREFIX, Key, SK, key_package_prefix, keys_partition};
use super::{DynamoStore, build_err, number, sdk_err};
use crate::domain::{ClaimedKey, DeviceKeys, MAX_DEVICES_PER_USER, MAX_ONE_TIME_PER_DEVICE, PublishOutcome};
use crate::ports::{KeyDirectory, StoreError};

/// Attempts at a publish, or rounds of reading a device's oldest packages for a claim, before a
/// race that keeps changing the items gives up (a publish fails; a claim hands out the last
/// resort).
const ATTEMPTS: usize = 4;
/// One-time packages a claim reads at once, to go on to the next when another claimer took one.
const CANDIDATES: i32 = 8;

/// `KEYS#u / DEVICE#d` as read back.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceItem {
    device: String,
    /// Signed: a count update racing a removal could take it below zero.
    #[serde(default)]
    one_time: i64,
    #[serde(default)]
    last_resort: Option<String>,
}

/// `KEYS#u / DEVICES` as read back.
#[derive(Debug, Default, Deserialize)]
struct DevicesItem {
    #[serde(default)]
    devices: std::collections::BTreeSet<String>,
}

impl DeviceItem {
    fn held(&self) -> u32 {
        u32::try_from(self.one_time.max(0)).unwrap_or(u32::MAX)
    }
}

impl DynamoStore {
    async fn device_item(&self, user: &str, device: &str) -> Result<Option<DeviceItem>, StoreError> {
        self.get_item(Key::key_device(user, device)).await?.map(from_item).transpose()
    }

    /// The transaction of one publish: the device set, the device's count (and last resort),
    /// and one put per package.
    fn publish_actions(
        &self,
        user: &str,
        device: &str,
        one_time: &[String],
        last_resort: Option<&str>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let devices = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::key_devices(user).into_item()))
            .update_expression("ADD devices :set")
            .condition_expression("attribute_not_exists(devices) OR contains(devices, :device) OR size(devices) < :max")
            .expression_attribute_values(":set", AttributeValue::Ss(vec![device.to_owned()]))
            .expression_attribute_values(":device", AttributeValue::S(device.to_owned()))
            .expression_attribute_values(":max", number(MAX_DEVICES_PER_USER))
            .build()
            .map_err(build_err)?;
        let n = one_time.len() as u32;
        let mut set = String::from("SET device = :device");
        if last_resort.is_some() {
            set.push_str(", lastResort = :lr");
        }
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::key_device(user, device).into_item()))
            .update_expression(format!("{set} ADD oneTime :n"))
            .condition_expression("attribute_not_exists(oneTime) OR oneTime <= :room")
            .set_expression_attribute_values(Some(
                [
                    (":device".to_owned(), AttributeValue::S(device.to_owned())),
                    (":n".to_owned(), number(n)),
                    (":room".to_owned(), number(MAX_ONE_TIME_PER_DEVICE.saturating_sub(n))),
                ]
                .into_iter()
                .chain(last_resort.map(|lr| (":lr".to_owned(), AttributeValue::S(lr.to_owned()))))
                .collect(),
            ))
            .build()
            .map_err(build_err)?;
        let mut actions = vec![
            TransactWriteItem::builder().update(devices).build(),
            TransactWriteItem::builder().update(count).build(),
        ];
        // Monotonic within the publish, so its packages are handed out in the order given.
        let mut ids = ulid::Generator::new();
        for kp in one_time {
            let id = ids.generate().map_err(|e| StoreError::Failed(e.to_string().into()))?;
            let mut item = Key::key_package(user, device, &id.to_string()).into_item();
            item.insert("keyPackage".to_owned(), AttributeValue::S(kp.clone()));
            actions.push(self.transact_put(item)?);
        }
        Ok(actions)
    }

    /// Why a publish was cancelled, from the items as they are now; `None` when they would now
    /// admit it (another writer changed them in between: try again).
    async fn publish_refusal(&self, user: &str, device: &str, n: u32) -> Result<Option<PublishOutcome>, StoreError> {
        let devices: DevicesItem =
            self.get_item(Key::key_devices(user)).await?.map(from_item).transpose()?.unwrap_or_default();
        if !devices.devices.contains(device) && devices.devices.len() >= MAX_DEVICES_PER_USER {
            return Ok(Some(PublishOutcome::TooManyDevices));
        }
        let Some(item) = self.device_item(user, device).await? else { return Ok(None) };
        if item.held() + n <= MAX_ONE_TIME_PER_DEVICE {
            return Ok(None);
        }
        // The count may be high after a claim whose count update failed: trust the packages.
        let held = self.recount(user, device, item.one_time).await?;
        Ok((held + n > MAX_ONE_TIME_PER_DEVICE).then_some(PublishOutcome::TooManyPackages { held }))
    }

    /// Hands out one one-time package of the device, or `None` when it has none left (or kept
    /// losing races for them: the caller then hands out the last resort). Each package goes by a
    /// plain conditional DeleteItem, not a transaction: concurrent claimers of one device would
    /// make transactions on its count item cancel each other (`TransactionConflict`), while a
    /// delete conditional on the package existing has exactly one winner.
    async fn take_one_time(&self, user: &str, device: &str) -> Result<Option<String>, StoreError> {
        for _ in 0..ATTEMPTS {
            let out = self
                .query_partition(keys_partition(user), Some(&key_package_prefix(device)))
                .consistent_read(true)
                .limit(CANDIDATES)
                .send()
                .await
                .map_err(sdk_err)?;
            let candidates = out.items.unwrap_or_default();
            if candidates.is_empty() {
                return Ok(None);
            }
            // Oldest first; a claimer that loses one goes on to the next it already read.
            for item in candidates {
                let (Some(AttributeValue::S(sk)), Some(AttributeValue::S(key_package))) =
                    (item.get(SK), item.get("keyPackage"))
                else {
                    return Err(StoreError::Failed("a key package item without its attributes".into()));
                };
                let deleted = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(Key::in_keys(user, sk.clone()).into_item()))
                    .condition_expression("attribute_exists(pk)")
                    .send()
                    .await;
                match deleted {
                    Ok(_) => {
                        self.count_claimed(user, device).await;
                        return Ok(Some(key_package.clone()));
                    }
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
                    Err(e) => return Err(sdk_err(e)),
                }
            }
        }
        tracing::warn!(user, device, "claims kept racing for one-time key packages; handing out the last resort");
        Ok(None)
    }

    /// Counts one package out of the device. A failure here leaves the count one too high (so a
    /// publish may be refused early, until [`Self::recount`] mends it); the claim stands.
    async fn count_claimed(&self, user: &str, device: &str) {
        let update = self
            .update(Key::key_device(user, device))
            .update_expression("ADD oneTime :minus")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":minus", number(-1))
            .send()
            .await;
        if let Err(e) = update.map_err(sdk_err) {
            tracing::warn!(user, device, error = %crate::telemetry::chain(&e), "counting a claimed key package failed");
        }
    }

    /// How many one-time packages the device has stored; the count item is set to that when it
    /// differs from `counted` (after a claim whose count update failed).
    async fn recount(&self, user: &str, device: &str, counted: i64) -> Result<u32, StoreError> {
        let out = self
            .query_partition(keys_partition(user), Some(&key_package_prefix(device)))
            .consistent_read(true)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .map_err(sdk_err)?;
        let stored = u32::try_from(out.count).unwrap_or(0);
        if i64::from(stored) != counted {
            let fixed = self
                .update(Key::key_device(user, device))
                .update_expression("SET oneTime = :stored")
                .condition_expression("oneTime = :counted")
                .expression_attribute_values(":stored", number(stored))
                .expression_attribute_values(":counted", number(counted))
                .send()
                .await;
            match fixed {
                Ok(_) => tracing::warn!(user, device, counted, stored, "key package count mended"),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(sdk_err(e)),
            }
        }
        Ok(stored)
    }
}

#[async_trait]
impl KeyDirectory for DynamoStore {
    async fn publish_keys(
        &self,
        user: &str,
        device: &str,
        one_time: &[String],
        last_resort: Option<&str>,
    ) -> Result<PublishOutcome, StoreError> {
        let n = one_time.len() as u32;
        for _ in 0..ATTEMPTS {
            if self.transact_or_raced(self.publish_actions(user, device, one_time, last_resort)?).await? {
                let held = self.device_item(user, device).await?;
                let keys = held.map_or_else(DeviceKeys::default, |d| DeviceKeys {
                    one_time: d.held(),
                    last_resort: d.last_resort.is_some(),
                });
                return Ok(PublishOutcome::Published(keys));
            }
            if let Some(refusal) = self.publish_refusal(user, device, n).await? {
                return Ok(refusal);
            }
        }
        Err(StoreError::Failed(format!("publishing key packages of {user}/{device} kept racing; retry").into()))
    }

    async fn key_count(&self, user: &str, device: &str) -> Result<DeviceKeys, StoreError> {
        Ok(self
            .device_item(user, device)
            .await?
            .map(|d| DeviceKeys { one_time: d.held(), last_resort: d.last_resort.is_some() })
            .unwrap_or_default())
    }

    async fn claim_keys(&self, user: &str) -> Result<Vec<ClaimedKey>, StoreError> {
        let mut devices: Vec<DeviceItem> = self
            .query_all(keys_partition(user), Some(DEVICE_PREFIX))
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        devices.sort_by(|a, b| a.device.cmp(&b.device));
        let mut claimed = Vec::with_capacity(devices.len());
        for d in devices {
            let one_time = if d.one_time > 0 { self.take_one_time(user, &d.device).await? } else { None };
            let (key_package, last_resort) = match (one_time, d.last_resort) {
                (Some(kp), _) => (kp, false),
                (None, Some(lr)) => (lr, true),
                (None, None) => continue,
            };
            claimed.push(ClaimedKey { device: d.device, key_package, last_resort });
        }
        Ok(claimed)
    }

    async fn remove_device(&self, user: &str, device: &str) -> Result<(), StoreError> {
        let packages = self.query_all(keys_partition(user), Some(&key_package_prefix(device))).await?;
        let keys = packages
            .into_iter()
            .filter_map(|item| match item.get(SK) {
                Some(AttributeValue::S(sk)) => Some(Key::in_keys(user, sk.clone())),
                _ => None,
            })
            .collect();
        self.delete_keys(keys).await?;
        let devices = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::key_devices(user).into_item()))
            .update_expression("DELETE devices :set")
            .expression_attribute_values(":set", AttributeValue::Ss(vec![device.to_owned()]))
            .build()
            .map_err(build_err)?;
        let actions = vec![
            self.transact_delete(Key::key_device(user, device))?,
            TransactWriteItem::builder().update(devices).build(),
        ];
        if self.transact(actions).await? {
            Ok(())
        } else {
            Err(StoreError::Failed("an unconditional removal was cancelled".into()))
        }
    }
}
