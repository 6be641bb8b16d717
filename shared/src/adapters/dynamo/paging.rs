//! Queries and their pages. A Query returns at most 1 MB (or `Limit` items) at a time, so every
//! listing that must be complete walks `LastEvaluatedKey` through [`Pages`].

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoStore, Item, sdk_err};
use crate::ports::StoreError;

/// The pages of one Query, in order.
#[derive(Debug)]
pub(super) struct Pages {
    query: QueryFluentBuilder,
    start: Option<Item>,
    done: bool,
}

impl Pages {
    /// The pages of `query`, from its first.
    pub(super) fn new(query: QueryFluentBuilder) -> Self {
        Self { query, start: None, done: false }
    }

    /// The next page, or `None` after the last.
    pub(super) async fn next(&mut self) -> Result<Option<QueryOutput>, StoreError> {
        self.fetch(None).await
    }

    /// The next page of at most `limit` items (evaluated items, before any filter), or `None` after
    /// the last.
    pub(super) async fn next_at_most(&mut self, limit: i32) -> Result<Option<QueryOutput>, StoreError> {
        self.fetch(Some(limit)).await
    }

    async fn fetch(&mut self, limit: Option<i32>) -> Result<Option<QueryOutput>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let mut query = self.query.clone().set_exclusive_start_key(self.start.take());
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        let mut page = query.send().await.map_err(sdk_err)?;
        // An empty key counts as none: there is nothing to start a next page from.
        match page.last_evaluated_key.take() {
            Some(key) if !key.is_empty() => self.start = Some(key),
            _ => self.done = true,
        }
        Ok(Some(page))
    }
}

impl DynamoStore {
    /// A Query on this table, for the caller to give its conditions.
    pub(super) fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    /// A Query of partition `pk`, only the sort keys beginning with `prefix` when given.
    pub(super) fn query_partition(&self, pk: String, prefix: Option<&str>) -> QueryFluentBuilder {
        let query = self.query().expression_attribute_values(":pk", AttributeValue::S(pk));
        match prefix {
            Some(prefix) => query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned())),
            None => query.key_condition_expression("pk = :pk"),
        }
    }

    /// A Query of partition `pk`, the sort keys from `first` to `last` inclusive.
    pub(super) fn query_range(&self, pk: String, first: String, last: String) -> QueryFluentBuilder {
        self.query()
            .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":first", AttributeValue::S(first))
            .expression_attribute_values(":last", AttributeValue::S(last))
    }

    /// Every item of partition `pk` (with sort keys beginning with `prefix`), read consistently.
    pub(super) async fn query_all(&self, pk: String, prefix: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut pages = Pages::new(self.query_partition(pk, prefix).consistent_read(true));
        let mut items = Vec::new();
        while let Some(page) = pages.next().await? {
            items.extend(page.items.unwrap_or_default());
        }
        Ok(items)
    }
}
