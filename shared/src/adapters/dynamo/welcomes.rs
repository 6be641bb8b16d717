//! [`WelcomeInbox`] on the table: one item per device and welcome, `WELCOME#u#d /
//! {room}#<seq:020>` ([`Key::welcome`]), holding the welcome and `expiresAt`. A welcome for
//! several devices is written once per device: the inbox of one device is then one Query, and
//! acking deletes one item.

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::items::{from_item, to_item};
use super::keys::{Key, welcome_partition};
use super::paging::Pages;
use super::{DynamoStore, sdk_err};
use crate::domain::{HeldWelcome, PendingWelcome};
use crate::ports::{StoreError, WelcomeInbox};

/// Puts in flight at once when a welcome is for many devices.
const PUTS_IN_FLIGHT: usize = 8;

/// `WELCOME#u#d / {room}#<seq>` as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WelcomeItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    welcome: PendingWelcome,
    expires_at: i64,
}

#[async_trait]
impl WelcomeInbox for DynamoStore {
    async fn hold_welcome(&self, held: &HeldWelcome) -> Result<(), StoreError> {
        let w = &held.welcome;
        let mut puts = Vec::with_capacity(held.to.len());
        for (user, device) in &held.to {
            let Key { pk, sk } = Key::welcome(user, device, &w.room, w.seq);
            let item = to_item(&WelcomeItem { pk, sk, welcome: w.clone(), expires_at: held.expires_at })?;
            // Unconditional: holding the same welcome again writes the same item.
            puts.push(self.client.put_item().table_name(&self.table).set_item(Some(item)).send());
        }
        futures::stream::iter(puts).buffer_unordered(PUTS_IN_FLIGHT).map_err(sdk_err).try_collect::<Vec<_>>().await?;
        Ok(())
    }

    async fn pending_welcomes(
        &self,
        user: &str,
        device: &str,
        limit: usize,
        now: i64,
    ) -> Result<Vec<PendingWelcome>, StoreError> {
        // TTL deletes late (up to days), so expired items are skipped here rather than trusted gone.
        let query = self.query_partition(welcome_partition(user, device), None).consistent_read(true);
        let mut pages = Pages::new(query);
        let mut found = Vec::new();
        while found.len() < limit {
            let Some(page) = pages.next_at_most(i32::try_from(limit).unwrap_or(i32::MAX)).await? else { break };
            for item in page.items.unwrap_or_default() {
                let item: WelcomeItem = from_item(item)?;
                if item.expires_at > now && found.len() < limit {
                    found.push(item.welcome);
                }
            }
        }
        Ok(found)
    }

    async fn ack_welcome(&self, user: &str, device: &str, room: &str, seq: u64) -> Result<(), StoreError> {
        let key = Key::welcome(user, device, room, seq).into_item();
        self.client.delete_item().table_name(&self.table).set_key(Some(key)).send().await.map_err(sdk_err)?;
        Ok(())
    }
}
