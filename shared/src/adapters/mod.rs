//! Implementations of the ports: AWS (DynamoDB, SQS, Management API, Firehose, the moderation
//! rules in SSM or S3 and the hook in Lambda), an OIDC issuer's JWKS, a rules file, and in-memory.

pub mod apigw;
pub mod dynamo;
pub mod firehose;
pub mod jwks;
pub mod memory;
pub mod moderation;
pub mod sqs;

/// Whether an AWS error code means "slow down". The SDK's own list, so the adapters classify a
/// throttle as the SDK's retry classifier does, whichever service answered.
pub(crate) fn is_throttle(code: Option<&str>) -> bool {
    code.is_some_and(|c| aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&c))
}
