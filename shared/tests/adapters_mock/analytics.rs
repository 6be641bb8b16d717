//! The analytics adapters against mocked SDK clients (`aws-smithy-mocks`): Firehose's
//! `PutRecordBatch` (batches within its limits, refused records retried, then given up on) and
//! the counters' DynamoDB requests (the conditional `ADD`, its fallback once the sender set is
//! full, the ranged Query).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_firehose::operation::put_record_batch::{PutRecordBatchError, PutRecordBatchOutput};
use aws_sdk_firehose::types::PutRecordBatchResponseEntry;
use aws_sdk_firehose::types::error::ServiceUnavailableException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::adapters::firehose::FirehoseSink;
use starling_shared::domain::{MinuteCounts, RunCounts};
use starling_shared::ports::{ExportError, ExportSink, RoomStats};

const STREAM: &str = "starling-events";

fn ok_entry() -> PutRecordBatchResponseEntry {
    PutRecordBatchResponseEntry::builder().record_id("rid").build()
}

fn refused_entry() -> PutRecordBatchResponseEntry {
    PutRecordBatchResponseEntry::builder().error_code("ServiceUnavailableException").error_message("Slow down.").build()
}

fn answer(entries: Vec<PutRecordBatchResponseEntry>) -> PutRecordBatchOutput {
    let failed = entries.iter().filter(|e| e.error_code().is_some()).count() as i32;
    PutRecordBatchOutput::builder().failed_put_count(failed).set_request_responses(Some(entries)).build().unwrap()
}

fn lines(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("{{\"seq\":{i}}}\n").into_bytes()).collect()
}

fn sink(client: aws_sdk_firehose::Client) -> FirehoseSink {
    FirehoseSink::new(client, STREAM).with_backoff(Duration::from_millis(1))
}

#[tokio::test]
async fn refused_records_alone_are_sent_again() {
    let first = mock!(aws_sdk_firehose::Client::put_record_batch)
        .match_requests(|r| r.delivery_stream_name() == Some(STREAM) && r.records().len() == 3)
        .then_output(|| answer(vec![ok_entry(), refused_entry(), ok_entry()]));
    let retry = mock!(aws_sdk_firehose::Client::put_record_batch)
        .match_requests(|r| r.records().len() == 1 && r.records()[0].data().as_ref() == b"{\"seq\":1}\n")
        .then_output(|| answer(vec![ok_entry()]));
    let client = mock_client!(aws_sdk_firehose, RuleMode::MatchAny, &[&first, &retry]);
    sink(client).put(&lines(3)).await.expect("delivered on the second send");
    assert_eq!((first.num_calls(), retry.num_calls()), (1, 1));
}

#[tokio::test]
async fn records_refused_every_time_are_given_up_on_after_three_sends() {
    let always = mock!(aws_sdk_firehose::Client::put_record_batch)
        .match_requests(|r| r.records().len() == 2)
        .then_output(|| answer(vec![ok_entry(), refused_entry()]));
    let alone = mock!(aws_sdk_firehose::Client::put_record_batch)
        .match_requests(|r| r.records().len() == 1)
        .then_output(|| answer(vec![refused_entry()]));
    let client = mock_client!(aws_sdk_firehose, RuleMode::MatchAny, &[&always, &alone]);
    let err = sink(client).put(&lines(2)).await.expect_err("refused for good");
    match err {
        ExportError::Refused { failed, total, attempts, code } => {
            assert_eq!((failed, total, attempts, code.as_str()), (1, 2, 3, "ServiceUnavailableException"));
        }
        other => panic!("not Refused: {other:?}"),
    }
    assert_eq!((always.num_calls(), alone.num_calls()), (1, 2));
}

#[tokio::test]
async fn batches_are_cut_at_500_records() {
    let full = mock!(aws_sdk_firehose::Client::put_record_batch)
        .match_requests(|r| r.records().len() == 500)
        .then_output(|| answer((0..500).map(|_| ok_entry()).collect()));
    let rest = mock!(aws_sdk_firehose::Client::put_record_batch)
        .match_requests(|r| r.records().len() == 201 && r.records()[0].data().as_ref() == b"{\"seq\":1000}\n")
        .then_output(|| answer((0..201).map(|_| ok_entry()).collect()));
    let client = mock_client!(aws_sdk_firehose, RuleMode::MatchAny, &[&full, &rest]);
    sink(client).put(&lines(1201)).await.unwrap();
    assert_eq!((full.num_calls(), rest.num_calls()), (2, 1));
}

#[tokio::test]
async fn a_failed_request_is_an_error_of_the_export() {
    let down = mock!(aws_sdk_firehose::Client::put_record_batch).then_error(|| {
        PutRecordBatchError::ServiceUnavailableException(ServiceUnavailableException::builder().build())
    });
    let client = mock_client!(aws_sdk_firehose, RuleMode::MatchAny, &[&down]);
    let err = sink(client).put(&lines(1)).await.expect_err("down");
    assert!(matches!(err, ExportError::Failed(_)), "{err:?}");
}

fn counts(senders: &[&str]) -> RunCounts {
    RunCounts {
        room: "lobby".into(),
        minute: "2026-11-24T17:05Z".into(),
        messages: 2,
        deliveries: 6,
        senders: senders.iter().map(|s| (*s).to_owned()).collect(),
        expires_at: 1_800_000_000,
    }
}

fn value<'a>(
    r: &'a aws_sdk_dynamodb::operation::update_item::UpdateItemInput,
    name: &str,
) -> Option<&'a AttributeValue> {
    r.expression_attribute_values().and_then(|v| v.get(name))
}

#[tokio::test]
async fn a_run_is_one_conditional_add_and_a_full_sender_set_only_drops_the_senders() {
    let with_senders = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| {
            let key = r.key().unwrap();
            key.get("pk") == Some(&AttributeValue::S("ROOM#lobby".into()))
                && key.get("sk") == Some(&AttributeValue::S("STATS#2026-11-24T17:05Z".into()))
                && r.update_expression().is_some_and(|e| e.starts_with("ADD messages :m, deliveries :d, senders :s"))
                && r.condition_expression() == Some("attribute_not_exists(senders) OR size(senders) < :cap")
                && value(r, ":s") == Some(&AttributeValue::Ss(vec!["alice".into(), "bob".into()]))
                && value(r, ":m") == Some(&AttributeValue::N("2".into()))
                && value(r, ":d") == Some(&AttributeValue::N("6".into()))
                && value(r, ":exp") == Some(&AttributeValue::N("1800000000".into()))
        })
        .then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
        });
    let without = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| r.condition_expression().is_none() && value(r, ":s").is_none())
        .then_output(|| UpdateItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&with_senders, &without]);
    let store = DynamoStore::new(client, "starling");
    store.add(&counts(&["alice", "bob"])).await.expect("counted without the senders");
    assert_eq!((with_senders.num_calls(), without.num_calls()), (1, 1));
    // No senders (a shard's deliveries): one unconditional ADD, no empty set.
    store.add(&counts(&[])).await.unwrap();
    assert_eq!((with_senders.num_calls(), without.num_calls()), (1, 2));
}

#[tokio::test]
async fn minutes_are_one_ranged_query_of_the_rooms_counter_items() {
    let query = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(|q| {
            let v = q.expression_attribute_values().unwrap();
            q.key_condition_expression() == Some("pk = :pk AND sk BETWEEN :first AND :last")
                && v.get(":pk") == Some(&AttributeValue::S("ROOM#lobby".into()))
                && v.get(":first") == Some(&AttributeValue::S("STATS#2026-11-24T16:06Z".into()))
                && v.get(":last") == Some(&AttributeValue::S("STATS#2026-11-24T17:05Z".into()))
        })
        .then_output(|| {
            let item: HashMap<String, AttributeValue> = [
                ("pk", AttributeValue::S("ROOM#lobby".into())),
                ("sk", AttributeValue::S("STATS#2026-11-24T17:05Z".into())),
                ("minute", AttributeValue::S("2026-11-24T17:05Z".into())),
                ("messages", AttributeValue::N("3".into())),
                ("deliveries", AttributeValue::N("9".into())),
                ("senders", AttributeValue::Ss(vec!["alice".into(), "bob".into()])),
                ("expiresAt", AttributeValue::N("1800000000".into())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            QueryOutput::builder().items(item).build()
        });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&query]);
    let store = DynamoStore::new(client, "starling");
    let minutes = store.minutes("lobby", "2026-11-24T16:06Z", "2026-11-24T17:05Z").await.unwrap();
    let senders: BTreeSet<String> = ["alice", "bob"].map(String::from).into();
    assert_eq!(minutes, [MinuteCounts { minute: "2026-11-24T17:05Z".into(), messages: 3, deliveries: 9, senders }]);
}
