//! Protocol v1 parsing and frame names.

use serde_json::{Map, Value};

use super::*;

fn err(text: &str) -> ProtocolError {
    parse_request(text).unwrap_err()
}

fn room(name: &str) -> RoomId {
    RoomId::parse(name).unwrap()
}

#[test]
fn every_request_encodes_to_what_the_parser_reads_back() {
    let requests = [
        Request::Join { room: room("lobby") },
        Request::Leave { room: room("lobby") },
        Request::Send {
            room: room("lobby"),
            body: "hi \"there\"".into(),
            client_msg_id: Some("c-1".into()),
            welcome: None,
        },
        Request::Send { room: room("dm:alice:bob"), body: "no id".into(), client_msg_id: None, welcome: None },
        Request::History { room: room("lobby"), before: Some(10), limit: 20 },
        Request::History { room: room("lobby"), before: None, limit: 50 },
        Request::Sync { rooms: vec![(room("a"), Some(41)), (room("b"), None)], pages: false },
        Request::Sync { rooms: vec![(room("a"), Some(41))], pages: true },
        Request::Presence { room: room("lobby"), cursor: None },
        Request::Presence { room: room("lobby"), cursor: Some("bob".into()) },
        Request::SetStatus { status: Status::Away },
        Request::Typing { room: room("lobby") },
        Request::Read { room: room("lobby"), seq: 42 },
        Request::Keys(KeyRequest::Publish {
            device: "phone-1".into(),
            key_packages: vec![key_package(300)],
            last_resort: Some(key_package(4096)),
        }),
        Request::Keys(KeyRequest::Count { device: "phone-1".into() }),
        Request::Keys(KeyRequest::Claim { user: "auth0|bob".into() }),
        Request::Keys(KeyRequest::Remove { device: "phone-1".into() }),
        Request::Send {
            room: room("e2e:team"),
            body: "AAEAAQFnAAAAAAAAAAEBAAAAAAADzA==".into(),
            client_msg_id: Some("c-2".into()),
            welcome: Some(Box::new(Welcome {
                message: "AAEAAwABAgME".into(),
                to: vec![Recipient { user: "auth0|bob".into(), device: "phone-1".into() }],
            })),
        },
        Request::Welcomes(WelcomeRequest::List { device: "phone-1".into() }),
        Request::Welcomes(WelcomeRequest::Ack { device: "phone-1".into(), room: room("e2e:team"), seq: 7 }),
        Request::Ping,
    ];
    for request in requests {
        let text = request.to_json();
        assert_eq!(parse_request(&text).as_ref(), Ok(&request), "{text}");
    }
}

#[test]
fn every_v1_action_parses() {
    assert_eq!(parse_request(r#"{"action":"ping"}"#).unwrap(), Request::Ping);
    assert!(matches!(parse_request(r#"{"action":"join","room":"lobby"}"#).unwrap(), Request::Join { .. }));
    assert!(matches!(parse_request(r#"{"action":"leave","room":"lobby"}"#).unwrap(), Request::Leave { .. }));
    let send = parse_request(r#"{"action":"send","room":"lobby","body":"hi","clientMsgId":"c-1"}"#).unwrap();
    assert_eq!(
        send,
        Request::Send {
            room: RoomId::parse("lobby").unwrap(),
            body: "hi".into(),
            client_msg_id: Some("c-1".into()),
            welcome: None
        }
    );
    let history = parse_request(r#"{"action":"history","room":"lobby","before":10}"#).unwrap();
    assert_eq!(history, Request::History { room: RoomId::parse("lobby").unwrap(), before: Some(10), limit: 50 });
}

#[test]
fn presence_sync_typing_read_and_status_parse() {
    let room = |r: &str| RoomId::parse(r).unwrap();
    assert_eq!(
        parse_request(r#"{"action":"sync","rooms":{"lobby":41,"dm:alice:bob":null}}"#).unwrap(),
        Request::Sync { rooms: vec![(room("lobby"), Some(41)), (room("dm:alice:bob"), None)], pages: false }
    );
    assert_eq!(
        parse_request(r#"{"action":"sync","rooms":{"lobby":41},"pages":true}"#).unwrap(),
        Request::Sync { rooms: vec![(room("lobby"), Some(41))], pages: true }
    );
    assert_eq!(
        parse_request(r#"{"action":"presence","room":"lobby"}"#).unwrap(),
        Request::Presence { room: room("lobby"), cursor: None }
    );
    assert_eq!(
        parse_request(r#"{"action":"presence","room":"lobby","cursor":"bob"}"#).unwrap(),
        Request::Presence { room: room("lobby"), cursor: Some("bob".into()) }
    );
    let long = format!(r#"{{"action":"presence","room":"lobby","cursor":"{}"}}"#, "x".repeat(1025));
    assert_eq!(parse_request(&long).unwrap_err().code, ErrorCode::BadRequest);
    let bad_pages = parse_request(r#"{"action":"sync","rooms":{"lobby":1},"pages":"yes"}"#).unwrap_err();
    assert_eq!(bad_pages.code, ErrorCode::BadRequest);
    assert_eq!(
        parse_request(r#"{"action":"status","status":"away"}"#).unwrap(),
        Request::SetStatus { status: Status::Away }
    );
    assert_eq!(
        parse_request(r#"{"action":"typing","room":"lobby"}"#).unwrap(),
        Request::Typing { room: room("lobby") }
    );
    assert_eq!(
        parse_request(r#"{"action":"read","room":"lobby","seq":42}"#).unwrap(),
        Request::Read { room: room("lobby"), seq: 42 }
    );
}

#[test]
fn bad_presence_sync_typing_read_and_status_frames_are_refused() {
    for text in [
        r#"{"action":"sync","rooms":{}}"#,
        r#"{"action":"sync","rooms":[]}"#,
        r#"{"action":"sync","rooms":{"lobby":-1}}"#,
        r#"{"action":"sync","rooms":{"lobby":"5"}}"#,
        r#"{"action":"sync","rooms":{"bad room":1}}"#,
        r#"{"action":"status","status":"offline"}"#,
        r#"{"action":"status","status":"busy"}"#,
        r#"{"action":"read","room":"lobby","seq":0}"#,
        r#"{"action":"read","room":"lobby"}"#,
        r#"{"action":"typing"}"#,
    ] {
        assert_eq!(err(text).code, ErrorCode::BadRequest, "{text}");
    }
    let many: Map<String, Value> = (0..=MAX_SYNC_ROOMS).map(|i| (format!("r{i}"), Value::Null)).collect();
    let text = serde_json::json!({"action":"sync","rooms":many}).to_string();
    assert_eq!(err(&text).code, ErrorCode::TooLarge);
}

#[test]
fn presence_frames_use_the_v1_names() {
    let synced = ServerFrame::Synced { room: "lobby".into(), recovered: true, last_seq: 57, has_more: false };
    assert_eq!(synced.to_json(), r#"{"type":"synced","room":"lobby","recovered":true,"lastSeq":57}"#);
    let presence = ServerFrame::Presence {
        room: "lobby".into(),
        members: vec![MemberPresence {
            user: "alice".into(),
            status: Status::Online,
            last_seen: Some("t".into()),
            version: 3,
        }],
        has_more: true,
        cursor: Some("alice".into()),
    };
    assert_eq!(
        presence.to_json(),
        r#"{"type":"presence","room":"lobby","members":[{"user":"alice","status":"online","lastSeen":"t","version":3}],"hasMore":true,"cursor":"alice"}"#
    );
    let last = ServerFrame::Presence { room: "lobby".into(), members: vec![], has_more: false, cursor: None };
    assert_eq!(last.to_json(), r#"{"type":"presence","room":"lobby","members":[],"hasMore":false}"#);
    let page = ServerFrame::SyncPage { room: "lobby".into(), messages: vec![] };
    assert_eq!(page.to_json(), r#"{"type":"syncPage","room":"lobby","messages":[]}"#);
    let changed =
        ServerFrame::PresenceChanged { user: "alice".into(), status: Status::Away, last_seen: None, version: 4 };
    assert_eq!(changed.to_json(), r#"{"type":"presenceChanged","user":"alice","status":"away","version":4}"#);
    let typing = ServerFrame::Typing { room: "lobby".into(), user: "alice".into() };
    assert_eq!(typing.to_json(), r#"{"type":"typing","room":"lobby","user":"alice"}"#);
    let read = ServerFrame::Read { room: "lobby".into(), user: "alice".into(), seq: 42 };
    assert_eq!(read.to_json(), r#"{"type":"read","room":"lobby","user":"alice","seq":42}"#);
}

#[test]
fn malformed_frames_are_bad_requests() {
    for text in ["not json", "[1,2]", "\"ping\"", "{}", r#"{"action":5}"#, r#"{"action":"join"}"#] {
        assert_eq!(err(text).code, ErrorCode::BadRequest, "{text}");
    }
    let e = err(r#"{"action":"send","room":"lobby","body":7,"clientMsgId":"c-9"}"#);
    assert_eq!(
        (e.code, e.action.as_deref(), e.client_msg_id.as_deref()),
        (ErrorCode::BadRequest, Some("send"), Some("c-9"))
    );
}

#[test]
fn unknown_action_is_named() {
    let e = err(r#"{"action":"dance"}"#);
    assert_eq!(e.code, ErrorCode::UnknownAction);
    assert!(e.message.contains("dance"));
}

#[test]
fn room_names_follow_the_pattern() {
    for ok in ["a", "lobby", "team.eng:general_1-x", &"r".repeat(64), "dm:alice:bob"] {
        assert!(RoomId::parse(ok).is_ok(), "{ok}");
    }
    for bad in ["", &"r".repeat(65), "has space", "é", "a/b", "dm:bob:alice", "dm:alice:alice", "dm:alice", "dm:a:b:c"]
    {
        assert!(RoomId::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn dm_rooms_admit_only_their_two_users() {
    let room = RoomId::parse("dm:alice:bob").unwrap();
    assert!(room.admits("alice") && room.admits("bob") && !room.admits("carol"));
    assert!(RoomId::parse("lobby").unwrap().admits("carol"));
}

#[test]
fn body_limit_is_16_kib_of_utf8() {
    let at_limit = format!(r#"{{"action":"send","room":"r","body":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
    assert!(parse_request(&at_limit).is_ok());
    // 'é' is two bytes: 8193 of them is one byte over.
    let over = format!(r#"{{"action":"send","room":"r","body":"{}"}}"#, "é".repeat(MAX_BODY_BYTES / 2 + 1));
    assert_eq!(err(&over).code, ErrorCode::TooLarge);
    let empty = r#"{"action":"send","room":"r","body":""}"#;
    assert_eq!(err(empty).code, ErrorCode::BadRequest);
}

#[test]
fn frame_limit_is_enforced_before_parsing() {
    let huge = format!(r#"{{"action":"ping","pad":"{}"}}"#, "x".repeat(MAX_FRAME_BYTES));
    assert_eq!(err(&huge).code, ErrorCode::TooLarge);
}

#[test]
fn client_msg_id_limit() {
    let ok = format!(r#"{{"action":"send","room":"r","body":"b","clientMsgId":"{}"}}"#, "c".repeat(64));
    assert!(parse_request(&ok).is_ok());
    let long = format!(r#"{{"action":"send","room":"r","body":"b","clientMsgId":"{}"}}"#, "c".repeat(65));
    let e = err(&long);
    assert_eq!(e.code, ErrorCode::BadRequest);
    assert_eq!(e.client_msg_id, None, "an over-long id is not echoed back");
}

#[test]
fn history_limit_range() {
    for (limit, ok) in [(0, false), (1, true), (100, true), (101, false)] {
        let text = format!(r#"{{"action":"history","room":"r","limit":{limit}}}"#);
        assert_eq!(parse_request(&text).is_ok(), ok, "limit {limit}");
    }
    assert_eq!(err(r#"{"action":"history","room":"r","before":-1}"#).code, ErrorCode::BadRequest);
    assert_eq!(err(r#"{"action":"history","room":"r","before":0}"#).code, ErrorCode::BadRequest);
}

#[test]
fn server_frames_use_the_v1_names() {
    let joined = ServerFrame::Joined { room: "lobby".into(), last_seq: 41 }.to_json();
    assert_eq!(joined, r#"{"type":"joined","room":"lobby","lastSeq":41}"#);
    let accepted = ServerFrame::Accepted { room: "lobby".into(), client_msg_id: Some("c-1".into()), id: "X".into() };
    assert_eq!(accepted.to_json(), r#"{"type":"accepted","room":"lobby","clientMsgId":"c-1","id":"X"}"#);
    let msg = ServerFrame::Message(Message {
        room: "lobby".into(),
        seq: 42,
        id: "X".into(),
        from: "alice".into(),
        body: "hi".into(),
        sent_at: "2026-11-22T21:00:00.000Z".into(),
        client_msg_id: None,
    });
    assert_eq!(
        msg.to_json(),
        r#"{"type":"message","room":"lobby","seq":42,"id":"X","from":"alice","body":"hi","sentAt":"2026-11-22T21:00:00.000Z"}"#
    );
    assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
    let e = ProtocolError {
        code: ErrorCode::RateLimited,
        message: "slow down".into(),
        action: Some("send".into()),
        client_msg_id: Some("c-1".into()),
    };
    assert_eq!(
        e.to_frame().to_json(),
        r#"{"type":"error","code":"rate_limited","message":"slow down","action":"send","clientMsgId":"c-1"}"#
    );
    let history = ServerFrame::History { room: "r".into(), messages: vec![], has_more: false }.to_json();
    assert_eq!(history, r#"{"type":"history","room":"r","messages":[],"hasMore":false}"#);
}

/// Base64 of a KeyPackage message of `len` bytes: the MLS 1.0 KeyPackage header, then filler.
fn key_package(len: usize) -> String {
    use base64::Engine;
    let mut bytes = vec![0, 1, 0, 5];
    bytes.resize(len, 7);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn publish(device: &str, key_packages: &[String], last_resort: Option<&str>) -> String {
    serde_json::json!({"action": "keys.publish", "device": device, "keyPackages": key_packages, "lastResort": last_resort})
        .to_string()
}

#[test]
fn key_packages_are_checked_for_encoding_size_and_header() {
    let ok = key_package(300);
    let cases: [(String, ErrorCode, &str); 9] = [
        (publish("phone", &[], None), ErrorCode::BadRequest, "needs keyPackages, lastResort or both"),
        (publish("phone", &["not base64!".into()], None), ErrorCode::BadRequest, "keyPackages[0] is not base64"),
        (publish("phone", &[ok.clone(), key_package(4097)], None), ErrorCode::TooLarge, "keyPackages[1] is over 4096"),
        (publish("phone", &vec![ok.clone(); 21], None), ErrorCode::TooLarge, "at most 20"),
        (publish("phone", &[], Some("AAEAAQ==")), ErrorCode::BadRequest, "lastResort is not an MLS 1.0 KeyPackage"),
        (publish("", std::slice::from_ref(&ok), None), ErrorCode::BadRequest, "device must be 1 to 64"),
        (publish("a#b", std::slice::from_ref(&ok), None), ErrorCode::BadRequest, "device must be"),
        (publish(&"d".repeat(65), std::slice::from_ref(&ok), None), ErrorCode::BadRequest, "device must be"),
        (r#"{"action":"keys.claim","user":"bob#1"}"#.into(), ErrorCode::BadRequest, "user is not a user id"),
    ];
    for (text, code, words) in cases {
        let e = err(&text);
        assert_eq!(e.code, code, "{text}: {e:?}");
        assert!(e.message.contains(words), "{text}: {}", e.message);
        let action = if text.contains("keys.claim") { "keys.claim" } else { "keys.publish" };
        assert_eq!(e.action.as_deref(), Some(action));
    }
    let twenty = vec![ok.clone(); 20];
    assert!(parse_request(&publish("Phone_1.a-b", &twenty, Some(&key_package(4096)))).is_ok());
    assert_eq!(
        parse_request(r#"{"action":"keys.count","device":"phone","extra":1}"#),
        Ok(Request::Keys(KeyRequest::Count { device: "phone".into() })),
        "unknown fields are ignored"
    );
}

#[test]
fn key_frames_use_the_v1_names() {
    let keys = ServerFrame::Keys { device: "phone".into(), one_time: 3, last_resort: false };
    assert_eq!(keys.to_json(), r#"{"type":"keys","device":"phone","oneTime":3,"lastResort":false}"#);
    let claimed = ServerFrame::KeyPackages {
        user: "bob".into(),
        key_packages: vec![
            ClaimedKeyPackage { device: "a".into(), key_package: "AAEABQ==".into(), last_resort: false },
            ClaimedKeyPackage { device: "b".into(), key_package: "AAEABg==".into(), last_resort: true },
        ],
    };
    assert_eq!(
        claimed.to_json(),
        r#"{"type":"keyPackages","user":"bob","keyPackages":[{"device":"a","keyPackage":"AAEABQ=="},{"device":"b","keyPackage":"AAEABg==","lastResort":true}]}"#
    );
}
