//! What a fault is, as JSON: `{"fault":"append", ...}`. The format is documented in
//! docs/devstack.md ("Fault injection").

use serde::{Deserialize, Serialize};

/// Where an append fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppendFault {
    /// The append fails before anything is stored (a throttle, a timeout on the way in).
    BeforeStore,
    /// The message is stored, then the call fails: the redelivered record must find it stored
    /// and deliver it under the same seq.
    AfterStore,
}

/// Where a crash fault kills the fanout invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashPoint {
    /// Right after a message was stored, before any post.
    AfterStore,
    /// After the first successful post of the invocation.
    MidPosts,
}

/// What happens to a `$disconnect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectMode {
    /// It never runs (API Gateway does not guarantee it).
    Lost,
    /// It runs `delayMs` after the connection closed.
    Late,
    /// It runs twice.
    Doubled,
}

/// The error a DynamoDB fault answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DynamoFault {
    /// `ProvisionedThroughputExceededException` (HTTP 400): the SDK retries it.
    Throttling,
    /// `TransactionCanceledException` with a `TransactionConflict` reason (only on
    /// `TransactWriteItems`).
    TransactionCanceled,
}

/// A planned fault. `times` is how often it fires: a positive count, or -1 for always.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Fault {
    /// The fanout's append of a matching message fails.
    Append {
        /// Only messages to this room (any room when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Only messages whose body contains this (any body when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body_contains: Option<String>,
        /// Before or after the message is stored.
        when: AppendFault,
        /// How often.
        times: i64,
    },
    /// The fanout's append of a message to `room` (any room when absent) takes `delayMs` longer,
    /// then succeeds: a slow DynamoDB, or a batch that outlasts the visibility timeout.
    Stall {
        /// Only messages to this room (any room when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// How long each stalled append waits.
        delay_ms: u64,
        /// How often.
        times: i64,
    },
    /// PostToConnection to any connection of `user` answers `status` (410 also closes it).
    Post {
        /// Whose connections.
        user: String,
        /// 403, 410, 413, 429 or 500.
        status: u16,
        /// How often.
        times: i64,
    },
    /// An enqueue (by `send`, `$connect` or `$disconnect`) fails as an SQS outage would.
    Enqueue {
        /// How often.
        times: i64,
    },
    /// The fanout invocation dies at `at`, as a crashed or timed-out Lambda does: nothing of
    /// its batch is deleted, and the whole batch comes back after the visibility timeout.
    Crash {
        /// Where.
        at: CrashPoint,
        /// How often.
        times: i64,
    },
    /// A DynamoDB call fails with `error` (the SDK backend only). The call is not applied.
    Dynamo {
        /// Which error.
        error: DynamoFault,
        /// Only this operation (`TransactWriteItems`, `Query`, ...); any when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation: Option<String>,
        /// How often (each try of the SDK's retries counts).
        times: i64,
    },
    /// A fanout batch that succeeded is not deleted (a lost DeleteMessageBatch): SQS delivers
    /// the whole batch again after the visibility timeout.
    Redeliver {
        /// How often.
        times: i64,
    },
    /// What happens to the next `$disconnect`s.
    Disconnect {
        /// Lost, late or doubled.
        mode: DisconnectMode,
        /// For `late`: how long after the close it runs.
        #[serde(default)]
        delay_ms: u64,
        /// How often.
        times: i64,
    },
}

/// Why a fault was refused.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The JSON is not a fault.
    #[error("not a fault: {0}")]
    Json(#[from] serde_json::Error),
    /// `times` must be positive or -1.
    #[error("times must be a positive count or -1 (always), not {0}")]
    Times(i64),
    /// The post status is not one the Management API answers with.
    #[error("post status must be 403, 410, 413, 429 or 500, not {0}")]
    Status(u16),
    /// The fault needs the SDK backend.
    #[error("DynamoDB faults need the SDK backend (--endpoint-url or --aws)")]
    NeedsSdkBackend,
    /// The fault fires inside a function, which runs elsewhere in the Lambda Invoke mode.
    #[error(
        "with --lambda-endpoint the functions run elsewhere: only redeliver and disconnect faults (the gateway's and \
         the event source mapping's own) can be injected"
    )]
    NeedsInProcessFunctions,
}

impl Fault {
    /// Checks the fault; returns how often it fires (`None` = always).
    pub(crate) fn validate(&self) -> Result<Option<u64>, FaultError> {
        if let Fault::Post { status, .. } = self
            && ![403, 410, 413, 429, 500].contains(status)
        {
            return Err(FaultError::Status(*status));
        }
        match self.times() {
            -1 => Ok(None),
            n if n > 0 => Ok(u64::try_from(n).ok()),
            n => Err(FaultError::Times(n)),
        }
    }

    /// Whether it fires in the gateway or the event source mapping, not inside a function (its
    /// ports or its clients), so it can fire in the Lambda Invoke mode too.
    pub(crate) fn fires_outside_functions(&self) -> bool {
        matches!(self, Fault::Redeliver { .. } | Fault::Disconnect { .. })
    }

    fn times(&self) -> i64 {
        match self {
            Fault::Append { times, .. }
            | Fault::Stall { times, .. }
            | Fault::Post { times, .. }
            | Fault::Enqueue { times }
            | Fault::Crash { times, .. }
            | Fault::Dynamo { times, .. }
            | Fault::Redeliver { times }
            | Fault::Disconnect { times, .. } => *times,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_json_parses() {
        let cases = [
            r#"{"fault":"append","room":"r","bodyContains":"boom","times":-1,"when":"before_store"}"#,
            r#"{"fault":"stall","room":"r","delayMs":800,"times":2}"#,
            r#"{"fault":"post","user":"u","status":413,"times":2}"#,
            r#"{"fault":"enqueue","times":1}"#,
            r#"{"fault":"crash","at":"mid_posts","times":1}"#,
            r#"{"fault":"dynamo","error":"transaction_canceled","operation":"TransactWriteItems","times":3}"#,
            r#"{"fault":"redeliver","times":1}"#,
            r#"{"fault":"disconnect","mode":"late","delayMs":300,"times":1}"#,
        ];
        for json in cases {
            let fault: Fault = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert!(fault.validate().is_ok(), "{json}");
        }
    }

    #[test]
    fn unknown_kinds_fields_and_statuses_are_refused() {
        assert!(serde_json::from_str::<Fault>(r#"{"fault":"meteor","times":1}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"fault":"enqueue","times":1,"extra":true}"#).is_err());
        let teapot: Fault = serde_json::from_str(r#"{"fault":"post","user":"u","status":418,"times":1}"#).unwrap();
        assert!(matches!(teapot.validate(), Err(FaultError::Status(418))));
    }
}
