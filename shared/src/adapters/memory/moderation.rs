//! The moderation ports in memory: a rules document a test edits or breaks, and a hook that
//! answers what a test scripts, after a delay it chooses.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::moderation::{Fetched, HookError, HookTransport, RulesDocument, RulesSource, RulesSourceError};

/// Holds one rules document; each [`MemoryRules::set`] is a new version.
#[derive(Debug, Default)]
pub struct MemoryRules {
    document: Mutex<RulesDocument>,
    fetches: AtomicUsize,
    failing: AtomicBool,
    delay: Mutex<Duration>,
}

impl MemoryRules {
    /// Holds `text` as version 1.
    pub fn new(text: impl Into<String>) -> Self {
        let document = RulesDocument { text: text.into(), version: "1".into() };
        Self { document: Mutex::new(document), ..Self::default() }
    }

    /// Replaces the document with `text`, as the next version.
    pub fn set(&self, text: impl Into<String>) {
        let mut doc = self.document.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = doc.version.parse::<u64>().unwrap_or(0) + 1;
        *doc = RulesDocument { text: text.into(), version: next.to_string() };
    }

    /// Whether reads fail (the parameter is gone, access is denied).
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Reads so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Each read takes `delay` (a slow parameter store).
    pub fn slow(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = delay;
    }
}

#[async_trait]
impl RulesSource for MemoryRules {
    async fn fetch(&self, known: Option<&str>) -> Result<Fetched, RulesSourceError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokio::time::sleep(delay).await;
        if self.failing.load(Ordering::SeqCst) {
            let source = std::sync::Arc::new(std::io::Error::other("access denied"));
            return Err(RulesSourceError::Read { location: "memory".into(), source });
        }
        let doc = self.document.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        Ok(if known == Some(doc.version.as_str()) { Fetched::Unchanged } else { Fetched::Document(doc) })
    }
}

/// One scripted answer of a [`MemoryHook`].
#[derive(Debug, Clone)]
pub enum HookAnswer {
    /// Reply with this document (raw, so a test can send an invalid one).
    Reply(String),
    /// Fail as a function error does.
    Fail(String),
}

/// Answers from a script (then its default), after `delay`; records every request.
#[derive(Debug)]
pub struct MemoryHook {
    script: Mutex<VecDeque<HookAnswer>>,
    default: HookAnswer,
    delay: Mutex<Duration>,
    requests: Mutex<Vec<serde_json::Value>>,
}

impl MemoryHook {
    /// Answers `default` to every request.
    pub fn new(default: HookAnswer) -> Self {
        Self { script: Mutex::default(), default, delay: Mutex::default(), requests: Mutex::default() }
    }

    /// Answers `{"verdict":"allow"}`.
    pub fn allowing() -> Self {
        Self::new(HookAnswer::Reply(r#"{"verdict":"allow"}"#.into()))
    }

    /// The next answers, before the default.
    pub fn then(&self, answer: HookAnswer) {
        self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push_back(answer);
    }

    /// Waits `delay` before each answer.
    pub fn slow(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = delay;
    }

    /// Every request so far, parsed.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl HookTransport for MemoryHook {
    async fn call(&self, request: Vec<u8>) -> Result<Vec<u8>, HookError> {
        let parsed = serde_json::from_slice(&request).unwrap_or(serde_json::Value::Null);
        self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(parsed);
        let delay = *self.delay.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokio::time::sleep(delay).await;
        let next = self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop_front();
        match next.unwrap_or_else(|| self.default.clone()) {
            HookAnswer::Reply(reply) => Ok(reply.into_bytes()),
            HookAnswer::Fail(detail) => Err(HookError::Failed { target: "memory".into(), detail }),
        }
    }
}
