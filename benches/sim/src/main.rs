//! `starling-sim`: the simulated fanout benchmark of issue #12. The real fanout code runs on the
//! in-memory adapters, with PostToConnection modelled as `--latency-ms` per post behind API
//! Gateway's account throttle, in virtual time (so a run of 100,000 posts takes seconds of CPU
//! and its timings are exact). It reports, side by side in one run:
//!
//! - one message to rooms of 1,000, 10,000 and 100,000 subscribers: a single hop against the
//!   shards, at the default account throttle and at a raised one, with a post over the throttle
//!   waiting for its token (the ideal caller) and, as API Gateway does it, answered 429 and
//!   retried by the fanout's own back-off (rows marked `429s`);
//! - a hot room: a steady stream into 1,000 subscribers, one record per invocation (before
//!   #12) against batches delivered as runs.
//!
//! Usage: `cargo run --release -p starling-sim -- [--json]` (docs/deploy.md, "Large and hot rooms").

mod pusher;
mod scenarios;

use std::time::Duration;

use clap::Parser;
use pusher::{OverLimit, Throttle};
use scenarios::{Outcome, Params};
use starling_shared::service::fanout::FanoutSettings;

/// The simulated fanout benchmark.
#[derive(Debug, Parser)]
#[command(name = "starling-sim", about)]
struct Args {
    /// One PostToConnection, in milliseconds.
    #[arg(long, default_value_t = 15)]
    latency_ms: u64,
    /// API Gateway's account throttle, requests per second (AWS's default quota).
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,
    /// Its burst.
    #[arg(long, default_value_t = 5_000.0)]
    burst: f64,
    /// A raised account throttle to compare with (a quota increase AWS grants on request).
    #[arg(long, default_value_t = 50_000.0)]
    raised_rate: f64,
    /// Posts in flight per invocation (the fanout's `STARLING_FANOUT_CONCURRENCY`).
    #[arg(long, default_value_t = FanoutSettings::default().concurrency)]
    concurrency: usize,
    /// Shards of a large room (`STARLING_SHARDS`).
    #[arg(long, default_value_t = FanoutSettings::default().shards)]
    shards: u16,
    /// Subscribers from which a room is sharded (`STARLING_SHARD_THRESHOLD`).
    #[arg(long, default_value_t = FanoutSettings::default().shard_threshold)]
    threshold: usize,
    /// From a record queued to its function running, in milliseconds.
    #[arg(long, default_value_t = 20)]
    hop_ms: u64,
    /// Room sizes of the one-message scenario.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000, 100_000])]
    sizes: Vec<usize>,
    /// Subscribers of the hot room.
    #[arg(long, default_value_t = 1_000)]
    hot_subscribers: usize,
    /// Messages per second into the hot room.
    #[arg(long, default_value_t = 50.0)]
    hot_rate: f64,
    /// How long the hot room's stream lasts, in seconds.
    #[arg(long, default_value_t = 10)]
    hot_secs: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let args = Args::parse();
    let base = Params {
        latency: Duration::from_millis(args.latency_ms),
        throttle: Throttle { rate: args.rate, burst: args.burst },
        over_limit: OverLimit::Wait,
        concurrency: args.concurrency,
        shards: args.shards,
        threshold: args.threshold,
        hop: Duration::from_millis(args.hop_ms),
    };
    let raised = Params { throttle: Throttle { rate: args.raised_rate, burst: args.burst }, ..base };
    // As API Gateway behaves: a post over the throttle is answered 429 and the fanout retries it.
    let refusing = Params { over_limit: OverLimit::Refuse, ..base };
    let mut outcomes = Vec::new();
    for &n in &args.sizes {
        outcomes.push(labelled(scenarios::one_message(n, false, &base).await, &base));
        outcomes.push(labelled(scenarios::one_message(n, true, &base).await, &base));
        outcomes.push(labelled(scenarios::one_message(n, true, &raised).await, &raised));
        outcomes.push(labelled(scenarios::one_message(n, false, &refusing).await, &refusing));
        outcomes.push(labelled(scenarios::one_message(n, true, &refusing).await, &refusing));
    }
    for batched in [false, true] {
        let hot = scenarios::hot_room(args.hot_subscribers, args.hot_rate, args.hot_secs, batched, &base).await;
        outcomes.push(labelled(hot, &base));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes).unwrap_or_default());
    } else {
        print_table(&args, &outcomes);
    }
}

/// Names the throttle in the mode, so rows at different quotas are told apart.
fn labelled(mut o: Outcome, p: &Params) -> Outcome {
    o.mode = format!("{}, {}k rps", o.mode, p.throttle.rate / 1_000.0);
    o
}

fn print_table(args: &Args, outcomes: &[Outcome]) {
    println!(
        "PostToConnection {} ms, {} posts in flight per invocation, throttle {} rps (burst {}), {} shards from {} subscribers, {} ms per hop",
        args.latency_ms, args.concurrency, args.rate, args.burst, args.shards, args.threshold, args.hop_ms
    );
    println!(
        "{:<22} {:<28} {:>8} {:>6} {:>9} {:>6} {:>9} {:>8} {:>9} {:>9} {:>7} {:>10} {:>10}",
        "scenario",
        "mode",
        "subs",
        "msgs",
        "wall s",
        "invoc",
        "max inv s",
        "posts",
        "posts/s",
        "throttled",
        "missed",
        "p50 ms",
        "p99 ms"
    );
    for o in outcomes {
        println!(
            "{:<22} {:<28} {:>8} {:>6} {:>9.3} {:>6} {:>9.3} {:>8} {:>9.0} {:>9} {:>7} {:>10.1} {:>10.1}",
            o.scenario,
            o.mode,
            o.subscribers,
            o.messages,
            o.wall_secs,
            o.invocations,
            o.max_invocation_secs,
            o.posts,
            o.posts_per_sec,
            o.throttled,
            o.missed,
            o.p50_ms,
            o.p99_ms
        );
    }
}
