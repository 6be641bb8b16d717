//! AWS adapters against mocked SDK clients (`aws-smithy-mocks`): the request shapes that matter
//! (key conditions, write conditions, FIFO ids) and the mapping of AWS errors to port errors.

// Each adapter's mocked cases in one test program, so CI links it once.
#[path = "adapters_mock/analytics.rs"]
mod analytics;
#[path = "adapters_mock/fanout.rs"]
mod fanout;
#[path = "adapters_mock/keys.rs"]
mod keys;
#[path = "adapters_mock/welcomes.rs"]
mod welcomes;

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, WriteRequest};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use starling_shared::adapters::apigw::ManagementApiPusher;
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::adapters::sqs::SqsQueue;
use starling_shared::domain::{AppendOutcome, NewMessage};
use starling_shared::envelope::{Envelope, Publish};
use starling_shared::ports::{ConnectionStore, MessageStore, PushError, Pusher, Queue, StoreError, SubscriptionStore};

const TABLE: &str = "starling";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

fn new_message(cmid: Option<&str>) -> NewMessage {
    NewMessage {
        commit: None,
        id: "01NEW".into(),
        room: "lobby".into(),
        from: "alice".into(),
        body: "hi".into(),
        client_msg_id: cmid.map(Into::into),
        sent_at: "2026-11-22T21:00:00.000Z".into(),
        expires_at: 2_000_000_000,
        now: 1_800_000_000,
    }
}

fn stored_message(seq: u64, id: &str) -> HashMap<String, AttributeValue> {
    item(&[
        ("pk", s("ROOM#lobby")),
        ("sk", s(&format!("MSG#{seq:020}"))),
        ("room", s("lobby")),
        ("seq", AttributeValue::N(seq.to_string())),
        ("id", s(id)),
        ("from", s("alice")),
        ("body", s("hi")),
        ("sentAt", s("2026-11-22T21:00:00.000Z")),
        ("clientMsgId", s("c-1")),
        ("expiresAt", AttributeValue::N("2000000000".into())),
    ])
}

fn json_error(status: u16, kind: &str) -> HttpResponse {
    let mut r = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"mocked"}}"#)),
    );
    r.headers_mut().insert("content-type", "application/x-amz-json-1.0");
    r
}

#[tokio::test]
async fn subscriber_query_targets_the_rooms_sub_items_and_pages_on() {
    let first = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(|q| {
            q.table_name() == Some(TABLE)
                && q.key_condition_expression() == Some("pk = :pk AND begins_with(sk, :prefix)")
                && q.expression_attribute_values().and_then(|v| v.get(":pk")) == Some(&s("ROOM#lobby"))
                && q.expression_attribute_values().and_then(|v| v.get(":prefix")) == Some(&s("SUB#"))
                && q.exclusive_start_key().is_none()
        })
        .then_output(|| {
            QueryOutput::builder()
                .items(item(&[("connectionId", s("c1=")), ("user", s("alice"))]))
                .last_evaluated_key("pk", s("ROOM#lobby"))
                .last_evaluated_key("sk", s("SUB#c1="))
                .build()
        });
    let second = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(|q| {
            q.exclusive_start_key().and_then(|k| k.get("sk")) == Some(&s("SUB#c1="))
                && q.exclusive_start_key().and_then(|k| k.get("pk")) == Some(&s("ROOM#lobby"))
        })
        .then_output(|| QueryOutput::builder().items(item(&[("connectionId", s("c2=")), ("user", s("bob"))])).build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&first, &second]);
    let store = DynamoStore::new(client, TABLE);
    let page1 = store.subscribers("lobby", None).await.unwrap();
    assert_eq!(page1.items[0].connection_id, "c1=");
    assert_eq!(page1.next.as_deref(), Some("SUB#c1="));
    let page2 = store.subscribers("lobby", page1.next.as_deref()).await.unwrap();
    assert_eq!((page2.items[0].user.as_str(), page2.next), ("bob", None));
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn append_writes_head_message_and_dedup_in_one_conditional_transaction() {
    let head = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|g| g.key().and_then(|k| k.get("sk")) == Some(&s("HEAD")) && g.consistent_read() == Some(true))
        .then_output(|| {
            GetItemOutput::builder()
                .set_item(Some(item(&[
                    ("pk", s("ROOM#lobby")),
                    ("sk", s("HEAD")),
                    ("lastSeq", AttributeValue::N("41".into())),
                ])))
                .build()
        });
    let transact = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|t| {
            let items = t.transact_items();
            let put = |i: usize| items[i].put().unwrap();
            // The head is updated, not put, so an encrypted room's epoch survives the append.
            let head = items[0].update().unwrap();
            let value = |name: &str| head.expression_attribute_values().and_then(|v| v.get(name));
            items.len() == 3
                && head.key().get("sk") == Some(&s("HEAD"))
                && head.update_expression() == "SET lastSeq = :seq"
                && head.condition_expression() == Some("lastSeq = :head")
                && value(":head") == Some(&AttributeValue::N("41".into()))
                && value(":seq") == Some(&AttributeValue::N("42".into()))
                && put(1).condition_expression() == Some("attribute_not_exists(pk)")
                && put(1).item().get("sk") == Some(&s("MSG#00000000000000000042"))
                && put(2).condition_expression() == Some("attribute_not_exists(pk) OR expiresAt < :now")
                && put(2).item().get("sk") == Some(&s("DEDUP#alice#c-1"))
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    // The next append trusts the head this process wrote: conditional on 42, with no read.
    let transact_next = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|t| {
            let head = t.transact_items()[0].update().unwrap();
            head.expression_attribute_values().and_then(|v| v.get(":head")) == Some(&AttributeValue::N("42".into()))
                && t.transact_items()[2].put().unwrap().item().get("sk") == Some(&s("MSGID#01NEXT"))
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&head, &transact, &transact_next]);
    let store = DynamoStore::new(client, TABLE);
    let appended = store.append(new_message(Some("c-1"))).await.unwrap();
    assert_eq!((appended.message.seq, appended.outcome), (42, AppendOutcome::Fresh));
    let mut next = new_message(None);
    next.id = "01NEXT".into();
    let appended = store.append(next).await.unwrap();
    assert_eq!((appended.message.seq, appended.outcome), (43, AppendOutcome::Fresh));
    assert_eq!((head.num_calls(), transact.num_calls(), transact_next.num_calls()), (1, 1, 1));
}

#[tokio::test]
async fn a_cancelled_append_with_a_live_dedup_record_returns_the_stored_original() {
    let head = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|g| g.key().and_then(|k| k.get("sk")) == Some(&s("HEAD")))
        .then_output(|| GetItemOutput::builder().build());
    let transact = mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .cancellation_reasons(CancellationReason::builder().code("ConditionalCheckFailed").build())
                .cancellation_reasons(CancellationReason::builder().code("ConditionalCheckFailed").build())
                .cancellation_reasons(CancellationReason::builder().code("ConditionalCheckFailed").build())
                .build(),
        )
    });
    let dedup = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|g| g.key().and_then(|k| k.get("sk")) == Some(&s("DEDUP#alice#c-1")))
        .then_output(|| {
            GetItemOutput::builder()
                .set_item(Some(item(&[
                    ("pk", s("ROOM#lobby")),
                    ("sk", s("DEDUP#alice#c-1")),
                    ("id", s("01ORIGINAL")),
                    ("seq", AttributeValue::N("7".into())),
                    ("expiresAt", AttributeValue::N("1800086400".into())),
                ])))
                .build()
        });
    let message = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|g| g.key().and_then(|k| k.get("sk")) == Some(&s("MSG#00000000000000000007")))
        .then_output(|| GetItemOutput::builder().set_item(Some(stored_message(7, "01ORIGINAL"))).build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&head, &transact, &dedup, &message]);
    let appended = DynamoStore::new(client, TABLE).append(new_message(Some("c-1"))).await.unwrap();
    assert_eq!(appended.outcome, AppendOutcome::Duplicate);
    assert_eq!((appended.message.seq, appended.message.id.as_str()), (7, "01ORIGINAL"));
}

#[tokio::test]
async fn removing_a_connection_deletes_its_items_and_retries_unprocessed_ones() {
    let query = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(|q| {
            q.key_condition_expression() == Some("pk = :pk")
                && q.expression_attribute_values().and_then(|v| v.get(":pk")) == Some(&s("CONN#c1="))
        })
        .then_output(|| {
            QueryOutput::builder()
                .items(item(&[
                    ("pk", s("CONN#c1=")),
                    ("sk", s("CONN")),
                    ("connectionId", s("c1=")),
                    ("user", s("alice")),
                    ("connectedAt", AttributeValue::N("1795381200000".into())),
                    ("expiresAt", AttributeValue::N("1795389300".into())),
                ]))
                .items(item(&[("pk", s("CONN#c1=")), ("sk", s("SUB#lobby")), ("room", s("lobby"))]))
                .build()
        });
    let leftover = WriteRequest::builder()
        .delete_request(
            aws_sdk_dynamodb::types::DeleteRequest::builder()
                .key("pk", s("ROOM#lobby"))
                .key("sk", s("SUB#c1="))
                .build()
                .unwrap(),
        )
        .build();
    let batch = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .match_requests(|b| b.request_items().and_then(|r| r.get(TABLE)).is_some_and(|w| w.len() == 4))
        .then_output(move || BatchWriteItemOutput::builder().unprocessed_items(TABLE, vec![leftover.clone()]).build());
    let retry = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .match_requests(|b| {
            b.request_items().and_then(|r| r.get(TABLE)).is_some_and(|w| {
                w.len() == 1 && w[0].delete_request().map(|d| d.key().get("sk")) == Some(Some(&s("SUB#c1=")))
            })
        })
        .then_output(|| BatchWriteItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&query, &batch, &retry]);
    let removed = DynamoStore::new(client, TABLE).remove("c1=").await.unwrap();
    assert_eq!((removed.user.as_deref(), removed.rooms.as_slice()), (Some("alice"), ["lobby".to_owned()].as_slice()));
    assert_eq!(removed.connection.map(|c| c.connected_at_ms), Some(1_795_381_200_000));
    assert_eq!((batch.num_calls(), retry.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_presence_write_that_lost_to_another_writer_is_reread_and_applied_again() {
    use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
    use starling_shared::domain::Connection;
    use starling_shared::ports::PresenceStore;
    let presence = |version: &str| {
        let version = AttributeValue::N(version.into());
        move || {
            GetItemOutput::builder()
                .item("pk", s("USER#alice"))
                .item("sk", s("PRESENCE"))
                .item("conns", AttributeValue::Ss(vec!["1795389300#laptop=".into()]))
                .item("version", version.clone())
                .build()
        }
    };
    let put_at = |version: &'static str| {
        move |p: &aws_sdk_dynamodb::operation::put_item::PutItemInput| {
            p.condition_expression() == Some("version = :v")
                && p.expression_attribute_values().and_then(|v| v.get(":v")) == Some(&AttributeValue::N(version.into()))
                && p.item().and_then(|i| i.get("conns")).and_then(|c| c.as_ss().ok()).is_some_and(|c| c.len() == 2)
        }
    };
    let first_read = mock!(aws_sdk_dynamodb::Client::get_item).then_output(presence("3"));
    let lost = mock!(aws_sdk_dynamodb::Client::put_item).match_requests(put_at("3")).then_error(|| {
        let meta = aws_sdk_dynamodb::error::ErrorMetadata::builder().code("ConditionalCheckFailedException").build();
        PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().meta(meta).build())
    });
    let second_read = mock!(aws_sdk_dynamodb::Client::get_item).then_output(presence("4"));
    let won = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(put_at("4"))
        .then_output(|| PutItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, &[&first_read, &lost, &second_read, &won]);
    let phone =
        Connection { id: "phone=".into(), user: "alice".into(), connected_at_ms: 1_795_381_200_000, batch: false };
    let opened = DynamoStore::new(client, TABLE).connection_opened(&phone, 1_795_381_200).await.unwrap();
    assert_eq!(opened.transition, None, "alice was online on her laptop");
    assert_eq!((lost.num_calls(), won.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_dynamodb_throttle_becomes_a_throttled_store_error() {
    let get = mock!(aws_sdk_dynamodb::Client::get_item)
        .then_http_response(|| json_error(400, "ProvisionedThroughputExceededException"));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&get], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    let err = DynamoStore::new(client, TABLE).last_seq("lobby").await.unwrap_err();
    assert!(matches!(err, StoreError::Throttled(_)), "{err:?}");
}

#[tokio::test]
async fn subscribing_counts_the_room_under_the_limit_and_a_vanished_connection_is_not_found() {
    let transact = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|t| {
            let count = t.transact_items().first().and_then(|i| i.update());
            let inverse = t.transact_items().get(1).and_then(|i| i.put());
            count.is_some_and(|u| {
                u.key().get("pk") == Some(&s("CONN#gone="))
                    && u.update_expression() == "ADD roomCount :one"
                    && u.condition_expression().is_some_and(|c| c.contains("roomCount < :max"))
                    && u.expression_attribute_values().and_then(|v| v.get(":max"))
                        == Some(&AttributeValue::N("7".into()))
            }) && inverse.is_some_and(|p| p.condition_expression() == Some("attribute_not_exists(pk)"))
        })
        .then_error(|| {
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .cancellation_reasons(CancellationReason::builder().code("ConditionalCheckFailed").build())
                    .build(),
            )
        });
    let missing = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|g| g.key().and_then(|k| k.get("pk")) == Some(&s("CONN#gone=")))
        .then_output(|| GetItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&transact, &missing]);
    let conn = starling_shared::domain::Connection {
        id: "gone=".into(),
        user: "alice".into(),
        connected_at_ms: 0,
        batch: false,
    };
    let err = DynamoStore::new(client, TABLE).subscribe_within("lobby", &conn, 7).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn enqueue_sets_the_room_as_group_and_a_stable_dedup_id() {
    let envelope = Envelope::Publish(Publish {
        connection_id: None,
        welcome: None,
        id: "01ID".into(),
        room: "lobby".into(),
        from: "alice".into(),
        body: "hi".into(),
        client_msg_id: Some("c-1".into()),
        sent_at: "t".into(),
        endpoint: None,
    });
    let expected_dedup = envelope.dedup_id();
    let send = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(move |m| {
            m.queue_url() == Some("https://sqs.local/q.fifo")
                && m.message_group_id() == Some("lobby")
                && m.message_deduplication_id() == Some(expected_dedup.as_str())
                && m.message_body().is_some_and(|b| b.contains(r#""kind":"publish""#))
        })
        .then_output(|| aws_sdk_sqs::operation::send_message::SendMessageOutput::builder().build());
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[&send]);
    SqsQueue::new(client, "https://sqs.local/q.fifo").enqueue(&envelope).await.unwrap();
    assert_eq!(send.num_calls(), 1);
}

fn management_error(status: u16, kind: &str) -> HttpResponse {
    let mut r = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(r#"{"message":"mocked"}"#));
    r.headers_mut().insert("x-amzn-errortype", kind.to_owned());
    r.headers_mut().insert("content-type", "application/json");
    r
}

async fn push_with(response: fn() -> HttpResponse) -> Result<(), PushError> {
    let rule = mock!(aws_sdk_apigatewaymanagement::Client::post_to_connection)
        .match_requests(|p| {
            p.connection_id() == Some("c1=") && p.data().map(|d| d.as_ref()) == Some(b"frame".as_slice())
        })
        .then_http_response(response);
    let client = mock_client!(aws_sdk_apigatewaymanagement, RuleMode::MatchAny, &[&rule], |c| c
        .retry_config(aws_sdk_apigatewaymanagement::config::retry::RetryConfig::disabled()));
    let config = aws_config::SdkConfig::builder().build();
    let pusher = ManagementApiPusher::new(config).with_client("https://api.local/prod", client);
    pusher.post("https://api.local/prod", "c1=", b"frame").await
}

#[tokio::test]
async fn a_410_from_the_management_api_is_gone() {
    let err = push_with(|| management_error(410, "GoneException")).await.unwrap_err();
    assert!(matches!(err, PushError::Gone(ref id) if id == "c1="), "{err:?}");
}

#[tokio::test]
async fn a_429_from_the_management_api_is_throttled_and_a_500_failed() {
    let err = push_with(|| management_error(429, "LimitExceededException")).await.unwrap_err();
    assert!(matches!(err, PushError::Throttled(_)), "{err:?}");
    let err = push_with(|| management_error(500, "InternalServerErrorException")).await.unwrap_err();
    assert!(matches!(err, PushError::Failed(_)), "{err:?}");
    push_with(|| HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::empty())).await.unwrap();
}

#[tokio::test]
async fn the_jwt_secret_is_read_from_secrets_manager_or_ssm() {
    let sm = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| r.secret_id() == Some("starling/jwt"))
        .then_output(|| {
            aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput::builder()
                .secret_string("from-sm")
                .build()
        });
    let sm_client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, &[&sm]);
    assert_eq!(starling_shared::secrets::from_secrets_manager(&sm_client, "starling/jwt").await.unwrap(), "from-sm");
    let ssm = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|r| r.name() == Some("/starling/jwt") && r.with_decryption() == Some(true))
        .then_output(|| {
            aws_sdk_ssm::operation::get_parameter::GetParameterOutput::builder()
                .parameter(aws_sdk_ssm::types::Parameter::builder().value("from-ssm").build())
                .build()
        });
    let ssm_client = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&ssm]);
    assert_eq!(starling_shared::secrets::from_ssm(&ssm_client, "/starling/jwt").await.unwrap(), "from-ssm");
}
