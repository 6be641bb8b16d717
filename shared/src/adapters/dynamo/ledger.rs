//! [`FanoutLedger`]: a failure counter per queue record (one atomic `ADD`, written only on
//! failure) and a delivery checkpoint per message. Both carry a TTL; they only matter while a
//! record is being retried.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::keys::Key;
use super::{DynamoStore, number, sdk_err};
use crate::ports::{FanoutLedger, StoreError};

const CURSOR: &str = "cursor";

#[async_trait]
impl FanoutLedger for DynamoStore {
    async fn record_failure(&self, record_id: &str, expires_at: i64) -> Result<u32, StoreError> {
        let out = self
            .update(Key::record_failures(record_id))
            .update_expression("ADD failures :one SET expiresAt = :exp")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":exp", number(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_err)?;
        out.attributes
            .and_then(|a| a.get("failures").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()))
            .ok_or_else(|| StoreError::Failed("UpdateItem returned no failure count".into()))
    }

    async fn delivery_checkpoint(&self, room: &str, seq: u64) -> Result<Option<String>, StoreError> {
        let item = self.get_item(Key::delivery_checkpoint(room, seq)).await?;
        Ok(item.and_then(|mut i| i.remove(CURSOR)).and_then(|v| v.as_s().ok().cloned()))
    }

    async fn save_delivery_checkpoint(
        &self,
        room: &str,
        seq: u64,
        cursor: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.update(Key::delivery_checkpoint(room, seq))
            .update_expression("SET #cursor = :cursor, expiresAt = :exp")
            .expression_attribute_names("#cursor", CURSOR)
            .expression_attribute_values(":cursor", AttributeValue::S(cursor.to_owned()))
            .expression_attribute_values(":exp", number(expires_at))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}
