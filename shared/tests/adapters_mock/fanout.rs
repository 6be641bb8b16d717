//! The fanout's AWS adapters against mocked SDK clients: the dead letter's FIFO ids and
//! attributes, and the ledger's items.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::operation::send_message::{SendMessageError, SendMessageOutput};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::adapters::sqs::SqsDeadLetters;
use starling_shared::adapters::sqs::dead_letter_attributes::{ATTEMPTS, ORIGINAL_MESSAGE_ID, REASON};
use starling_shared::ports::{DeadLetter, DeadLetters, FanoutLedger, QueueError, StoreError};

const TABLE: &str = "starling";
const DLQ: &str = "https://sqs.local/q-dlq.fifo";

fn letter(group: Option<&str>) -> DeadLetter {
    DeadLetter {
        record_id: "5e93e4e8-15aa-43c5-a3d2-f7358949468b".into(),
        group: group.map(Into::into),
        body: r#"{"kind":"publish"}"#.into(),
        reason: "gave up after 5 failed attempts: storing the message failed".into(),
        attempts: 5,
    }
}

fn string_attr(m: &aws_sdk_sqs::operation::send_message::SendMessageInput, name: &str) -> Option<String> {
    m.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value().map(str::to_owned))
}

#[tokio::test]
async fn a_dead_letter_keeps_its_group_dedups_on_the_record_id_and_carries_its_reason() {
    let send = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(|m| {
            m.queue_url() == Some(DLQ)
                && m.message_group_id() == Some("lobby")
                && m.message_deduplication_id() == Some("5e93e4e8-15aa-43c5-a3d2-f7358949468b")
                && m.message_body() == Some(r#"{"kind":"publish"}"#)
                && string_attr(m, REASON).as_deref()
                    == Some("gave up after 5 failed attempts: storing the message failed")
                && string_attr(m, ATTEMPTS).as_deref() == Some("5")
                && m.message_attributes().and_then(|a| a.get(ATTEMPTS)).map(|v| v.data_type()) == Some("Number")
                && string_attr(m, ORIGINAL_MESSAGE_ID).as_deref() == Some("5e93e4e8-15aa-43c5-a3d2-f7358949468b")
        })
        .then_output(|| SendMessageOutput::builder().build());
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[&send]);
    SqsDeadLetters::new(client, DLQ).dead_letter(&letter(Some("lobby"))).await.unwrap();
    assert_eq!(send.num_calls(), 1);
}

#[tokio::test]
async fn a_dead_letter_from_a_standard_queue_gets_a_group_and_a_failed_send_is_an_error() {
    let ok = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(|m| m.message_group_id() == Some("ungrouped"))
        .then_output(|| SendMessageOutput::builder().build());
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[&ok]);
    SqsDeadLetters::new(client, DLQ).dead_letter(&letter(None)).await.unwrap();
    assert_eq!(ok.num_calls(), 1);

    let refused = mock!(aws_sdk_sqs::Client::send_message).then_error(|| {
        SendMessageError::InvalidMessageContents(
            aws_sdk_sqs::types::error::InvalidMessageContents::builder().message("mocked").build(),
        )
    });
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &[&refused]);
    let err = SqsDeadLetters::new(client, DLQ).dead_letter(&letter(Some("lobby"))).await.unwrap_err();
    assert!(matches!(err, QueueError::Failed(_)), "{err:?}");
}

#[tokio::test]
async fn a_failure_is_counted_with_one_atomic_add_on_the_records_item() {
    let update = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|u| {
            let key = u.key().cloned().unwrap_or_default();
            u.table_name() == Some(TABLE)
                && key.get("pk") == Some(&AttributeValue::S("RECORD#m-1".into()))
                && key.get("sk") == Some(&AttributeValue::S("FAILURES".into()))
                && u.update_expression() == Some("ADD failures :one SET expiresAt = :exp")
                && u.expression_attribute_values().and_then(|v| v.get(":exp"))
                    == Some(&AttributeValue::N("1800086400".into()))
        })
        .then_output(|| {
            UpdateItemOutput::builder()
                .set_attributes(Some(HashMap::from([("failures".to_owned(), AttributeValue::N("3".into()))])))
                .build()
        });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&update]);
    let n = DynamoStore::new(client, TABLE).record_failure("m-1", 1_800_086_400).await.unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn a_count_missing_from_the_answer_is_a_failure_not_zero() {
    let update = mock!(aws_sdk_dynamodb::Client::update_item).then_output(|| UpdateItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&update]);
    let err = DynamoStore::new(client, TABLE).record_failure("m-1", 0).await.unwrap_err();
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");
}

#[tokio::test]
async fn the_delivery_checkpoint_is_an_item_in_the_rooms_partition() {
    let save = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|u| {
            let key = u.key().cloned().unwrap_or_default();
            key.get("pk") == Some(&AttributeValue::S("ROOM#lobby".into()))
                && key.get("sk") == Some(&AttributeValue::S("DELIVERED#00000000000000000042".into()))
                && u.expression_attribute_values().and_then(|v| v.get(":cursor"))
                    == Some(&AttributeValue::S("SUB#c9=".into()))
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let read = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|g| {
            g.consistent_read() == Some(true)
                && g.key().and_then(|k| k.get("sk"))
                    == Some(&AttributeValue::S("DELIVERED#00000000000000000042".into()))
        })
        .then_output(|| {
            GetItemOutput::builder()
                .set_item(Some(HashMap::from([("cursor".to_owned(), AttributeValue::S("SUB#c9=".into()))])))
                .build()
        });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&save, &read]);
    let store = DynamoStore::new(client, TABLE);
    store.save_delivery_checkpoint("lobby", 42, "SUB#c9=", 1_800_086_400).await.unwrap();
    assert_eq!(store.delivery_checkpoint("lobby", 42).await.unwrap().as_deref(), Some("SUB#c9="));
    assert_eq!((save.num_calls(), read.num_calls()), (1, 1));
}
