//! The SQS event source mapping's consumer.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use tracing::info;

use crate::service::fanout::{self, Deadline, FanoutDeps, Record};
use crate::telemetry::metric;

/// The queue consumer: reports partial batch failures so only failed records (and, for FIFO
/// order, the later records of their groups) come back. Work stops a margin before the
/// invocation's deadline (`Context::deadline`), so it answers before Lambda kills it.
pub async fn fanout(deps: &FanoutDeps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let records: Vec<Record> = event
        .payload
        .records
        .into_iter()
        .map(|r| Record {
            id: r.message_id.unwrap_or_default(),
            group: r.attributes.get("MessageGroupId").cloned(),
            body: r.body.unwrap_or_default(),
            receive_count: r.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
        })
        .collect();
    let total = records.len();
    metric::batch_size(total);
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    let deadline = Deadline::from_epoch_ms(event.context.deadline, now_ms, deps.settings.deadline_margin);
    let failed = fanout::process_batch_within(deps, records, deadline).await;
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
