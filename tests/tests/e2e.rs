//! End-to-end: each test starts its own devstack on a free port and drives it with real
//! WebSocket clients, once on the in-memory backend and once on moto.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use starling_devstack::AppendFault;
use starling_e2e::{
    Client, Kind, eventually, fast_retry, handshake_status, http, on_both_backends, pusher, start, token, token_with,
};
use starling_shared::ports::{PushError, Pusher};

on_both_backends!(
    two_users_send_100_each_and_see_the_same_order,
    history_pages_back_to_the_first_message,
    bad_or_expired_tokens_are_refused_at_the_handshake,
    every_wire_error_code_gets_its_frame_and_the_connection_stays_usable,
    oversized_frames_and_messages_close_with_1009,
    idle_and_overlong_connections_are_closed,
    a_closed_client_is_cleaned_up_and_posts_to_it_return_410,
    management_api_get_post_delete,
    a_fanout_failure_mid_batch_is_redelivered_without_loss_or_duplicate,
    a_poison_message_ends_in_the_dlq,
    shutdown_closes_clients_with_1001,
    the_cli_mints_sends_and_reads_history,
);

fn seqs(messages: &[Value]) -> Vec<u64> {
    messages.iter().map(|m| m["seq"].as_u64().unwrap_or(0)).collect()
}

async fn send_burst(client: &mut Client, room: &str, who: &str, n: usize) -> anyhow::Result<()> {
    send_range(client, room, who, 0..n).await
}

async fn send_range(client: &mut Client, room: &str, who: &str, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    let n = range.len();
    for i in range {
        client.send(json!({"action": "send", "room": room, "body": format!("{who} {i}"), "clientMsgId": format!("{who}-{i}")})).await?;
    }
    for _ in 0..n {
        let r = client.wait_for(|v| v["type"] == "accepted" || v["type"] == "error").await?;
        ensure!(r["type"] == "accepted", "send refused: {r}");
    }
    Ok(())
}

async fn two_users_send_100_each_and_see_the_same_order(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let room = "lobby";
    let mut alice = Client::connect(&stack, "alice").await?;
    let mut bob = Client::connect(&stack, "bob").await?;
    alice.join(room).await?;
    bob.join(room).await?;

    // Both send at once. On moto, in rounds of 10 each so its queue stays shallow (moto slows
    // down as a queue deepens); in memory, all 100 at once.
    let round = if kind == Kind::Moto { 10 } else { 100 };
    for r in 0..100 / round {
        let (a, b) = tokio::join!(
            send_range(&mut alice, room, "alice", r * round..(r + 1) * round),
            send_range(&mut bob, room, "bob", r * round..(r + 1) * round)
        );
        a?;
        b?;
        if kind == Kind::Moto {
            let (a, b) = tokio::join!(
                alice.peek_messages(room, 2 * (r + 1) * round),
                bob.peek_messages(room, 2 * (r + 1) * round)
            );
            a?;
            b?;
        }
    }
    // A repeated clientMsgId is accepted again but delivered once.
    let again = alice
        .request(json!({"action": "send", "room": room, "body": "alice 7 again", "clientMsgId": "alice-7"}), "accepted")
        .await?;
    ensure!(again["type"] == "accepted", "{again}");
    // A marker sent last: FIFO per room puts everything before it.
    let marker =
        alice.request(json!({"action": "send", "room": room, "body": "end", "clientMsgId": "end"}), "accepted").await?;
    ensure!(marker["type"] == "accepted", "{marker}");

    let seen_by_alice = alice.messages(room, 201).await?;
    let seen_by_bob = bob.messages(room, 201).await?;
    for (who, seen) in [("alice", &seen_by_alice), ("bob", &seen_by_bob)] {
        ensure!(seqs(seen) == (1..=201).collect::<Vec<_>>(), "{who} saw seqs {:?}", seqs(seen));
        ensure!(seen[200]["clientMsgId"] == "end", "{who}: the marker is last");
        let ids: HashSet<&str> = seen.iter().filter_map(|m| m["id"].as_str()).collect();
        ensure!(ids.len() == 201, "{who}: duplicate ids");
        let sevens = seen.iter().filter(|m| m["clientMsgId"] == "alice-7").count();
        ensure!(sevens == 1, "{who}: alice-7 delivered {sevens} times");
        for sender in ["alice", "bob"] {
            let mine: Vec<&str> = seen
                .iter()
                .filter(|m| m["from"] == sender)
                .filter_map(|m| m["body"].as_str())
                .filter(|b| *b != "end")
                .collect();
            let expected: Vec<String> = (0..100).map(|i| format!("{sender} {i}")).collect();
            ensure!(mine == expected, "{who}: {sender}'s messages out of order or missing");
        }
    }
    ensure!(seen_by_alice == seen_by_bob, "alice and bob saw different sequences");
    stack.shutdown().await;
    Ok(())
}

async fn history_pages_back_to_the_first_message(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    alice.join("hist").await?;
    send_burst(&mut alice, "hist", "alice", 25).await?;
    alice.messages("hist", 25).await?;

    let mut pages = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut frame = json!({"action": "history", "room": "hist", "limit": 10});
        if let Some(b) = before {
            frame["before"] = json!(b);
        }
        let page = alice.request(frame, "history").await?;
        ensure!(page["type"] == "history", "{page}");
        let msgs = page["messages"].as_array().cloned().unwrap_or_default();
        let s = seqs(&msgs);
        ensure!(s.windows(2).all(|w| w[0] + 1 == w[1]), "page not ascending and contiguous: {s:?}");
        pages.push(s.clone());
        if page["hasMore"] != true {
            break;
        }
        before = s.first().copied();
        ensure!(pages.len() < 10, "history never ends");
    }
    ensure!(pages == vec![(16..=25).collect::<Vec<_>>(), (6..=15).collect(), (1..=5).collect()], "pages {pages:?}");
    stack.shutdown().await;
    Ok(())
}

async fn bad_or_expired_tokens_are_refused_at_the_handshake(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let url = stack.ws_url();
    for (what, u) in [
        ("no token", url.clone()),
        ("garbage", format!("{url}?token=not.a.jwt")),
        ("expired", format!("{url}?token={}", token_with(starling_e2e::SECRET, "alice", -3600))),
        ("wrong secret", format!("{url}?token={}", token_with("other-secret", "alice", 3600))),
    ] {
        ensure!(handshake_status(&u).await? == 401, "{what} was not refused with 401");
    }
    ensure!(stack.connection_count() == 0);
    // The Authorization header works too.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url.as_str())?;
    req.headers_mut().insert("Authorization", format!("Bearer {}", token("alice")).parse()?);
    let (ws, _) = tokio_tungstenite::connect_async(req).await.context("bearer handshake")?;
    drop(ws);
    let mut ok = Client::connect(&stack, "alice").await?;
    ensure!(ok.request(json!({"action": "ping"}), "pong").await?["type"] == "pong");
    stack.shutdown().await;
    Ok(())
}

async fn every_wire_error_code_gets_its_frame_and_the_connection_stays_usable(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| c.action_limits.rate_limit = 3).await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    let big = "x".repeat(17 * 1024);
    let cases: Vec<(&str, String)> = vec![
        ("bad_request", "this is not json".into()),
        ("bad_request", json!({"action": "join", "room": "bad room!"}).to_string()),
        ("bad_request", json!({"action": "history", "room": "r", "limit": 0}).to_string()),
        ("unknown_action", json!({"action": "dance"}).to_string()),
        ("forbidden", json!({"action": "send", "room": "r", "body": "hi"}).to_string()),
        ("forbidden", json!({"action": "join", "room": "dm:bob:carol"}).to_string()),
        ("not_found", json!({"action": "leave", "room": "never-joined"}).to_string()),
        ("too_large", json!({"action": "send", "room": "r", "body": big}).to_string()),
    ];
    for (code, frame) in cases {
        alice.send_text(frame.clone()).await?;
        let r = alice.wait_type("error").await?;
        ensure!(r["code"] == code, "expected {code} for {:.80}, got {r}", frame);
        let pong = alice.request(json!({"action": "ping"}), "pong").await?;
        ensure!(pong["type"] == "pong", "connection unusable after {code}");
    }
    // rate_limited: the fourth send in the window.
    alice.join("r").await?;
    let mut codes = Vec::new();
    for i in 0..4 {
        let r = alice.request(json!({"action": "send", "room": "r", "body": format!("m{i}")}), "accepted").await?;
        codes.push(r["code"].as_str().unwrap_or(r["type"].as_str().unwrap_or("")).to_owned());
    }
    ensure!(codes.last().map(String::as_str) == Some("rate_limited"), "codes {codes:?}");
    let pong = alice.request(json!({"action": "ping"}), "pong").await?;
    ensure!(pong["type"] == "pong");
    // internal: the queue is down. (unauthorized cannot come from the wire: the authorizer
    // admits only connections with a user.)
    let mut bob = Client::connect(&stack, "bob").await?;
    bob.join("r").await?;
    stack.faults().fail_enqueues(1);
    let r =
        bob.request(json!({"action": "send", "room": "r", "body": "lost?", "clientMsgId": "q-1"}), "accepted").await?;
    ensure!(r["code"] == "internal" && r["clientMsgId"] == "q-1", "{r}");
    let r = bob
        .request(json!({"action": "send", "room": "r", "body": "retried", "clientMsgId": "q-1"}), "accepted")
        .await?;
    ensure!(r["type"] == "accepted", "the retry after internal: {r}");
    let m = bob.wait_for(|v| v["type"] == "message" && v["clientMsgId"] == "q-1").await?;
    ensure!(m["body"] == "retried", "{m}");
    stack.shutdown().await;
    Ok(())
}

async fn oversized_frames_and_messages_close_with_1009(kind: Kind) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let stack = start(kind, |_| {}).await?;

    // One 40 KB frame: over the 32 KB frame limit.
    let mut alice = Client::connect(&stack, "alice").await?;
    alice.send_text("y".repeat(40 * 1024)).await?;
    ensure!(alice.closed(Duration::from_secs(10)).await? == 1009, "frame limit");

    // Five 30 KB frames of one message: each frame is fine, the 150 KB message is not.
    let mut bob = Client::connect(&stack, "bob").await?;
    let chunk = vec![b'z'; 30 * 1024];
    for i in 0..5 {
        let opcode = if i == 0 { OpCode::Data(Data::Text) } else { OpCode::Data(Data::Continue) };
        let frame = Frame::message(chunk.clone(), opcode, i == 4);
        futures::SinkExt::send(&mut bob.ws, Message::Frame(frame)).await?;
    }
    ensure!(bob.closed(Duration::from_secs(10)).await? == 1009, "message limit");
    eventually("both connections gone", Duration::from_secs(10), || async {
        Ok((stack.connection_count() == 0).then_some(()))
    })
    .await?;
    stack.shutdown().await;
    Ok(())
}

async fn idle_and_overlong_connections_are_closed(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| c.limits.idle_timeout = Duration::from_millis(800)).await?;
    let mut idle = Client::connect(&stack, "alice").await?;
    let started = std::time::Instant::now();
    ensure!(idle.closed(Duration::from_secs(10)).await? == 1001, "idle close code");
    ensure!(started.elapsed() >= Duration::from_millis(700), "closed too early");
    stack.shutdown().await;

    let stack = start(kind, |c| c.limits.max_connection_duration = Duration::from_millis(1500)).await?;
    let mut busy = Client::connect(&stack, "alice").await?;
    let started = std::time::Instant::now();
    // Activity does not extend the maximum duration.
    let code = loop {
        busy.send(json!({"action": "ping"})).await?;
        match tokio::time::timeout(Duration::from_millis(200), busy.closed(Duration::from_millis(200))).await {
            Ok(Ok(code)) => break code,
            _ => ensure!(started.elapsed() < Duration::from_secs(10), "never closed"),
        }
    };
    ensure!(code == 1001, "max duration close code {code}");
    stack.shutdown().await;
    Ok(())
}

async fn a_closed_client_is_cleaned_up_and_posts_to_it_return_410(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    alice.join("room1").await?;
    let ids = stack.connection_ids();
    ensure!(ids.len() == 1);
    let id = ids[0].clone();
    ensure!(id.len() == 16 && id.ends_with('='), "connection id {id} is not in API Gateway's format");
    ensure!(stack.subscribers("room1").await? == vec![id.clone()]);

    // The SDK client posts to it.
    let pusher = pusher().await;
    pusher.post(&stack.management_url(), &id, br#"{"type":"pong"}"#).await.context("post to a live connection")?;
    ensure!(alice.wait_type("pong").await?["type"] == "pong");

    alice.close().await?;
    eventually("the connection to be cleaned up", Duration::from_secs(10), || async {
        Ok(stack.subscribers("room1").await?.is_empty().then_some(()))
    })
    .await?;
    match pusher.post(&stack.management_url(), &id, b"{}").await {
        Err(PushError::Gone(g)) => ensure!(g == id),
        other => anyhow::bail!("expected Gone, got {other:?}"),
    }
    match pusher.post(&stack.management_url(), "AAAAAAAAAAAAAAA=", b"{}").await {
        Err(PushError::Gone(_)) => {}
        other => anyhow::bail!("expected Gone for an unknown id, got {other:?}"),
    }
    stack.shutdown().await;
    Ok(())
}

async fn management_api_get_post_delete(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    let id = stack.connection_ids().pop().context("no connection")?;
    let path = format!("/{}/@connections/{}", stack.config().stage, id.replace('=', "%3D"));

    let (status, _, body) = http(&stack, "GET", &path).await?;
    ensure!(status == 200, "GET {status}");
    let info: Value = serde_json::from_str(&body)?;
    ensure!(info["connectedAt"].is_string() && info["lastActiveAt"].is_string(), "{info}");
    ensure!(info["identity"]["sourceIp"] == "127.0.0.1", "{info}");

    let (status, headers, body) = http(&stack, "GET", "/local/@connections/nope").await?;
    ensure!(status == 410, "unknown GET {status}");
    ensure!(headers.iter().any(|(k, v)| k == "x-amzn-errortype" && v == "GoneException"), "{headers:?}");
    ensure!(serde_json::from_str::<Value>(&body)?["message"].is_string());

    let (status, _, _) = http(&stack, "DELETE", &path).await?;
    ensure!(status == 204, "DELETE {status}");
    alice.closed(Duration::from_secs(5)).await?;
    let (status, _, _) = http(&stack, "GET", &path).await?;
    ensure!(status == 410, "GET after DELETE {status}");
    stack.shutdown().await;
    Ok(())
}

async fn a_fanout_failure_mid_batch_is_redelivered_without_loss_or_duplicate(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| c.mapping.visibility_timeout = fast_retry(kind, 2)).await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    alice.join("retry").await?;
    stack.pause_fanout();
    send_burst(&mut alice, "retry", "alice", 10).await?;
    // The 4th append fails before storing; after redelivery, the 8th append stores and then
    // fails, as a fanout that dies before delivering.
    let before = stack.faults().append_calls();
    stack.faults().fail_append_in(4, AppendFault::BeforeStore);
    stack.faults().fail_append_in(8, AppendFault::AfterStore);
    stack.resume_fanout();

    let got = alice.messages("retry", 10).await?;
    ensure!(seqs(&got) == (1..=10).collect::<Vec<_>>(), "seqs {:?}", seqs(&got));
    let bodies: Vec<&str> = got.iter().filter_map(|m| m["body"].as_str()).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("alice {i}")).collect();
    ensure!(bodies == expected, "bodies {bodies:?}");
    ensure!(stack.faults().append_calls() - before > 10, "nothing was redelivered");
    // Nothing more arrives: a marker is the next message.
    let r = alice.request(json!({"action": "send", "room": "retry", "body": "end"}), "accepted").await?;
    ensure!(r["type"] == "accepted");
    let next = alice.messages("retry", 1).await?;
    ensure!(next[0]["body"] == "end" && next[0]["seq"] == 11, "unexpected {}", next[0]);
    stack.shutdown().await;
    Ok(())
}

async fn a_poison_message_ends_in_the_dlq(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| {
        c.mapping.max_receive_count = 2;
        c.mapping.visibility_timeout = fast_retry(kind, 1);
    })
    .await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    alice.join("poisoned").await?;
    stack.enqueue_raw("poisoned", "this is not an envelope").await?;
    let dlq = eventually("the poison in the DLQ", Duration::from_secs(30), || async {
        let (status, _, body) = http(&stack, "GET", "/local/_devstack/dlq").await?;
        ensure!(status == 200, "DLQ endpoint {status}: {body}");
        let v: Value = serde_json::from_str(&body)?;
        Ok(v["messages"].as_array().filter(|m| !m.is_empty()).cloned())
    })
    .await?;
    ensure!(dlq.len() == 1, "{dlq:?}");
    ensure!(dlq[0]["body"] == "this is not an envelope" && dlq[0]["groupId"] == "poisoned", "{:?}", dlq[0]);
    ensure!(dlq[0]["receiveCount"].as_u64().unwrap_or(0) >= 2, "{:?}", dlq[0]);
    // The room's group is unblocked: the next message is delivered.
    let r = alice.request(json!({"action": "send", "room": "poisoned", "body": "after"}), "accepted").await?;
    ensure!(r["type"] == "accepted");
    let m = alice.messages("poisoned", 1).await?;
    ensure!(m[0]["body"] == "after" && m[0]["seq"] == 1, "{}", m[0]);
    stack.shutdown().await;
    Ok(())
}

async fn shutdown_closes_clients_with_1001(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    alice.join("bye").await?;
    let r = alice.request(json!({"action": "send", "room": "bye", "body": "last"}), "accepted").await?;
    ensure!(r["type"] == "accepted");
    let (code, ()) = tokio::join!(
        async {
            // The message is delivered before the close frame or not at all; never after it.
            alice.closed(Duration::from_secs(15)).await
        },
        stack.shutdown()
    );
    ensure!(code? == 1001);
    Ok(())
}

async fn the_cli_mints_sends_and_reads_history(kind: Kind) -> anyhow::Result<()> {
    use clap::Parser as _;
    let stack = start(kind, |_| {}).await?;
    let url = stack.ws_url();
    async fn cli(args: &[&str]) -> anyhow::Result<String> {
        let cli = starling_cli::Cli::try_parse_from(std::iter::once("starling").chain(args.iter().copied()))?;
        let mut out = Vec::new();
        starling_cli::run(cli, &mut out).await?;
        Ok(String::from_utf8(out)?)
    }
    let token = cli(&["token", "carol", "--secret", starling_e2e::SECRET]).await?.trim().to_owned();
    ensure!(token.split('.').count() == 3, "not a JWT: {token}");
    let sent = cli(&["send", "--url", &url, "--token", &token, "--room", "cli", "hello from the cli"]).await?;
    ensure!(sent.contains("as #1"), "{sent}");
    cli(&["send", "--url", &url, "--token", &token, "--room", "cli", "second"]).await?;
    let history = cli(&["history", "--url", &url, "--token", &token, "--room", "cli"]).await?;
    let lines: Vec<&str> = history.lines().collect();
    ensure!(lines.len() == 2, "{history}");
    ensure!(lines[0].starts_with("#1 ") && lines[0].ends_with("carol: hello from the cli"), "{history}");
    ensure!(lines[1].starts_with("#2 ") && lines[1].ends_with("carol: second"), "{history}");

    // A refused handshake is a clear error.
    let err = cli(&["send", "--url", &url, "--token", "bad", "--room", "cli", "x"])
        .await
        .err()
        .context("bad token accepted")?;
    ensure!(err.to_string().contains("HTTP 401"), "{err}");
    stack.shutdown().await;
    // So is a connection to nothing.
    let err = cli(&["history", "--url", &url, "--token", &token, "--room", "cli"]).await.err().context("no server")?;
    ensure!(err.to_string().contains("cannot connect"), "{err}");
    Ok(())
}
