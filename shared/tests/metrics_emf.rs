//! The Lambdas' metrics as CloudWatch reads them: the recorder `telemetry::init_function`
//! installs, fed by the send handler on the in-memory adapters, flushed to a buffer instead of
//! stdout. Its own test binary with one test, because the recorder is process-wide.

mod common;

use common::World;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use starling_shared::adapters::memory::MemoryStore;
use starling_shared::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use starling_shared::aws_lambda_events::encodings::Body;
use starling_shared::domain::NewMessage;
use starling_shared::handlers;
use starling_shared::ports::MessageStore;
use starling_shared::service::send::SendLimits;
use starling_shared::telemetry::{self, metric, metric::Function};

fn ws_event(name: &str, body: Option<&str>) -> LambdaEvent<ApiGatewayWebsocketProxyRequest> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(body) = body {
        v["body"] = Value::String(body.into());
    }
    LambdaEvent::new(serde_json::from_value(v).unwrap(), Context::default())
}

fn reply_type(r: &ApiGatewayProxyResponse) -> (String, Option<String>) {
    let Some(Body::Text(t)) = &r.body else { panic!("no text body: {r:?}") };
    let v: Value = serde_json::from_str(t).unwrap();
    (v["type"].as_str().unwrap().to_owned(), v["code"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn the_send_function_flushes_one_emf_line_with_its_namespace_dimension_and_counts() {
    let collector = telemetry::init_function(Function::Send).expect("the only recorder of this binary");
    let w = World::with(SendLimits { rate_limit: 40, ..SendLimits::default() }, MemoryStore::new());
    handlers::connect(&w.connection_deps(), ws_event("connect.json", None)).await.unwrap();
    // The connection of the fixtures, open to the posts of `sync`.
    w.pusher.connect("Qx7Y2cPQoAMCJ1A=");
    let send = |body: &'static str| handlers::send(&w.send_deps, ws_event("message.json", Some(body)));
    assert_eq!(reply_type(&send(r#"{"action":"join","room":"lobby"}"#).await.unwrap()).0, "joined");
    let stored = NewMessage {
        commit: None,
        id: "01JD0000000000000000000000".into(),
        room: "lobby".into(),
        from: "bob".into(),
        body: "missed".into(),
        client_msg_id: None,
        sent_at: "2026-11-22T21:00:00.000Z".into(),
        expires_at: i64::MAX,
        now: 0,
    };
    w.store.append(stored).await.unwrap();
    assert_eq!(reply_type(&send(r#"{"action":"history","room":"lobby"}"#).await.unwrap()).0, "history");
    let sync = send(r#"{"action":"sync","rooms":{"lobby":0},"pages":true}"#).await.unwrap();
    assert_eq!(reply_type(&sync).0, "synced", "{sync:?}");
    let posted = w.pusher.posts_to("Qx7Y2cPQoAMCJ1A=");
    assert!(matches!(posted.as_slice(), [page] if page.contains(r#""type":"syncPage""#)), "{posted:?}");
    let mut accepted = 0;
    loop {
        match reply_type(&send(r#"{"action":"send","room":"lobby","body":"hi"}"#).await.unwrap()) {
            (kind, _) if kind == "accepted" => accepted += 1,
            (_, Some(code)) if code == "rate_limited" => break,
            other => panic!("neither accepted nor rate_limited: {other:?}"),
        }
        assert!(accepted < 40, "the rate limit never answered");
    }

    let mut out = Vec::new();
    collector.flush(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let docs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not one document: {l}")))
        .collect();
    let [doc] = docs.as_slice() else { panic!("one label set, one line: {text}") };
    let directive = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Starling");
    assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
    assert_eq!(doc["Function"], "send");
    assert!(doc["_aws"]["Timestamp"].as_u64().is_some_and(|t| t > 1_700_000_000_000), "{doc}");
    assert!(accepted > 0);
    assert_eq!(doc[metric::ACCEPTED], accepted, "{doc}");
    assert_eq!(doc[metric::RATE_LIMITED], 1, "{doc}");
    assert_eq!(doc[metric::HISTORY_PAGES], 1, "{doc}");
    assert_eq!(doc[metric::SYNC_PAGES], 1, "{doc}");
    let accepted_unit = directive["Metrics"].as_array().unwrap().iter().find(|m| m["Name"] == metric::ACCEPTED);
    assert_eq!(accepted_unit.map(|m| &m["Unit"]), Some(&Value::from("Count")), "{directive}");

    let mut again = Vec::new();
    collector.flush(&mut again).unwrap();
    assert!(again.is_empty(), "a flush sends each count once: {}", String::from_utf8_lossy(&again));
}
