//! End-to-end through the Lambda Invoke mode: a devstack started with `--lambda-endpoint`
//! pointed at a fake Lambda service in this test, which serves
//! `POST /2015-03-31/functions/{name}/invocations` by running Starling's handlers on the JSON it
//! receives, wired over the same moto table and queue as the devstack. Connect, join, send,
//! receive and disconnect all cross the Invoke API; function errors come back as AWS's Invoke
//! API (200 with `X-Amz-Function-Error`) and `cargo lambda watch` (HTTP 500) report them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use starling_client::{ClientError, Request};
use starling_devstack::{Backend, Config, Endpoint, Functions, Handle, LambdaFunctions};
use starling_e2e::{
    ClientExt, Kind, PROMPT, SECRET, connect, eventually, handshake_status, joined, send_request, start,
};
use starling_shared::auth::{JwtVerifier, TokenVerifier};
use starling_shared::handlers;
use starling_shared::lambda_runtime::{self, Context, LambdaEvent};
use starling_shared::service::connection::ConnectionDeps;
use starling_shared::service::fanout::{FanoutDeps, FanoutSettings};
use starling_shared::service::send::{SendDeps, SendLimits};
use starling_shared::wiring;

/// Each function's deps, as its bootstrap builds them from its environment.
struct Deps {
    verifier: TokenVerifier,
    connection: ConnectionDeps,
    send: SendDeps,
    fanout: FanoutDeps,
}

/// The fake Lambda service: what it received, and the failures it is told to report.
#[derive(Default)]
struct FakeLambda {
    deps: OnceLock<Deps>,
    received: Mutex<Vec<(String, Value)>>,
    /// Send invocations to fail with `X-Amz-Function-Error`, as AWS reports them.
    failing_sends: AtomicU32,
    /// Fanout invocations to fail with HTTP 500, as `cargo lambda watch` reports them.
    failing_fanouts: AtomicU32,
}

impl FakeLambda {
    /// Serves the Invoke API on a free port; its endpoint.
    async fn start(self: &Arc<Self>) -> anyhow::Result<Endpoint> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app =
            Router::new().route("/2015-03-31/functions/{name}/invocations", post(invoke)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(format!("http://{addr}").parse()?)
    }

    /// Wires the handlers over the devstack's moto table and queues, posting back to its
    /// Management API (the functions' `STARLING_WS_ENDPOINT`).
    async fn wire(&self, stack: &Handle) -> anyhow::Result<()> {
        let Backend::Aws(aws) = &stack.config().backend else { bail!("the Lambda mode runs on moto") };
        let sdk = starling_devstack::sdk_config(aws.endpoint_url.as_deref()).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let url_of = async |name: String| -> anyhow::Result<String> {
            let out = sqs.get_queue_url().queue_name(&name).send().await.with_context(|| name.clone())?;
            out.queue_url().map(str::to_owned).context("no queue URL")
        };
        let queue_url = url_of(format!("{}.fifo", aws.queue)).await?;
        let dlq_url = url_of(format!("{}-dlq.fifo", aws.queue)).await?;
        let store = wiring::aws::store(&sdk, aws.table.clone());
        let queue = wiring::aws::queue(&sdk, queue_url);
        let pusher = wiring::aws::pusher(&sdk);
        let management = Some(stack.management_url());
        let limits = SendLimits { rate_limit: 10_000, ..SendLimits::default() };
        // Under the test queue's redrive of 3, as the templates keep them under theirs.
        let settings = FanoutSettings {
            endpoint_override: management.clone(),
            max_attempts: 2,
            receive_ceiling: 3,
            ..FanoutSettings::default()
        };
        let deps = Deps {
            verifier: JwtVerifier::new(SECRET.as_bytes()).into(),
            connection: wiring::connection(store.clone(), queue.clone()),
            send: wiring::send(store.clone(), queue, pusher.clone(), limits, management),
            fanout: wiring::fanout(store, pusher, wiring::aws::dead_letters(&sdk, dlq_url), settings),
        };
        if self.deps.set(deps).is_err() {
            bail!("wired twice");
        }
        Ok(())
    }

    /// The events function `name` received, oldest first.
    fn received(&self, name: &str) -> Vec<Value> {
        let received = self.received.lock().unwrap_or_else(|p| p.into_inner());
        received.iter().filter(|(n, _)| n == name).map(|(_, e)| e.clone()).collect()
    }
}

/// Reads `event` as the function's event type and runs `handler` on it, as the runtime does.
async fn run<T, R, F>(
    event: Value,
    context: Context,
    handler: impl FnOnce(LambdaEvent<T>) -> F,
) -> Result<Value, lambda_runtime::Error>
where
    T: DeserializeOwned,
    R: Serialize,
    F: Future<Output = Result<R, lambda_runtime::Error>>,
{
    let payload: T = serde_json::from_value(event)?;
    Ok(serde_json::to_value(handler(LambdaEvent::new(payload, context)).await?)?)
}

fn take_one(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

fn error_document(message: &str) -> Value {
    json!({ "errorType": "starling::FakeFailure", "errorMessage": message })
}

/// `POST /2015-03-31/functions/{name}/invocations`.
async fn invoke(State(fake): State<Arc<FakeLambda>>, Path(name): Path<String>, body: Bytes) -> Response {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "the payload is not JSON").into_response();
    };
    fake.received.lock().unwrap_or_else(|p| p.into_inner()).push((name.clone(), event.clone()));
    let Some(deps) = fake.deps.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not wired yet").into_response();
    };
    let answer = match name.as_str() {
        "starling-authorizer" => run(event, Context::default(), |e| handlers::authorize(&deps.verifier, e)).await,
        "starling-connect" => run(event, Context::default(), |e| handlers::connect(&deps.connection, e)).await,
        "starling-disconnect" => run(event, Context::default(), |e| handlers::disconnect(&deps.connection, e)).await,
        "starling-send" if take_one(&fake.failing_sends) => Err("the send function failed (planned)".into()),
        "starling-send" => run(event, Context::default(), |e| handlers::send(&deps.send, e)).await,
        "starling-fanout" if take_one(&fake.failing_fanouts) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(error_document("the fanout crashed (planned)")))
                .into_response();
        }
        "starling-fanout" => {
            let mut context = Context::default();
            let deadline = chrono_ms() + 30_000;
            context.deadline = deadline;
            run(event, context, |e| handlers::fanout(&deps.fanout, e)).await
        }
        other => return (StatusCode::NOT_FOUND, format!("Function not found: {other}")).into_response(),
    };
    match answer {
        Ok(response) => axum::Json(response).into_response(),
        Err(e) => {
            let error = axum::Json(error_document(&e.to_string()));
            (StatusCode::OK, [("X-Amz-Function-Error", "Unhandled")], error).into_response()
        }
    }
}

fn chrono_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

async fn lambda_stack(fake: &Arc<FakeLambda>) -> anyhow::Result<Handle> {
    let endpoint = fake.start().await?;
    let stack = start(Kind::Moto, |c| {
        c.functions = Functions::Lambda(LambdaFunctions::at(endpoint));
        // A failed fanout's batch comes back after one visibility timeout.
        c.mapping.visibility_timeout = Duration::from_secs(3);
    })
    .await?;
    fake.wire(&stack).await?;
    Ok(stack)
}

fn field<'a>(event: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(event, |v, k| &v[*k])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_join_send_receive_and_disconnect_cross_the_invoke_api() -> anyhow::Result<()> {
    let fake = Arc::new(FakeLambda::default());
    let stack = lambda_stack(&fake).await?;
    // The first fanout invocation fails as `cargo lambda watch` reports it: its batch comes back.
    fake.failing_fanouts.store(1, Ordering::SeqCst);

    ensure!(handshake_status(&format!("{}?token=not.a.jwt", stack.ws_url())).await? == 401, "bad token not 401");
    let mut alice = joined(&stack, "alice", "lobby").await?;
    let mut bob = joined(&stack, "bob", "lobby").await?;
    alice.send_all(&[send_request("lobby", "hello through Lambda", Some("m1"))]).await?;
    let got = bob.messages("lobby", 1).await?;
    ensure!(got[0].body == "hello through Lambda", "bob got {:?}", got[0].body);
    ensure!(fake.failing_fanouts.load(Ordering::SeqCst) == 0, "the planned fanout failure never happened");

    let connects = fake.received("starling-connect");
    let sends = fake.received("starling-send");
    let fanouts = fake.received("starling-fanout");
    ensure!(connects.len() == 2 && sends.len() >= 3 && fanouts.len() >= 2, "{connects:?} {sends:?} {fanouts:?}");

    alice.close().await?;
    let disconnects = eventually("alice's $disconnect", PROMPT, || async {
        let d = fake.received("starling-disconnect");
        Ok((!d.is_empty()).then_some(d))
    })
    .await?;
    eventually("alice unsubscribed", PROMPT, || async {
        Ok((stack.subscribers("lobby").await?.len() == 1).then_some(()))
    })
    .await?;

    // The events have API Gateway's and the event source mapping's shapes.
    let authorizer = &fake.received("starling-authorizer")[1];
    ensure!(authorizer["type"] == "REQUEST" && field(authorizer, &["requestContext", "routeKey"]) == "$connect");
    ensure!(authorizer["queryStringParameters"]["token"].is_string(), "{authorizer}");
    for (event, route, kind) in [
        (&connects[0], "$connect", "CONNECT"),
        (&sends[0], "$default", "MESSAGE"),
        (&disconnects[0], "$disconnect", "DISCONNECT"),
    ] {
        let ctx = &event["requestContext"];
        ensure!(ctx["routeKey"] == route && ctx["eventType"] == kind, "{event}");
        ensure!(ctx["connectionId"].as_str().is_some_and(|c| !c.is_empty()), "{event}");
        ensure!(ctx["authorizer"]["user"] == "alice" && ctx["authorizer"]["principalId"] == "alice", "{event}");
    }
    ensure!(disconnects[0]["requestContext"]["disconnectStatusCode"].is_u64(), "{}", disconnects[0]);
    let record = &fanouts[0]["Records"][0];
    ensure!(record["eventSource"] == "aws:sqs" && record["attributes"]["MessageGroupId"].is_string(), "{record}");
    // The batch of the failed fanout comes back whole, once its visibility timeout is over.
    let ids = |batch: &Value| -> Vec<Value> {
        batch["Records"].as_array().into_iter().flatten().map(|r| r["messageId"].clone()).collect()
    };
    eventually("the failed batch back", PROMPT, || async {
        let fanouts = fake.received("starling-fanout");
        Ok(fanouts[1..].iter().any(|later| ids(later) == ids(&fanouts[0])).then_some(()))
    })
    .await?;

    drop(bob);
    stack.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_error_reaches_the_client_as_the_integration_error_frame() -> anyhow::Result<()> {
    let fake = Arc::new(FakeLambda::default());
    let stack = lambda_stack(&fake).await?;
    let mut alice = connect(&stack, "alice").await?;
    fake.failing_sends.store(1, Ordering::SeqCst);
    alice.send(&Request::Ping).await?;
    let frame = match alice.recv().await {
        Err(ClientError::Malformed { frame, .. }) => serde_json::from_str::<Value>(&frame)?,
        other => bail!("expected API Gateway's error frame, got {other:?}"),
    };
    let request_id = fake.received("starling-send")[0]["requestContext"]["requestId"].clone();
    let connection_id = fake.received("starling-send")[0]["requestContext"]["connectionId"].clone();
    ensure!(
        frame == json!({ "message": "Internal server error", "connectionId": connection_id, "requestId": request_id }),
        "{frame}"
    );
    // The connection stays open and the next invocation works.
    alice.ping().await?;
    stack.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_lambda_mode_refuses_the_in_memory_backend() -> anyhow::Result<()> {
    let functions = Functions::Lambda(LambdaFunctions::at("http://127.0.0.1:9000".parse()?));
    let config = Config { port: 0, functions, ..Config::default() };
    match starling_devstack::serve(config).await {
        Err(e) => ensure!(e.to_string().contains("--endpoint-url"), "{e}"),
        Ok(_) => bail!("the in-memory backend was accepted with --lambda-endpoint"),
    }
    Ok(())
}
