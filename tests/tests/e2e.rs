//! End-to-end: each test starts its own devstack on a free port and drives it with real
//! WebSocket clients, once on the in-memory backend and once on moto.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use serde_json::Value;
use starling_client::{Client, ErrorCode, Message, Request, ServerFrame};
use starling_devstack::AppendFault;
use starling_e2e::{
    ClientExt as _, Kind, connect, eventually, fast_retry, http, joined, on_both_backends, on_every_backend, refusal,
    room, send_request, start,
};

// End-to-end encrypted rooms with real MLS members, in this test program so CI links one fewer.
#[path = "e2e/mls_rooms.rs"]
mod mls_rooms;

on_every_backend!(
    two_users_send_100_each_and_see_the_same_order,
    history_pages_back_to_the_first_message,
    the_cli_mints_sends_and_reads_history,
);

// These change what only the functions' environment decides in Lambda mode, or use in-process faults.
on_both_backends!(
    every_wire_error_code_gets_its_frame_and_the_connection_stays_usable,
    a_fanout_failure_mid_batch_is_redelivered_without_loss_or_duplicate,
    a_poison_message_ends_in_the_dlq,
    two_always_failing_messages_go_to_the_dlq_alone_and_the_three_behind_them_are_delivered,
);

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

/// Sends `{who} {i}` for every `i` in `range` at once, each with the clientMsgId `{who}-{i}`.
async fn send_range(client: &mut Client, room: &str, who: &str, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    let requests: Vec<Request> =
        range.map(|i| send_request(room, format!("{who} {i}"), Some(&format!("{who}-{i}")))).collect();
    client.send_all(&requests).await
}

/// Sends `body` to `room` and returns the next message of `room` with a seq above `held`:
/// redelivered copies of what the client holds are dropped, as clients do.
async fn send_and_receive_after(client: &mut Client, room: &str, body: &str, held: u64) -> anyhow::Result<Message> {
    client.request(&send_request(room, body, None)).await?;
    loop {
        let m = client.messages(room, 1).await?.remove(0);
        if m.seq > held {
            return Ok(m);
        }
    }
}

/// Sends `body` to `room` and returns the next message of `room`.
async fn send_and_receive(client: &mut Client, room: &str, body: &str) -> anyhow::Result<Message> {
    client.request(&send_request(room, body, None)).await?;
    Ok(client.messages(room, 1).await?.remove(0))
}

async fn two_users_send_100_each_and_see_the_same_order(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let room_name = "lobby";
    let mut alice = joined(&stack, "alice", room_name).await?;
    let mut bob = joined(&stack, "bob", room_name).await?;

    // Both send at once. On moto, in rounds of 10 each so its queue stays shallow (moto slows
    // down as a queue deepens); in memory, all 100 at once.
    let round = if kind != Kind::Memory { 10 } else { 100 };
    for r in 0..100 / round {
        let (a, b) = tokio::join!(
            send_range(&mut alice, room_name, "alice", r * round..(r + 1) * round),
            send_range(&mut bob, room_name, "bob", r * round..(r + 1) * round)
        );
        a?;
        b?;
        if kind != Kind::Memory {
            let (a, b) = tokio::join!(
                alice.peek_messages(room_name, 2 * (r + 1) * round),
                bob.peek_messages(room_name, 2 * (r + 1) * round)
            );
            a?;
            b?;
        }
    }
    // A repeated clientMsgId is accepted again but delivered once.
    alice.request(&send_request(room_name, "alice 7 again", Some("alice-7"))).await?;
    // A marker sent last: FIFO per room puts everything before it.
    alice.request(&send_request(room_name, "end", Some("end"))).await?;

    let seen_by_alice = alice.messages(room_name, 201).await?;
    let seen_by_bob = bob.messages(room_name, 201).await?;
    for (who, seen) in [("alice", &seen_by_alice), ("bob", &seen_by_bob)] {
        ensure!(seqs(seen) == (1..=201).collect::<Vec<_>>(), "{who} saw seqs {:?}", seqs(seen));
        ensure!(seen[200].client_msg_id.as_deref() == Some("end"), "{who}: the marker is last");
        let ids: HashSet<&str> = seen.iter().map(|m| m.id.as_str()).collect();
        ensure!(ids.len() == 201, "{who}: duplicate ids");
        let sevens = seen.iter().filter(|m| m.client_msg_id.as_deref() == Some("alice-7")).count();
        ensure!(sevens == 1, "{who}: alice-7 delivered {sevens} times");
        for sender in ["alice", "bob"] {
            let mine: Vec<&str> =
                seen.iter().filter(|m| m.from == sender && m.body != "end").map(|m| m.body.as_str()).collect();
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
    let mut alice = joined(&stack, "alice", "hist").await?;
    send_range(&mut alice, "hist", "alice", 0..25).await?;
    alice.messages("hist", 25).await?;

    let mut pages = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let page = alice.request(&Request::History { room: room("hist"), before, limit: 10 }).await?;
        let ServerFrame::History { messages, has_more, .. } = page else { anyhow::bail!("{}", page.to_json()) };
        let s = seqs(&messages);
        ensure!(s.windows(2).all(|w| w[0] + 1 == w[1]), "page not ascending and contiguous: {s:?}");
        pages.push(s.clone());
        if !has_more {
            break;
        }
        before = s.first().copied();
        ensure!(pages.len() < 10, "history never ends");
    }
    ensure!(pages == vec![(16..=25).collect::<Vec<_>>(), (6..=15).collect(), (1..=5).collect()], "pages {pages:?}");
    stack.shutdown().await;
    Ok(())
}

async fn every_wire_error_code_gets_its_frame_and_the_connection_stays_usable(kind: Kind) -> anyhow::Result<()> {
    const BUDGET: u64 = 40;
    let stack = start(kind, |c| {
        c.action_limits.rate_limit = BUDGET;
        c.action_limits.rate_window_secs = 3600;
    })
    .await?;
    let mut alice = connect(&stack, "alice").await?;
    let big = "x".repeat(17 * 1024);
    // Raw text: most of these are frames a typed request cannot express.
    let cases: Vec<(ErrorCode, String)> = vec![
        (ErrorCode::BadRequest, "this is not json".into()),
        (ErrorCode::BadRequest, r#"{"action": "join", "room": "bad room!"}"#.into()),
        (ErrorCode::BadRequest, r#"{"action": "history", "room": "r", "limit": 0}"#.into()),
        (ErrorCode::UnknownAction, r#"{"action": "dance"}"#.into()),
        (ErrorCode::Forbidden, r#"{"action": "send", "room": "r", "body": "hi"}"#.into()),
        (ErrorCode::Forbidden, r#"{"action": "join", "room": "dm:bob:carol"}"#.into()),
        (ErrorCode::NotFound, r#"{"action": "leave", "room": "never-joined"}"#.into()),
        (ErrorCode::TooLarge, format!(r#"{{"action": "send", "room": "r", "body": "{big}"}}"#)),
    ];
    for (code, frame) in cases {
        alice.send_text(frame.clone()).await?;
        let r = alice.wait_for(|f| matches!(f, ServerFrame::Error(_))).await?;
        ensure!(matches!(&r, ServerFrame::Error(e) if e.code == code), "expected {code:?} for {frame:.80}, got {r:?}");
        alice.ping().await.with_context(|| format!("connection unusable after {code:?}"))?;
    }
    // rate_limited: carol spends the user budget (join 2, then 1 per send) and is told when to
    // come back; alice above spent her own budget, not carol's.
    let mut carol = joined(&stack, "carol", "r").await?;
    let mut limited = None;
    // One window boundary may pass meanwhile; the hour-long window makes a second one unlikely.
    for i in 0..3 * BUDGET {
        let reply = carol.request(&send_request("r", format!("m{i}"), None)).await;
        if reply.is_err() {
            limited = Some(refusal(reply)?);
            break;
        }
    }
    let limited = limited.context("carol was never rate limited")?;
    ensure!(limited.code == ErrorCode::RateLimited && limited.retry_after_ms.is_some(), "{limited:?}");
    alice.ping().await?;
    // internal: the queue is down. (unauthorized cannot come from the wire: the authorizer
    // admits only connections with a user.)
    let mut bob = joined(&stack, "bob", "r").await?;
    stack.faults().fail_enqueues(1);
    let lost = refusal(bob.request(&send_request("r", "lost?", Some("q-1"))).await)?;
    ensure!(lost.code == ErrorCode::Internal && lost.client_msg_id.as_deref() == Some("q-1"), "{lost:?}");
    bob.request(&send_request("r", "retried", Some("q-1"))).await.context("the retry after internal")?;
    let m = bob.wait_for(|f| matches!(f, ServerFrame::Message(m) if m.client_msg_id.as_deref() == Some("q-1"))).await?;
    ensure!(matches!(&m, ServerFrame::Message(m) if m.body == "retried"), "{m:?}");
    stack.shutdown().await;
    Ok(())
}

async fn a_fanout_failure_mid_batch_is_redelivered_without_loss_or_duplicate(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| c.mapping.visibility_timeout = fast_retry(kind, 2)).await?;
    let mut alice = joined(&stack, "alice", "retry").await?;
    stack.pause_fanout();
    send_range(&mut alice, "retry", "alice", 0..10).await?;
    // The 4th append fails before storing; after redelivery, the 8th append stores and then
    // fails, as a fanout that dies before delivering.
    let before = stack.faults().append_calls();
    stack.faults().fail_append_in(4, AppendFault::BeforeStore);
    stack.faults().fail_append_in(8, AppendFault::AfterStore);
    stack.resume_fanout();

    let got = alice.messages("retry", 10).await?;
    ensure!(seqs(&got) == (1..=10).collect::<Vec<_>>(), "seqs {:?}", seqs(&got));
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("alice {i}")).collect();
    ensure!(bodies == expected, "bodies {bodies:?}");
    ensure!(stack.faults().append_calls() - before > 10, "nothing was redelivered");
    // Nothing new arrives: a marker is the next seq (redelivered copies may come first).
    let next = send_and_receive_after(&mut alice, "retry", "end", 10).await?;
    ensure!(next.body == "end" && next.seq == 11, "unexpected {next:?}");
    stack.shutdown().await;
    Ok(())
}

/// The DLQ's entries, once `n` are there.
async fn dlq_of(stack: &starling_devstack::Handle, n: usize) -> anyhow::Result<Vec<Value>> {
    eventually(&format!("{n} messages in the DLQ"), Duration::from_secs(60), || async {
        let (status, _, body) = http(stack, "GET", "/local/_devstack/dlq").await?;
        ensure!(status == 200, "DLQ endpoint {status}: {body}");
        let v: Value = serde_json::from_str(&body)?;
        Ok(v["messages"].as_array().filter(|m| m.len() >= n).cloned())
    })
    .await
}

// The reproduction of issue #9 (1): with maxReceiveCount 3, two messages that can never be
// stored held the three healthy ones behind them until all five were redriven to the DLQ.
async fn two_always_failing_messages_go_to_the_dlq_alone_and_the_three_behind_them_are_delivered(
    kind: Kind,
) -> anyhow::Result<()> {
    let stack = start(kind, |c| {
        c.mapping.max_receive_count = 3;
        // Longer than an invocation on a loaded moto, so records are not redelivered mid-batch.
        c.mapping.visibility_timeout = fast_retry(kind, 2);
    })
    .await?;
    let mut alice = joined(&stack, "alice", "stuck").await?;
    stack.faults().fail_appends_containing("CANNOT-STORE");
    stack.pause_fanout();
    let bodies = ["CANNOT-STORE 1", "CANNOT-STORE 2", "healthy 1", "healthy 2", "healthy 3"];
    let requests: Vec<Request> =
        bodies.iter().enumerate().map(|(i, b)| send_request("stuck", *b, Some(&format!("s-{i}")))).collect();
    alice.send_all(&requests).await?;
    stack.resume_fanout();

    // At least once: a redelivered copy of a held seq is dropped, as clients do.
    let mut got: Vec<Message> = Vec::new();
    while got.len() < 3 {
        let m = alice.messages("stuck", 1).await?.remove(0);
        if got.iter().all(|g| g.seq != m.seq) {
            got.push(m);
        }
    }
    ensure!(seqs(&got) == [1, 2, 3], "seqs {:?}", seqs(&got));
    let got_bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    ensure!(got_bodies == ["healthy 1", "healthy 2", "healthy 3"], "{got_bodies:?}");
    let dlq = dlq_of(&stack, 2).await?;
    ensure!(dlq.len() == 2, "exactly the two failing messages: {dlq:?}");
    for (entry, body) in dlq.iter().zip(["CANNOT-STORE 1", "CANNOT-STORE 2"]) {
        let envelope: Value = serde_json::from_str(entry["body"].as_str().unwrap_or_default())?;
        ensure!(envelope["body"] == body && entry["groupId"] == "stuck", "{entry:?}");
        let reason = entry["reason"].as_str().unwrap_or_default();
        ensure!(reason.starts_with("gave up after") && reason.contains("injected append failure"), "{entry:?}");
    }
    // The room is not blocked: the next message follows at once (after any redelivered copy of
    // the first three, which clients drop by seq).
    let next = send_and_receive_after(&mut alice, "stuck", "after", 3).await?;
    ensure!(next.body == "after" && next.seq == 4, "{next:?}");
    stack.shutdown().await;
    Ok(())
}

async fn a_poison_message_ends_in_the_dlq(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| {
        c.mapping.max_receive_count = 2;
        c.mapping.visibility_timeout = fast_retry(kind, 1);
    })
    .await?;
    let mut alice = joined(&stack, "alice", "poisoned").await?;
    stack.enqueue_raw("poisoned", "this is not an envelope").await?;
    let dlq = dlq_of(&stack, 1).await?;
    ensure!(dlq.len() == 1, "{dlq:?}");
    ensure!(dlq[0]["body"] == "this is not an envelope" && dlq[0]["groupId"] == "poisoned", "{:?}", dlq[0]);
    // Dead-lettered by the fanout on its first failure, with why; not left to the redrive.
    ensure!(dlq[0]["receiveCount"] == 1, "{:?}", dlq[0]);
    let reason = dlq[0]["reason"].as_str().unwrap_or_default();
    ensure!(reason.starts_with("poison: record is not a valid envelope"), "{:?}", dlq[0]);
    // The room's group is unblocked: the next message is delivered.
    let next = send_and_receive(&mut alice, "poisoned", "after").await?;
    ensure!(next.body == "after" && next.seq == 1, "{next:?}");
    stack.shutdown().await;
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
