//! The SDK interceptor that bills every request, and the tallies it keeps per phase.
//!
//! It reads each request body just before it is sent and the response body once it is read
//! (non-streaming operations load it whole before deserializing), so it sees every attempt,
//! retries included, as AWS would bill them. Reads whose response does not show what they read
//! (projections, counts, filters) are sent again, uncounted and without those, by [`Meter::settle`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde::Serialize;
use serde_json::Value;

use crate::CostError;
use crate::bill::{Bill, IndexKeys, ShadowRead, bill, page_of};
use crate::units::{item_size, read_units};

/// Billed units and requests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Tally {
    /// DynamoDB read request units.
    pub(crate) rcu: f64,
    /// DynamoDB write request units.
    pub(crate) wcu: f64,
    /// PostToConnection calls.
    pub(crate) posts: u64,
    /// SQS requests, as billed (64 KB chunks).
    pub(crate) sqs: u64,
}

impl Tally {
    fn add(&mut self, b: &Bill) {
        match b {
            Bill::Dynamo { rcu, wcu } => {
                self.rcu += rcu;
                self.wcu += wcu;
            }
            Bill::Sqs(n) => self.sqs += n,
            Bill::Post => self.posts += 1,
            Bill::Shadow(_) | Bill::Free => {}
        }
    }
}

/// One operation's share of a phase.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct OpTally {
    /// Requests (attempts).
    pub(crate) calls: u64,
    /// What they were billed.
    pub(crate) units: Tally,
}

/// Per operation (`DynamoDB.Query`, `SQS.SendMessage`, ..) of one phase.
pub(crate) type Breakdown = BTreeMap<String, OpTally>;

/// What a request is counted towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connecting and joining.
    Setup = 0,
    /// One message, from the `send` frame to the last post.
    Message = 1,
}

/// The tallies of one system on one workload.
#[derive(Debug)]
pub(crate) struct Meter {
    phase: AtomicUsize,
    tallies: Mutex<[Tally; 2]>,
    breakdown: Mutex<[Breakdown; 2]>,
    pending: Mutex<Vec<(usize, String, ShadowRead)>>,
    gsis: &'static IndexKeys,
}

impl Meter {
    /// A meter for tables whose indexes are keyed by `gsis`, in the set-up phase.
    pub(crate) fn new(gsis: &'static IndexKeys) -> Arc<Self> {
        let (tallies, breakdown, pending) = Default::default();
        Arc::new(Self { phase: AtomicUsize::new(0), tallies, breakdown, pending, gsis })
    }

    /// Counts what follows towards `phase`.
    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as usize, Ordering::SeqCst);
    }

    /// What `phase` cost so far.
    pub(crate) fn tally(&self, phase: Phase) -> Tally {
        self.tallies.lock().unwrap_or_else(|p| p.into_inner())[phase as usize]
    }

    /// `phase` per operation.
    pub(crate) fn breakdown(&self, phase: Phase) -> Breakdown {
        self.breakdown.lock().unwrap_or_else(|p| p.into_inner())[phase as usize].clone()
    }

    fn add(&self, phase: usize, op: &str, b: &Bill, calls: u64) {
        self.tallies.lock().unwrap_or_else(|p| p.into_inner())[phase].add(b);
        let mut breakdown = self.breakdown.lock().unwrap_or_else(|p| p.into_inner());
        let entry = breakdown[phase].entry(op.to_owned()).or_default();
        entry.calls += calls;
        entry.units.add(b);
    }

    /// The interceptor that bills into this meter.
    pub(crate) fn interceptor(self: &Arc<Self>) -> SharedInterceptor {
        SharedInterceptor::new(Metering(self.clone()))
    }

    fn record(&self, service: &str, operation: &str, request: &[u8], response: &[u8]) {
        let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap_or(Value::Null);
        let b = bill(service, operation, &parse(request), &parse(response), self.gsis);
        let phase = self.phase.load(Ordering::SeqCst);
        let op = format!("{service}.{operation}");
        match b {
            Bill::Shadow(read) => self.pending.lock().unwrap_or_else(|p| p.into_inner()).push((phase, op, read)),
            b => self.add(phase, &op, &b, 1),
        }
    }

    /// Bills the reads that wait for a shadow read. Call it before the items they read change.
    pub(crate) async fn settle(&self, shadow: &Shadow) -> Result<(), CostError> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for (phase, op, read) in pending {
            let rcu = shadow.units(&read).await?;
            self.add(phase, &op, &Bill::Dynamo { rcu, wcu: 0.0 }, 1);
        }
        Ok(())
    }
}

/// Sends stripped reads to the DynamoDB endpoint directly, outside any metered client.
#[derive(Debug, Clone)]
pub(crate) struct Shadow {
    http: reqwest::Client,
    endpoint: String,
    authorization: String,
}

impl Shadow {
    /// Reads through `endpoint` (moto's, which does not check signatures) in `region`.
    pub(crate) fn new(endpoint: &str, region: &str) -> Self {
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/{region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
        );
        Self { http: reqwest::Client::new(), endpoint: endpoint.to_owned(), authorization }
    }

    async fn units(&self, read: &ShadowRead) -> Result<f64, CostError> {
        let response = self
            .http
            .post(&self.endpoint)
            .header("x-amz-target", format!("DynamoDB_20120810.{}", read.operation))
            .header("content-type", "application/x-amz-json-1.0")
            .header("authorization", &self.authorization)
            .body(read.body.to_string())
            .send()
            .await?;
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await?).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(CostError::Unexpected(format!("shadow {} answered {status}: {body}", read.operation)));
        }
        Ok(match read.operation.as_str() {
            "GetItem" => {
                read_units(item_size(body["Item"].as_object().unwrap_or(&Default::default())), read.consistency)
            }
            _ => page_of(&body, read.consistency),
        })
    }
}

#[derive(Debug, Clone)]
struct RequestBody(Vec<u8>);

impl Storable for RequestBody {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
struct Metering(Arc<Meter>);

impl Intercept for Metering {
    fn name(&self) -> &'static str {
        "StarlingCostMeter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default().to_vec();
        cfg.interceptor_state().store_put(RequestBody(body));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else { return Ok(()) };
        let request = cfg.load::<RequestBody>().map(|b| b.0.as_slice()).unwrap_or_default();
        let response = context.response().body().bytes().unwrap_or_default();
        self.0.record(metadata.service(), metadata.name(), request, response);
        Ok(())
    }
}
