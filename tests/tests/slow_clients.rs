//! End-to-end: a client that sends and never reads cannot grow the devstack's memory; it is
//! closed as API Gateway closes one that does not drain (issue #9, defect 5).

use std::time::Duration;

use anyhow::{Context as _, ensure};
use starling_client::{Request, ServerFrame};
use starling_e2e::{Kind, connect, eventually, joined, on_every_backend, room, send_request, start};

on_every_backend!(
    a_client_that_floods_history_and_never_reads_is_bounded_and_closed,
    posts_to_a_client_that_does_not_read_answer_limit_exceeded_then_410,
);

const OUTBOX: usize = 256 * 1024;

/// `n` messages of 8 KB in `room_name`, stored: a full history page is then about 100 KB.
async fn fill_room(client: &mut starling_client::Client, room_name: &str, n: usize) -> anyhow::Result<()> {
    for i in 0..n {
        let reply = client.request(&send_request(room_name, "m".repeat(8 * 1024), Some(&format!("c{i}")))).await?;
        ensure!(matches!(reply, ServerFrame::Accepted { .. }), "send {i}: {reply:?}");
    }
    let history = Request::History { room: room(room_name), before: None, limit: 100 };
    // The fanout stores them asynchronously; each poll is one history page.
    for _ in 0..200 {
        let reply = client.request(&history).await?;
        if matches!(&reply, ServerFrame::History { messages, .. } if messages.len() == n) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the {n} messages were never stored")
}

async fn a_client_that_floods_history_and_never_reads_is_bounded_and_closed(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| c.limits.outbox_bytes = OUTBOX).await?;
    let mut alice = joined(&stack, "alice", "big").await?;
    fill_room(&mut alice, "big", 12).await?;
    let mut mallory = joined(&stack, "mallory", "big").await?;
    let flood = Request::History { room: room("big"), before: None, limit: 100 }.to_json();
    let mut sent = 0;
    // 1,000 pages of ~100 KB is ~100 MB if the devstack buffered them all.
    for _ in 0..1000 {
        if mallory.send_text(flood.clone()).await.is_err() {
            break; // the devstack closed it
        }
        sent += 1;
    }
    eventually("the non-reading connection to be closed", Duration::from_secs(30), || async {
        Ok((stack.connection_count() == 1).then_some(()))
    })
    .await
    .with_context(|| format!("after {sent} history requests"))?;
    let high_water = stack.outbox_high_water_bytes();
    ensure!(high_water <= OUTBOX, "an outbox held {high_water} bytes, over the bound of {OUTBOX}");
    ensure!(high_water > OUTBOX / 2, "the outbox never filled ({high_water} bytes): the test did not flood");
    // Other clients are unaffected.
    alice.ping().await?;
    let reply = alice.request(&send_request("big", "still here", Some("after"))).await?;
    ensure!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
    stack.shutdown().await;
    Ok(())
}

async fn posts_to_a_client_that_does_not_read_answer_limit_exceeded_then_410(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| c.limits.outbox_bytes = OUTBOX).await?;
    let _eve = connect(&stack, "eve").await?; // connected, never reads
    let id = stack.connection_ids().pop().context("eve's connection")?;
    let url = format!("{}/@connections/{id}", stack.management_url());
    let http = reqwest::Client::new();
    let body = format!(r#"{{"type":"pong","pad":"{}"}}"#, "p".repeat(100 * 1024));
    let mut statuses = Vec::new();
    // Far more than the socket buffers and the outbox hold together.
    for _ in 0..2000 {
        let response = http.post(&url).body(body.clone()).send().await?;
        let status = response.status().as_u16();
        let kind = response.headers().get("x-amzn-ErrorType").map(|v| v.to_str().unwrap_or("").to_owned());
        statuses.push((status, kind));
        if status == 410 {
            break;
        }
    }
    let refusals: Vec<_> = statuses.iter().filter(|(s, _)| *s != 200).collect();
    ensure!(
        refusals.first() == Some(&&(429, Some("LimitExceededException".to_owned()))),
        "first refusal: {:?}",
        refusals.first()
    );
    ensure!(refusals.last().map(|r| r.0) == Some(410), "later posts answer 410: {:?}", refusals.last());
    ensure!(stack.outbox_high_water_bytes() <= OUTBOX);
    eventually("eve's connection to be closed", Duration::from_secs(10), || async {
        Ok((stack.connection_count() == 0).then_some(()))
    })
    .await?;
    stack.shutdown().await;
    Ok(())
}
