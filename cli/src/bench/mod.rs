//! `starling bench`: N clients in one room of a local devstack. Messages are sent at a fixed
//! rate, round robin over the clients; every client records the send→receive latency of every
//! message it gets. Bounded in count (`--messages`) and time (`--timeout-secs`), loopback only.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use starling_client::{Client, ClientError, Request, RoomId, ServerFrame};
use tokio::sync::mpsc;

use crate::CliError;

mod clients;
mod rss;
mod settle;

use clients::{connect_all, leave_and_close};

/// What `starling bench` runs.
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
    #[arg(long, value_parser = RoomId::parse)]
    pub room: Option<RoomId>,
    /// Secret to mint the clients' tokens with.
    #[arg(long, env = "STARLING_JWT_SECRET", default_value = "dev-secret", hide_env_values = true)]
    pub secret: String,
    /// No progress bar (for logs).
    #[arg(long)]
    pub quiet: bool,
    /// Send for this many seconds at `--rate` instead of `--messages` messages (a soak).
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Sample this process's resident memory (the devstack's pid; Linux `/proc`) at the start,
    /// every 500 ms, and after the clients have left.
    #[arg(long)]
    pub rss_pid: Option<u32>,
    /// Before sending, wait until no client has had a frame for this many milliseconds: the
    /// presence announcements of N joins (about N²/2 posts) drain first, so the figures are
    /// the steady state's. 0 starts at once.
    #[arg(long, default_value_t = 0)]
    pub settle_ms: u64,
}

impl BenchArgs {
    /// Messages the run sends: `--messages`, or `--rate` × `--duration-secs`.
    pub fn message_count(&self) -> usize {
        match self.duration_secs {
            Some(secs) => (self.rate * secs as f64).round() as usize,
            None => self.messages,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Clients connected.
    pub clients: usize,
    /// Messages sent.
    pub sent: usize,
    /// Error frames the clients got (refused sends).
    pub refused: u64,
    /// Deliveries a lossless run makes: every message to every client.
    pub expected: u64,
    /// Deliveries made.
    pub delivered: u64,
    /// From the first send to the last delivery or the timeout.
    pub elapsed: Duration,
    /// Median send-to-delivery latency.
    pub p50_ms: f64,
    /// 90th percentile latency.
    pub p90_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Worst latency.
    pub max_ms: f64,
    /// Deliveries of a seq a client already had.
    pub duplicates: u64,
    /// Resident memory of `--rss-pid`, when sampled.
    pub rss: Option<rss::Rss>,
    /// How long the join storm took to drain, when `--settle-ms` waited for it.
    pub settled_in: Option<Duration>,
}

impl BenchReport {
    /// Deliveries per second over the run.
    pub fn delivered_per_sec(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn is_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else { return false };
    let websocket = matches!(uri.scheme_str(), Some("ws" | "wss"));
    // `Uri::host` keeps an IPv6 literal's brackets.
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    websocket && (host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

fn new_histogram() -> Result<Histogram<u64>, CliError> {
    Histogram::new_with_bounds(1, 10 * 60 * 1_000_000, 3).map_err(|e| CliError::Usage(format!("histogram: {e}")))
}

/// Runs the benchmark and prints its figures; fails if deliveries are missing.
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
    writeln!(out, "duplicate seqs:   {}", report.duplicates)?;
    if let Some(d) = report.settled_in {
        writeln!(out, "join storm:       drained in {:.1} s before the first send", d.as_secs_f64())?;
    }
    if let Some(r) = &report.rss {
        writeln!(
            out,
            "devstack RSS MB:  start {:.1}  joined {:.1}  peak {:.1}  sent {:.1}  left {:.1}",
            r.start_mb(),
            r.joined_mb(),
            r.peak_mb(),
            r.sent_mb(),
            r.end_mb()
        )?;
    }
    if report.delivered < report.expected {
        return Err(CliError::Usage(format!(
            "only {} of {} deliveries arrived before the timeout",
            report.delivered, report.expected
        )));
    }
    Ok(())
}

/// One client's task: the client, still connected, and the latencies it recorded.
type ClientTask = tokio::task::JoinHandle<Result<(Client, Histogram<u64>), CliError>>;

/// What every client task shares: the clock, the limits and the running totals.
#[derive(Debug, Clone)]
struct Run {
    origin: Instant,
    deadline: Instant,
    per_client: u64,
    delivered: Arc<AtomicU64>,
    duplicates: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    bar: ProgressBar,
}

/// Runs the benchmark and returns its figures.
pub async fn bench(args: &BenchArgs) -> Result<BenchReport, CliError> {
    check(args)?;
    let run_id = chrono::Utc::now().timestamp_millis();
    let room = match &args.room {
        Some(room) => room.clone(),
        None => RoomId::parse(&format!("bench-{run_id}")).map_err(CliError::Usage)?,
    };
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut sampler = args.rss_pid.map(rss::Sampler::start).transpose()?;
    let bar = progress_bar(args);
    let clients = connect_all(args, run_id, &room, &bar).await?;
    let (clients, settled_in) = if args.settle_ms > 0 {
        bar.set_message("settling");
        let (clients, took) = settle::settle(clients, Duration::from_millis(args.settle_ms), deadline).await?;
        (clients, Some(took))
    } else {
        (clients, None)
    };

    if let Some(s) = sampler.as_mut() {
        s.joined()?;
    }
    let expected = (args.message_count() * args.clients) as u64;
    bar.set_length(expected);
    bar.set_position(0);
    bar.set_message("delivering");
    let run = Run {
        origin: Instant::now(),
        deadline,
        per_client: args.message_count() as u64,
        delivered: Arc::default(),
        duplicates: Arc::default(),
        refused: Arc::default(),
        bar: bar.clone(),
    };
    let (outboxes, tasks): (Vec<_>, Vec<_>) = clients
        .into_iter()
        .map(|client| {
            let (tx, rx) = mpsc::unbounded_channel();
            (tx, tokio::spawn(drive(client, rx, run.clone())))
        })
        .unzip();
    let sent = send_at_rate(args, &room, &run, &outboxes).await;

    let (hist, finished) = collect(tasks).await?;
    let elapsed = run.origin.elapsed();
    if let Some(s) = sampler.as_mut() {
        s.sent()?;
    }
    bar.finish_and_clear();
    drop(outboxes);
    futures::future::join_all(finished.into_iter().map(|c| leave_and_close(c, &room))).await;
    let rss = match sampler {
        Some(s) => Some(s.finish().await?),
        None => None,
    };
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(BenchReport {
        clients: args.clients,
        sent,
        refused: run.refused.load(Ordering::Relaxed),
        expected,
        delivered: run.delivered.load(Ordering::Relaxed),
        elapsed,
        p50_ms: ms(hist.value_at_quantile(0.5)),
        p90_ms: ms(hist.value_at_quantile(0.9)),
        p99_ms: ms(hist.value_at_quantile(0.99)),
        max_ms: ms(hist.max()),
        duplicates: run.duplicates.load(Ordering::Relaxed),
        rss,
        settled_in,
    })
}

/// Waits for every client task; returns their latencies merged and the clients still connected.
async fn collect(tasks: Vec<ClientTask>) -> Result<(Histogram<u64>, Vec<Client>), CliError> {
    let mut hist = new_histogram()?;
    let mut finished = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(Ok((client, h))) = task.await {
            let _ = hist.add(&h);
            finished.push(client);
        }
    }
    Ok((hist, finished))
}

fn check(args: &BenchArgs) -> Result<(), CliError> {
    if !is_loopback(&args.url) {
        return Err(CliError::Usage(format!(
            "bench only targets a devstack on this machine; {} is not loopback",
            args.url
        )));
    }
    if args.clients == 0 || args.message_count() == 0 || args.rate <= 0.0 {
        return Err(CliError::Usage("--clients, --messages and --rate must be positive".into()));
    }
    Ok(())
}

fn progress_bar(args: &BenchArgs) -> ProgressBar {
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(args.clients as u64) };
    bar.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("connecting");
    bar
}

/// Sends `args.messages` at `args.rate`, round robin over the clients; returns how many went out.
async fn send_at_rate(
    args: &BenchArgs,
    room: &RoomId,
    run: &Run,
    outboxes: &[mpsc::UnboundedSender<Request>],
) -> usize {
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut sent = 0;
    for k in 0..args.message_count() {
        let at = run.origin + interval.mul_f64(k as f64);
        if at > run.deadline {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        let sender = k % outboxes.len();
        // The send time rides in the body, so every receiver can work out the latency.
        let body = format!("bench:{sender}:{k}:{}", run.origin.elapsed().as_micros());
        let request = Request::Send { room: room.clone(), body, client_msg_id: Some(format!("b-{k}")), welcome: None };
        if outboxes[sender].send(request).is_ok() {
            sent += 1;
        }
    }
    sent
}

/// One client: sends what arrives in `outbox` and records the latency of each delivery, until it
/// has every message or the run's deadline passes.
async fn drive(
    mut client: Client,
    mut outbox: mpsc::UnboundedReceiver<Request>,
    run: Run,
) -> Result<(Client, Histogram<u64>), CliError> {
    let mut hist = new_histogram()?;
    let mut seen = std::collections::HashSet::new();
    let mut got = 0u64;
    while got < run.per_client {
        tokio::select! {
            Some(request) = outbox.recv() => {
                if client.send(&request).await.is_err() {
                    break;
                }
            }
            frame = client.recv() => match frame {
                Ok(ServerFrame::Message(m)) => {
                    if !seen.insert(m.seq) {
                        run.duplicates.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Some(sent_us) = m.body.rsplit(':').next().and_then(|t| t.parse::<u64>().ok()) {
                        let now_us = u64::try_from(run.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
                        let _ = hist.record(now_us.saturating_sub(sent_us).max(1));
                    }
                    got += 1;
                    run.delivered.fetch_add(1, Ordering::Relaxed);
                    run.bar.inc(1);
                }
                Ok(ServerFrame::Error(_)) => {
                    run.refused.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) | Err(ClientError::Malformed { .. }) => {}
                Err(_) => break,
            },
            () = tokio::time::sleep_until(run.deadline.into()) => break,
        }
    }
    Ok((client, hist))
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
        assert!(!is_loopback("http://127.0.0.1:3001/local"), "only WebSocket URLs");
    }
}
