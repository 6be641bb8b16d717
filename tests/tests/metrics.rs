//! End to end: `GET /_devstack/metrics` shows what the in-process functions recorded, as
//! Prometheus text labelled by function (docs/metrics.md). One test in a binary of its own: the
//! metrics recorder is process-wide, so it compares counts before and after, never absolutes.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use starling_client::ServerFrame;
use starling_e2e::{ClientExt, Kind, PROMPT, eventually, http, joined, send_request, start, unique};
use starling_shared::telemetry::metric;

/// The page's samples: each series (name and labels, as written) with its value.
struct Scrape(Vec<(String, f64)>);

impl Scrape {
    /// The value of `name{function="<function>"}`, 0 when the series is absent.
    fn get(&self, name: &str, function: &str) -> f64 {
        let series = format!(r#"{name}{{function="{function}"}}"#);
        self.0.iter().find(|(s, _)| *s == series).map_or(0.0, |(_, v)| *v)
    }
}

async fn scrape(stack: &starling_devstack::Handle) -> anyhow::Result<Scrape> {
    let (status, headers, body) = http(stack, "GET", "/_devstack/metrics").await?;
    ensure!(status == 200, "GET /_devstack/metrics answered {status}: {body}");
    let content_type = headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_str());
    ensure!(content_type.is_some_and(|t| t.starts_with("text/plain; version=0.0.4")), "{content_type:?}");
    let samples = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(series, value)| Some((series.to_owned(), value.parse().ok()?)))
        .collect();
    Ok(Scrape(samples))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_page_counts_sends_deliveries_latency_and_rate_limits_by_function() -> anyhow::Result<()> {
    // Room for both joins and the first send; the flood below runs into it.
    let stack = start(Kind::Memory, |c| c.action_limits.rate_limit = 12).await?;
    let before = scrape(&stack).await?;
    let room = unique("metrics");
    let mut alice = joined(&stack, "alice", &room).await?;
    let mut bob = joined(&stack, "bob", &room).await?;
    let reply = alice.request(&send_request(&room, "hello", Some("m-1"))).await?;
    ensure!(matches!(reply, ServerFrame::Accepted { .. }), "{}", reply.to_json());
    alice.messages(&room, 1).await?;
    bob.messages(&room, 1).await?;

    // The counts are recorded once a page's posts are done, which may be after a client read them.
    let after = eventually("the fanout's counts", PROMPT, || async {
        let now = scrape(&stack).await?;
        Ok((now.get(metric::DELIVERED, "fanout") - before.get(metric::DELIVERED, "fanout") >= 2.0).then_some(now))
    })
    .await?;
    let delta = |name: &str, function: &str| after.get(name, function) - before.get(name, function);
    ensure!(delta(metric::ACCEPTED, "send") >= 1.0, "accepted: {}", delta(metric::ACCEPTED, "send"));
    ensure!(delta(metric::DELIVERED, "send") == 0.0, "the send function posts no message frames");
    let latency_count = format!("{}_count", metric::FANOUT_LATENCY_MS);
    ensure!(delta(&latency_count, "fanout") >= 1.0, "no fanout latency recorded");
    ensure!(after.get(metric::FANOUT_LATENCY_MS, "fanout") == 0.0, "a summary has no bare series");
    let batches = format!("{}_count", metric::BATCH_SIZE);
    ensure!(delta(&batches, "fanout") >= 1.0, "no fanout batch recorded");

    let mut refused = None;
    for n in 0..40 {
        let reply = bob.request(&send_request(&room, format!("flood {n}"), None)).await;
        if let Some(e) = reply.as_ref().err().and_then(|e| e.error_frame()) {
            refused = Some(e.code.as_str().to_owned());
            break;
        }
    }
    ensure!(refused.as_deref() == Some("rate_limited"), "the flood ended with {refused:?}");
    let limited = eventually("rate_limited", Duration::from_secs(5), || async {
        let now = scrape(&stack).await?;
        let n = now.get(metric::RATE_LIMITED, "send") - before.get(metric::RATE_LIMITED, "send");
        Ok((n >= 1.0).then_some(n))
    })
    .await
    .context("a rate-limited send is counted")?;
    ensure!(limited >= 1.0);
    stack.shutdown().await;
    Ok(())
}
