//! The drift test of docs/asyncapi.yaml: a real devstack session makes the server send every
//! frame type, with every optional field it has, and every frame received is checked against
//! the schema its `type` selects (and every request sent against its `action`'s). The TypeScript
//! SDK's types are generated from the same document, so the server and the SDK cannot drift
//! apart without this failing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use starling_devstack::{Fault, Handle};
use starling_e2e::asyncapi::{Contract, Drift, Seen, Wire};
use starling_e2e::{Kind, start, token};

/// The fields a devstack session cannot produce cheaply: a `presence` page `cursor` needs more
/// than 500 members, `stats.hasMore` a day of counters too large for one frame (the frame
/// that carries it is checked on its own, `the_largest_stats_frame_matches_the_document`), and
/// `welcomes.hasMore` Welcomes over 120 KiB, whose requests exceed the devstack's 32 KB frames
/// (`shared/tests/mls/welcomes.rs` pages them).
const UNREACHED: [&str; 3] = ["presence.cursor", "stats.hasMore", "welcomes.hasMore"];

struct Session {
    stack: Handle,
    contract: Arc<Contract>,
    seen: Arc<Mutex<Seen>>,
}

impl Session {
    async fn wire(&self, user: &str) -> anyhow::Result<Wire> {
        Wire::connect(&self.stack.ws_url(), &token(user), user, self.contract.clone(), self.seen.clone()).await
    }

    /// A connection opted in to `messages` frames.
    async fn batched_wire(&self, user: &str) -> anyhow::Result<Wire> {
        let query = format!("token={}&batch=1", token(user));
        Wire::connect_with(&self.stack.ws_url(), &query, user, self.contract.clone(), self.seen.clone()).await
    }
}

fn seq_is(n: u64) -> impl Fn(&Value) -> bool {
    move |f| f["seq"] == n
}

#[tokio::test]
async fn every_server_frame_and_client_request_matches_the_asyncapi_document() -> anyhow::Result<()> {
    let contract = Arc::new(Contract::load()?);
    // A small sync limit makes `synced` carry `hasMore`; one moderated word makes `rejected`.
    let rules = std::env::temp_dir().join(format!("{}.json", starling_e2e::unique("starling-asyncapi")));
    std::fs::write(&rules, r#"{"version":1,"terms":[{"text":"contraband","action":"reject"}]}"#)?;
    let stack = start(Kind::Memory, |c| {
        c.action_limits.sync_limit = 2;
        c.moderation.rules_file = Some(rules.clone());
    })
    .await?;
    let s = Session { stack, contract: contract.clone(), seen: Arc::new(Mutex::new(Seen::default())) };
    let (mut alice, mut bob) = (s.wire("alice").await?, s.wire("bob").await?);
    let mut dave = s.batched_wire("dave").await?;
    dave.request(json!({"action":"join","room":"lobby"})).await?;
    dave.expect("joined", |_| true).await?;
    messages_history_and_sync(&mut alice, &mut bob).await?;
    // Dave opted in: the three messages reach him in `messages` frames, never as `message`.
    let mut got = Vec::new();
    while got.len() < 3 {
        let frame = dave.expect("messages", |_| true).await?;
        got.extend(frame["messages"].as_array().context("messages")?.iter().map(|m| m["seq"].clone()));
    }
    ensure!(got == [json!(1), json!(2), json!(3)], "dave's seqs: {got:?}");
    typing_reads_and_presence(&mut alice, &mut bob).await?;
    key_packages(&mut alice, &mut bob).await?;
    commit_conflict(&mut alice, &mut bob).await?;
    refusals(&s, &mut alice).await?;
    offline_with_last_seen(&s, &mut bob).await?;
    alice.request(json!({"action":"leave","room":"lobby"})).await?;
    alice.expect("left", |_| true).await?;

    let seen = std::mem::take(&mut *s.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    s.stack.shutdown().await;
    ensure!(
        seen.drift.is_empty(),
        "frames or requests that drifted from docs/asyncapi.yaml:\n{}",
        seen.drift.join("\n")
    );
    let types: BTreeSet<String> = seen.fields.keys().cloned().collect();
    ensure!(
        types == contract.frame_types(),
        "frame types seen {types:?}, in the document {:?}",
        contract.frame_types()
    );
    ensure!(
        seen.actions == contract.actions(),
        "actions sent {:?}, in the document {:?}",
        seen.actions,
        contract.actions()
    );
    for (kind, fields) in contract.frame_fields() {
        for field in fields {
            let key = format!("{kind}.{field}");
            let got = seen.fields.get(kind).is_some_and(|f| f.contains(field));
            ensure!(got || UNREACHED.contains(&key.as_str()), "no {kind} frame carried {field}");
        }
    }
    let nested = [
        "presence.members[].lastSeen",
        "history.messages[].clientMsgId",
        "syncPage.messages[].clientMsgId",
        "messages.messages[].clientMsgId",
        "keyPackages.keyPackages[].lastResort",
    ];
    for nested in nested {
        let (kind, field) = nested.split_once('.').context(nested)?;
        ensure!(seen.fields.get(kind).is_some_and(|f| f.contains(field)), "never saw {nested}");
    }
    let codes = [
        "bad_request",
        "unknown_action",
        "too_large",
        "forbidden",
        "not_found",
        "rate_limited",
        "rejected",
        "conflict",
        "internal",
    ];
    let missing: Vec<_> = codes.iter().filter(|c| !seen.codes.contains(**c)).collect();
    ensure!(missing.is_empty(), "error codes never produced: {missing:?}");
    Ok(())
}

/// joined, accepted (with and without `clientMsgId`), message, history, syncPage, synced (with
/// `hasMore`), and `message` frames from a sync without pages.
async fn messages_history_and_sync(alice: &mut Wire, bob: &mut Wire) -> anyhow::Result<()> {
    for wire in [&mut *alice, &mut *bob] {
        wire.request(json!({"action":"join","room":"lobby"})).await?;
        wire.expect("joined", |_| true).await?;
    }
    alice.request(json!({"action":"send","room":"lobby","body":"one","clientMsgId":"c-1"})).await?;
    alice.expect("accepted", |f| f["clientMsgId"] == "c-1").await?;
    alice.request(json!({"action":"send","room":"lobby","body":"two"})).await?;
    alice.expect("accepted", |f| f.get("clientMsgId").is_none()).await?;
    bob.request(json!({"action":"send","room":"lobby","body":"three ✓","clientMsgId":null})).await?;
    bob.expect("accepted", |_| true).await?;
    for wire in [&mut *alice, &mut *bob] {
        wire.expect("message", seq_is(3)).await?;
    }
    alice.request(json!({"action":"history","room":"lobby","limit":2})).await?;
    let page = alice.expect("history", |_| true).await?;
    ensure!(page["hasMore"] == true, "{page}");
    alice.request(json!({"action":"history","room":"lobby","before":3,"limit":null})).await?;
    alice.expect("history", |f| f["hasMore"] == false).await?;
    alice.request(json!({"action":"sync","rooms":{"lobby":0},"pages":true})).await?;
    alice.expect("syncPage", |_| true).await?;
    let synced = alice.expect("synced", |_| true).await?;
    ensure!(synced["hasMore"] == true && synced["lastSeq"] == 2, "the sync limit is 2: {synced}");
    alice.request(json!({"action":"sync","rooms":{"lobby":2}})).await?;
    alice.expect("message", seq_is(3)).await?;
    alice.expect("synced", |f| f["lastSeq"] == 3).await?;
    Ok(())
}

/// typing, read (reply and post), presence, presenceChanged (the reply to `status`), pong.
async fn typing_reads_and_presence(alice: &mut Wire, bob: &mut Wire) -> anyhow::Result<()> {
    bob.request(json!({"action":"typing","room":"lobby"})).await?;
    alice.expect("typing", |f| f["user"] == "bob").await?;
    bob.request(json!({"action":"read","room":"lobby","seq":3})).await?;
    bob.expect("read", seq_is(3)).await?;
    alice.expect("read", |f| f["user"] == "bob").await?;
    alice.request(json!({"action":"presence","room":"lobby","cursor":null})).await?;
    alice.expect("presence", |_| true).await?;
    alice.request(json!({"action":"status","status":"away"})).await?;
    alice.expect("presenceChanged", |f| f["user"] == "alice" && f["status"] == "away").await?;
    alice.request(json!({"action":"ping"})).await?;
    alice.expect("pong", |_| true).await?;
    // The counters are added after each run's delivery: ask until the three messages are in.
    for attempt in 0.. {
        alice.request(json!({"action":"stats","room":"lobby","minutes":60})).await?;
        let stats = alice.expect("stats", |_| true).await?;
        if stats["totals"]["messages"] == 3 {
            ensure!(stats["minutes"].as_array().is_some_and(|m| !m.is_empty()), "{stats}");
            break;
        }
        ensure!(attempt < 50, "the counters never showed three messages: {stats}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The key package directory: Bob publishes for his laptop, Alice claims twice (the second
/// claim gets the last-resort package), Bob counts and removes the device.
async fn key_packages(alice: &mut Wire, bob: &mut Wire) -> anyhow::Result<()> {
    let (one, last) = ("AAEABQABAAEg", "AAEABQABAAEh");
    bob.request(json!({"action":"keys.publish","device":"laptop-1","keyPackages":[one],"lastResort":last})).await?;
    let held = bob.expect("keys", |_| true).await?;
    ensure!(held["oneTime"] == 1 && held["lastResort"] == true, "{held}");
    for expected in [one, last] {
        alice.request(json!({"action":"keys.claim","user":"bob"})).await?;
        let claimed = alice.expect("keyPackages", |_| true).await?;
        ensure!(claimed["keyPackages"][0]["keyPackage"] == expected, "{claimed}");
    }
    bob.request(json!({"action":"keys.count","device":"laptop-1"})).await?;
    let held = bob.expect("keys", |_| true).await?;
    ensure!(held["oneTime"] == 0, "{held}");
    bob.request(json!({"action":"keys.remove","device":"laptop-1"})).await?;
    let held = bob.expect("keys", |_| true).await?;
    ensure!(held["lastResort"] == false, "{held}");
    Ok(())
}

/// Two MLS Commits for epoch 0 of an encrypted room (only their clear framing matters to the
/// server): Alice's is stored, Bob's gets `conflict` with the room's epoch, 1.
async fn commit_conflict(alice: &mut Wire, bob: &mut Wire) -> anyhow::Result<()> {
    for wire in [&mut *alice, &mut *bob] {
        wire.request(json!({"action":"join","room":"e2e:x"})).await?;
        wire.expect("joined", |_| true).await?;
    }
    let (first, second) = ("AAEAAQFnAAAAAAAAAAABAAAAAAADqg==", "AAEAAQFnAAAAAAAAAAABAAAAAQADuw==");
    alice.request(json!({"action":"send","room":"e2e:x","body":first,"clientMsgId":"c-e0a"})).await?;
    alice.expect("accepted", |_| true).await?;
    alice.expect("message", |m| m["clientMsgId"] == "c-e0a").await?;
    bob.request(json!({"action":"send","room":"e2e:x","body":second,"clientMsgId":"c-e0b"})).await?;
    bob.expect("accepted", |_| true).await?;
    let conflict = bob.expect_error("conflict").await?;
    ensure!(conflict["epoch"] == 1 && conflict["clientMsgId"] == "c-e0b", "{conflict}");
    // Alice's Commit for epoch 1 adds Bob's second device: its Welcome is posted to Bob and
    // waits in that device's inbox until acked.
    let (commit, welcome) = ("AAEAAQFnAAAAAAAAAAEBAAAAAAADzA==", "AAEAAwABAgME");
    let to = json!([{"user":"bob","device":"laptop-2"}]);
    let send = json!({"action":"send","room":"e2e:x","body":commit,"clientMsgId":"c-e1a",
        "welcome":{"message":welcome,"to":to}});
    alice.request(send).await?;
    alice.expect("accepted", |_| true).await?;
    let posted = bob.expect("welcome", |_| true).await?;
    ensure!(posted["device"] == "laptop-2" && posted["seq"] == 2 && posted["welcome"] == welcome, "{posted}");
    bob.request(json!({"action":"welcomes","device":"laptop-2"})).await?;
    let inbox = bob.expect("welcomes", |_| true).await?;
    ensure!(inbox["welcomes"][0]["seq"] == 2 && inbox["welcomes"][0]["from"] == "alice", "{inbox}");
    bob.request(json!({"action":"welcomes.ack","device":"laptop-2","room":"e2e:x","seq":2})).await?;
    let rest = bob.expect("welcomes", |_| true).await?;
    ensure!(rest["welcomes"] == json!([]), "{rest}");
    Ok(())
}

/// Error frames of every code a client can cause, and the check that the document refuses the
/// invalid requests the server refuses.
async fn refusals(s: &Session, alice: &mut Wire) -> anyhow::Result<()> {
    // A second status change within 2 s.
    alice.request(json!({"action":"status","status":"online"})).await?;
    let limited = alice.expect_error("rate_limited").await?;
    ensure!(limited["retryAfterMs"].is_u64(), "{limited}");
    alice.request(json!({"action":"join","room":"dm:bob:carol"})).await?;
    alice.expect_error("forbidden").await?;
    alice.request(json!({"action":"leave","room":"nowhere"})).await?;
    alice.expect_error("not_found").await?;
    alice.request(json!({"action":"send","room":"lobby","body":"c0ntraband","clientMsgId":"c-mod"})).await?;
    let rejected = alice.expect_error("rejected").await?;
    ensure!(rejected["reason"] == "blocked_term" && rejected["clientMsgId"] == "c-mod", "{rejected}");
    s.stack.faults().add(Fault::Enqueue { times: 1 })?;
    alice.request(json!({"action":"send","room":"lobby","body":"lost","clientMsgId":"c-lost"})).await?;
    alice.expect_error("internal").await?;

    let rooms: serde_json::Map<String, Value> = (0..51).map(|i| (format!("r{i}"), json!(0))).collect();
    let invalid = [
        (json!({"action":"dance"}), "unknown_action"),
        (json!({"action":"send","room":"lobby","body":"x".repeat(16_385),"clientMsgId":"c-big"}), "too_large"),
        (json!({"action":"sync","rooms":rooms}), "too_large"),
        (json!({"action":"history","room":"lobby","limit":101}), "bad_request"),
        (json!({"action":"join","room":"no spaces"}), "bad_request"),
        (json!({"action":"read","room":"lobby","seq":0}), "bad_request"),
        (json!({"action":"stats","room":"lobby","minutes":1441}), "bad_request"),
        (json!({"action":"keys.publish","device":"d","keyPackages":["AAEAAQ=="]}), "bad_request"),
        (json!({"action":"keys.publish","device":"d","keyPackages":vec!["AAEABQ=="; 21]}), "too_large"),
        (json!({"action":"keys.publish","device":"a b","lastResort":"AAEABQ=="}), "bad_request"),
        (json!({"action":"keys.claim","user":"bob#1"}), "bad_request"),
    ];
    for (request, code) in invalid {
        let refused = s.contract.check_request(&request);
        ensure!(refused.is_err(), "the document accepts a request the server refuses with {code}: {request}");
        alice.send_raw(request.to_string()).await?;
        alice.expect_error(code).await?;
    }
    alice.send_raw("not json".into()).await?;
    let unparsed = alice.expect_error("bad_request").await?;
    ensure!(unparsed.get("action").is_none(), "{unparsed}");
    Ok(())
}

/// presenceChanged with `lastSeen`, and a presence member with `lastSeen`: carol joins and
/// leaves for good.
async fn offline_with_last_seen(s: &Session, bob: &mut Wire) -> anyhow::Result<()> {
    let mut carol = s.wire("carol").await?;
    carol.request(json!({"action":"join","room":"lobby"})).await?;
    carol.expect("joined", |_| true).await?;
    carol.close().await?;
    bob.expect("presenceChanged", |f| f["user"] == "carol" && f["status"] == "offline").await?;
    bob.request(json!({"action":"presence","room":"lobby"})).await?;
    let page = bob.expect("presence", |_| true).await?;
    let carol = page["members"].as_array().into_iter().flatten().find(|m| m["user"] == "carol");
    ensure!(carol.is_some_and(|c| c.get("lastSeen").is_some()), "{page}");
    Ok(())
}

/// The largest `stats` reply the server makes (a day of minutes with numbers too large for one
/// frame, so it is cut and says `hasMore`), as the real code builds it, against the document.
#[test]
fn the_largest_stats_frame_matches_the_document() -> anyhow::Result<()> {
    use starling_shared::domain::{MinuteCounts, minute_of};
    let contract = Contract::load()?;
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T17:06:00Z")?.to_utc();
    let day: Vec<MinuteCounts> = (0..1440)
        .map(|i| MinuteCounts {
            minute: minute_of(start + chrono::Duration::minutes(i)),
            messages: u64::MAX / 4,
            deliveries: u64::MAX / 4,
            senders: ["alice".to_owned()].into(),
        })
        .collect();
    let frame = serde_json::to_value(starling_shared::service::send::stats_frame("lobby", day))?;
    ensure!(frame["hasMore"] == true, "cut for size: {}", frame["minutes"].as_array().map_or(0, Vec::len));
    ensure!(contract.check_frame(&frame)? == "stats");
    Ok(())
}

#[test]
fn the_document_refuses_frames_that_drifted() -> anyhow::Result<()> {
    let contract = Contract::load()?;
    let pong = contract.check_frame(&json!({"type":"pong"}))?;
    ensure!(pong == "pong");
    for (frame, why) in [
        (json!({"type":"pong","extra":1}), "a field the document does not list"),
        (json!({"type":"joined","room":"lobby"}), "a required field missing"),
        (json!({"type":"joined","room":"lobby","lastSeq":"1"}), "a field of the wrong type"),
        (json!({"type":"message","room":"r","seq":1,"id":"x","from":"a","body":"b","sentAt":"now"}), "bad formats"),
        (json!({"type":"synced","room":"r","recovered":true,"lastSeq":1,"hasMore":false}), "hasMore: false"),
        (json!({"type":"error","code":"teapot","message":"m"}), "an unknown code"),
    ] {
        let result = contract.check_frame(&frame);
        ensure!(matches!(result, Err(Drift::Invalid { .. })), "{why} passed: {frame} {result:?}");
    }
    let unknown = contract.check_frame(&json!({"type":"mystery"}));
    ensure!(matches!(unknown, Err(Drift::NoSchema { .. })), "{unknown:?}");
    let untyped = contract.check_frame(&json!({"message":"Internal server error"}));
    ensure!(matches!(untyped, Err(Drift::Untyped { .. })), "{untyped:?}");
    Ok(())
}
