//! The classic design of AWS's WebSocket chat sample (`sendmessage`): a connections table keyed by
//! `connectionId`, and every message Scans all of it and posts to each connection, here only to
//! those whose `room` attribute is the message's room. It exists only in this benchmark.
//!
//! The Scan reads whole items: AWS bills a Scan by the bytes it reads, whatever it projects or
//! filters, so the room is matched here rather than by a filter the bill would not see.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    WriteRequest,
};
use futures::{StreamExt, TryStreamExt, stream};
use tracing::info;

use crate::CostError;
use crate::meter::{Meter, Phase};
use crate::workload::{BODY, Env, Measured, Workload, connection_id, room_name};

/// The most items one BatchWriteItem takes.
const WRITE_BATCH: usize = 25;
/// Posts in flight per message, as Starling's fanout has by default.
const POSTS_IN_FLIGHT: usize = 64;

type Item = HashMap<String, AttributeValue>;

struct Baseline {
    ddb: aws_sdk_dynamodb::Client,
    api: aws_sdk_apigatewaymanagement::Client,
    table: String,
    consistent: bool,
}

/// Runs `w` on the Scan design: every connection written once (set-up), then one message to each
/// of the workload's rooms.
pub(crate) async fn run(env: &Env, w: &Workload, consistent: bool) -> Result<Measured, CostError> {
    let meter = Meter::new(&[]);
    let b = Baseline::new(env, &meter, w.room_size, consistent).await?;
    let batches: Vec<Vec<usize>> =
        (0..w.connections).collect::<Vec<_>>().chunks(WRITE_BATCH).map(<[usize]>::to_vec).collect();
    stream::iter(batches)
        .map(|batch| b.connect(w, batch))
        .buffer_unordered(env.concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    info!(system = "scan", room_size = w.room_size, connections = w.connections, "set up");

    meter.set_phase(Phase::Message);
    let started = Instant::now();
    // One message at a time: each Scan is as big as the table, and moto holds it in memory.
    for r in 0..w.rooms {
        b.send(&room_name(r)).await?;
    }
    let message_time = started.elapsed();
    meter.settle(&env.shadow).await?;
    let measured = Measured::of(&meter, w.connections, w.rooms, message_time);
    info!(system = "scan", room_size = w.room_size, messages = w.rooms, posts = measured.deliveries, "sent");
    Ok(measured)
}

impl Baseline {
    async fn new(env: &Env, meter: &Arc<Meter>, room_size: usize, consistent: bool) -> Result<Self, CostError> {
        let table = format!("scan-cost-{room_size}-{}", chrono::Utc::now().timestamp_millis());
        let ddb_conf = aws_sdk_dynamodb::config::Builder::from(&env.sdk).interceptor(meter.interceptor());
        let api_conf = aws_sdk_apigatewaymanagement::config::Builder::from(&env.sdk)
            .endpoint_url(&env.endpoint)
            .interceptor(meter.interceptor());
        let b = Self {
            ddb: aws_sdk_dynamodb::Client::from_conf(ddb_conf.build()),
            api: aws_sdk_apigatewaymanagement::Client::from_conf(api_conf.build()),
            table,
            consistent,
        };
        b.create_table(env).await?;
        Ok(b)
    }

    /// The sample's table: `connectionId` alone as the key, on demand. Control plane, uncounted.
    async fn create_table(&self, env: &Env) -> Result<(), CostError> {
        let key = "connectionId";
        aws_sdk_dynamodb::Client::new(&env.sdk)
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(CostError::sdk)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(CostError::sdk)?,
            )
            .send()
            .await
            .map_err(CostError::sdk)?;
        Ok(())
    }

    /// `onconnect` of the connections `ids`, with their room. One BatchWriteItem for up to 25:
    /// billed per item as the sample's one PutItem each would be, in fewer round trips to moto.
    async fn connect(&self, w: &Workload, ids: Vec<usize>) -> Result<(), CostError> {
        let writes = ids
            .into_iter()
            .map(|i| {
                let item: Item = HashMap::from([
                    ("connectionId".to_owned(), AttributeValue::S(connection_id(i))),
                    ("room".to_owned(), AttributeValue::S(w.room_of(i))),
                ]);
                let put = PutRequest::builder().set_item(Some(item)).build().map_err(CostError::sdk)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, CostError>>()?;
        let out =
            self.ddb.batch_write_item().request_items(&self.table, writes).send().await.map_err(CostError::sdk)?;
        match out.unprocessed_items.unwrap_or_default().is_empty() {
            true => Ok(()),
            false => Err(CostError::Unexpected("moto left writes unprocessed".into())),
        }
    }

    /// `sendmessage`: Scan every page, post to each connection of `room`.
    async fn send(&self, room: &str) -> Result<(), CostError> {
        let mut targets = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .ddb
                .scan()
                .table_name(&self.table)
                .consistent_read(self.consistent)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(CostError::sdk)?;
            for item in page.items.unwrap_or_default() {
                if item.get("room").and_then(|v| v.as_s().ok()).is_some_and(|r| r == room)
                    && let Some(AttributeValue::S(id)) = item.get("connectionId")
                {
                    targets.push(id.clone());
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let frame = serde_json::json!({"room": room, "body": BODY}).to_string();
        stream::iter(targets)
            .map(|id| {
                let data = Blob::new(frame.as_bytes());
                async move { self.api.post_to_connection().connection_id(id).data(data).send().await }
            })
            .buffer_unordered(POSTS_IN_FLIGHT)
            .map_err(CostError::sdk)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }
}
