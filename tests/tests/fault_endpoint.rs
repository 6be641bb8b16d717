//! The devstack's fault endpoint: it exists only with `--faults`, refuses what is not a fault
//! with a reason, and what it plans fires where the real failure would.

use anyhow::ensure;
use starling_client::ErrorCode;
use starling_devstack::Fault;
use starling_e2e::chaos::{clear_faults, plan_fault};
use starling_e2e::{Kind, http, joined, refusal, send_request, start};

async fn post(stack: &starling_devstack::Handle, body: &str) -> anyhow::Result<(u16, String)> {
    let url = format!("{}/_devstack/faults", stack.management_url());
    let response = reqwest::Client::new().post(&url).body(body.to_owned()).send().await?;
    Ok((response.status().as_u16(), response.text().await?))
}

#[tokio::test]
async fn without_the_flag_the_fault_endpoint_does_not_exist() -> anyhow::Result<()> {
    let stack = start(Kind::Memory, |_| {}).await?;
    let path = format!("/{}/_devstack/faults", stack.config().stage);
    for method in ["GET", "POST", "DELETE"] {
        let (status, _, _) = http(&stack, method, &path).await?;
        ensure!(status == 404, "{method} answered {status}");
    }
    let (status, _) = post(&stack, r#"{"fault":"enqueue","times":1}"#).await?;
    ensure!(status == 404, "a fault was accepted without --faults: {status}");
    stack.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn faults_are_validated_listed_fired_and_cleared_over_http() -> anyhow::Result<()> {
    let stack = start(Kind::Memory, |c| c.faults = true).await?;
    for (body, why) in [
        (r#"{"fault":"meteor","times":1}"#, "not a fault"),
        (r#"{"fault":"enqueue","times":0}"#, "times"),
        (r#"{"fault":"post","user":"u","status":418,"times":1}"#, "post status"),
        (r#"{"fault":"dynamo","error":"throttling","times":1}"#, "SDK backend"),
    ] {
        let (status, text) = post(&stack, body).await?;
        ensure!(status == 400 && text.contains(why), "{body}: {status} {text}");
    }
    let mut alice = joined(&stack, "alice", "faulty").await?;
    plan_fault(&stack, &Fault::Enqueue { times: 1 }).await?;
    let refused = refusal(alice.request(&send_request("faulty", "lost", None)).await)?;
    ensure!(refused.code == ErrorCode::Internal, "{refused:?}");
    let path = format!("/{}/_devstack/faults", stack.config().stage);
    let (_, _, listed) = http(&stack, "GET", &path).await?;
    let listed: serde_json::Value = serde_json::from_str(&listed)?;
    ensure!(listed["faults"][0]["fired"] == 1 && listed["faults"][0]["remaining"] == 0, "{listed}");
    clear_faults(&stack).await?;
    let (_, _, listed) = http(&stack, "GET", &path).await?;
    ensure!(listed.contains(r#""faults":[]"#), "{listed}");
    alice.request(&send_request("faulty", "kept", None)).await?;
    stack.shutdown().await;
    Ok(())
}
