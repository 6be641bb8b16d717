//! [`RateLimiter`]: per-user budgets, each decision one conditional `UpdateItem` (1 WCU).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::keys::Key;
use super::{DynamoStore, is_condition_failure, number, sdk_err};
use crate::ports::{RateLimiter, StoreError};

#[async_trait]
impl RateLimiter for DynamoStore {
    async fn spend(
        &self,
        user: &str,
        window_start: i64,
        cost: u64,
        limit: u64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let Some(headroom) = limit.checked_sub(cost) else { return Ok(false) };
        // The condition makes check-and-add one atomic step: concurrent Lambdas of one user
        // cannot together pass the limit, and a refused spend adds nothing.
        let result = self
            .update(Key::rate_window(user, window_start))
            .update_expression("ADD spent :cost SET expiresAt = :exp")
            .condition_expression("attribute_not_exists(spent) OR spent <= :headroom")
            .expression_attribute_values(":cost", number(cost))
            .expression_attribute_values(":headroom", number(headroom))
            .expression_attribute_values(":exp", number(expires_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn pass_gate(
        &self,
        user: &str,
        gate: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let result = self
            .update(Key::gate(user, gate))
            .update_expression("SET passedAt = :now, expiresAt = :exp")
            .condition_expression("attribute_not_exists(passedAt) OR passedAt <= :cutoff")
            .expression_attribute_values(":now", number(now_ms))
            .expression_attribute_values(":cutoff", number(now_ms - interval_ms))
            .expression_attribute_values(":exp", number((now_ms + interval_ms) / 1000 + 1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(e) if is_condition_failure(&e) => {
                let passed_at = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => c
                        .item
                        .as_ref()
                        .and_then(|i| i.get("passedAt"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<i64>().ok()),
                    _ => None,
                };
                // Without the old item (an emulator that does not return it) the whole interval
                // is the safe answer: the gate is certainly open again by then.
                Ok(Some(passed_at.map_or(interval_ms, |p| (p + interval_ms - now_ms).clamp(1, interval_ms))))
            }
            Err(e) => Err(sdk_err(e)),
        }
    }
}
