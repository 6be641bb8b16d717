//! `starling bench`: N clients in one room of a local devstack. Messages are sent at a fixed
//! rate, round robin over the clients; every client records the send→receive latency of every
//! message it gets. Bounded in count (`--messages`) and time (`--timeout-secs`), loopback only.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::{CliError, client, mint_token};

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// WebSocket URL of a devstack on this machine (loopback only).
    #[arg(long, env = "STARLING_URL", default_value = "ws://127.0.0.1:3001/local")]
    pub url: String,
    /// Connected clients, all in the room.
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// Messages to send in all (each is delivered to every client).
    #[arg(long, default_value_t = 500)]
    pub messages: usize,
    /// Messages per second, over all senders.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Give up after this long.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Room to use (a fresh one by default).
    #[arg(long)]
    pub room: Option<String>,
    /// Secret to mint the clients' tokens with.
    #[arg(long, env = "STARLING_JWT_SECRET", default_value = "dev-secret", hide_env_values = true)]
    pub secret: String,
    /// No progress bar (for logs).
    #[arg(long)]
    pub quiet: bool,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub clients: usize,
    pub sent: usize,
    pub refused: u64,
    pub expected: u64,
    pub delivered: u64,
    pub elapsed: Duration,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl BenchReport {
    pub fn delivered_per_sec(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn is_loopback(url: &str) -> bool {
    let rest = url.strip_prefix("ws://").or_else(|| url.strip_prefix("wss://")).unwrap_or("");
    let host_port = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn new_histogram() -> Result<Histogram<u64>, CliError> {
    Histogram::new_with_bounds(1, 10 * 60 * 1_000_000, 3).map_err(|e| CliError::Usage(format!("histogram: {e}")))
}

pub async fn run(args: BenchArgs, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let report = bench(&args).await?;
    writeln!(out, "clients:          {}", report.clients)?;
    writeln!(out, "messages sent:    {} ({} refused)", report.sent, report.refused)?;
    writeln!(out, "deliveries:       {} of {}", report.delivered, report.expected)?;
    writeln!(out, "elapsed:          {:.2} s", report.elapsed.as_secs_f64())?;
    writeln!(out, "delivered msgs/s: {:.0}", report.delivered_per_sec())?;
    writeln!(
        out,
        "latency ms:       p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        report.p50_ms, report.p90_ms, report.p99_ms, report.max_ms
    )?;
    if report.delivered < report.expected {
        return Err(CliError::Usage(format!(
            "only {} of {} deliveries arrived before the timeout",
            report.delivered, report.expected
        )));
    }
    Ok(())
}

/// Runs the benchmark and returns its figures.
pub async fn bench(args: &BenchArgs) -> Result<BenchReport, CliError> {
    if !is_loopback(&args.url) {
        return Err(CliError::Usage(format!(
            "bench only targets a devstack on this machine; {} is not loopback",
            args.url
        )));
    }
    if args.clients == 0 || args.messages == 0 || args.rate <= 0.0 {
        return Err(CliError::Usage("--clients, --messages and --rate must be positive".into()));
    }
    let room = args.room.clone().unwrap_or_else(|| format!("bench-{}", chrono::Utc::now().timestamp_millis()));
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(args.clients as u64) };
    bar.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("connecting");

    // Connect and join, a few at a time.
    let mut sessions = Vec::with_capacity(args.clients);
    let mut pending = futures::stream::iter(0..args.clients)
        .map(|i| {
            let url = args.url.clone();
            let secret = args.secret.clone();
            let room = room.clone();
            async move {
                let token = mint_token(&secret, &format!("bench-{i}"), 3600)?;
                let mut s = client::Session::open(&url, &token).await?;
                s.request(&json!({"action": "join", "room": room}), "joined", Duration::from_secs(30)).await?;
                Ok::<_, CliError>(s)
            }
        })
        .buffer_unordered(32);
    while let Some(s) = pending.next().await {
        sessions.push(s?);
        bar.inc(1);
    }
    drop(pending);

    let expected = (args.messages * args.clients) as u64;
    bar.set_length(expected);
    bar.set_position(0);
    bar.set_message("delivering");
    let origin = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::with_capacity(args.clients);
    let mut readers = Vec::with_capacity(args.clients);
    for s in sessions {
        let (ws, _) = s.into_inner();
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        senders.push(tx);
        tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let delivered = delivered.clone();
        let refused = refused.clone();
        let bar = bar.clone();
        let per_client = args.messages as u64;
        readers.push(tokio::spawn(async move {
            let mut hist = new_histogram()?;
            let mut got = 0u64;
            while got < per_client {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok(Some(Ok(frame))) = tokio::time::timeout(left, stream.next()).await else { break };
                let Message::Text(text) = frame else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                match v.get("type").and_then(Value::as_str) {
                    Some("message") => {
                        let sent_us = v
                            .get("body")
                            .and_then(Value::as_str)
                            .and_then(|b| b.rsplit(':').next())
                            .and_then(|t| t.parse::<u64>().ok());
                        if let Some(sent_us) = sent_us {
                            let now_us = u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX);
                            let _ = hist.record(now_us.saturating_sub(sent_us).max(1));
                        }
                        got += 1;
                        delivered.fetch_add(1, Ordering::Relaxed);
                        bar.inc(1);
                    }
                    Some("error") => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
            Ok::<_, CliError>(hist)
        }));
    }

    // Send at the target rate, round robin.
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut sent = 0;
    for k in 0..args.messages {
        let at = origin + interval.mul_f64(k as f64);
        if at > deadline {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        let sender = k % senders.len();
        let now_us = origin.elapsed().as_micros();
        let body = format!("bench:{sender}:{k}:{now_us}");
        let frame = json!({"action": "send", "room": room, "body": body, "clientMsgId": format!("b-{k}")});
        if senders[sender].send(frame.to_string()).is_ok() {
            sent += 1;
        }
    }

    let mut hist = new_histogram()?;
    for r in readers {
        if let Ok(Ok(h)) = r.await {
            let _ = hist.add(&h);
        }
    }
    let elapsed = origin.elapsed();
    bar.finish_and_clear();
    drop(senders);
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(BenchReport {
        clients: args.clients,
        sent,
        refused: refused.load(Ordering::Relaxed),
        expected,
        delivered: delivered.load(Ordering::Relaxed),
        elapsed,
        p50_ms: ms(hist.value_at_quantile(0.5)),
        p90_ms: ms(hist.value_at_quantile(0.9)),
        p99_ms: ms(hist.value_at_quantile(0.99)),
        max_ms: ms(hist.max()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_benchmarked() {
        assert!(is_loopback("ws://127.0.0.1:3001/local"));
        assert!(is_loopback("ws://localhost:3001/local"));
        assert!(is_loopback("ws://[::1]:3001/local"));
        assert!(!is_loopback("wss://abc.execute-api.us-east-1.amazonaws.com/prod"));
        assert!(!is_loopback("ws://10.0.0.1:3001/local"));
    }
}
