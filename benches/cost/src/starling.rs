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

/// Starling's three functions on one table, with the queue of its presence notices and the event
/// source mapping that drains it; messages go to the workload's one message queue.
struct Stack {
    connection: ConnectionDeps,
    send: SendDeps,
    fanout: FanoutDeps,
    presence: Mapping,
}

/// Rooms on one table, and their connections (`callers[k]` is connection `rooms.start × size + k`).
struct Shard {
    rooms: std::ops::Range<usize>,
    stack: Stack,
    callers: Vec<Caller>,
}

/// Runs `w` on Starling: set-up counted apart from the messages.
///
/// Rooms are set up in shards of at most [`SHARD_CONNECTIONS`], each on a table of its own: moto
/// answers an index Query by sorting the whole table, which a 10,000-connection table makes
/// quadratic. DynamoDB bills by the items read and written, not by the table's size, and no access
/// crosses rooms, so this changes moto's time, not the bill. The messages share one queue, so the
/// event source mapping's batches fill as they would in AWS; each record goes to its room's shard.
pub(crate) async fn run(env: &Env, w: &Workload) -> Result<Measured, CostError> {
    let meter = Meter::new(GSIS);
    let stamp = chrono::Utc::now().timestamp_millis();
    let (messages_url, _) = queues(env, &format!("starling-cost-{}-{stamp}", w.room_size)).await?;
    let mut shards = Vec::new();
    for (n, rooms) in w.shards(SHARD_CONNECTIONS).into_iter().enumerate() {
        let stack = stack(env, &meter, &format!("starling-cost-{}-{n}-{stamp}", w.room_size), &messages_url).await?;
        let first = rooms.start * w.room_size;
        let callers: Vec<Caller> =
            (first..(rooms.end * w.room_size).min(w.connections)).map(|i| caller(env, i)).collect();
        set_up(env, &stack, w, first, &callers).await?;
        meter.settle(&env.shadow).await?;
        shards.push(Shard { rooms, stack, callers });
    }

    meter.set_phase(Phase::Message);
    let started = Instant::now();
    let senders: Vec<(String, &Shard)> =
        shards.iter().flat_map(|s| s.rooms.clone().map(move |r| (room_name(r), s))).collect();
    stream::iter(&senders)
        .map(|(room, s)| {
            let caller = &s.callers[(room_index(room) - s.rooms.start) * w.room_size];
            frame(&s.stack.send, caller, send_frame(room), "accepted")
        })
        .buffer_unordered(env.concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    let route = |r: &Record| {
        let room = r.group.as_deref().map(room_index).unwrap_or(usize::MAX);
        shards.iter().find(|s| s.rooms.contains(&room)).map(|s| &s.stack.fanout)
    };
    Mapping::new(env, &meter, messages_url).drain(route, Some(senders.len())).await?;
    let message_time = started.elapsed();
    meter.settle(&env.shadow).await?;
    let connections = shards.iter().map(|s| s.callers.len()).sum();
    info!(system = "starling", room_size = w.room_size, messages = senders.len(), "sent");
    Ok(Measured::of(&meter, connections, senders.len(), message_time))
}

/// The index of a room named by [`room_name`].
fn room_index(room: &str) -> usize {
    room.trim_start_matches("room-").parse().unwrap_or(usize::MAX)
}

/// A FIFO queue and its DLQ, uncounted: queues and tables are the control plane (SAM or CDK).
async fn queues(env: &Env, name: &str) -> Result<(String, String), CostError> {
    Ok(SqsQueue::create_fifo_with_dlq(&aws_sdk_sqs::Client::new(&env.sdk), name, 180, 100).await?)
}

async fn stack(env: &Env, meter: &std::sync::Arc<Meter>, name: &str, messages_url: &str) -> Result<Stack, CostError> {
    DynamoStore::create_table_if_missing(&aws_sdk_dynamodb::Client::new(&env.sdk), name).await?;
    let (presence_url, dlq_url) = queues(env, name).await?;
    let clients = Clients::intercepted(&env.sdk, vec![meter.interceptor()]);
    let table = name.to_owned();
    let (limits, endpoint_override) = (SendLimits::default(), None);
    Ok(Stack {
        connection: clients.connection_deps(ConnectionConfig { table: table.clone(), queue_url: presence_url.clone() }),
        send: clients.send_deps(SendConfig {
            table: table.clone(),
            queue_url: messages_url.to_owned(),
            limits,
            endpoint_override,
            moderation: Default::default(),
        }),
        fanout: clients.fanout_deps(FanoutConfig {
            table,
            dlq_url,
            deliver_queue_url: None,
            export_stream: None,
            settings: FanoutSettings::default(),
        }),
        presence: Mapping::new(env, meter, presence_url),
    })
}

fn caller(env: &Env, i: usize) -> Caller {
    let connected_at_ms = chrono::Utc::now().timestamp_millis();
    let connection = Connection { id: connection_id(i), user: format!("user-{i:08}"), connected_at_ms, batch: false };
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
        stack.presence.drain(|_| Some(&stack.fanout), None).await?;
    }
    stream::iter(callers.iter().enumerate())
        .map(|(k, c)| frame(&stack.send, c, join_frame(&w.room_of(first + k)), "joined"))
        .buffer_unordered(env.concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    stack.presence.drain(|_| Some(&stack.fanout), None).await?;
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
    /// receive comes back empty; `route` names the fanout (the shard) of each record. Every record
    /// must succeed.
    async fn drain<'a>(
        &self,
        route: impl Fn(&Record) -> Option<&'a FanoutDeps>,
        expected: Option<usize>,
    ) -> Result<usize, CostError> {
        let mut done = 0;
        while expected.is_none_or(|n| done < n) {
            let received = self.receive().await?;
            if received.is_empty() && expected.is_none() {
                break;
            }
            let mut by_shard: Vec<(&FanoutDeps, Vec<Record>)> = Vec::new();
            for (record, _) in &received {
                let deps = route(record).ok_or_else(|| CostError::Unexpected(format!("no shard for {record:?}")))?;
                match by_shard.iter_mut().find(|(d, _)| std::ptr::eq(*d, deps)) {
                    Some((_, records)) => records.push(record.clone()),
                    None => by_shard.push((deps, vec![record.clone()])),
                }
            }
            for (deps, records) in by_shard {
                let failed = fanout::process_batch(deps, records).await;
                if !failed.is_empty() {
                    return Err(CostError::Unexpected(format!("the fanout failed records {failed:?}")));
                }
            }
            self.delete(received.iter().map(|(_, receipt)| receipt.as_str())).await?;
            done += received.len();
        }
        Ok(done)
    }

    /// One receive of up to a batch, as records and their receipt handles.
    async fn receive(&self) -> Result<Vec<(Record, String)>, CostError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(BATCH)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(CostError::sdk)?;
        Ok(out.messages.unwrap_or_default().into_iter().filter_map(record_of).collect())
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
