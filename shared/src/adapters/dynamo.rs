//! The DynamoDB adapter: every store port on one table (DESIGN.md §4, docs/data-model.md).
//!
//! Every access is a GetItem, a Query or a (conditional) write; nothing scans.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType, Select,
    TimeToLiveSpecification, TransactWriteItem, WriteRequest,
};
use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::domain::{
    AppendOutcome, Appended, Connection, DEDUP_WINDOW_SECS, HistoryPage, Message, NewMessage, Page, Presence, Removed,
    Status, Subscriber, SyncPage,
};
use crate::ports::{
    BoxError, ConnectionStore, MessageStore, PresenceStore, RateLimiter, StoreError, SubscriptionStore,
};

type Item = HashMap<String, AttributeValue>;

/// The name of the "rooms of a user" index.
pub const GSI1: &str = "gsi1";
/// Head-conflict retries before `append` gives up with `Contention`.
const APPEND_ATTEMPTS: usize = 8;
/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_MAX: usize = 25;
const BATCH_WRITE_ATTEMPTS: u32 = 8;
/// Room heads remembered between invocations; past this the cache is cleared.
const HEAD_CACHE_MAX: usize = 10_000;

fn conn_pk(id: &str) -> String {
    format!("CONN#{id}")
}
fn user_pk(user: &str) -> String {
    format!("USER#{user}")
}
fn room_pk(room: &str) -> String {
    format!("ROOM#{room}")
}
fn sub_sk(conn: &str) -> String {
    format!("SUB#{conn}")
}
fn msg_sk(seq: u64) -> String {
    format!("MSG#{seq:020}")
}
fn dedup_sk(msg: &NewMessage) -> String {
    match &msg.client_msg_id {
        Some(c) => format!("DEDUP#{}#{c}", msg.from),
        None => format!("MSGID#{}", msg.id),
    }
}
const CONN_SK: &str = "CONN";
const HEAD_SK: &str = "HEAD";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionItem {
    pk: String,
    sk: String,
    connection_id: String,
    user: String,
    connected_at: i64,
    expires_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserConnectionItem {
    pk: String,
    sk: String,
    connection_id: String,
    expires_at: i64,
}

/// `ROOM#r / SUB#c`: what the fanout queries.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriberItem {
    pk: String,
    sk: String,
    connection_id: String,
    user: String,
    expires_at: i64,
}

/// `CONN#c / SUB#r`: the inverse, so a disconnect finds its rooms with one Query.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionRoomItem {
    pk: String,
    sk: String,
    room: String,
    expires_at: i64,
}

/// `ROOM#r / MEMBER#u`, inverted by `gsi1` (`USER#u` / `ROOM#r`) for "rooms of a user".
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberItem {
    pk: String,
    sk: String,
    room: String,
    user: String,
    gsi1pk: String,
    gsi1sk: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeadItem {
    pk: String,
    sk: String,
    last_seq: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageItem {
    pk: String,
    sk: String,
    room: String,
    seq: u64,
    id: String,
    from: String,
    body: String,
    sent_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_msg_id: Option<String>,
    expires_at: i64,
}

impl MessageItem {
    fn new(pk: String, m: Message, expires_at: i64) -> Self {
        Self {
            pk,
            sk: msg_sk(m.seq),
            room: m.room,
            seq: m.seq,
            id: m.id,
            from: m.from,
            body: m.body,
            sent_at: m.sent_at,
            client_msg_id: m.client_msg_id,
            expires_at,
        }
    }

    fn into_message(self) -> Message {
        Message {
            room: self.room,
            seq: self.seq,
            id: self.id,
            from: self.from,
            body: self.body,
            sent_at: self.sent_at,
            client_msg_id: self.client_msg_id,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DedupItem {
    pk: String,
    sk: String,
    id: String,
    seq: u64,
    expires_at: i64,
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), AttributeValue::S(pk.into())), ("sk".to_owned(), AttributeValue::S(sk.into()))])
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Failed(Box::new(e)))
}

fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    let key = format!(
        "{}/{}",
        item.get("pk").and_then(|v| v.as_s().ok()).map_or("?", String::as_str),
        item.get("sk").and_then(|v| v.as_s().ok()).map_or("?", String::as_str)
    );
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt { key, source: Box::new(e) })
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Failed(Box::new(e))
}

const THROTTLE_CODES: &[&str] =
    &["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "Throttling"];

/// Maps an SDK failure to what the caller must do: throttles are retried by the caller.
fn sdk_err<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let throttled = e.code().is_some_and(|c| THROTTLE_CODES.contains(&c));
    let boxed: BoxError = Box::new(e);
    if throttled { StoreError::Throttled(boxed) } else { StoreError::Failed(boxed) }
}

fn put(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .put(Put::builder().table_name(table).set_item(Some(item)).build().map_err(build_err)?)
        .build())
}

fn delete(table: &str, k: Item) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .delete(Delete::builder().table_name(table).set_key(Some(k)).build().map_err(build_err)?)
        .build())
}

/// Every store port on one DynamoDB table.
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    page_size: Option<i32>,
    /// Last seq this process wrote per room. Only a hint: the head write is conditional on it,
    /// and a miss costs one read; a hit saves that read on every message.
    heads: Mutex<HashMap<String, u64>>,
}

impl DynamoStore {
    /// The store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), page_size: None, heads: Mutex::default() }
    }

    /// Limits each subscriber Query page to `n` items, to exercise pagination.
    pub fn with_page_size(mut self, n: i32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table as the templates define it (keys, `gsi1`, TTL on `expiresAt`), unless it
    /// exists. For the devstack and tests; in AWS the table comes from SAM or CDK.
    pub async fn create_table_if_missing(client: &Client, table: &str) -> Result<(), StoreError> {
        match client.describe_table().table_name(table).send().await {
            Ok(_) => return Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(sdk_err(e)),
        }
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)
        };
        let key_el = |name: &str, kind: KeyType| {
            KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(build_err)
        };
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .key_schema(key_el("pk", KeyType::Hash)?)
            .key_schema(key_el("sk", KeyType::Range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(GSI1)
                    .key_schema(key_el("gsi1pk", KeyType::Hash)?)
                    .key_schema(key_el("gsi1sk", KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
            Err(e) => return Err(sdk_err(e)),
        }
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expiresAt")
                    .enabled(true)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn get_item(&self, k: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    /// Runs a transaction; `Ok(false)` when a condition failed (the caller re-reads to see why).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c))
                    if c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
                        || c.cancellation_reasons().is_empty() =>
                {
                    Ok(false)
                }
                _ => Err(sdk_err(e)),
            },
        }
    }

    async fn query_all(&self, pk: String, sk_prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
            q = match sk_prefix {
                Some(p) => q
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(p)),
                None => q.key_condition_expression("pk = :pk"),
            };
            let out = q.send().await.map_err(sdk_err)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Deletes keys with BatchWriteItem, 25 at a time, retrying what DynamoDB leaves unprocessed.
    async fn delete_keys(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    Ok(WriteRequest::builder()
                        .delete_request(DeleteRequest::builder().set_key(Some(k.clone())).build().map_err(build_err)?)
                        .build())
                })
                .collect::<Result<_, StoreError>>()?;
            let mut backoff = Duration::from_millis(25);
            for attempt in 1..=BATCH_WRITE_ATTEMPTS {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt == BATCH_WRITE_ATTEMPTS {
                    return Err(StoreError::Throttled(
                        format!("{} deletes left unprocessed after {attempt} attempts", requests.len()).into(),
                    ));
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Ok(())
    }

    fn cached_head(&self, room: &str) -> Option<u64> {
        self.heads.lock().unwrap_or_else(|p| p.into_inner()).get(room).copied()
    }

    fn remember_head(&self, room: &str, seq: u64) {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        if heads.len() >= HEAD_CACHE_MAX {
            heads.clear();
        }
        heads.insert(room.to_owned(), seq);
    }

    /// Up to `want` messages of a room with seq in `lo..=hi`, ascending or descending, across
    /// DynamoDB's 1 MB pages (101 messages of 16 KiB exceed one); `keep` drops items uncounted.
    async fn query_messages(
        &self,
        room: &str,
        lo: u64,
        hi: u64,
        ascending: bool,
        want: usize,
        keep: impl Fn(&MessageItem) -> bool + Send,
    ) -> Result<Vec<MessageItem>, StoreError> {
        let mut found: Vec<MessageItem> = Vec::with_capacity(want.min(1024));
        let mut start: Option<Item> = None;
        while found.len() < want {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(room_pk(room)))
                .expression_attribute_values(":lo", s(msg_sk(lo)))
                .expression_attribute_values(":hi", s(msg_sk(hi)))
                .scan_index_forward(ascending)
                .limit(i32::try_from(want - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for item in out.items.unwrap_or_default() {
                let m: MessageItem = from_item(item)?;
                if keep(&m) {
                    found.push(m);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(found)
    }

    async fn read_dedup(&self, msg: &NewMessage) -> Result<Option<DedupItem>, StoreError> {
        let Some(item) = self.get_item(key(room_pk(&msg.room), dedup_sk(msg))).await? else {
            return Ok(None);
        };
        let rec: DedupItem = from_item(item)?;
        Ok((rec.expires_at >= msg.now).then_some(rec))
    }

    async fn read_message(&self, room: &str, seq: u64) -> Result<Message, StoreError> {
        let item = self
            .get_item(key(room_pk(room), msg_sk(seq)))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("message {room}#{seq}")))?;
        Ok(from_item::<MessageItem>(item)?.into_message())
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn register(&self, conn: &Connection) -> Result<(), StoreError> {
        let expires_at = conn.expires_at();
        let main = to_item(&ConnectionItem {
            pk: conn_pk(&conn.id),
            sk: CONN_SK.into(),
            connection_id: conn.id.clone(),
            user: conn.user.clone(),
            connected_at: conn.connected_at_ms,
            expires_at,
        })?;
        let by_user = to_item(&UserConnectionItem {
            pk: user_pk(&conn.user),
            sk: conn_pk(&conn.id),
            connection_id: conn.id.clone(),
            expires_at,
        })?;
        let ok = self.transact(vec![put(&self.table, main)?, put(&self.table, by_user)?]).await?;
        if ok { Ok(()) } else { Err(StoreError::Failed("unconditional register was cancelled".into())) }
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let Some(item) = self.get_item(key(conn_pk(connection_id), CONN_SK)).await? else {
            return Ok(None);
        };
        let c: ConnectionItem = from_item(item)?;
        Ok(Some(Connection { id: c.connection_id, user: c.user, connected_at_ms: c.connected_at }))
    }

    async fn remove(&self, connection_id: &str) -> Result<Removed, StoreError> {
        let items = self.query_all(conn_pk(connection_id), None).await?;
        let mut removed = Removed::default();
        let mut keys = Vec::with_capacity(items.len() * 2 + 1);
        for item in items {
            let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == CONN_SK {
                let c: ConnectionItem = from_item(item)?;
                keys.push(key(user_pk(&c.user), conn_pk(connection_id)));
                removed.user = Some(c.user.clone());
                removed.connection =
                    Some(Connection { id: c.connection_id, user: c.user, connected_at_ms: c.connected_at });
            } else if let Some(room) = sk.strip_prefix("SUB#") {
                keys.push(key(room_pk(room), sub_sk(connection_id)));
                removed.rooms.push(room.to_owned());
            }
            keys.push(key(conn_pk(connection_id), sk));
        }
        debug!(connection_id, deletes = keys.len(), "removing connection");
        self.delete_keys(keys).await?;
        Ok(removed)
    }
}

#[async_trait]
impl SubscriptionStore for DynamoStore {
    async fn subscribe(&self, room: &str, conn: &Connection) -> Result<(), StoreError> {
        let expires_at = conn.expires_at();
        let check = TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(conn_pk(&conn.id), CONN_SK)))
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .map_err(build_err)?,
            )
            .build();
        let sub = to_item(&SubscriberItem {
            pk: room_pk(room),
            sk: sub_sk(&conn.id),
            connection_id: conn.id.clone(),
            user: conn.user.clone(),
            expires_at,
        })?;
        let inverse = to_item(&ConnectionRoomItem {
            pk: conn_pk(&conn.id),
            sk: format!("SUB#{room}"),
            room: room.into(),
            expires_at,
        })?;
        let member = to_item(&MemberItem {
            pk: room_pk(room),
            sk: format!("MEMBER#{}", conn.user),
            room: room.into(),
            user: conn.user.clone(),
            gsi1pk: user_pk(&conn.user),
            gsi1sk: room_pk(room),
        })?;
        let items = vec![check, put(&self.table, sub)?, put(&self.table, inverse)?, put(&self.table, member)?];
        if self.transact(items).await? { Ok(()) } else { Err(StoreError::NotFound(format!("connection {}", conn.id))) }
    }

    async fn unsubscribe(&self, room: &str, conn: &Connection) -> Result<(), StoreError> {
        let items = vec![
            delete(&self.table, key(room_pk(room), sub_sk(&conn.id)))?,
            delete(&self.table, key(conn_pk(&conn.id), format!("SUB#{room}")))?,
            delete(&self.table, key(room_pk(room), format!("MEMBER#{}", conn.user)))?,
        ];
        if self.transact(items).await? {
            Ok(())
        } else {
            Err(StoreError::Failed("unconditional unsubscribe was cancelled".into()))
        }
    }

    async fn is_subscribed(&self, room: &str, connection_id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(room_pk(room), sub_sk(connection_id))))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item.is_some_and(|i| !i.is_empty()))
    }

    async fn subscription_count(&self, connection_id: &str) -> Result<usize, StoreError> {
        let mut count = 0usize;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :sub)")
                .expression_attribute_values(":pk", s(conn_pk(connection_id)))
                .expression_attribute_values(":sub", s("SUB#"))
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            count += usize::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(count),
            }
        }
    }

    async fn subscribers(&self, room: &str, cursor: Option<&str>) -> Result<Page<Subscriber>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :sub)")
            .expression_attribute_values(":pk", s(room_pk(room)))
            .expression_attribute_values(":sub", s("SUB#"))
            .projection_expression("connectionId, #u")
            .expression_attribute_names("#u", "user")
            .set_limit(self.page_size)
            .set_exclusive_start_key(cursor.map(|c| key(room_pk(room), c)))
            .send()
            .await
            .map_err(sdk_err)?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Row {
            connection_id: String,
            user: String,
        }
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item::<Row>(i).map(|r| Subscriber { connection_id: r.connection_id, user: r.user }))
            .collect::<Result<Vec<_>, _>>()?;
        let next = out.last_evaluated_key.and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned());
        Ok(Page { items, next })
    }

    async fn is_member(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(room_pk(room), format!("MEMBER#{user}"))))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item.is_some_and(|i| !i.is_empty()))
    }

    async fn members(&self, room: &str) -> Result<Vec<String>, StoreError> {
        let items = self.query_all(room_pk(room), Some("MEMBER#")).await?;
        items.into_iter().map(|i| from_item::<MemberItem>(i).map(|m| m.user)).collect()
    }

    async fn rooms_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let mut rooms = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :u")
                .expression_attribute_values(":u", s(user_pk(user)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for item in out.items.unwrap_or_default() {
                rooms.push(from_item::<MemberItem>(item)?.room);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(rooms),
            }
        }
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn append(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        let pk = room_pk(&msg.room);
        let mut head = match self.cached_head(&msg.room) {
            Some(h) => h,
            None => self.last_seq(&msg.room).await?,
        };
        for _ in 0..APPEND_ATTEMPTS {
            let seq = head + 1;
            let head_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&HeadItem { pk: pk.clone(), sk: HEAD_SK.into(), last_seq: seq })?))
                .condition_expression(if head == 0 { "attribute_not_exists(lastSeq)" } else { "lastSeq = :head" })
                .set_expression_attribute_values((head > 0).then(|| HashMap::from([(":head".to_owned(), n(head))])))
                .build()
                .map_err(build_err)?;
            let message = MessageItem::new(pk.clone(), msg.sequenced(seq), msg.expires_at);
            let message_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&message)?))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_err)?;
            // An expired dedup record may be overwritten: TTL deletes lazily (or, in emulators, never).
            let dedup_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&DedupItem {
                    pk: pk.clone(),
                    sk: dedup_sk(&msg),
                    id: msg.id.clone(),
                    seq,
                    expires_at: msg.now + DEDUP_WINDOW_SECS,
                })?))
                .condition_expression("attribute_not_exists(pk) OR expiresAt < :now")
                .expression_attribute_values(":now", n(msg.now))
                .build()
                .map_err(build_err)?;
            let items = vec![
                TransactWriteItem::builder().put(head_put).build(),
                TransactWriteItem::builder().put(message_put).build(),
                TransactWriteItem::builder().put(dedup_put).build(),
            ];
            if self.transact(items).await? {
                self.remember_head(&msg.room, seq);
                return Ok(Appended { message: message.into_message(), outcome: AppendOutcome::Fresh });
            }
            // Cancelled: either this message (or its clientMsgId) is stored already, or the head
            // moved. Reading the dedup record first tells which.
            if let Some(rec) = self.read_dedup(&msg).await? {
                let stored = self.read_message(&msg.room, rec.seq).await?;
                let outcome = if stored.id == msg.id { AppendOutcome::Redelivered } else { AppendOutcome::Duplicate };
                return Ok(Appended { message: stored, outcome });
            }
            head = self.last_seq(&msg.room).await?;
            self.remember_head(&msg.room, head);
        }
        Err(StoreError::Contention { room: msg.room })
    }

    async fn last_seq(&self, room: &str) -> Result<u64, StoreError> {
        match self.get_item(key(room_pk(room), HEAD_SK)).await? {
            Some(item) => Ok(from_item::<HeadItem>(item)?.last_seq),
            None => Ok(0),
        }
    }

    async fn history(&self, room: &str, before: Option<u64>, limit: u32, now: i64) -> Result<HistoryPage, StoreError> {
        let upper = match before {
            Some(0 | 1) => return Ok(HistoryPage { messages: vec![], has_more: false }),
            Some(b) => b - 1,
            None => u64::MAX,
        };
        let want = limit as usize + 1;
        let newest_first = self.query_messages(room, 1, upper, false, want, |_| true).await?;
        // Retention is by seq order, so once one message is expired every older one is too.
        let live: Vec<MessageItem> = newest_first.into_iter().take_while(|m| m.expires_at >= now).collect();
        let has_more = live.len() > limit as usize;
        let mut messages: Vec<Message> = live.into_iter().take(limit as usize).map(MessageItem::into_message).collect();
        messages.reverse();
        Ok(HistoryPage { messages, has_more })
    }
    async fn since(&self, room: &str, after: u64, limit: usize, now: i64) -> Result<SyncPage, StoreError> {
        let last_seq = self.last_seq(room).await?;
        if last_seq <= after {
            return Ok(SyncPage { messages: vec![], recovered: true, has_more: false, last_seq });
        }
        // Expired messages are the oldest, so they sit at the start of the range; skipping them
        // without counting them keeps `limit` live ones.
        let live = self.query_messages(room, after + 1, u64::MAX, true, limit + 1, |m| m.expires_at >= now).await?;
        let has_more = live.len() > limit;
        let recovered = live.first().is_some_and(|m| m.seq == after + 1);
        let messages = live.into_iter().take(limit).map(MessageItem::into_message).collect();
        Ok(SyncPage { messages, recovered, has_more, last_seq })
    }
}

#[async_trait]
impl RateLimiter for DynamoStore {
    async fn hit(&self, connection_id: &str, window_start: i64, expires_at: i64) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(conn_pk(connection_id), format!("RATE#{window_start}"))))
            .update_expression("ADD hits :one SET expiresAt = :exp")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk_err)?;
        out.attributes
            .and_then(|a| a.get("hits").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()))
            .ok_or_else(|| StoreError::Failed("UpdateItem returned no hit count".into()))
    }
}

/// `USER#u / PRESENCE`: the user's open connections (as `<expiresAt>#<connectionId>`, so one
/// whose `$disconnect` never came stops counting after API Gateway's 2-hour limit), `away`, `lastSeen`.
const PRESENCE_SK: &str = "PRESENCE";

fn conn_element(conn: &Connection) -> String {
    format!("{}#{}", conn.expires_at(), conn.id)
}

fn element_live(element: &str, now: i64) -> bool {
    element.split_once('#').and_then(|(exp, _)| exp.parse::<i64>().ok()).is_some_and(|exp| exp > now)
}

fn string_set(item: &Item, name: &str) -> Vec<String> {
    item.get(name).and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default()
}

fn presence_of(user: &str, item: Option<&Item>, now: i64) -> Presence {
    let live = item.is_some_and(|i| string_set(i, "conns").iter().any(|e| element_live(e, now)));
    let away = item.and_then(|i| i.get("away")).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
    let last_seen = item
        .and_then(|i| i.get("lastSeen"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .map(crate::domain::timestamp_secs);
    let status = match (live, away) {
        (false, _) => Status::Offline,
        (true, true) => Status::Away,
        (true, false) => Status::Online,
    };
    Presence { user: user.to_owned(), status, last_seen }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

#[async_trait]
impl PresenceStore for DynamoStore {
    async fn connection_opened(&self, conn: &Connection, now: i64) -> Result<Option<Presence>, StoreError> {
        let element = conn_element(conn);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&conn.user), PRESENCE_SK)))
            .update_expression("ADD conns :c")
            .expression_attribute_values(":c", AttributeValue::Ss(vec![element.clone()]))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        let old = out.attributes.map(|a| string_set(&a, "conns")).unwrap_or_default();
        let dead: Vec<String> = old.iter().filter(|e| !element_live(e, now) && **e != element).cloned().collect();
        let was_offline = !old.iter().any(|e| element_live(e, now) && *e != element);
        let expression = match (was_offline, dead.is_empty()) {
            (true, true) => Some("REMOVE away"),
            (true, false) => Some("REMOVE away DELETE conns :dead"),
            (false, false) => Some("DELETE conns :dead"),
            (false, true) => None,
        };
        if let Some(expression) = expression {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(&conn.user), PRESENCE_SK)))
                .update_expression(expression)
                .set_expression_attribute_values(
                    (!dead.is_empty()).then(|| HashMap::from([(":dead".to_owned(), AttributeValue::Ss(dead))])),
                )
                .send()
                .await
                .map_err(sdk_err)?;
        }
        Ok(was_offline.then(|| Presence { user: conn.user.clone(), status: Status::Online, last_seen: None }))
    }

    async fn connection_closed(&self, conn: &Connection, now: i64) -> Result<Option<Presence>, StoreError> {
        let element = conn_element(conn);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&conn.user), PRESENCE_SK)))
            .update_expression("DELETE conns :c SET lastSeen = :now")
            .condition_expression("contains(conns, :e)")
            .expression_attribute_values(":c", AttributeValue::Ss(vec![element.clone()]))
            .expression_attribute_values(":e", s(element.clone()))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(out) => out.attributes.map(|a| string_set(&a, "conns")).unwrap_or_default(),
            Err(e) if is_condition_failure(&e) => return Ok(None),
            Err(e) => return Err(sdk_err(e)),
        };
        let was_live = old.iter().any(|e| element_live(e, now));
        let still_live = old.iter().any(|e| element_live(e, now) && *e != element);
        Ok((was_live && !still_live).then(|| Presence {
            user: conn.user.clone(),
            status: Status::Offline,
            last_seen: Some(crate::domain::timestamp_secs(now)),
        }))
    }

    async fn set_status(&self, user: &str, status: Status, now: i64) -> Result<Option<Presence>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), PRESENCE_SK)))
            .update_expression("SET away = :away")
            .expression_attribute_values(":away", AttributeValue::Bool(status == Status::Away))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        let old = out.attributes.unwrap_or_default();
        let before = presence_of(user, Some(&old), now);
        let mut new = old;
        new.insert("away".into(), AttributeValue::Bool(status == Status::Away));
        let after = presence_of(user, Some(&new), now);
        Ok((before.status != after.status).then_some(Presence { last_seen: None, ..after }))
    }

    async fn presence(&self, users: &[String], now: i64) -> Result<Vec<Presence>, StoreError> {
        let mut found: HashMap<String, Item> = HashMap::new();
        for chunk in users.chunks(100) {
            let mut keys: Vec<Item> = chunk.iter().map(|u| key(user_pk(u), PRESENCE_SK)).collect();
            keys.dedup();
            let mut backoff = Duration::from_millis(25);
            for attempt in 1..=BATCH_WRITE_ATTEMPTS {
                let ka = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(build_err)?;
                let out = self.client.batch_get_item().request_items(&self.table, ka).send().await.map_err(sdk_err)?;
                for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    if let Some(pk) = item.get("pk").and_then(|v| v.as_s().ok()).and_then(|p| p.strip_prefix("USER#")) {
                        found.insert(pk.to_owned(), item);
                    }
                }
                keys = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
                if keys.is_empty() {
                    break;
                }
                if attempt == BATCH_WRITE_ATTEMPTS {
                    return Err(StoreError::Throttled("presence reads left unprocessed".into()));
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Ok(users.iter().map(|u| presence_of(u, found.get(u), now)).collect())
    }

    async fn set_read(&self, user: &str, room: &str, seq: u64) -> Result<u64, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user), format!("READ#{room}"))))
            .update_expression("SET seq = :seq")
            .condition_expression("attribute_not_exists(seq) OR seq < :seq")
            .expression_attribute_values(":seq", n(seq))
            .send()
            .await;
        match result {
            Ok(_) => Ok(seq),
            Err(e) if is_condition_failure(&e) => Ok(self.read_cursor(user, room).await?.unwrap_or(seq)),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn read_cursor(&self, user: &str, room: &str) -> Result<Option<u64>, StoreError> {
        let item = self.get_item(key(user_pk(user), format!("READ#{room}"))).await?;
        Ok(item.and_then(|i| i.get("seq").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())))
    }

    async fn typing_allowed(
        &self,
        connection_id: &str,
        room: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(conn_pk(connection_id), format!("TYPING#{room}"))))
            .update_expression("SET lastTyping = :now, expiresAt = :exp")
            .condition_expression("attribute_not_exists(lastTyping) OR lastTyping <= :cutoff")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":cutoff", n(now_ms - interval_ms))
            .expression_attribute_values(":exp", n(now_ms / 1000 + crate::domain::MAX_CONNECTION_SECS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }
}
