//! The table as the code creates it, for the devstack and tests; in AWS it comes from SAM or CDK.
//!
//! `infra/contract.json` is the authority for all three: the parity test holds both templates to
//! it, and `shared/tests/schema.rs` holds [`definition`] (and the table it creates) to it.

use super::keys::{EXPIRES_AT, GSI1_PK, GSI1_SK, PK, SK};
use super::{build_err, sdk_err};
use crate::ports::StoreError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableInputBuilder;
use aws_sdk_dynamodb::operation::update_time_to_live::builders::UpdateTimeToLiveInputBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

/// The index that lists a user's rooms from the member items.
pub(super) const GSI1: &str = "gsi1";

/// The requests that create the table, exactly as [`super::DynamoStore::create_table_if_missing`]
/// sends them.
#[derive(Debug, Clone)]
pub struct TableDefinition {
    /// CreateTable: billing mode, key schema, attribute definitions and `gsi1`.
    pub create_table: CreateTableInputBuilder,
    /// UpdateTimeToLive: TTL on `expiresAt` (CreateTable cannot enable TTL).
    pub time_to_live: UpdateTimeToLiveInputBuilder,
}

/// The table `table`: on-demand, `pk`/`sk`, `gsi1` on `gsi1pk`/`gsi1sk` projecting everything
/// (the rooms of a user are read from it whole), TTL on `expiresAt`.
pub(super) fn definition(table: &str) -> Result<TableDefinition, StoreError> {
    let create_table = CreateTableInputBuilder::default()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute(PK)?)
        .attribute_definitions(string_attribute(SK)?)
        .attribute_definitions(string_attribute(GSI1_PK)?)
        .attribute_definitions(string_attribute(GSI1_SK)?)
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(GSI1)
                .key_schema(key_element(GSI1_PK, KeyType::Hash)?)
                .key_schema(key_element(GSI1_SK, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(build_err)?,
        );
    let time_to_live = UpdateTimeToLiveInputBuilder::default().table_name(table).time_to_live_specification(
        TimeToLiveSpecification::builder().attribute_name(EXPIRES_AT).enabled(true).build().map_err(build_err)?,
    );
    Ok(TableDefinition { create_table, time_to_live })
}

/// Creates the table unless it exists. A table that another process creates meanwhile counts as
/// existing; that process sets its TTL.
pub(super) async fn create_if_missing(client: &Client, table: &str) -> Result<(), StoreError> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => return Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(sdk_err(e)),
    }
    let TableDefinition { create_table, time_to_live } = definition(table)?;
    match create_table.send_with(client).await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(sdk_err(e)),
    }
    time_to_live.send_with(client).await.map_err(sdk_err)?;
    Ok(())
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(build_err)
}

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(build_err)
}
