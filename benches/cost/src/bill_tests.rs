use serde_json::json;

use super::*;

const GSIS: &IndexKeys = &[("gsi1pk", "gsi1sk")];

fn ddb(op: &str, request: Value, response: Value) -> Bill {
    bill("DynamoDB", op, &request, &response, GSIS)
}

fn small(pk: &str) -> Value {
    json!({"pk": {"S": pk}, "sk": {"S": "x"}})
}

#[test]
fn a_transaction_bills_every_item_twice() {
    let request = json!({"TransactItems": [
        {"Put": {"Item": small("a")}},
        {"Update": {"Key": small("b"), "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"ConditionCheck": {"Key": small("c")}},
        {"Delete": {"Key": small("d")}},
    ]});
    assert_eq!(ddb("TransactWriteItems", request, json!({})), Bill::Dynamo { rcu: 0.0, wcu: 8.0 });
}

#[test]
fn an_item_over_1_kb_takes_two_units_and_four_in_a_transaction() {
    let big = json!({"pk": {"S": "p"}, "body": {"S": "x".repeat(1100)}});
    assert_eq!(ddb("PutItem", json!({"Item": big}), json!({})), Bill::Dynamo { rcu: 0.0, wcu: 2.0 });
    let request = json!({"TransactItems": [{"Put": {"Item": big}}]});
    assert_eq!(ddb("TransactWriteItems", request, json!({})), Bill::Dynamo { rcu: 0.0, wcu: 4.0 });
}

#[test]
fn an_indexed_item_also_writes_its_index_copy() {
    let member =
        json!({"pk": {"S": "ROOM#r"}, "sk": {"S": "MEMBER#u"}, "gsi1pk": {"S": "USER#u"}, "gsi1sk": {"S": "ROOM#r"}});
    assert_eq!(ddb("PutItem", json!({"Item": member}), json!({})), Bill::Dynamo { rcu: 0.0, wcu: 2.0 });
    let request = json!({"TransactItems": [{"Put": {"Item": member}}]});
    assert_eq!(ddb("TransactWriteItems", request, json!({})), Bill::Dynamo { rcu: 0.0, wcu: 3.0 });
}

#[test]
fn a_query_page_is_billed_by_its_bytes_and_consistency() {
    let item = json!({"pk": {"S": "x".repeat(1998)}}); // 2,000 bytes
    let page = json!({"Items": [item, item, item]}); // 6,000 bytes: 2 units
    assert_eq!(ddb("Query", json!({"ConsistentRead": true}), page.clone()), Bill::Dynamo { rcu: 2.0, wcu: 0.0 });
    assert_eq!(ddb("Scan", json!({}), page), Bill::Dynamo { rcu: 1.0, wcu: 0.0 });
    assert_eq!(
        ddb("Query", json!({"ConsistentRead": true}), json!({"Items": []})),
        Bill::Dynamo { rcu: 1.0, wcu: 0.0 }
    );
}

#[test]
fn a_missing_item_still_costs_a_read() {
    assert_eq!(ddb("GetItem", json!({"ConsistentRead": true}), json!({})), Bill::Dynamo { rcu: 1.0, wcu: 0.0 });
}

#[test]
fn batch_reads_round_each_item() {
    let request = json!({"RequestItems": {"t": {"ConsistentRead": true, "Keys": []}}});
    let response = json!({"Responses": {"t": [small("a"), small("b"), small("c")]}});
    assert_eq!(ddb("BatchGetItem", request, response), Bill::Dynamo { rcu: 3.0, wcu: 0.0 });
}

#[test]
fn batch_writes_bill_each_request() {
    let request = json!({"RequestItems": {"t": [
        {"PutRequest": {"Item": small("a")}},
        {"DeleteRequest": {"Key": small("b")}},
    ]}});
    assert_eq!(ddb("BatchWriteItem", request, json!({})), Bill::Dynamo { rcu: 0.0, wcu: 2.0 });
}

#[test]
fn a_projected_read_is_sent_again_whole() {
    let request = json!({
        "TableName": "t", "ConsistentRead": true,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sub)",
        "ProjectionExpression": "connectionId, #u",
        "ExpressionAttributeNames": {"#u": "user"},
        "ExpressionAttributeValues": {":pk": {"S": "ROOM#r"}, ":sub": {"S": "SUB#"}},
    });
    let Bill::Shadow(shadow) = ddb("Query", request, json!({"Items": []})) else { panic!("not a shadow read") };
    assert_eq!(shadow.consistency, Consistency::Strong);
    assert_eq!(
        shadow.body,
        json!({
            "TableName": "t", "ConsistentRead": true,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sub)",
            "ExpressionAttributeValues": {":pk": {"S": "ROOM#r"}, ":sub": {"S": "SUB#"}},
        })
    );
    assert!(matches!(ddb("Query", json!({"Select": "COUNT"}), json!({})), Bill::Shadow(_)));
    assert!(matches!(ddb("Scan", json!({"FilterExpression": "a = :a"}), json!({})), Bill::Shadow(_)));
}

#[test]
fn sqs_bills_requests_and_64_kb_chunks() {
    let sqs = |op, req: Value, resp: Value| bill("SQS", op, &req, &resp, GSIS);
    assert_eq!(sqs("SendMessage", json!({"MessageBody": "hi"}), json!({})), Bill::Sqs(1));
    assert_eq!(sqs("SendMessage", json!({"MessageBody": "x".repeat(65 * 1024)}), json!({})), Bill::Sqs(2));
    let ten = json!({"Messages": vec![json!({"Body": "x".repeat(10_000)}); 10]});
    assert_eq!(sqs("ReceiveMessage", json!({}), ten), Bill::Sqs(2));
    assert_eq!(sqs("DeleteMessageBatch", json!({}), json!({})), Bill::Sqs(1));
    assert_eq!(sqs("CreateQueue", json!({}), json!({})), Bill::Free);
    assert_eq!(bill("ApiGatewayManagementApi", "PostToConnection", &json!({}), &json!({}), GSIS), Bill::Post);
}
