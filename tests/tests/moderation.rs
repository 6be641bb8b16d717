//! End-to-end moderation through the devstack with real WebSocket clients: the rules file's
//! rejections and masks, an edit of the file applied without a restart, and the hook as a
//! local command and as a URL, slow and failing, under both failure policies.

use std::time::Duration;

use anyhow::ensure;
use axum::Router;
use axum::routing::post;
use starling_client::ServerFrame;
use starling_devstack::{HookTarget, ModerationSettings};
use starling_e2e::{ClientExt, Kind, joined, refusal, send_request, start, unique};
use starling_shared::moderation::FailurePolicy;

const RULES: &str =
    r#"{"version":1,"terms":[{"text":"badword","action":"reject"},{"text":"darn","action":"mask"}],"maxLinks":1}"#;

fn rules_file(text: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(unique("starling-moderation"));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("rules.json");
    std::fs::write(&path, text)?;
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_file_rejects_and_masks_and_an_edit_applies_without_a_restart() -> anyhow::Result<()> {
    let path = rules_file(RULES)?;
    let settings = ModerationSettings { rules_file: Some(path.clone()), ..ModerationSettings::default() };
    let stack = start(Kind::Memory, |c| c.moderation = settings).await?;
    let name = unique("mod");
    let mut alice = joined(&stack, "alice", &name).await?;
    let mut bob = joined(&stack, "bob", &name).await?;

    let e = refusal(alice.request(&send_request(&name, "what a B4DW0RD", Some("c1"))).await)?;
    ensure!(e.code.as_str() == "rejected" && e.reason.as_deref() == Some("blocked_term"), "{e:?}");
    ensure!(e.client_msg_id.as_deref() == Some("c1"), "{e:?}");
    let e = refusal(alice.request(&send_request(&name, "see a.com and b.com", None)).await)?;
    ensure!(e.reason.as_deref() == Some("too_many_links"), "{e:?}");

    let reply = alice.request(&send_request(&name, "oh darn", None)).await?;
    ensure!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
    let got = bob.messages(&name, 1).await?;
    ensure!(got[0].body == "oh ****", "bob got {:?}", got[0].body);

    std::fs::write(&path, r#"{"version":1,"terms":[{"text":"pineapple","action":"reject"}]}"#)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match alice.request(&send_request(&name, "pineapple pizza", None)).await {
            Err(starling_client::ClientError::Server(e)) if e.reason.as_deref() == Some("blocked_term") => break,
            other => ensure!(std::time::Instant::now() < deadline, "the edit never applied: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = alice.request(&send_request(&name, "oh darn", None)).await?;
    ensure!(matches!(reply, ServerFrame::Accepted { .. }), "the old rules still apply: {reply:?}");

    // A broken edit keeps the rules in force.
    std::fs::write(&path, "{ not json")?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let e = refusal(alice.request(&send_request(&name, "pineapple", None)).await)?;
    ensure!(e.reason.as_deref() == Some("blocked_term"), "{e:?}");
    stack.shutdown().await;
    Ok(())
}

fn hook_settings(target: HookTarget, policy: FailurePolicy) -> ModerationSettings {
    ModerationSettings {
        hook: Some(target),
        hook_timeout: Duration::from_millis(500),
        hook_failure: policy,
        ..ModerationSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_hook_rejects_and_replaces_and_a_failing_one_follows_its_policy() -> anyhow::Result<()> {
    // Rejects bodies with "spam", replaces bodies with "secret", fails on "crash", hangs on "slow".
    let script = r#"read -r req; case "$req" in
      *spam*) echo '{"verdict":"reject","reason":"spam"}';;
      *secret*) echo '{"verdict":"replace","body":"[redacted]"}';;
      *crash*) exit 1;;
      *slow*) sleep 5; echo '{"verdict":"allow"}';;
      *) echo '{"verdict":"allow"}';;
    esac"#;
    for policy in [FailurePolicy::Open, FailurePolicy::Closed] {
        let stack =
            start(Kind::Memory, |c| c.moderation = hook_settings(HookTarget::Command(script.into()), policy)).await?;
        let name = unique("hook");
        let mut alice = joined(&stack, "alice", &name).await?;
        let mut bob = joined(&stack, "bob", &name).await?;
        let e = refusal(alice.request(&send_request(&name, "buy spam", None)).await)?;
        ensure!(e.reason.as_deref() == Some("spam"), "{e:?}");
        let reply = alice.request(&send_request(&name, "my secret", None)).await?;
        ensure!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
        for body in ["crash now", "slow now"] {
            let started = std::time::Instant::now();
            let reply = alice.request(&send_request(&name, body, Some(body))).await;
            match policy {
                FailurePolicy::Open => ensure!(matches!(reply, Ok(ServerFrame::Accepted { .. })), "{body}: {reply:?}"),
                FailurePolicy::Closed => {
                    let e = refusal(reply)?;
                    ensure!(e.code.as_str() == "internal" && e.client_msg_id.as_deref() == Some(body), "{e:?}");
                }
            }
            ensure!(
                started.elapsed() < Duration::from_secs(3),
                "{body} took {:?}: the timeout did not cut it",
                started.elapsed()
            );
        }
        let expected: Vec<&str> = match policy {
            FailurePolicy::Open => vec!["[redacted]", "crash now", "slow now"],
            FailurePolicy::Closed => vec!["[redacted]"],
        };
        let got = match bob.messages(&name, expected.len()).await {
            Ok(got) => got,
            Err(e) => anyhow::bail!("{policy:?}: {e:#}; buffered {:?}", bob.buffered().collect::<Vec<_>>()),
        };
        let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
        ensure!(bodies == expected, "{policy:?}: bob got {bodies:?}");
        stack.shutdown().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_hook_gets_the_documented_request_and_its_http_errors_are_failures() -> anyhow::Result<()> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let log = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |axum::Json(req): axum::Json<serde_json::Value>| {
            let log = log.clone();
            async move {
                let body = req["body"].as_str().unwrap_or_default().to_owned();
                log.lock().map(|mut l| l.push(req)).ok();
                if body.contains("fail") {
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down".to_owned());
                }
                (axum::http::StatusCode::OK, r#"{"verdict":"allow"}"#.to_owned())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let stack =
        start(Kind::Memory, |c| c.moderation = hook_settings(HookTarget::Url(url), FailurePolicy::Closed)).await?;
    let name = unique("url");
    let mut alice = joined(&stack, "alice", &name).await?;
    let reply = alice.request(&send_request(&name, "hello", Some("c1"))).await?;
    ensure!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
    let e = refusal(alice.request(&send_request(&name, "please fail", None)).await)?;
    ensure!(e.code.as_str() == "internal", "{e:?}");
    let req = seen.lock().map(|l| l[0].clone()).map_err(|_| anyhow::anyhow!("poisoned"))?;
    ensure!(req["version"] == 1 && req["room"] == name.as_str() && req["from"] == "alice", "{req}");
    ensure!(req["body"] == "hello" && req["clientMsgId"] == "c1" && req["connectionId"].is_string(), "{req}");
    stack.shutdown().await;
    Ok(())
}
