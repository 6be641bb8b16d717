//! Issue #13, the moderation adapters: the rules in an SSM parameter and an S3 object on moto
//! (an unchanged source is not read whole again), in a file, and the hook as a Lambda function
//! (a function error is a failure, its payload is the reply) with a mocked client.

mod common;

use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use common::{moto_config, unique_name};
use starling_shared::adapters::moderation::{FileRules, LambdaHook, MAX_RULES_BYTES, S3Rules, SsmRules};
use starling_shared::moderation::{Fetched, HookError, HookTransport, RulesSource, RulesSourceError};

const RULES: &str = r#"{"version":1,"terms":[{"text":"badword","action":"reject"}]}"#;

fn crate_chain(e: &RulesSourceError) -> String {
    starling_shared::telemetry::chain(e)
}

fn document(fetched: Fetched) -> (String, String) {
    match fetched {
        Fetched::Document(d) => (d.text, d.version),
        Fetched::Unchanged => panic!("expected a document"),
    }
}

#[tokio::test]
async fn ssm_rules_are_read_then_unchanged_until_the_parameter_changes() {
    let ssm = aws_sdk_ssm::Client::new(&moto_config().await);
    let name = format!("/{}", unique_name("starling-moderation"));
    ssm.put_parameter()
        .name(&name)
        .value(RULES)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let source = SsmRules::new(ssm.clone(), &name);
    let (text, v1) = document(source.fetch(None).await.unwrap());
    assert_eq!(text, RULES);
    assert_eq!(source.fetch(Some(&v1)).await.unwrap(), Fetched::Unchanged);
    ssm.put_parameter().name(&name).value("{}").overwrite(true).send().await.unwrap();
    let (text, v2) = document(source.fetch(Some(&v1)).await.unwrap());
    assert_eq!((text.as_str(), v2 != v1), ("{}", true));

    let missing = SsmRules::new(ssm, "/starling/no-such-parameter");
    let err = missing.fetch(None).await.unwrap_err();
    assert!(matches!(err, RulesSourceError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("/starling/no-such-parameter"), "{err}");
}

#[tokio::test]
async fn s3_rules_are_read_then_answered_not_modified_until_the_object_changes() {
    let config = moto_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
    let bucket = unique_name("starling-rules");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let put = |body: &'static str| {
        s3.put_object().bucket(&bucket).key("moderation/rules.json").body(body.as_bytes().to_vec().into()).send()
    };
    put(RULES).await.unwrap();
    let source = S3Rules::new(s3.clone(), &bucket, "moderation/rules.json");
    let (text, etag) = document(source.fetch(None).await.unwrap());
    assert_eq!(text, RULES);
    assert_eq!(source.fetch(Some(&etag)).await.unwrap(), Fetched::Unchanged, "a conditional GET answered 304");
    put(r#"{"version":1}"#).await.unwrap();
    let (text, _) = document(source.fetch(Some(&etag)).await.unwrap());
    assert_eq!(text, r#"{"version":1}"#);

    let missing = S3Rules::new(s3.clone(), &bucket, "nothing-here.json");
    assert!(matches!(missing.fetch(None).await, Err(RulesSourceError::Read { .. })));

    let huge = vec![b' '; MAX_RULES_BYTES as usize + 1];
    s3.put_object().bucket(&bucket).key("huge.json").body(huge.into()).send().await.unwrap();
    let err = S3Rules::new(s3, &bucket, "huge.json").fetch(None).await.unwrap_err();
    assert!(crate_chain(&err).contains("the limit is 4194304"), "{}", crate_chain(&err));
}

#[tokio::test]
async fn a_rules_file_is_a_new_version_when_it_is_rewritten() {
    let dir = std::env::temp_dir().join(unique_name("starling-rules"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.json");
    std::fs::write(&path, RULES).unwrap();
    let source = FileRules::new(&path);
    let (_, v1) = document(source.fetch(None).await.unwrap());
    assert_eq!(source.fetch(Some(&v1)).await.unwrap(), Fetched::Unchanged);
    std::fs::write(&path, r#"{"version":1,"terms":[]}"#).unwrap();
    let (text, _) = document(source.fetch(Some(&v1)).await.unwrap());
    assert_eq!(text, r#"{"version":1,"terms":[]}"#);
    std::fs::write(&path, vec![b' '; MAX_RULES_BYTES as usize + 1]).unwrap();
    let err = source.fetch(None).await.unwrap_err();
    assert!(crate_chain(&err).contains("the limit is 4194304"), "{}", crate_chain(&err));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(source.fetch(None).await, Err(RulesSourceError::Read { .. })));
}

#[tokio::test]
async fn the_lambda_hook_sends_the_request_and_treats_a_function_error_as_a_failure() {
    let ok = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(|r| {
            r.function_name() == Some("arn:aws:lambda:us-east-1:123456789012:function:mod")
                && r.payload().is_some_and(|p| p.as_ref() == br#"{"body":"x"}"#)
        })
        .then_output(|| InvokeOutput::builder().status_code(200).payload(Blob::new(r#"{"verdict":"allow"}"#)).build());
    let failed = mock!(aws_sdk_lambda::Client::invoke).then_output(|| {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .payload(Blob::new(r#"{"errorMessage":"boom"}"#))
            .build()
    });
    let client = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&ok, &failed]);
    let hook = LambdaHook::new(client, "arn:aws:lambda:us-east-1:123456789012:function:mod");
    let reply = hook.call(br#"{"body":"x"}"#.to_vec()).await.unwrap();
    assert_eq!(reply, br#"{"verdict":"allow"}"#);
    match hook.call(br#"{"body":"x"}"#.to_vec()).await {
        Err(HookError::Failed { detail, .. }) => {
            assert!(detail.contains("Unhandled") && detail.contains("boom"), "{detail}")
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    assert_eq!((ok.num_calls(), failed.num_calls()), (1, 1));
}
