//! The moderation ports on AWS and on disk: the rules document in an SSM parameter, an S3
//! object or a file, and the hook as a Lambda function.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;

use crate::moderation::{Fetched, HookError, HookTransport, RulesDocument, RulesSource, RulesSourceError};

/// The largest rules document read from an object or a file: 10,000 terms of 100 characters with
/// their JSON fit in well under this, and nothing larger is held in memory.
pub const MAX_RULES_BYTES: u64 = 4 * 1024 * 1024;

fn too_large(location: String, bytes: u64) -> RulesSourceError {
    let message = format!("{bytes} bytes; the limit is {MAX_RULES_BYTES}");
    read_error(location, std::io::Error::new(std::io::ErrorKind::InvalidData, message))
}

fn read_error(location: String, e: impl std::error::Error + Send + Sync + 'static) -> RulesSourceError {
    RulesSourceError::Read { location, source: Arc::new(e) }
}

/// The rules in an SSM parameter (String or SecureString, at most 8 KB on the advanced tier).
#[derive(Debug, Clone)]
pub struct SsmRules {
    client: aws_sdk_ssm::Client,
    name: String,
}

impl SsmRules {
    /// The parameter `name`.
    pub fn new(client: aws_sdk_ssm::Client, name: impl Into<String>) -> Self {
        Self { client, name: name.into() }
    }
}

#[async_trait]
impl RulesSource for SsmRules {
    async fn fetch(&self, known: Option<&str>) -> Result<Fetched, RulesSourceError> {
        let location = format!("SSM parameter {}", self.name);
        let out = self
            .client
            .get_parameter()
            .name(&self.name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| read_error(location.clone(), aws_sdk_ssm::Error::from(e)))?;
        let parameter = out.parameter.ok_or_else(|| read_error(location, std::io::Error::other("no parameter")))?;
        let version = parameter.version.to_string();
        if known == Some(version.as_str()) {
            return Ok(Fetched::Unchanged);
        }
        Ok(Fetched::Document(RulesDocument { text: parameter.value.unwrap_or_default(), version }))
    }
}

/// The rules in an S3 object; a read of an unchanged object is a conditional GET answered 304.
#[derive(Debug, Clone)]
pub struct S3Rules {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
}

impl S3Rules {
    /// The object `key` of `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into(), key: key.into() }
    }
}

#[async_trait]
impl RulesSource for S3Rules {
    async fn fetch(&self, known: Option<&str>) -> Result<Fetched, RulesSourceError> {
        let location = format!("s3://{}/{}", self.bucket, self.key);
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_if_none_match(known.map(str::to_owned))
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => return Ok(Fetched::Unchanged),
            Err(e) => return Err(read_error(location, aws_sdk_s3::Error::from(e))),
        };
        let length = out.content_length.unwrap_or_default().max(0) as u64;
        if length > MAX_RULES_BYTES {
            return Err(too_large(location, length));
        }
        let version = out.e_tag.clone().unwrap_or_default();
        let bytes = out.body.collect().await.map_err(|e| read_error(location.clone(), e))?.into_bytes();
        let text = String::from_utf8(bytes.to_vec()).map_err(|e| read_error(location, e))?;
        Ok(Fetched::Document(RulesDocument { text, version }))
    }
}

/// The rules in a local file (the devstack's `--moderation FILE`); a change of its modification
/// time or length is a new version.
#[derive(Debug, Clone)]
pub struct FileRules {
    path: PathBuf,
}

impl FileRules {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl RulesSource for FileRules {
    async fn fetch(&self, known: Option<&str>) -> Result<Fetched, RulesSourceError> {
        let location = self.path.display().to_string();
        let meta = tokio::fs::metadata(&self.path).await.map_err(|e| read_error(location.clone(), e))?;
        let modified = meta.modified().map_err(|e| read_error(location.clone(), e))?;
        let nanos = modified.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
        if meta.len() > MAX_RULES_BYTES {
            return Err(too_large(location, meta.len()));
        }
        let version = format!("{nanos}-{}", meta.len());
        if known == Some(version.as_str()) {
            return Ok(Fetched::Unchanged);
        }
        let text = tokio::fs::read_to_string(&self.path).await.map_err(|e| read_error(location, e))?;
        Ok(Fetched::Document(RulesDocument { text, version }))
    }
}

/// The hook as a Lambda function, invoked synchronously (`RequestResponse`).
#[derive(Debug, Clone)]
pub struct LambdaHook {
    client: aws_sdk_lambda::Client,
    function: String,
}

impl LambdaHook {
    /// The function `function` (a name or an ARN).
    pub fn new(client: aws_sdk_lambda::Client, function: impl Into<String>) -> Self {
        Self { client, function: function.into() }
    }
}

#[async_trait]
impl HookTransport for LambdaHook {
    async fn call(&self, request: Vec<u8>) -> Result<Vec<u8>, HookError> {
        let out = self.client.invoke().function_name(&self.function).payload(Blob::new(request)).send().await.map_err(
            |e| HookError::Call { target: self.function.clone(), source: Box::new(aws_sdk_lambda::Error::from(e)) },
        )?;
        let payload = out.payload.map(Blob::into_inner).unwrap_or_default();
        if let Some(kind) = out.function_error {
            let detail = format!("{kind}: {}", String::from_utf8_lossy(&payload));
            return Err(HookError::Failed { target: self.function.clone(), detail });
        }
        Ok(payload)
    }
}
