//! The table the code creates (`DynamoStore::create_table_if_missing`, for the devstack and the
//! tests) is the table `infra/contract.json` describes, which the parity test (`infra/parity`)
//! holds the SAM template and the CDK app to. Compared: billing mode, key schema, attribute
//! definitions, secondary indexes (name, keys, projection) and TTL; point-in-time recovery and
//! encryption are a deployed stack's only.

mod common;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, Projection, TableDescription, TimeToLiveDescription,
    TimeToLiveStatus,
};
use serde_json::{Map, Value, json};
use starling_shared::adapters::dynamo::{DynamoStore, TableDefinition};

/// The contract's table properties that the code's table must have exactly.
const SCHEMA_PROPERTIES: &[&str] = &[
    "BillingMode",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "TimeToLiveSpecification",
];
/// The contract's table properties only a deployed stack has (the parity test checks them).
const STACK_ONLY_PROPERTIES: &[&str] = &["PointInTimeRecoverySpecification", "SSESpecification"];

fn contract() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/contract.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// One order and one spelling for both sides: lists whose order DynamoDB does not keep sorted by
/// name, and an empty or missing list as `null`.
fn canonical(mut schema: Map<String, Value>) -> Value {
    for (list, name) in [
        ("AttributeDefinitions", "AttributeName"),
        ("GlobalSecondaryIndexes", "IndexName"),
        ("LocalSecondaryIndexes", "IndexName"),
    ] {
        let entry = schema.entry(list).or_insert(Value::Null);
        match entry {
            Value::Array(items) if items.is_empty() => *entry = Value::Null,
            Value::Array(items) => items.sort_by(|a, b| a[name].as_str().cmp(&b[name].as_str())),
            _ => {}
        }
    }
    Value::Object(schema)
}

/// The contract's table, reduced to [`SCHEMA_PROPERTIES`].
fn contract_schema(contract: &Value) -> Value {
    let properties = &contract["table"]["properties"];
    let picked = SCHEMA_PROPERTIES.iter().map(|&p| (p.to_owned(), properties.get(p).cloned().unwrap_or(Value::Null)));
    canonical(picked.collect())
}

fn attribute(a: &AttributeDefinition) -> Value {
    json!({ "AttributeName": a.attribute_name(), "AttributeType": a.attribute_type().as_str() })
}

fn key_schema(keys: &[KeySchemaElement]) -> Value {
    keys.iter().map(|k| json!({ "AttributeName": k.attribute_name(), "KeyType": k.key_type().as_str() })).collect()
}

fn index(name: Option<&str>, keys: &[KeySchemaElement], projection: Option<&Projection>) -> Value {
    let projection = projection.map(|p| {
        let mut out = json!({ "ProjectionType": p.projection_type().map(|t| t.as_str()) });
        if !p.non_key_attributes().is_empty() {
            let mut non_key = p.non_key_attributes().to_vec();
            non_key.sort();
            out["NonKeyAttributes"] = json!(non_key);
        }
        out
    });
    json!({ "IndexName": name, "KeySchema": key_schema(keys), "Projection": projection })
}

fn billing_mode(mode: Option<&BillingMode>) -> Value {
    json!(mode.map(BillingMode::as_str))
}

/// The table as [`DynamoStore::create_table_if_missing`] would create it.
fn definition_schema(definition: &TableDefinition) -> Value {
    let create = &definition.create_table;
    let ttl = definition.time_to_live.get_time_to_live_specification().as_ref();
    let schema = json!({
        "BillingMode": billing_mode(create.get_billing_mode().as_ref()),
        "AttributeDefinitions": create.get_attribute_definitions().as_deref().map(|a| a.iter().map(attribute).collect::<Vec<_>>()),
        "KeySchema": create.get_key_schema().as_deref().map(key_schema),
        "GlobalSecondaryIndexes": create.get_global_secondary_indexes().as_deref().map(|indexes| {
            indexes.iter().map(|i| index(Some(i.index_name()), i.key_schema(), i.projection())).collect::<Vec<_>>()
        }),
        "LocalSecondaryIndexes": create.get_local_secondary_indexes().as_deref().map(|indexes| {
            indexes.iter().map(|i| index(Some(i.index_name()), i.key_schema(), i.projection())).collect::<Vec<_>>()
        }),
        "TimeToLiveSpecification": ttl.map(|t| json!({ "AttributeName": t.attribute_name(), "Enabled": t.enabled() })),
    });
    canonical(schema.as_object().cloned().unwrap_or_default())
}

/// The table as DynamoDB describes it.
fn described_schema(table: &TableDescription, ttl: Option<&TimeToLiveDescription>) -> Value {
    let ttl = ttl.and_then(|t| {
        let enabled = matches!(t.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
        t.attribute_name().map(|name| json!({ "AttributeName": name, "Enabled": enabled }))
    });
    let schema = json!({
        "BillingMode": billing_mode(table.billing_mode_summary().and_then(|b| b.billing_mode())),
        "AttributeDefinitions": table.attribute_definitions().iter().map(attribute).collect::<Vec<_>>(),
        "KeySchema": key_schema(table.key_schema()),
        "GlobalSecondaryIndexes": table
            .global_secondary_indexes()
            .iter()
            .map(|i| index(i.index_name(), i.key_schema(), i.projection()))
            .collect::<Vec<_>>(),
        "LocalSecondaryIndexes": table
            .local_secondary_indexes()
            .iter()
            .map(|i| index(i.index_name(), i.key_schema(), i.projection()))
            .collect::<Vec<_>>(),
        "TimeToLiveSpecification": ttl,
    });
    canonical(schema.as_object().cloned().unwrap_or_default())
}

/// Each property in which `got` differs from the contract's `want`.
fn differences(want: &Value, got: &Value) -> Vec<String> {
    SCHEMA_PROPERTIES
        .iter()
        .filter(|&&p| want[p] != got[p])
        .map(|&p| format!("{p}: the code's table has {}, infra/contract.json says {}", got[p], want[p]))
        .collect()
}

/// An edit of the contract's table properties.
type Change = fn(&mut Value);

fn definition() -> TableDefinition {
    DynamoStore::table_definition("starling").expect("the table definition builds")
}

#[test]
fn the_table_the_code_creates_is_the_contracts() {
    let problems = differences(&contract_schema(&contract()), &definition_schema(&definition()));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_table_property_of_the_contract_is_compared_or_stack_only() {
    let contract = contract();
    let properties = contract["table"]["properties"].as_object().expect("infra/contract.json has table.properties");
    for name in properties.keys() {
        assert!(
            SCHEMA_PROPERTIES.contains(&name.as_str()) || STACK_ONLY_PROPERTIES.contains(&name.as_str()),
            "table property {name} of infra/contract.json is neither compared here nor known to be stack-only"
        );
    }
    for name in
        ["BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "TimeToLiveSpecification"]
    {
        assert!(properties.contains_key(name), "infra/contract.json lacks table property {name}");
    }
}

#[test]
fn a_difference_on_either_side_is_caught() {
    let code = definition_schema(&definition());
    let contract_changes: [(&str, Change); 8] = [
        ("BillingMode", |t| t["BillingMode"] = json!("PROVISIONED")),
        ("KeySchema", |t| t["KeySchema"][1]["AttributeName"] = json!("sk2")),
        ("AttributeDefinitions", |t| {
            t["AttributeDefinitions"].as_array_mut().unwrap().push(json!({"AttributeName": "x", "AttributeType": "S"}));
        }),
        ("GlobalSecondaryIndexes", |t| t["GlobalSecondaryIndexes"][0]["IndexName"] = json!("gsi2")),
        ("GlobalSecondaryIndexes", |t| {
            t["GlobalSecondaryIndexes"][0]["Projection"] = json!({"ProjectionType": "KEYS_ONLY"});
        }),
        ("LocalSecondaryIndexes", |t| {
            t["LocalSecondaryIndexes"] = json!([{"IndexName": "lsi1", "KeySchema": [], "Projection": null}]);
        }),
        ("TimeToLiveSpecification", |t| t["TimeToLiveSpecification"]["AttributeName"] = json!("ttl")),
        ("TimeToLiveSpecification", |t| t["TimeToLiveSpecification"]["Enabled"] = json!(false)),
    ];
    for (property, change) in contract_changes {
        let mut changed = contract();
        change(&mut changed["table"]["properties"]);
        let problems = differences(&contract_schema(&changed), &code);
        assert!(
            problems.len() == 1 && problems[0].starts_with(property),
            "changing {property} in a copy of the contract: {problems:#?}"
        );
    }
    let mut provisioned = definition();
    provisioned.create_table = provisioned.create_table.billing_mode(BillingMode::Provisioned);
    let problems = differences(&contract_schema(&contract()), &definition_schema(&provisioned));
    assert!(problems.len() == 1 && problems[0].starts_with("BillingMode"), "{problems:#?}");
}

#[tokio::test]
async fn the_table_created_on_moto_is_the_contracts() {
    let config = common::moto_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = common::unique_name("schema");
    DynamoStore::create_table_if_missing(&client, &table).await.expect("create table on moto");
    let described = client.describe_table().table_name(&table).send().await.expect("DescribeTable");
    let ttl = client.describe_time_to_live().table_name(&table).send().await.expect("DescribeTimeToLive");
    let got =
        described_schema(described.table().expect("DescribeTable returns the table"), ttl.time_to_live_description());
    let problems = differences(&contract_schema(&contract()), &got);
    assert!(problems.is_empty(), "{problems:#?}");
}
