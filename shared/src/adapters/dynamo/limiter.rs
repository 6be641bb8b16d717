//! [`RateLimiter`]: a fixed-window counter per connection, one atomic `ADD` per hit.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::keys::Key;
use super::{DynamoStore, number, sdk_err};
use crate::ports::{RateLimiter, StoreError};

#[async_trait]
impl RateLimiter for DynamoStore {
    async fn hit(&self, connection_id: &str, window_start: i64, expires_at: i64) -> Result<u64, StoreError> {
        let out = self
            .update(Key::rate_window(connection_id, window_start))
            .update_expression("ADD hits :one SET expiresAt = :exp")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":exp", number(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_err)?;
        out.attributes
            .and_then(|a| a.get("hits").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()))
            .ok_or_else(|| StoreError::Failed("UpdateItem returned no hit count".into()))
    }
}
