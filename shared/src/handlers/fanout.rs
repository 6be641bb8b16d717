//! The SQS event source mapping's consumer.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use tracing::info;

use crate::service::fanout::{self, FanoutDeps, Record};

/// The queue consumer: reports partial batch failures so only failed records (and, for FIFO
/// order, the later records of their groups) come back.
pub async fn fanout(deps: &FanoutDeps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let records: Vec<Record> = event
        .payload
        .records
        .into_iter()
        .map(|r| Record {
            id: r.message_id.unwrap_or_default(),
            group: r.attributes.get("MessageGroupId").cloned(),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let total = records.len();
    let failed = fanout::process_batch(deps, records).await;
    info!(
        route = "fanout",
        records = total,
        failed = failed.len(),
        outcome = if failed.is_empty() { "ok" } else { "partial" },
        "invocation"
    );
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Ok(response)
}
