//! The DynamoDB adapter: every store port on one table (docs/architecture.md, "Single table").
//!
//! The table has a string partition key `pk` and sort key `sk`, and these kinds of partition:
//!
//! - `CONN#<connection>`: the connection (`CONN`), the rooms it is subscribed to (`SUB#<room>`, so a
//!   disconnect finds them with one Query) and its typing gates;
//! - `ROOM#<room>`: online subscribers (`SUB#<connection>`, what the fanout pages through), members
//!   (`MEMBER#<user>`), the head (`HEAD`, the last seq), messages (`MSG#<seq:020>`) and their dedup
//!   records;
//! - `USER#<user>`: the user's connections, presence (`PRESENCE`), read cursors (`READ#<room>`),
//!   rate windows (`RATE#<windowStart>`) and gates (`GATE#<gate>`);
//! - `KEYS#<user>`: the user's MLS key package directory (`DEVICES`, `DEVICE#<device>`,
//!   `KP#<device>#<ulid>`; docs/e2e.md);
//! - `RECORD#<queue message id>`: the fanout's failed attempts at one queue record (`FAILURES`).
//!
//! A room's partition also holds the fanout's delivery checkpoints (`DELIVERED#<seq:020>`) and its
//! per-minute counters (`STATS#<minute>`, docs/analytics.md).
//!
//! The index `gsi1` (`gsi1pk = USER#<user>`, `gsi1sk = ROOM#<room>`, set on member items only) lists
//! a user's rooms. TTL on `expiresAt` sweeps connection-scoped items, messages past retention and
//! dedup records, but nothing relies on it: emulators never expire items, so reads check `expiresAt`.
//! Every access is a GetItem, a Query or a (conditional) write; nothing scans.
//!
//! `keys` builds every key and `items` holds the item types; one module per port implements it.

mod connections;
mod items;
mod key_packages;
mod keys;
mod ledger;
mod limiter;
mod messages;
mod paging;
mod presence;
mod retry;
mod schema;
mod stats;
mod subscriptions;
mod welcomes;

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use self::keys::{Key, PK};
pub use self::schema::TableDefinition;
use super::is_throttle;
use crate::ports::{BoxError, StoreError};

/// An item (or a key) as the SDK takes and returns it: attribute name to value.
type Item = HashMap<String, AttributeValue>;

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
    /// The store on `table`, which must exist (see [`DynamoStore::create_table_if_missing`]).
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), page_size: None, heads: Mutex::default() }
    }

    /// Limits each subscriber Query page to `n` items, to exercise pagination.
    #[must_use]
    pub fn with_page_size(mut self, n: i32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table as the templates define it (keys, `gsi1`, TTL on `expiresAt`), unless it
    /// exists. For the devstack and tests; in AWS the table comes from SAM or CDK.
    ///
    /// # Errors
    ///
    /// `Throttled` or `Failed` when DynamoDB refuses a request (a table that another process
    /// creates meanwhile is not an error).
    pub async fn create_table_if_missing(client: &Client, table: &str) -> Result<(), StoreError> {
        schema::create_if_missing(client, table).await
    }

    /// The requests [`DynamoStore::create_table_if_missing`] sends for `table`, to compare with
    /// `infra/contract.json` (which the SAM template and the CDK app are held to).
    ///
    /// # Errors
    ///
    /// `Failed` only if a request cannot be built, which would be a bug of this adapter.
    pub fn table_definition(table: &str) -> Result<TableDefinition, StoreError> {
        schema::definition(table)
    }

    /// The item at `key`, read consistently.
    async fn get_item(&self, key: Key) -> Result<Option<Item>, StoreError> {
        self.read_item(key, None).await
    }

    /// Whether the item exists, reading only its key.
    async fn exists(&self, key: Key) -> Result<bool, StoreError> {
        Ok(self.read_item(key, Some(PK)).await?.is_some_and(|i| !i.is_empty()))
    }

    async fn read_item(&self, key: Key, projection: Option<&str>) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.into_item()))
            .set_projection_expression(projection.map(str::to_owned))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item)
    }

    /// An UpdateItem of the item at `key`, for the caller to give its expressions.
    fn update(&self, key: Key) -> UpdateItemFluentBuilder {
        self.client.update_item().table_name(&self.table).set_key(Some(key.into_item()))
    }

    /// Runs a transaction; `Ok(false)` when a condition failed (the caller re-reads to see why).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_cancelled_by_a_condition(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// [`Self::transact`] for writers that race on one item: `Ok(false)` also when a concurrent
    /// transaction on one of its items cancelled it (`TransactionConflict`); the caller re-reads.
    async fn transact_or_raced(&self, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if cancellation_reasons(&e).is_some_and(|codes| {
                    codes.iter().any(|c| matches!(*c, "ConditionalCheckFailed" | "TransactionConflict"))
                }) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// A put of `item` into this table, for the caller to add a condition and build.
    fn put(&self, item: Item) -> PutBuilder {
        Put::builder().table_name(&self.table).set_item(Some(item))
    }

    /// An unconditional put, as one action of a transaction.
    fn transact_put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        Ok(TransactWriteItem::builder().put(self.put(item).build().map_err(build_err)?).build())
    }

    /// An unconditional delete, as one action of a transaction.
    fn transact_delete(&self, key: Key) -> Result<TransactWriteItem, StoreError> {
        let delete =
            Delete::builder().table_name(&self.table).set_key(Some(key.into_item())).build().map_err(build_err)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// A number attribute (DynamoDB takes numbers as decimal strings).
fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

// ---- SDK errors to `StoreError`: the only place they are mapped.

/// Maps an SDK failure to what the caller must do: throttles are retried by the caller.
fn sdk_err<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let throttled = is_throttle(e.code());
    let boxed: BoxError = Box::new(e);
    if throttled { StoreError::Throttled(boxed) } else { StoreError::Failed(boxed) }
}

/// A request that could not be built: a required field is missing, a bug of this adapter.
fn build_err(e: BuildError) -> StoreError {
    StoreError::Failed(Box::new(e))
}

/// Whether a single-item write failed its condition (an expected outcome, not a failure).
fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// Whether a transaction was cancelled because a condition failed. A cancellation that gives no
/// reasons counts too: the caller's re-read finds out what happened either way.
fn is_cancelled_by_a_condition<R>(e: &SdkError<TransactWriteItemsError, R>) -> bool {
    cancellation_reasons(e).is_some_and(|codes| codes.is_empty() || codes.contains(&"ConditionalCheckFailed"))
}

/// The reason codes of a cancelled transaction (`None` when it was not cancelled).
fn cancellation_reasons<R>(e: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<&str>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            Some(c.cancellation_reasons().iter().filter_map(|r| r.code()).collect())
        }
        _ => None,
    }
}
