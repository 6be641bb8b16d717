//! The key package directory's DynamoDB adapter against mocked clients: the failures moto cannot
//! produce on demand (a count update lost after a claim, a transaction conflict).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, InternalServerError, TransactionCanceledException,
};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::domain::{DeviceKeys, PublishOutcome};
use starling_shared::ports::KeyDirectory;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

fn store(client: aws_sdk_dynamodb::Client) -> DynamoStore {
    DynamoStore::new(client, "starling")
}

#[tokio::test]
async fn a_claim_stands_when_its_count_update_fails_and_a_lost_race_goes_on_to_the_next_package() {
    let devices = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(|q| q.expression_attribute_values().and_then(|v| v.get(":prefix")) == Some(&s("DEVICE#")))
        .then_output(|| {
            let phone = item(&[("device", s("phone")), ("oneTime", n(2)), ("lastResort", s("LR"))]);
            QueryOutput::builder().items(phone).count(1).build()
        });
    let packages = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(|q| q.expression_attribute_values().and_then(|v| v.get(":prefix")) == Some(&s("KP#phone#")))
        .then_output(|| {
            let kp =
                |id: &str| item(&[("pk", s("KEYS#bob")), ("sk", s(&format!("KP#phone#{id}"))), ("keyPackage", s(id))]);
            QueryOutput::builder().items(kp("01A")).items(kp("01B")).count(2).build()
        });
    // Another claimer took 01A between the read and the delete.
    let lost = mock!(aws_sdk_dynamodb::Client::delete_item)
        .match_requests(|d| d.key().and_then(|k| k.get("sk")) == Some(&s("KP#phone#01A")))
        .then_error(|| {
            DeleteItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
        });
    let won = mock!(aws_sdk_dynamodb::Client::delete_item)
        .match_requests(|d| {
            d.key().and_then(|k| k.get("sk")) == Some(&s("KP#phone#01B"))
                && d.condition_expression() == Some("attribute_exists(pk)")
        })
        .then_output(|| DeleteItemOutput::builder().build());
    let count = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|u| u.update_expression() == Some("ADD oneTime :minus"))
        .then_error(|| UpdateItemError::InternalServerError(InternalServerError::builder().build()));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&devices, &packages, &lost, &won, &count], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    let claimed = store(client).claim_keys("bob").await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].key_package.as_str(), claimed[0].last_resort), ("01B", false));
    assert_eq!((lost.num_calls(), won.num_calls(), count.num_calls()), (1, 1, 1));
}

#[tokio::test]
async fn a_count_left_high_by_a_lost_update_is_mended_from_the_packages_before_refusing_a_publish() {
    let cancelled = |code: &'static str| {
        move || {
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .cancellation_reasons(CancellationReason::builder().code("None").build())
                    .cancellation_reasons(CancellationReason::builder().code(code).build())
                    .build(),
            )
        }
    };
    // A concurrent transaction first (the count then fits: retry), then the stale count's
    // condition (the count says full, the packages say 97: mend it, retry), then success.
    let transact = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .error(cancelled("TransactionConflict"))
        .error(cancelled("ConditionalCheckFailed"))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let devices = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|g| g.key().and_then(|k| k.get("sk")) == Some(&s("DEVICES")))
        .sequence()
        .output(|| GetItemOutput::builder().item("devices", AttributeValue::Ss(vec!["phone".into()])).build())
        .repeatedly()
        .build();
    let device = |held: i64| {
        move || GetItemOutput::builder().set_item(Some(item(&[("device", s("phone")), ("oneTime", n(held))]))).build()
    };
    let counts = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|g| g.key().and_then(|k| k.get("sk")) == Some(&s("DEVICE#phone")))
        .sequence()
        .output(device(50))
        .output(device(100))
        .output(device(99))
        .build();
    let stored = mock!(aws_sdk_dynamodb::Client::query)
        .match_requests(|q| q.select() == Some(&aws_sdk_dynamodb::types::Select::Count))
        .then_output(|| QueryOutput::builder().count(97).build());
    let mend = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|u| {
            u.update_expression() == Some("SET oneTime = :stored")
                && u.expression_attribute_values().and_then(|v| v.get(":stored")) == Some(&n(97))
                && u.expression_attribute_values().and_then(|v| v.get(":counted")) == Some(&n(100))
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&transact, &devices, &counts, &stored, &mend]);
    let outcome = store(client).publish_keys("bob", "phone", &["A".into(), "B".into()], None).await.unwrap();
    assert_eq!(outcome, PublishOutcome::Published(DeviceKeys { one_time: 99, last_resort: false }));
    assert_eq!((transact.num_calls(), counts.num_calls(), mend.num_calls()), (3, 3, 1));
}
