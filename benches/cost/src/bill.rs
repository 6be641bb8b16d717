//! What one request costs, from its operation, request body and response body.
//!
//! Approximations, where the bodies do not tell what AWS bills (all printed with the results):
//! - UpdateItem and a transaction's Update are billed as their key plus the values they set,
//!   DeleteItem and a transaction's Delete or ConditionCheck as their key (AWS bills the larger of
//!   the item before and after): every item either system writes is under 1 KB, so both round to
//!   one unit whatever the item holds.
//! - A write of an item that carries a global secondary index's keys is billed once more, at the
//!   standard (not transactional) rate, for the index's copy.
//! - A cancelled transaction and a failed conditional write are billed as if they had written.
//! - A read that projects, counts or filters bills the whole items it read, which the response
//!   does not show: it is marked for a shadow read (the same request without projection or
//!   filter, sent uncounted; see `meter`).

use serde_json::{Map, Value};

use crate::units::{Consistency, item_size, page_read_units, read_units, write_units};

/// SQS bills each 64 KB of a request's payload as one request.
const SQS_CHUNK_BYTES: u64 = 64 * 1024;

/// The key attribute pairs of the global secondary indexes that project every attribute.
pub(crate) type IndexKeys = [(&'static str, &'static str)];

/// What one request costs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bill {
    /// DynamoDB capacity units.
    Dynamo {
        /// Read request units.
        rcu: f64,
        /// Write request units.
        wcu: f64,
    },
    /// A read whose cost needs the whole items: this request, stripped, to send again.
    Shadow(ShadowRead),
    /// SQS requests, as billed.
    Sqs(u64),
    /// One PostToConnection.
    Post,
    /// Not billed per request (control plane: tables, queues).
    Free,
}

/// A read to send again without projection, count or filter, to learn what it read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShadowRead {
    /// `GetItem`, `Query` or `Scan`.
    pub(crate) operation: String,
    /// The request body without its projection, `Select` and filter.
    pub(crate) body: Value,
    /// How the original read is billed.
    pub(crate) consistency: Consistency,
}

/// The bill of one request to `service`'s `operation`.
pub(crate) fn bill(service: &str, operation: &str, request: &Value, response: &Value, gsis: &IndexKeys) -> Bill {
    match service {
        "DynamoDB" => dynamo(operation, request, response, gsis),
        "SQS" => sqs(operation, request, response),
        "ApiGatewayManagementApi" if operation == "PostToConnection" => Bill::Post,
        _ => Bill::Free,
    }
}

fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn consistency(request: &Value) -> Consistency {
    Consistency::of_request(request["ConsistentRead"].as_bool())
}

fn dynamo(operation: &str, request: &Value, response: &Value, gsis: &IndexKeys) -> Bill {
    let reads = |rcu| Bill::Dynamo { rcu, wcu: 0.0 };
    let writes = |wcu| Bill::Dynamo { rcu: 0.0, wcu };
    match operation {
        "GetItem" | "Query" | "Scan" if reads_part_of_items(request) => Bill::Shadow(ShadowRead {
            operation: operation.to_owned(),
            body: strip_projection(request),
            consistency: consistency(request),
        }),
        "GetItem" => reads(read_units(item_size(&obj(&response["Item"])), consistency(request))),
        "Query" | "Scan" => reads(page_of(response, consistency(request))),
        "BatchGetItem" => reads(batch_get(request, response)),
        "TransactGetItems" => reads(
            items(&response["Responses"])
                .map(|r| read_units(item_size(&obj(&r["Item"])), Consistency::Transactional))
                .sum(),
        ),
        "PutItem" => writes(put(&obj(&request["Item"]), false, gsis)),
        "UpdateItem" => writes(write_units(update_size(request), false)),
        "DeleteItem" => writes(write_units(item_size(&obj(&request["Key"])), false)),
        "BatchWriteItem" => writes(batch_write(request, gsis)),
        "TransactWriteItems" => writes(items(&request["TransactItems"]).map(|t| transact_write(t, gsis)).sum()),
        _ => Bill::Free,
    }
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// One Query or Scan response, billed as one page.
pub(crate) fn page_of(response: &Value, c: Consistency) -> f64 {
    let page: Vec<Map<String, Value>> = items(&response["Items"]).map(obj).collect();
    page_read_units(&page, c)
}

fn reads_part_of_items(request: &Value) -> bool {
    ["ProjectionExpression", "AttributesToGet", "FilterExpression", "QueryFilter", "ScanFilter"]
        .iter()
        .any(|k| !request[*k].is_null())
        || request["Select"].as_str().is_some_and(|s| s != "ALL_ATTRIBUTES")
}

/// The request without projection, `Select` or filter, and without the names and values only
/// those used (DynamoDB refuses unused ones).
fn strip_projection(request: &Value) -> Value {
    let mut body = obj(request);
    for k in ["ProjectionExpression", "AttributesToGet", "FilterExpression", "QueryFilter", "ScanFilter", "Select"] {
        body.remove(k);
    }
    let used = body.get("KeyConditionExpression").and_then(Value::as_str).unwrap_or_default().to_owned();
    for k in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
        if let Some(Value::Object(m)) = body.get_mut(k) {
            m.retain(|name, _| used.contains(name.as_str()));
            if m.is_empty() {
                body.remove(k);
            }
        }
    }
    Value::Object(body)
}

fn batch_get(request: &Value, response: &Value) -> f64 {
    let tables = obj(&response["Responses"]);
    tables
        .iter()
        .map(|(table, found)| {
            let c = consistency(&request["RequestItems"][table]);
            items(found).map(|i| read_units(item_size(&obj(i)), c)).sum::<f64>()
        })
        .sum()
}

/// An item's write, plus the copy each index that holds it writes.
fn put(item: &Map<String, Value>, transactional: bool, gsis: &IndexKeys) -> f64 {
    let size = item_size(item);
    let indexed = gsis.iter().filter(|(pk, sk)| item.contains_key(*pk) && item.contains_key(*sk)).count();
    write_units(size, transactional) + indexed as f64 * write_units(size, false)
}

fn update_size(update: &Value) -> u64 {
    item_size(&obj(&update["Key"])) + item_size(&obj(&update["ExpressionAttributeValues"]))
}

fn batch_write(request: &Value, gsis: &IndexKeys) -> f64 {
    obj(&request["RequestItems"])
        .values()
        .flat_map(|writes| items(writes).cloned().collect::<Vec<_>>())
        .map(|w| match w.get("PutRequest") {
            Some(p) => put(&obj(&p["Item"]), false, gsis),
            None => write_units(item_size(&obj(&w["DeleteRequest"]["Key"])), false),
        })
        .sum()
}

fn transact_write(entry: &Value, gsis: &IndexKeys) -> f64 {
    if let Some(p) = entry.get("Put") {
        return put(&obj(&p["Item"]), true, gsis);
    }
    if let Some(u) = entry.get("Update") {
        return write_units(update_size(u), true);
    }
    let key = entry.get("Delete").or_else(|| entry.get("ConditionCheck")).map(|e| obj(&e["Key"])).unwrap_or_default();
    write_units(item_size(&key), true)
}

fn sqs(operation: &str, request: &Value, response: &Value) -> Bill {
    let chunks = |bytes: u64| bytes.div_ceil(SQS_CHUNK_BYTES).max(1);
    let body_len = |m: &Value| m["MessageBody"].as_str().or_else(|| m["Body"].as_str()).map_or(0, |b| b.len() as u64);
    match operation {
        "SendMessage" => Bill::Sqs(chunks(body_len(request))),
        "SendMessageBatch" => Bill::Sqs(chunks(items(&request["Entries"]).map(body_len).sum())),
        "ReceiveMessage" => Bill::Sqs(chunks(items(&response["Messages"]).map(body_len).sum())),
        "DeleteMessage" | "DeleteMessageBatch" | "ChangeMessageVisibility" | "ChangeMessageVisibilityBatch" => {
            Bill::Sqs(1)
        }
        _ => Bill::Free,
    }
}

#[cfg(test)]
#[path = "bill_tests.rs"]
mod tests;
