//! Resending what a batch request leaves unprocessed.
//!
//! BatchWriteItem and BatchGetItem succeed when DynamoDB processes only part of the batch (under
//! throttling, or past the response size limit) and return the rest, to be resent after a backoff.

use std::time::Duration;

use tracing::debug;

use crate::ports::StoreError;

/// Attempts at a BatchWriteItem before its unprocessed items fail the call as `Throttled`.
pub(super) const WRITE_ATTEMPTS: u32 = 8;
/// Attempts at a BatchGetItem before its unprocessed keys fail the call as `Throttled`.
pub(super) const READ_ATTEMPTS: u32 = 8;
/// The wait before the second attempt; it doubles before each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(25);

/// Sends `pending` with `send`, which returns its results and what was left unprocessed, until
/// nothing is left; returns the results of every send. After `attempts` sends that still leave
/// some, fails with `Throttled`, naming `what` was left.
pub(super) async fn until_processed<T, R, Fut>(
    what: &str,
    attempts: u32,
    mut pending: Vec<T>,
    mut send: impl FnMut(Vec<T>) -> Fut,
) -> Result<Vec<R>, StoreError>
where
    Fut: Future<Output = Result<(R, Vec<T>), StoreError>>,
{
    let mut results = Vec::with_capacity(1);
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=attempts {
        let (result, unprocessed) = send(pending).await?;
        results.push(result);
        pending = unprocessed;
        if pending.is_empty() {
            return Ok(results);
        }
        if attempt < attempts {
            debug!(what, left = pending.len(), attempt, backoff_ms = backoff.as_millis(), "resending unprocessed");
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    Err(StoreError::Throttled(format!("{} {what} left unprocessed after {attempts} attempts", pending.len()).into()))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn resends_the_unprocessed_until_none_is_left() {
        let sent = Mutex::new(Vec::new());
        let results = until_processed("things", 3, vec![1, 2, 3], |batch: Vec<i32>| {
            sent.lock().unwrap().push(batch.clone());
            async move { Ok((batch[0], batch[1..].to_vec())) }
        })
        .await
        .unwrap();
        assert_eq!(results, [1, 2, 3]);
        assert_eq!(sent.into_inner().unwrap(), [vec![1, 2, 3], vec![2, 3], vec![3]]);
    }

    #[tokio::test]
    async fn gives_up_as_throttled_after_the_bound() {
        let mut calls = 0;
        let err = until_processed("things", 2, vec![1], |batch: Vec<i32>| {
            calls += 1;
            async move { Ok(((), batch)) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls, 2);
        assert!(
            matches!(&err, StoreError::Throttled(e) if e.to_string() == "1 things left unprocessed after 2 attempts")
        );
    }
}
