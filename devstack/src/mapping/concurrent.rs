//! The pollers are concurrent invocations, as Lambda's are: a batch that takes long holds up
//! its own message group only. One room's fanout waiting on a slow store, or a storm of
//! presence batches, must not stop every other room's delivery.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use starling_shared::aws_lambda_events::apigw::ApiGatewayProxyResponse;
use starling_shared::aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::{GroupLocks, Poller, QueueSource};
use crate::events::Event;
use crate::faults::Faults;
use crate::fifo::FifoEmulator;
use crate::invoke::{AuthorizerRequest, AuthorizerResponse, InvokeError, Invoker, WebsocketRequest};

/// A fanout whose batch of group `a` finishes only once a batch of group `b` has started.
#[derive(Debug, Default)]
struct AWaitsForB {
    started: Mutex<HashSet<String>>,
    b_started: Notify,
    a_done: Notify,
}

#[async_trait]
impl Invoker for AWaitsForB {
    async fn authorize(&self, _: Event<AuthorizerRequest>) -> Result<AuthorizerResponse, InvokeError> {
        unreachable!("only the fanout is invoked")
    }
    async fn connect(&self, _: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError> {
        unreachable!("only the fanout is invoked")
    }
    async fn disconnect(&self, _: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError> {
        unreachable!("only the fanout is invoked")
    }
    async fn send(&self, _: Event<WebsocketRequest>) -> Result<ApiGatewayProxyResponse, InvokeError> {
        unreachable!("only the fanout is invoked")
    }

    async fn fanout(&self, event: Event<SqsEvent>) -> Result<SqsBatchResponse, InvokeError> {
        let groups: Vec<String> =
            event.payload.records.iter().filter_map(|r| r.attributes.get("MessageGroupId").cloned()).collect();
        let b_started = self.b_started.notified();
        let seen_b = {
            let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
            started.extend(groups.iter().cloned());
            started.contains("b")
        };
        if groups.iter().any(|g| g == "b") {
            self.b_started.notify_waiters();
        }
        if groups.iter().any(|g| g == "a") {
            if !seen_b {
                b_started.await;
            }
            self.a_done.notify_one();
        }
        Ok(SqsBatchResponse::default())
    }
}

#[tokio::test]
async fn a_batch_in_flight_does_not_hold_up_another_groups_batch() {
    let fifo = Arc::new(FifoEmulator::new(Duration::from_secs(30), 5));
    fifo.send_raw("a", "a1").await.expect("sent");
    fifo.send_raw("b", "b1").await.expect("sent");
    let invoker = Arc::new(AWaitsForB::default());
    let locks = Arc::new(GroupLocks::default());
    let (_paused_tx, paused) = watch::channel(false);
    let cancel = CancellationToken::new();
    let pollers: Vec<_> = (0..2)
        .map(|_| {
            let poller = Poller {
                source: fifo.clone(),
                invoker: invoker.clone(),
                // One record a batch: `a1` and `b1` are two invocations, as two rooms' batches.
                batch_size: 1,
                queue_name: fifo.name(),
                groups: locks.clone(),
                faults: Arc::new(Faults::new(false)),
                visibility: Duration::from_secs(30),
                max_receive_count: 5,
                function_timeout: Duration::from_secs(30),
            };
            tokio::spawn(poller.run(paused.clone(), cancel.clone()))
        })
        .collect();
    // Not a measure of speed: with one invocation at a time, `a` would wait for `b` forever.
    let a_done = tokio::time::timeout(Duration::from_secs(20), invoker.a_done.notified()).await;
    // A poller stuck in `a`'s invocation would only see the cancellation after it: stop them.
    cancel.cancel();
    for p in pollers {
        p.abort();
    }
    assert!(a_done.is_ok(), "group b's batch never started while group a's was in flight");
}
