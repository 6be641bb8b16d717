//! `starling-cost`: what one message costs in DynamoDB units, SQS requests and posts, on Starling
//! and on the classic Scan-and-post design, for one workload run through both on moto.
//!
//! `scripts/cost.sh` starts moto and runs it; `--help` lists the options. Units are computed
//! from each request and response as AWS bills them (`units`, `bill`), by an SDK interceptor on
//! every client (`meter`), never taken from moto, whose `ConsumedCapacity` is a constant.

mod baseline;
mod bill;
mod meter;
mod report;
mod starling;
mod units;
mod workload;

use std::time::Instant;

use aws_config::{BehaviorVersion, Region};
use clap::Parser;
use starling_shared::ports::{QueueError, StoreError};
use tracing::info;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::meter::Shadow;
use crate::workload::{Env, Measured, Workload};

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CostError {
    /// Something the run relies on did not hold (a reply, a delivery count).
    #[error("{0}")]
    Unexpected(String),
    /// The uncounted shadow read failed.
    #[error("shadow read failed")]
    Http(#[from] reqwest::Error),
    /// A Starling store call failed.
    #[error("store call failed")]
    Store(#[from] StoreError),
    /// A Starling queue call failed.
    #[error("queue call failed")]
    Queue(#[from] QueueError),
    /// A direct SDK call (the event source mapping's, the baseline's) failed.
    #[error("{0}")]
    Sdk(String),
}

impl CostError {
    /// An SDK error with its whole chain of sources, which `Display` alone would hide.
    pub(crate) fn sdk(e: impl std::error::Error) -> Self {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        Self::Sdk(text)
    }
}

/// Runs one workload through Starling and through the Scan design, on moto, and prints what each
/// delivered message cost.
#[derive(Debug, Parser)]
#[command(name = "starling-cost")]
struct Args {
    /// moto's endpoint (scripts/moto.sh exports it).
    #[arg(long, env = "STARLING_MOTO_ENDPOINT")]
    endpoint: String,
    /// Every moto endpoint: with two, the baseline runs on the second, beside Starling.
    #[arg(long, env = "STARLING_MOTO_ENDPOINTS", value_delimiter = ',')]
    endpoints: Vec<String>,
    /// Connections per room size (each size is a workload of its own).
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Room sizes.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    room_sizes: Vec<usize>,
    /// Sends to the first N rooms of each size only (Starling sets up only their connections;
    /// the baseline's table still holds every connection).
    #[arg(long)]
    rooms: Option<usize>,
    /// CI mode: the first 10 rooms of each size, at most 1,000 connections' worth (one room of
    /// 1,000). See `Workload::sampled`.
    #[arg(long)]
    quick: bool,
    /// The baseline's Scan strongly consistent (the AWS sample's is eventually consistent).
    #[arg(long)]
    consistent_scan: bool,
    /// Requests in flight while setting up and posting.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Prints JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Also writes the JSON to this file (the tables still print).
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
}

/// What `--quick` sends to per room size: enough rooms to fill the event source mapping's batches
/// of 10, and no more than a room of 1,000's connections to set up.
const QUICK_ROOMS: usize = 10;
const QUICK_CONNECTIONS: usize = 1_000;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The bench's progress at info; Starling's own info lines (one per record and frame) would
    // bury it, so they show from warn up.
    let filter = Targets::new().with_default(LevelFilter::WARN).with_target("starling_cost", LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    let args = Args::parse();
    match run(&args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "cost benchmark failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn env(endpoint: &str, concurrency: usize) -> Env {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let sdk = starling_shared::sdk::loader()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.clone()))
        .endpoint_url(endpoint)
        .load()
        .await;
    Env { sdk, endpoint: endpoint.to_owned(), shadow: Shadow::new(endpoint, &region), concurrency }
}

async fn run(args: &Args) -> Result<(), CostError> {
    let started = Instant::now();
    let starling_env = env(&args.endpoint, args.concurrency).await;
    let baseline_env = env(args.endpoints.get(1).unwrap_or(&args.endpoint), args.concurrency).await;
    let mut results: Vec<(Workload, Measured, Measured)> = Vec::new();
    for &size in &args.room_sizes {
        let full = Workload::new(size, args.connections);
        let w = match (args.quick, args.rooms) {
            (true, _) => full.sampled(QUICK_ROOMS, QUICK_CONNECTIONS),
            (false, Some(rooms)) => full.sampled(rooms, usize::MAX),
            (false, None) => full,
        };
        info!(room_size = size, rooms = w.rooms, of = w.all_rooms(), "workload");
        let (s, b) =
            tokio::join!(starling::run(&starling_env, &w), baseline::run(&baseline_env, &w, args.consistent_scan));
        results.push((w, s?, b?));
    }
    let report = report::Report::new(&results, args.consistent_scan, started.elapsed());
    if let Some(path) = &args.json_out {
        std::fs::write(path, report.json())
            .map_err(|e| CostError::Unexpected(format!("writing {}: {e}", path.display())))?;
    }
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    Ok(())
}
