//! The optional export of message events for analytics (docs/analytics.md, "Export"): one JSON
//! line per message of a run, handed to the [`crate::ports::ExportSink`] while the run is
//! delivered. Best effort: a failed or slow export is logged and dropped, never a failed record.

use std::time::Duration;

use serde::Serialize;
use tracing::warn;

use super::FanoutDeps;
use crate::domain::{Message, timestamp};

/// The version of the event schema; a change that is not additive gets a new one.
pub const EXPORT_SCHEMA: u32 = 1;
/// The longest an export may take; a run's delivery never waits longer for it.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// One exported message event: the documented schema (docs/analytics.md), one JSON object per
/// line. `body` is present only when the deployment exports bodies (`STARLING_EXPORT_BODIES`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEvent<'a> {
    /// [`EXPORT_SCHEMA`].
    pub schema: u32,
    /// `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The room.
    pub room: &'a str,
    /// Its seq in the room.
    pub seq: u64,
    /// The message id (ULID): what consumers deduplicate on.
    pub id: &'a str,
    /// The sender's user id.
    pub from: &'a str,
    /// When `send` accepted it (RFC 3339, ms).
    pub sent_at: &'a str,
    /// When the fanout stored it, or found it stored on a retry (RFC 3339, ms).
    pub stored_at: &'a str,
    /// The body's length in UTF-8 bytes.
    pub bytes: usize,
    /// The body, only when bodies are exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a str>,
}

impl<'a> MessageEvent<'a> {
    /// The event of `message`, stored at `stored_at`, with its body when `bodies`.
    pub fn of(message: &'a Message, stored_at: &'a str, bodies: bool) -> Self {
        Self {
            schema: EXPORT_SCHEMA,
            kind: "message",
            room: &message.room,
            seq: message.seq,
            id: &message.id,
            from: &message.from,
            sent_at: &message.sent_at,
            stored_at,
            bytes: message.body.len(),
            body: bodies.then_some(message.body.as_str()),
        }
    }

    /// The event as one line of JSON, `\n` included.
    pub fn to_line(&self) -> Vec<u8> {
        // Plain data with string keys: serialization cannot fail.
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// Exports the run's messages when the deployment has an export stream; logs what fails.
pub(super) async fn export_run(deps: &FanoutDeps, messages: &[Message]) {
    let (Some(sink), Some(first)) = (&deps.exports, messages.first()) else { return };
    let stored_at = timestamp(deps.clock.now());
    let bodies = deps.settings.export_bodies;
    let lines: Vec<Vec<u8>> = messages.iter().map(|m| MessageEvent::of(m, &stored_at, bodies).to_line()).collect();
    let (first_seq, last_seq) = (first.seq, messages.last().map_or(first.seq, |m| m.seq));
    let outcome = tokio::time::timeout(EXPORT_TIMEOUT, sink.put(&lines)).await;
    if !matches!(outcome, Ok(Ok(()))) {
        crate::telemetry::metric::export_failed();
    }
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(
            room = %first.room, first_seq, last_seq, error = %crate::telemetry::chain(&e),
            "export failed; these message events are not exported"
        ),
        Err(_) => warn!(
            room = %first.room, first_seq, last_seq, timeout_ms = EXPORT_TIMEOUT.as_millis() as u64,
            "export timed out; these message events may not be exported"
        ),
    }
}
