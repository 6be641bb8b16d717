//! The chaos suite's machinery: seeded runs of a scenario against one devstack started with
//! `--faults`, each judged by the history checker. `scripts/chaos.sh --runs N` runs the suite
//! longer; a failing run prints its seed, and `STARLING_CHAOS_SEED` replays it.

pub mod checker;
mod evidence;
mod run;

use anyhow::ensure;
use rand::rngs::StdRng;

pub use run::{Cast, Plan, clear_faults, one_run, plan_fault};

use crate::{Kind, fast_retry, start};

/// Runs per scenario and backend: `STARLING_CHAOS_RUNS`, 10 by default.
pub fn runs() -> u64 {
    std::env::var("STARLING_CHAOS_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(10)
}

/// The first run's seed: `STARLING_CHAOS_SEED`, or the clock.
fn first_seed() -> u64 {
    std::env::var("STARLING_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs())
    })
}

/// Devstacks a scenario's runs are spread over, each with its runs one after another:
/// `STARLING_CHAOS_LANES`, 2 by default. A run on moto mostly waits (visibility timeouts, the
/// quiet period), so two lanes halve a scenario's time; faults are per devstack, so runs of
/// different lanes cannot disturb each other.
pub fn lanes() -> u64 {
    std::env::var("STARLING_CHAOS_LANES").ok().and_then(|r| r.parse().ok()).filter(|&l| l > 0).unwrap_or(2)
}

/// Runs `scenario` [`runs`] times over [`lanes`] fresh devstacks of `kind` and fails with every
/// broken guarantee and the seed of every failing run.
pub async fn scenario(kind: Kind, name: &str, plan: impl Fn(&mut StdRng, &Cast) -> Plan + Sync) -> anyhow::Result<()> {
    let (runs, first, lanes) = (runs(), first_seed(), lanes());
    let seeds: Vec<Vec<u64>> =
        (0..lanes).map(|lane| (first..first + runs).filter(|s| (s - first) % lanes == lane).collect()).collect();
    let lanes = seeds.into_iter().enumerate().map(|(i, s)| lane(kind, i % 2 == 1, s, &plan));
    let outcomes = futures::future::join_all(lanes).await;
    let mut failures = Vec::new();
    for outcome in outcomes {
        failures.extend(outcome?);
    }
    // One line per scenario for scripts/chaos.sh to count.
    println!("CHAOS scenario={name} backend={kind:?} runs={runs} failed={}", failures.len());
    ensure!(
        failures.is_empty(),
        "chaos {name} on {kind:?}: {} of {runs} runs broke a guarantee:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

/// One devstack and the runs of `seeds` on it, in turn; the failing runs, each with its seed.
/// A `sharded` lane delivers every room of two subscribers or more through three shards on the
/// delivery queue, so every fault also hits the second hop (odd lanes; the others post directly).
async fn lane(
    kind: Kind,
    sharded: bool,
    seeds: Vec<u64>,
    plan: &(dyn Fn(&mut StdRng, &Cast) -> Plan + Sync),
) -> anyhow::Result<Vec<String>> {
    if seeds.is_empty() {
        return Ok(Vec::new());
    }
    let stack = start(kind, |c| {
        c.faults = true;
        c.mapping.visibility_timeout = fast_retry(kind, 2);
        // The queue's redrive is a backstop for crashes, well above the fanout's own give-up (5
        // attempts), as in the templates (100): records held back behind two poison messages
        // are received 10 times, and crashes and redeliveries count receives too.
        c.mapping.max_receive_count = 30;
        if sharded {
            c.fanout.shard_threshold = 2;
            c.fanout.shards = 3;
        }
    })
    .await?;
    let mut failures = Vec::new();
    for seed in seeds {
        match one_run(&stack, kind, seed, plan).await {
            Ok(v) if v.is_empty() => {}
            Ok(v) => failures.push(format!("seed {seed}: {}", v.join("; "))),
            Err(e) => failures.push(format!("seed {seed}: the run failed: {e:#}")),
        }
    }
    stack.shutdown().await;
    Ok(failures)
}
