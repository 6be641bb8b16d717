//! The devstack's moderation: the built-in filter's rules from a file (`--moderation FILE`),
//! read again within a second of a change, and the hook as a local command or an HTTP URL
//! (`--moderation-hook`), each given the same request document a Lambda hook gets.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use starling_shared::adapters::moderation::FileRules;
use starling_shared::moderation::{FailurePolicy, HookError, HookTransport, Moderators, RulesSource};
use starling_shared::wiring;
use tokio::io::AsyncWriteExt;

/// How soon an edited rules file applies.
pub const FILE_RELOAD: Duration = Duration::from_secs(1);

/// `--moderation`, `--moderation-hook`, `--moderation-hook-timeout-ms`,
/// `--moderation-hook-failure`.
#[derive(Debug, Clone, Default)]
pub struct ModerationSettings {
    /// The rules file.
    pub rules_file: Option<PathBuf>,
    /// The hook.
    pub hook: Option<HookTarget>,
    /// How long the hook may take per message.
    pub hook_timeout: Duration,
    /// What a failed hook call does.
    pub hook_failure: FailurePolicy,
}

/// Where the devstack's hook is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookTarget {
    /// POST the request to this URL; the response body is the reply.
    Url(String),
    /// Run this through `sh -c`, the request on its stdin; its stdout is the reply.
    Command(String),
}

impl HookTarget {
    /// An `http://` or `https://` value is a URL; anything else is a command.
    pub fn parse(value: &str) -> Self {
        if value.starts_with("http://") || value.starts_with("https://") {
            Self::Url(value.to_owned())
        } else {
            Self::Command(value.to_owned())
        }
    }
}

impl ModerationSettings {
    /// The stages these settings name.
    pub fn moderators(&self) -> Moderators {
        let rules = self.rules_file.as_ref().map(|path| Arc::new(FileRules::new(path)) as Arc<dyn RulesSource>);
        let hook = self.hook.as_ref().map(|target| {
            let transport: Arc<dyn HookTransport> = match target {
                HookTarget::Url(url) => Arc::new(UrlHook { url: url.clone(), client: reqwest::Client::new() }),
                HookTarget::Command(command) => Arc::new(CommandHook { command: command.clone() }),
            };
            (transport, self.hook_timeout, self.hook_failure)
        });
        wiring::moderation(rules, FILE_RELOAD, hook)
    }
}

/// A hook served over HTTP (any web service, or a Lambda emulator's invocation URL).
#[derive(Debug)]
struct UrlHook {
    url: String,
    client: reqwest::Client,
}

#[async_trait]
impl HookTransport for UrlHook {
    async fn call(&self, request: Vec<u8>) -> Result<Vec<u8>, HookError> {
        let call = |e: reqwest::Error| HookError::Call { target: self.url.clone(), source: Box::new(e) };
        let response = self
            .client
            .post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(request)
            .send()
            .await
            .map_err(call)?;
        let status = response.status();
        let body = response.bytes().await.map_err(call)?;
        if !status.is_success() {
            let detail = format!("HTTP {status}: {}", String::from_utf8_lossy(&body));
            return Err(HookError::Failed { target: self.url.clone(), detail });
        }
        Ok(body.to_vec())
    }
}

/// A hook run as a command per message. Dropped at the timeout, the child is killed.
#[derive(Debug)]
struct CommandHook {
    command: String,
}

#[async_trait]
impl HookTransport for CommandHook {
    async fn call(&self, request: Vec<u8>) -> Result<Vec<u8>, HookError> {
        let call = |e: std::io::Error| HookError::Call { target: self.command.clone(), source: Box::new(e) };
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(call)?;
        if let Some(mut stdin) = child.stdin.take() {
            // A hook that exits without reading its input is its own business: its reply counts.
            let _ = stdin.write_all(&request).await;
        }
        let output = child.wait_with_output().await.map_err(call)?;
        if !output.status.success() {
            let detail = format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
            return Err(HookError::Failed { target: self.command.clone(), detail });
        }
        Ok(output.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_urls_and_anything_else_is_a_command() {
        assert_eq!(
            HookTarget::parse("http://127.0.0.1:9000/hook"),
            HookTarget::Url("http://127.0.0.1:9000/hook".into())
        );
        assert_eq!(HookTarget::parse("https://mod.example/x"), HookTarget::Url("https://mod.example/x".into()));
        assert_eq!(HookTarget::parse("./hook.py --strict"), HookTarget::Command("./hook.py --strict".into()));
    }

    #[tokio::test]
    async fn a_command_hook_gets_the_request_on_stdin_and_its_failures_are_errors() {
        let echo = CommandHook { command: "cat".into() };
        assert_eq!(echo.call(br#"{"a":1}"#.to_vec()).await.unwrap(), br#"{"a":1}"#);
        let failing = CommandHook { command: "echo nope >&2; exit 3".into() };
        match failing.call(vec![]).await {
            Err(HookError::Failed { detail, .. }) => assert!(detail.contains("nope"), "{detail}"),
            other => panic!("{other:?}"),
        }
    }
}
