//! Implementations of the ports: AWS (DynamoDB, SQS, Management API) and in-memory.

pub mod apigw;
pub mod dynamo;
pub mod memory;
pub mod sqs;
