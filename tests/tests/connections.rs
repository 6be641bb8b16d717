//! End-to-end: how connections open, are refused, are closed and are managed, on both backends.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use serde_json::Value;
use starling_client::{Request, ServerFrame};
use starling_e2e::{
    Kind, connect, eventually, handshake_status, http, joined, on_every_backend, pusher, send_request, start, token,
    token_with,
};
use starling_shared::ports::{PushError, Pusher};

on_every_backend!(
    bad_or_expired_tokens_are_refused_at_the_handshake,
    oversized_frames_and_messages_close_with_1009,
    idle_and_overlong_connections_are_closed,
    a_closed_client_is_cleaned_up_and_posts_to_it_return_410,
    management_api_get_post_delete,
    shutdown_closes_clients_with_1001,
);

async fn bad_or_expired_tokens_are_refused_at_the_handshake(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let url = stack.ws_url();
    for (what, u) in [
        ("no token", url.clone()),
        ("garbage", format!("{url}?token=not.a.jwt")),
        ("expired", format!("{url}?token={}", token_with(starling_e2e::SECRET, "alice", -3600))),
        ("wrong secret", format!("{url}?token={}", token_with("other-secret", "alice", 3600))),
        ("a subject with a key separator", format!("{url}?token={}", token_with(starling_e2e::SECRET, "a#b", 3600))),
        ("a subject too long", format!("{url}?token={}", token_with(starling_e2e::SECRET, &"a".repeat(129), 3600))),
    ] {
        ensure!(handshake_status(&u).await? == 401, "{what} was not refused with 401");
    }
    // As behind the deployed identity source (`route.request.querystring.token`), a token in an
    // Authorization header alone does not authenticate.
    ensure!(bearer_handshake_status(&url, &token("alice")).await? == 401, "a bearer header alone was accepted");
    ensure!(stack.connection_count() == 0);
    let mut ok = connect(&stack, "alice").await?;
    ok.ping().await?;
    stack.shutdown().await;
    Ok(())
}

async fn oversized_frames_and_messages_close_with_1009(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;

    // One 40 KB frame: over the 32 KB frame limit.
    let mut alice = connect(&stack, "alice").await?;
    alice.send_text("y".repeat(40 * 1024)).await?;
    ensure!(alice.closed().await?.code == 1009, "frame limit");

    // Five 30 KB frames of one message: each frame is fine, the 150 KB message is not.
    let mut bob = connect(&stack, "bob").await?;
    bob.send_fragmented(&"z".repeat(150 * 1024), 30 * 1024).await?;
    ensure!(bob.closed().await?.code == 1009, "message limit");
    eventually("both connections gone", Duration::from_secs(10), || async {
        Ok((stack.connection_count() == 0).then_some(()))
    })
    .await?;
    stack.shutdown().await;
    Ok(())
}

async fn idle_and_overlong_connections_are_closed(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| c.limits.idle_timeout = Duration::from_millis(800)).await?;
    let mut idle = connect(&stack, "alice").await?;
    let started = std::time::Instant::now();
    ensure!(idle.closed().await?.code == 1001, "idle close code");
    ensure!(started.elapsed() >= Duration::from_millis(700), "closed too early");
    stack.shutdown().await;

    let stack = start(kind, |c| c.limits.max_connection_duration = Duration::from_millis(1500)).await?;
    let mut busy = connect(&stack, "alice").await?;
    let started = std::time::Instant::now();
    // Activity does not extend the maximum duration.
    let code = loop {
        busy.send(&Request::Ping).await?;
        match tokio::time::timeout(Duration::from_millis(200), busy.closed()).await {
            Ok(Ok(close)) => break close.code,
            _ => ensure!(started.elapsed() < Duration::from_secs(10), "never closed"),
        }
    };
    ensure!(code == 1001, "max duration close code {code}");
    stack.shutdown().await;
    Ok(())
}

async fn a_closed_client_is_cleaned_up_and_posts_to_it_return_410(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = joined(&stack, "alice", "room1").await?;
    let ids = stack.connection_ids();
    ensure!(ids.len() == 1);
    let id = ids[0].clone();
    ensure!(id.len() == 16 && id.ends_with('='), "connection id {id} is not in API Gateway's format");
    ensure!(stack.subscribers("room1").await? == vec![id.clone()]);

    // The SDK client posts to it.
    let pusher = pusher().await;
    pusher.post(&stack.management_url(), &id, br#"{"type":"pong"}"#).await.context("post to a live connection")?;
    alice.wait_for(|f| *f == ServerFrame::Pong).await?;

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
    let mut alice = connect(&stack, "alice").await?;
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
    alice.set_timeout(Duration::from_secs(5));
    alice.closed().await?;
    let (status, _, _) = http(&stack, "GET", &path).await?;
    ensure!(status == 410, "GET after DELETE {status}");
    stack.shutdown().await;
    Ok(())
}

async fn shutdown_closes_clients_with_1001(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = joined(&stack, "alice", "bye").await?;
    alice.request(&send_request("bye", "last", None)).await?;
    let (close, ()) = tokio::join!(
        async {
            // The message is delivered before the close frame or not at all; never after it.
            alice.closed().await
        },
        stack.shutdown()
    );
    ensure!(close?.code == 1001);
    Ok(())
}

/// The status of a WebSocket handshake that carries the token in an `Authorization` header only.
async fn bearer_handshake_status(ws_url: &str, token: &str) -> anyhow::Result<u16> {
    let http_url = ws_url.replacen("ws://", "http://", 1);
    let response = reqwest::Client::new()
        .get(http_url)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await?;
    Ok(response.status().as_u16())
}
