//! The Lambda invoker against a mocked Invoke API: what it sends, and how it reads each way a
//! function or its invocation can answer, for every route kind.

use aws_sdk_lambda::operation::invoke::InvokeError as SdkInvokeError;
use aws_sdk_lambda::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use http::HeaderMap;
use serde_json::{Map, Value, json};
use starling_shared::auth::{JwtVerifier, mint_for};
use starling_shared::handlers;
use starling_shared::lambda_runtime::{Context, LambdaEvent};

use super::*;
use crate::events::{self, ConnectionMeta};
use crate::invoke::{Endpoint, LambdaFunctions};
use crate::mapping::QueueRecord;

const SECRET: &[u8] = b"adapter-secret";

fn authorizer_context() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("user".into(), json!("alice"));
    m.insert("principalId".into(), json!("alice"));
    m
}

fn record(id: &str) -> QueueRecord {
    QueueRecord {
        message_id: id.into(),
        receipt_handle: format!("h-{id}"),
        body: "{}".into(),
        group_id: "lobby".into(),
        dedup_id: id.into(),
        sequence_number: "1".into(),
        receive_count: 1,
        sent_at_ms: 1,
        first_received_at_ms: 2,
    }
}

/// One event per role, as the gateway and the mapping build them.
#[expect(clippy::large_enum_variant, reason = "one short-lived value per test case")]
enum Built {
    Authorizer(Event<AuthorizerRequest>),
    Websocket(Role, Event<WebsocketRequest>),
    Fanout(Event<SqsEvent>),
}

impl Built {
    fn of(role: Role) -> Self {
        let meta = ConnectionMeta::sample();
        let ctx = authorizer_context();
        let token = mint_for(SECRET, "alice", 3600).unwrap();
        let query = vec![("token".to_owned(), token)];
        match role {
            Role::Authorizer => {
                Built::Authorizer(events::authorizer_request(&meta, &HeaderMap::new(), &query).unwrap())
            }
            Role::Connect => {
                Built::Websocket(role, events::connect_event(&meta, &HeaderMap::new(), &query, &ctx).unwrap())
            }
            Role::Disconnect => Built::Websocket(role, events::disconnect_event(&meta, &ctx, 1000, "bye").unwrap()),
            Role::Send => Built::Websocket(
                role,
                events::message_event(&meta, "$default", r#"{"type":"ping"}"#.into(), false, &ctx).unwrap(),
            ),
            Role::Fanout => Built::Fanout(events::sqs_event("q.fifo", &[record("m1"), record("m2")]).unwrap()),
        }
    }

    fn json(&self) -> Value {
        match self {
            Built::Authorizer(e) => e.json.clone(),
            Built::Websocket(_, e) => e.json.clone(),
            Built::Fanout(e) => e.json.clone(),
        }
    }

    /// Invokes it; the answer as JSON, so every role is checked alike.
    async fn invoke(self, invoker: &LambdaInvoker) -> Result<Value, InvokeError> {
        match self {
            Built::Authorizer(e) => as_json(invoker.authorize(e).await),
            Built::Websocket(Role::Connect, e) => as_json(invoker.connect(e).await),
            Built::Websocket(Role::Disconnect, e) => as_json(invoker.disconnect(e).await),
            Built::Websocket(_, e) => as_json(invoker.send(e).await),
            Built::Fanout(e) => as_json(invoker.fanout(e).await),
        }
    }
}

fn as_json<R: serde::Serialize>(answer: Result<R, InvokeError>) -> Result<Value, InvokeError> {
    answer.map(|r| serde_json::to_value(r).unwrap())
}

/// What each function answers when it succeeds, as its runtime serializes it.
async fn ok_answer(role: Role) -> String {
    match role {
        Role::Authorizer => {
            let Built::Authorizer(event) = Built::of(role) else { unreachable!() };
            let verifier: starling_shared::auth::TokenVerifier = JwtVerifier::new(SECRET).into();
            let answer = handlers::authorize(&verifier, LambdaEvent::new(event.payload, Context::default())).await;
            serde_json::to_string(&answer.unwrap()).unwrap()
        }
        Role::Connect | Role::Disconnect => json!({ "statusCode": 200 }).to_string(),
        Role::Send => json!({ "statusCode": 200, "body": r#"{"type":"pong"}"# }).to_string(),
        Role::Fanout => json!({ "batchItemFailures": [{ "itemIdentifier": "m2" }] }).to_string(),
    }
}

fn http(status: u16, function_error: Option<&str>, body: impl Into<String>) -> HttpResponse {
    let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body.into()));
    if let Some(kind) = function_error {
        response.headers_mut().insert("X-Amz-Function-Error", kind.to_owned());
    }
    response
}

fn error_document(message: &str) -> String {
    json!({ "errorType": "starling_shared::Failure", "errorMessage": message }).to_string()
}

/// The invoker over a mocked client configured as the real one (no retries).
fn invoker_with(rule: &Rule) -> LambdaInvoker {
    let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [rule], configured);
    LambdaInvoker::on(&client)
}

fn answering(role: Role, response: impl Fn() -> HttpResponse + Send + Sync + 'static) -> Rule {
    let name = role.default_name();
    mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(move |req| req.function_name() == Some(name.as_str()))
        .then_http_response(response)
}

#[tokio::test]
async fn every_route_sends_its_event_json_by_name_and_reads_the_answer() {
    for role in Role::ALL {
        let built = Built::of(role);
        let expected = built.json();
        let (name, answer) = (role.default_name(), ok_answer(role).await);
        let rule = mock!(aws_sdk_lambda::Client::invoke)
            .match_requests(move |req| {
                let sent: Option<Value> = req.payload().and_then(|p| serde_json::from_slice(p.as_ref()).ok());
                req.function_name() == Some(name.as_str())
                    && req.invocation_type() == Some(&InvocationType::RequestResponse)
                    && sent.as_ref() == Some(&expected)
            })
            .then_http_response(move || http(200, None, answer.clone()));
        let got = built.invoke(&invoker_with(&rule)).await.unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_eq!(rule.num_calls(), 1, "{role}: the request did not match");
        match role {
            Role::Authorizer => {
                assert_eq!(got["principalId"], "alice");
                assert_eq!(got["context"]["user"], "alice");
            }
            Role::Connect | Role::Disconnect => assert_eq!(got["statusCode"], 200),
            Role::Send => assert_eq!(got["body"], r#"{"type":"pong"}"#),
            Role::Fanout => assert_eq!(got["batchItemFailures"], json!([{ "itemIdentifier": "m2" }])),
        }
    }
}

#[tokio::test]
async fn a_function_error_header_fails_every_route_with_the_functions_message() {
    for role in Role::ALL {
        let rule = answering(role, || http(200, Some("Unhandled"), error_document("the table is gone")));
        match Built::of(role).invoke(&invoker_with(&rule)).await {
            Err(InvokeError::Function { role: r, error_type, message }) => {
                assert_eq!(
                    (r, error_type.as_str(), message.as_str()),
                    (role, "starling_shared::Failure", "the table is gone")
                );
            }
            other => panic!("{role}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_http_500_fails_every_route_once_without_a_retry() {
    for role in Role::ALL {
        let rule = answering(role, || http(500, None, error_document("boom")));
        let answer = Built::of(role).invoke(&invoker_with(&rule)).await;
        assert!(
            matches!(answer, Err(InvokeError::Function { ref message, .. }) if message == "boom"),
            "{role}: {answer:?}"
        );
        assert_eq!(rule.num_calls(), 1, "{role}: a failed invocation was retried");
    }
    // A dying runtime under the emulator: 502 and no error document.
    let rule = answering(Role::Send, || http(502, None, "runtime exited"));
    let answer = Built::of(Role::Send).invoke(&invoker_with(&rule)).await;
    assert!(
        matches!(answer, Err(InvokeError::Function { ref error_type, ref message, .. })
            if error_type == "HTTP 502" && message == "runtime exited"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn an_error_document_without_the_header_is_a_function_error() {
    // The Runtime Interface Emulator answers a handler's error this way.
    for role in Role::ALL {
        let rule = answering(role, || http(200, None, error_document("boom")));
        let answer = Built::of(role).invoke(&invoker_with(&rule)).await;
        assert!(matches!(answer, Err(InvokeError::Function { .. })), "{role}: {answer:?}");
    }
}

#[tokio::test]
async fn only_the_authorizers_unauthorized_message_is_the_refusal() {
    for (status, header) in [(200, Some("Unhandled")), (500, None), (200, None)] {
        let rule = answering(Role::Authorizer, move || http(status, header, error_document("Unauthorized")));
        let answer = Built::of(Role::Authorizer).invoke(&invoker_with(&rule)).await;
        assert!(matches!(answer, Err(InvokeError::Unauthorized)), "{status} {header:?}: {answer:?}");
        let rule = answering(Role::Send, move || http(status, header, error_document("Unauthorized")));
        let answer = Built::of(Role::Send).invoke(&invoker_with(&rule)).await;
        assert!(matches!(answer, Err(InvokeError::Function { .. })), "{status} {header:?}: {answer:?}");
    }
}

#[tokio::test]
async fn transport_errors_name_the_function_for_every_route() {
    let missing = mock!(aws_sdk_lambda::Client::invoke)
        .then_error(|| SdkInvokeError::ResourceNotFoundException(ResourceNotFoundException::builder().build()));
    let nothing_listens =
        LambdaInvoker::new(&LambdaFunctions::at("http://127.0.0.1:1".parse::<Endpoint>().unwrap())).await;
    for role in Role::ALL {
        for (what, invoker) in
            [("no such function", invoker_with(&missing)), ("nothing listening", nothing_listens.clone())]
        {
            match Built::of(role).invoke(&invoker).await {
                Err(InvokeError::Transport { role: r, name, .. }) => {
                    assert_eq!((r, name), (role, role.default_name()), "{what}");
                }
                other => panic!("{role}, {what}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn an_answer_of_another_shape_is_a_response_error() {
    for role in Role::ALL {
        let rule = answering(role, || {
            http(200, None, r#"{"policyDocument":"allow","statusCode":"200","batchItemFailures":7}"#)
        });
        let answer = Built::of(role).invoke(&invoker_with(&rule)).await;
        assert!(matches!(answer, Err(InvokeError::Response { role: r, .. }) if r == role), "{role}: {answer:?}");
    }
}

/// An Invoke API that holds each invocation a while and records the most in flight at once.
async fn slow_invoke_api(most: Arc<std::sync::atomic::AtomicUsize>) -> Endpoint {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let in_flight = Arc::new(AtomicUsize::new(0));
    let answer = ok_answer(Role::Send).await;
    let app = axum::Router::new().route(
        "/2015-03-31/functions/{name}/invocations",
        axum::routing::post(move || {
            let (in_flight, most, answer) = (in_flight.clone(), most.clone(), answer.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(40)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                answer
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}").parse().unwrap()
}

/// The most invocations of `send` in flight at once when six are made together.
async fn most_in_flight(concurrency: Option<std::num::NonZeroUsize>) -> usize {
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let endpoint = slow_invoke_api(most.clone()).await;
    let invoker = LambdaInvoker::new(&LambdaFunctions::at(endpoint).with_concurrency(concurrency)).await;
    let answers = futures::future::join_all((0..6).map(|_| Built::of(Role::Send).invoke(&invoker))).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    most.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test]
async fn with_a_concurrency_of_one_a_functions_invocations_never_overlap() {
    assert_eq!(most_in_flight(std::num::NonZeroUsize::new(1)).await, 1);
    assert!(most_in_flight(None).await > 1, "without a limit the six go at once");
}
