//! Starling on its AWS adapters: `$connect`, `join`, then one `send` per room through the queue
//! and the fanout, every client wired through `wiring::aws::Clients` with the meter on it.

use std::time::Instant;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use futures::{StreamExt, TryStreamExt, stream};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::adapters::sqs::SqsQueue;
use starling_shared::config::{ConnectionConfig, FanoutConfig, SendConfig};
use starling_shared::domain::Connection;
use starling_shared::protocol::ServerFrame;
use starling_shared::service::connection::{self, ConnectionDeps};
use starling_shared::service::fanout::{self, FanoutDeps, FanoutSettings, Record};
use starling_shared::service::send::{Caller, SendDeps, SendLimits, handle_frame};
use starling_shared::wiring::aws::Clients;
use tracing::info;

use crate::CostError;
use crate::bill::IndexKeys;
use crate::meter::{Meter, Phase};
use crate::workload::{BODY, Env, Measured, Workload, connection_id, room_name};

/// Starling's table has one index, `gsi1`, projecting every attribute.
const GSIS: &IndexKeys = &[("gsi1pk", "gsi1sk")];
/// The event source mapping's batch size.
const BATCH: i32 = 10;
/// Connections per table and queue (whole rooms; a bigger room gets one of its own).
const SHARD_CONNECTIONS: usize = 1_000;
/// `$connect`s between two runs of the fanout over the presence notices, as the event source
/// mapping keeps the queue short.
const CONNECT_CHUNK: usize = 100;

/// Starling's three functions on one table and queue, and the event source mapping between them.
struct Stack {
    connection: ConnectionDeps,
    send: SendDeps,
    fanout: FanoutDeps,
    mapping: Mapping,
}

/// Runs `w` on Starling: set-up counted apart from the messages.
///
/// Rooms run in shards of at most [`SHARD_CONNECTIONS`], each on a table and queue of its own:
/// moto answers an index Query or a FIFO send by going through the whole table or queue, which a
/// 10,000-connection table makes quadratic. DynamoDB bills by the items read and written, not by
/// the table's size, and no access crosses rooms, so this changes moto's time, not the bill.
pub(crate) async fn run(env: &Env, w: &Workload) -> Result<Measured, CostError> {
    let meter = Meter::new(GSIS);
    let (mut connections, mut messages, mut message_time) = (0, 0, std::time::Duration::ZERO);
    for (n, rooms) in w.shards(SHARD_CONNECTIONS).into_iter().enumerate() {
        let stack = stack(env, &meter, w.room_size, n).await?;
        let first = rooms.start * w.room_size;
        let last = (rooms.end * w.room_size).min(w.connections);
        let callers: Vec<Caller> = (first..last).map(|i| caller(env, i)).collect();
        meter.set_phase(Phase::Setup);
        set_up(env, &stack, w, first, &callers).await?;
        meter.settle(&env.shadow).await?;

        meter.set_phase(Phase::Message);
        let started = Instant::now();
        let senders: Vec<(String, &Caller)> =
            rooms.clone().map(|r| (room_name(r), &callers[(r - rooms.start) * w.room_size])).collect();
        stream::iter(&senders)
            .map(|(room, caller)| frame(&stack.send, caller, send_frame(room), "accepted"))
            .buffer_unordered(env.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        stack.mapping.drain(&stack.fanout, Some(senders.len())).await?;
        message_time += started.elapsed();
        meter.settle(&env.shadow).await?;
        (connections, messages) = (connections + callers.len(), messages + senders.len());
        info!(system = "starling", room_size = w.room_size, shard = n, rooms = ?rooms, "sent");
    }
    Ok(Measured::of(&meter, connections, messages, message_time))
}

async fn stack(env: &Env, meter: &std::sync::Arc<Meter>, room_size: usize, shard: usize) -> Result<Stack, CostError> {
    let name = format!("starling-cost-{room_size}-{shard}-{}", chrono::Utc::now().timestamp_millis());
    // Tables and queues are the control plane (SAM or CDK in AWS), created uncounted.
    let admin_sqs = aws_sdk_sqs::Client::new(&env.sdk);
    DynamoStore::create_table_if_missing(&aws_sdk_dynamodb::Client::new(&env.sdk), &name).await?;
    let (queue_url, dlq_url) = SqsQueue::create_fifo_with_dlq(&admin_sqs, &name, 180, 100).await?;
    let clients = Clients::intercepted(&env.sdk, vec![meter.interceptor()]);
    let table = name.clone();
    let limits = SendLimits::default();
    Ok(Stack {
        connection: clients.connection_deps(ConnectionConfig { table: table.clone(), queue_url: queue_url.clone() }),
        send: clients.send_deps(SendConfig {
            table: table.clone(),
            queue_url: queue_url.clone(),
            limits,
            endpoint_override: None,
        }),
        fanout: clients.fanout_deps(FanoutConfig { table, dlq_url, settings: FanoutSettings::default() }),
        mapping: Mapping::new(env, meter, queue_url),
    })
}

fn caller(env: &Env, i: usize) -> Caller {
    let connected_at_ms = chrono::Utc::now().timestamp_millis();
    let connection = Connection { id: connection_id(i), user: format!("user-{i:08}"), connected_at_ms };
    Caller { connection, endpoint: Some(env.endpoint.clone()) }
}

/// `$connect` for every connection, a chunk at a time, with the fanout over the presence notices
/// each chunk queues (announced to no one: nobody has joined yet), then a `join` each.
/// `callers[k]` is connection `first + k`.
async fn set_up(env: &Env, stack: &Stack, w: &Workload, first: usize, callers: &[Caller]) -> Result<(), CostError> {
    for chunk in callers.chunks(CONNECT_CHUNK) {
        stream::iter(chunk)
            .map(|c| connection::open(&stack.connection, &c.connection, c.endpoint.clone()))
            .buffer_unordered(env.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        stack.mapping.drain(&stack.fanout, None).await?;
    }
    stream::iter(callers.iter().enumerate())
        .map(|(k, c)| frame(&stack.send, c, join_frame(&w.room_of(first + k)), "joined"))
        .buffer_unordered(env.concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    stack.mapping.drain(&stack.fanout, None).await?;
    info!(system = "starling", room_size = w.room_size, connections = callers.len(), "set up");
    Ok(())
}

fn join_frame(room: &str) -> String {
    serde_json::json!({"action": "join", "room": room}).to_string()
}

fn send_frame(room: &str) -> String {
    serde_json::json!({"action": "send", "room": room, "body": BODY, "clientMsgId": format!("cost-{room}")}).to_string()
}

/// One frame through the `send` function, which must answer `expected`.
async fn frame(deps: &SendDeps, caller: &Caller, text: String, expected: &str) -> Result<(), CostError> {
    let reply = handle_frame(deps, caller, &text).await.frame;
    let ok = matches!(
        (&reply, expected),
        (Some(ServerFrame::Joined { .. }), "joined") | (Some(ServerFrame::Accepted { .. }), "accepted")
    );
    if ok { Ok(()) } else { Err(CostError::Unexpected(format!("{text} was answered {reply:?}"))) }
}

/// The SQS event source mapping: receives batches of up to 10, hands them to the fanout, deletes
/// what it finished, on a metered client (AWS's poller makes these requests, billed to you).
struct Mapping {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Mapping {
    fn new(env: &Env, meter: &std::sync::Arc<Meter>, url: String) -> Self {
        let conf = aws_sdk_sqs::config::Builder::from(&env.sdk).interceptor(meter.interceptor()).build();
        Self { sqs: aws_sdk_sqs::Client::from_conf(conf), url }
    }

    /// Runs the fanout over the queue until `expected` records are done, or, without one, until a
    /// receive comes back empty. Every record must succeed.
    async fn drain(&self, fanout: &FanoutDeps, expected: Option<usize>) -> Result<usize, CostError> {
        let mut done = 0;
        while expected.is_none_or(|n| done < n) {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(BATCH)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(CostError::sdk)?
                .messages
                .unwrap_or_default();
            if received.is_empty() && expected.is_none() {
                break;
            }
            let records: Vec<(Record, String)> = received.into_iter().filter_map(record_of).collect();
            let failed = fanout::process_batch(fanout, records.iter().map(|(r, _)| r.clone()).collect()).await;
            if !failed.is_empty() {
                return Err(CostError::Unexpected(format!("the fanout failed records {failed:?}")));
            }
            self.delete(records.iter().map(|(_, receipt)| receipt.as_str())).await?;
            done += records.len();
        }
        Ok(done)
    }

    async fn delete(&self, receipts: impl Iterator<Item = &str>) -> Result<(), CostError> {
        let entries = receipts
            .enumerate()
            .map(|(i, r)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(CostError::sdk)?;
        if entries.is_empty() {
            return Ok(());
        }
        let out = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(CostError::sdk)?;
        match out.failed.is_empty() {
            true => Ok(()),
            false => Err(CostError::Unexpected(format!("deletes failed: {:?}", out.failed))),
        }
    }
}

/// The record the event source mapping would hand over, and its receipt handle.
fn record_of(m: aws_sdk_sqs::types::Message) -> Option<(Record, String)> {
    let attrs = m.attributes.unwrap_or_default();
    let group = attrs.get(&MessageSystemAttributeName::MessageGroupId).cloned();
    let receives = attrs.get(&MessageSystemAttributeName::ApproximateReceiveCount).and_then(|c| c.parse().ok());
    let mut record = Record::new(m.message_id?, group, m.body.unwrap_or_default());
    record.receive_count = receives.unwrap_or(1);
    Some((record, m.receipt_handle?))
}
