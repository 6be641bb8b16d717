//! [`RoomStats`] on the table: one item per room and minute, `ROOM#r / STATS#<minute>`, changed
//! only by `ADD` (so concurrent runs never lose a count) and read by one ranged Query.
//!
//! Attributes: `messages` and `deliveries` (numbers), `senders` (a string set of user ids, added
//! to while it holds fewer than [`MAX_COUNTED_SENDERS`]), `minute`, and `expiresAt` (TTL).

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;

use super::items::from_item;
use super::keys::{Key, room_partition};
use super::paging::Pages;
use super::{DynamoStore, number, sdk_err};
use crate::domain::{MAX_COUNTED_SENDERS, MinuteCounts, RunCounts};
use crate::ports::{RoomStats, StoreError};

/// Counts, the minute and the TTL; `senders` is added by the caller when there are any.
const COUNTS: &str = "ADD messages :m, deliveries :d SET #minute = :minute, expiresAt = :exp";
/// [`COUNTS`] and the run's senders, while the set is under the cap.
const COUNTS_AND_SENDERS: &str = "ADD messages :m, deliveries :d, senders :s SET #minute = :minute, expiresAt = :exp";
const UNDER_CAP: &str = "attribute_not_exists(senders) OR size(senders) < :cap";

/// `ROOM#r / STATS#<minute>` as read back.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatsItem {
    minute: String,
    #[serde(default)]
    messages: u64,
    #[serde(default)]
    deliveries: u64,
    #[serde(default)]
    senders: BTreeSet<String>,
}

impl DynamoStore {
    /// One UpdateItem of the run's minute, with the senders (`Ok(false)`: the set is full) or
    /// without them.
    async fn add_counts(&self, counts: &RunCounts, with_senders: bool) -> Result<bool, StoreError> {
        let mut update = self
            .update(Key::room_stats(&counts.room, &counts.minute))
            .expression_attribute_names("#minute", "minute")
            .expression_attribute_values(":m", number(counts.messages))
            .expression_attribute_values(":d", number(counts.deliveries))
            .expression_attribute_values(":minute", AttributeValue::S(counts.minute.clone()))
            .expression_attribute_values(":exp", number(counts.expires_at));
        update = if with_senders {
            update
                .update_expression(COUNTS_AND_SENDERS)
                .condition_expression(UNDER_CAP)
                .expression_attribute_values(":s", AttributeValue::Ss(counts.senders.iter().cloned().collect()))
                .expression_attribute_values(":cap", number(MAX_COUNTED_SENDERS))
        } else {
            update.update_expression(COUNTS)
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if with_senders && e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }
}

#[async_trait]
impl RoomStats for DynamoStore {
    async fn add(&self, counts: &RunCounts) -> Result<(), StoreError> {
        // A string set cannot be empty, and a full one gets no more: then the counts alone.
        if counts.senders.is_empty() || !self.add_counts(counts, true).await? {
            self.add_counts(counts, false).await?;
        }
        Ok(())
    }

    async fn minutes(&self, room: &str, first: &str, last: &str) -> Result<Vec<MinuteCounts>, StoreError> {
        let (first, last) = (Key::room_stats(room, first).sk, Key::room_stats(room, last).sk);
        let mut pages = Pages::new(self.query_range(room_partition(room), first, last));
        let mut minutes = Vec::new();
        while let Some(page) = pages.next().await? {
            for item in page.items.unwrap_or_default() {
                let StatsItem { minute, messages, deliveries, senders } = from_item(item)?;
                minutes.push(MinuteCounts { minute, messages, deliveries, senders });
            }
        }
        Ok(minutes)
    }
}
