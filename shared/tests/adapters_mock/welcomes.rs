//! The welcome inbox's DynamoDB adapter against mocked clients: a throttled put surfaces as a
//! retryable error (so the fanout retries the record), and one put per device is made. Also
//! the admission of a Welcome's users to the room's group (`MessageStore::admit`).

use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::domain::{HeldWelcome, PendingWelcome};
use starling_shared::ports::{MessageStore, StoreError, WelcomeInbox};

fn held(devices: &[&str]) -> HeldWelcome {
    HeldWelcome {
        welcome: PendingWelcome { room: "e2e:team".into(), seq: 7, from: "alice".into(), welcome: "AAEAAw==".into() },
        to: devices.iter().map(|d| ("bob".to_owned(), (*d).to_owned())).collect(),
        expires_at: 1_800_000_000,
    }
}

#[tokio::test]
async fn holding_a_welcome_puts_one_item_per_device_under_its_inbox_key() {
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|p| {
            let item = p.item().unwrap();
            item.get("sk") == Some(&AttributeValue::S("e2e:team#00000000000000000007".into()))
                && item.get("welcome") == Some(&AttributeValue::S("AAEAAw==".into()))
                && item.get("expiresAt") == Some(&AttributeValue::N("1800000000".into()))
                && p.condition_expression().is_none()
        })
        .then_output(|| PutItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&put]);
    DynamoStore::new(client, "starling").hold_welcome(&held(&["phone", "laptop", "tablet"])).await.unwrap();
    assert_eq!(put.num_calls(), 3);
}

#[tokio::test]
async fn a_throttled_put_is_a_throttle_the_caller_retries() {
    let throttled = mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
        PutItemError::generic(ErrorMetadata::builder().code("ProvisionedThroughputExceededException").build())
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&throttled], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    let err = DynamoStore::new(client, "starling").hold_welcome(&held(&["phone"])).await.unwrap_err();
    assert!(matches!(err, StoreError::Throttled(_)), "{err:?}");
}

#[tokio::test]
async fn admitting_adds_the_users_to_the_heads_string_set_only_where_a_group_exists() {
    let update = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|u| {
            u.key().and_then(|k| k.get("sk")) == Some(&AttributeValue::S("HEAD".into()))
                && u.update_expression() == Some("ADD admitted :users")
                && u.condition_expression() == Some("attribute_exists(groupId)")
                && u.expression_attribute_values().and_then(|v| v.get(":users"))
                    == Some(&AttributeValue::Ss(vec!["bob".into(), "carol".into()]))
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&update]);
    let store = DynamoStore::new(client, "starling");
    store.admit("e2e:team", &["bob".into(), "carol".into()]).await.unwrap();
    store.admit("e2e:team", &[]).await.unwrap();
    assert_eq!(update.num_calls(), 1, "nobody to admit is no request");
}

#[tokio::test]
async fn admitting_where_no_group_exists_is_not_found() {
    let refused = mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
        UpdateItemError::generic(ErrorMetadata::builder().code("ConditionalCheckFailedException").build())
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, &[&refused]);
    let err = DynamoStore::new(client, "starling").admit("e2e:none", &["bob".into()]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}
