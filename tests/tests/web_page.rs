//! The chat page and its dev token endpoint: the page is served from the binary with the right
//! types, and a dev token is minted only with the development secret, for a valid user, and
//! actually opens a WebSocket.

use anyhow::{Context as _, ensure};
use serde_json::Value;
use starling_client::Client;
use starling_devstack::{DEV_SECRET, Handle};
use starling_e2e::{Kind, PROMPT, http, room, start};

async fn dev_stack() -> anyhow::Result<Handle> {
    start(Kind::Memory, |c| c.jwt_secret = DEV_SECRET.into()).await
}

/// `POST /_devstack/token` with `body`, and `Host: host` when given: (status, headers, JSON).
async fn post_token(
    stack: &Handle,
    body: &str,
    host: Option<&str>,
) -> anyhow::Result<(u16, Vec<(String, String)>, Value)> {
    let url = format!("http://{}/_devstack/token", stack.addr());
    let mut request = reqwest::Client::new().post(&url).body(body.to_owned());
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let (status, headers, text) = starling_e2e::send(request).await.with_context(|| url.clone())?;
    let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).context(text)? };
    Ok((status, headers, json))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_page_and_its_bundle_are_served_with_their_types_and_revalidated() -> anyhow::Result<()> {
    // Without the development secret too: the page then tells the user where tokens come from.
    for stack in [dev_stack().await?, start(Kind::Memory, |_| {}).await?] {
        for (path, content_type, must_contain) in [
            ("/", "text/html; charset=utf-8", "/app.js"),
            ("/index.html", "text/html; charset=utf-8", "/app.css"),
            ("/app.js", "text/javascript; charset=utf-8", ""),
            ("/app.css", "text/css; charset=utf-8", ""),
        ] {
            let (status, headers, body) = http(&stack, "GET", path).await?;
            ensure!(status == 200, "{path}: {status}");
            ensure!(header(&headers, "content-type") == Some(content_type), "{path}: {headers:?}");
            ensure!(header(&headers, "cache-control") == Some("no-cache"), "{path}: {headers:?}");
            ensure!(!body.is_empty() && body.contains(must_contain), "{path}: {body}");
        }
        for path in ["/app.js.map", "/nope.html", "/clients/web/dist/app.js"] {
            let (status, _, _) = http(&stack, "GET", path).await?;
            ensure!(status == 404, "{path}: {status}");
        }
        stack.shutdown().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_dev_token_opens_a_websocket_at_the_url_it_comes_with() -> anyhow::Result<()> {
    let stack = dev_stack().await?;
    let (status, headers, minted) = post_token(&stack, r#"{"user":"alice"}"#, None).await?;
    ensure!(status == 200, "{status} {minted}");
    ensure!(header(&headers, "cache-control") == Some("no-store"), "{headers:?}");
    ensure!(minted["url"] == stack.ws_url().as_str() && minted["user"] == "alice", "{minted}");
    let expires_at = minted["expiresAt"].as_str().context("expiresAt")?;
    ensure!(expires_at.ends_with(".000Z") && expires_at.len() == 24, "{expires_at}");
    let mut alice = Client::connect(minted["url"].as_str().context("url")?, minted["token"].as_str().context("token")?)
        .await
        .context("the minted token did not open a WebSocket")?;
    alice.set_timeout(PROMPT);
    alice.join(&room("lobby")).await?;
    alice.ping().await?;

    let (status, _, minted) = post_token(&stack, r#"{"user":"bob","ttlSecs":30}"#, Some("localhost:9")).await?;
    ensure!(status == 200 && minted["url"] == "ws://localhost:9/local", "the URL follows Host: {minted}");
    let url = stack.ws_url();
    let mut bob = Client::connect(&url, minted["token"].as_str().context("token")?).await?;
    bob.set_timeout(PROMPT);
    bob.join(&room("lobby")).await?;
    stack.shutdown().await;
    Ok(())
}

/// `GET /_devstack/info` as JSON.
async fn info(stack: &Handle) -> anyhow::Result<Value> {
    let (status, headers, body) = http(stack, "GET", "/_devstack/info").await?;
    ensure!(status == 200 && header(&headers, "cache-control") == Some("no-cache"), "{status} {headers:?}");
    serde_json::from_str(&body).context(body)
}

#[tokio::test]
async fn the_info_endpoint_tells_the_page_whether_dev_tokens_exist_and_where_to_connect() -> anyhow::Result<()> {
    let stack = dev_stack().await?;
    let answer = info(&stack).await?;
    ensure!(
        answer["devTokens"] == true && answer["url"] == stack.ws_url().as_str() && answer["stage"] == "local",
        "{answer}"
    );
    stack.shutdown().await;
    let stack = start(Kind::Memory, |c| c.stage = "dev".into()).await?;
    let answer = info(&stack).await?;
    ensure!(answer["devTokens"] == false && answer["url"] == stack.ws_url().as_str(), "{answer}");
    stack.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_bad_token_request_gets_400_with_the_reason() -> anyhow::Result<()> {
    let stack = dev_stack().await?;
    for (body, why) in [
        (r#"{"user":""}"#, "empty"),
        (r#"{"user":"al ice"}"#, "character"),
        (r#"{"user":"a#b"}"#, "character"),
        ("alice", "JSON"),
        ("", "JSON"),
        (r#"{"name":"alice"}"#, "JSON"),
        (r#"{"user":"alice","ttlSecs":0}"#, "ttlSecs"),
        (r#"{"user":"alice","ttlSecs":86401}"#, "ttlSecs"),
        (r#"{"user":"alice","ttlSecs":"60"}"#, "JSON"),
    ] {
        let (status, _, answer) = post_token(&stack, body, None).await?;
        let error = answer["error"].as_str().unwrap_or_default();
        ensure!(status == 400 && error.contains(why), "{body:?}: {status} {answer}");
    }
    let (status, _, _) = http(&stack, "GET", "/_devstack/token").await?;
    ensure!(status == 405, "GET answered {status}");
    stack.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn without_the_development_secret_there_is_no_token_endpoint() -> anyhow::Result<()> {
    let stack = start(Kind::Memory, |_| {}).await?;
    ensure!(stack.config().jwt_secret != DEV_SECRET, "the e2e devstack has its own secret");
    for body in [r#"{"user":"alice"}"#, "garbage"] {
        let (status, _, answer) = post_token(&stack, body, None).await?;
        ensure!(status == 404, "{body}: {status} {answer}");
    }
    stack.shutdown().await;
    Ok(())
}
