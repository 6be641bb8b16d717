//! Property tests: arbitrary text and arbitrary JSON frames through the parser, and arbitrary
//! sequences of frames through the action handlers and the fanout on the in-memory adapters.
//! Nothing panics, every refusal is an error frame, and no frame the server sends is over
//! API Gateway's 128 KB. `PROPTEST_CASES` sets the cases per property (256 by default;
//! `PROPTEST_CASES=100000` is the long mode, see docs/architecture.md).

mod common;

use common::World;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use starling_shared::protocol::{MAX_FRAME_BYTES, ServerFrame, parse_request};

const ACTIONS: [&str; 10] =
    ["ping", "join", "leave", "send", "history", "presence", "status", "read", "sync", "typing"];
const FIELDS: [&str; 9] = ["room", "body", "clientMsgId", "before", "limit", "rooms", "status", "seq", "after"];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[{}\":, a-z0-9\\[\\]]{0,80}", Just(String::new())]
}

fn room() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("lobby".to_owned()),
        Just("dm:alice:bob".to_owned()),
        Just("dm:bob:alice".to_owned()),
        "[a-z:._-]{0,12}",
        Just("r".repeat(200)),
    ]
}

/// A JSON value of any shape, biased towards what the fields hold.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..200).prop_map(Value::from),
        room().prop_map(Value::from),
        (0usize..20_000).prop_map(|n| Value::from("é".repeat(n / 2))),
        prop_oneof![Just("online"), Just("away"), Just("offline")].prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((room(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A frame that names an action (or not) with known and unknown fields of any type.
fn frame() -> impl Strategy<Value = String> {
    let action = prop_oneof![
        4 => prop::sample::select(ACTIONS.to_vec()).prop_map(|a| Some(Value::from(a))),
        1 => Just(None),
        1 => value().prop_map(Some),
    ];
    let key = prop_oneof![4 => prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned), 1 => "[a-zA-Z]{1,8}"];
    (action, prop::collection::vec((key, value()), 0..5)).prop_map(|(action, fields)| {
        let mut object: Map<String, Value> = fields.into_iter().collect();
        if let Some(a) = action {
            object.insert("action".into(), a);
        }
        Value::Object(object).to_string()
    })
}

/// A frame that is probably valid: the actions a real client sends, in one of two rooms.
fn plausible() -> impl Strategy<Value = String> {
    let room = prop_oneof![Just("lobby"), Just("dm:alice:bob")];
    let big = 0usize..16_384;
    prop_oneof![
        room.clone().prop_map(|r| json!({"action": "join", "room": r}).to_string()),
        (room.clone(), big, any::<bool>()).prop_map(|(r, n, id)| {
            let mut f = json!({"action": "send", "room": r, "body": "b".repeat(n.max(1))});
            if id {
                f["clientMsgId"] = json!(format!("c{n}"));
            }
            f.to_string()
        }),
        (room.clone(), 0u32..200).prop_map(|(r, l)| json!({"action": "history", "room": r, "limit": l}).to_string()),
        room.clone().prop_map(|r| json!({"action": "presence", "room": r}).to_string()),
        (room.clone(), 0u64..50).prop_map(|(r, s)| json!({"action": "read", "room": r, "seq": s}).to_string()),
        room.clone().prop_map(|r| json!({"action": "sync", "rooms": {r: 0}}).to_string()),
        room.prop_map(|r| json!({"action": "leave", "room": r}).to_string()),
        Just(json!({"action": "ping"}).to_string()),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime")
}

/// Feeds `frames` from alice (and a ping from bob) through the handlers, pumping the queue
/// through the fanout after each, and checks every reply and every post.
fn play(frames: &[String]) -> Result<(), TestCaseError> {
    runtime().block_on(async {
        let world = World::new();
        let [alice, bob] = world.room("lobby", ["alice", "bob"]).await;
        for text in frames {
            let invalid = parse_request(text).is_err();
            let reply = world.reply(&alice, text).await;
            if let Some(frame) = &reply {
                let json = frame.to_json();
                prop_assert!(json.len() <= MAX_FRAME_BYTES, "a {} byte reply to {text:.200}", json.len());
            }
            if invalid {
                prop_assert!(matches!(reply, Some(ServerFrame::Error(_))), "no error frame for {text:.200}");
            }
            world.pump().await;
        }
        for caller in [&alice, &bob] {
            for post in world.pusher.posts_to(&caller.connection.id) {
                prop_assert!(post.len() <= MAX_FRAME_BYTES, "a {} byte post", post.len());
            }
        }
        Ok(())
    })
}

proptest! {
    // Cases from PROPTEST_CASES; a failure prints its minimal input instead of writing a file.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_is_refused_with_an_error_frame(text in text()) {
        match parse_request(&text) {
            Ok(request) => prop_assert_eq!(parse_request(&request.to_json()).ok(), Some(request)),
            Err(e) => {
                let json = e.to_frame().to_json();
                let v: Value = serde_json::from_str(&json).expect("error frames are JSON");
                prop_assert_eq!(v["type"].as_str(), Some("error"));
                prop_assert!(v["code"].as_str().is_some_and(|c| !c.is_empty()));
            }
        }
    }

    #[test]
    fn any_json_frame_parses_to_what_it_says_or_is_refused(text in frame()) {
        match parse_request(&text) {
            Ok(request) => prop_assert_eq!(parse_request(&request.to_json()).ok(), Some(request)),
            Err(e) => prop_assert!(e.to_frame().to_json().len() <= MAX_FRAME_BYTES),
        }
    }

    #[test]
    fn arbitrary_frame_sequences_never_get_an_oversized_reply_or_a_silent_refusal(
        frames in prop::collection::vec(prop_oneof![frame(), plausible()], 1..8)
    ) {
        play(&frames)?;
    }

    #[test]
    fn many_large_messages_then_history_and_sync_stay_under_128_kb(
        sizes in prop::collection::vec(8_000usize..=16_384, 8..30),
        then in prop::collection::vec(plausible(), 1..6),
    ) {
        let mut frames: Vec<String> =
            sizes.iter().map(|n| json!({"action": "send", "room": "lobby", "body": "é".repeat(n / 2)}).to_string()).collect();
        frames.push(json!({"action": "history", "room": "lobby", "limit": 100}).to_string());
        frames.extend(then);
        play(&frames)?;
    }
}
