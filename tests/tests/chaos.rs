//! The chaos suite: every fault the devstack can inject, at random moments, while two users
//! send and two more receive, each run judged by the history checker (tests/src/chaos): every
//! accepted message reaches every connection subscribed throughout, per-room seqs are gapless,
//! no seq arrives with two ids, order holds per connection, and the DLQ holds only poison.
//! `STARLING_CHAOS_RUNS` runs per scenario and backend (10 in CI; `scripts/chaos.sh --runs 100`).

use rand::Rng;
use rand::rngs::StdRng;
use starling_devstack::{AppendFault, CrashPoint, DisconnectMode, DynamoFault, Fault};
use starling_e2e::chaos::{Cast, Plan, scenario};
use starling_e2e::{Kind, fast_retry, on_both_backends};

on_both_backends!(
    appends_fail_before_store_for_a_while,
    appends_fail_after_store_for_a_while,
    poison_messages_among_healthy_ones,
    one_subscribers_posts_fail,
    one_subscriber_is_gone,
    enqueues_fail,
    the_fanout_crashes_after_storing,
    the_fanout_crashes_between_posts,
    whole_batches_are_redelivered,
    slow_appends_outlast_the_visibility_timeout,
    a_disconnect_is_lost,
    a_disconnect_comes_late,
    a_disconnect_comes_twice,
);

/// How often a transient fault fires: a few times, fewer than the fanout gives up after.
fn few(rng: &mut StdRng) -> i64 {
    rng.random_range(1..=2)
}

fn append_for_a_while(when: AppendFault) -> impl Fn(&mut StdRng, &Cast) -> Plan + Sync {
    move |rng, cast| Plan {
        during: vec![Fault::Append { room: Some(cast.room.clone()), body_contains: None, when, times: few(rng) }],
        ..Plan::default()
    }
}

async fn appends_fail_before_store_for_a_while(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "append-before-store", append_for_a_while(AppendFault::BeforeStore)).await
}

async fn appends_fail_after_store_for_a_while(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "append-after-store", append_for_a_while(AppendFault::AfterStore)).await
}

/// One or two messages always fail to store, and a healthy one fails once: the poison alone
/// reaches the DLQ, and everything queued behind it is delivered.
async fn poison_messages_among_healthy_ones(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "poison", |rng, cast| {
        let poison: Vec<(usize, usize)> = (0..rng.random_range(1..=2))
            .map(|_| (rng.random_range(0..2), rng.random_range(0..cast.per_sender)))
            .collect();
        let (s, i) = (rng.random_range(0..2), rng.random_range(0..cast.per_sender));
        let transient = Fault::Append {
            room: Some(cast.room.clone()),
            body_contains: Some(format!("{} {i}", cast.senders[s])),
            when: AppendFault::BeforeStore,
            times: 1,
        };
        Plan { poison, before: vec![transient], ..Plan::default() }
    })
    .await
}

/// Posts to one receiver answer 403, 413, 429 or 500: the others get every message, and no
/// message fails for the room.
async fn one_subscribers_posts_fail(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "post-fails", |rng, cast| {
        let status = [403, 413, 429, 500][rng.random_range(0..4)];
        let times = if rng.random_bool(0.5) { -1 } else { rng.random_range(1..=4) };
        let victim = cast.receivers[1].clone();
        Plan {
            during: vec![Fault::Post { user: victim.clone(), status, times }],
            exempt: vec![victim],
            ..Plan::default()
        }
    })
    .await
}

/// One receiver's connection is gone (410, and it closes): the others get every message.
async fn one_subscriber_is_gone(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "post-gone", |_, cast| {
        let victim = cast.receivers[1].clone();
        Plan {
            during: vec![Fault::Post { user: victim.clone(), status: 410, times: 1 }],
            exempt: vec![victim],
            ..Plan::default()
        }
    })
    .await
}

/// SQS refuses some enqueues: those senders get an error, and their messages never appear.
async fn enqueues_fail(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "enqueue", |rng, _| Plan {
        during: vec![Fault::Enqueue { times: rng.random_range(1..=3) }],
        ..Plan::default()
    })
    .await
}

fn crash(at: CrashPoint) -> impl Fn(&mut StdRng, &Cast) -> Plan + Sync {
    move |rng, _| Plan { during: vec![Fault::Crash { at, times: few(rng) }], ..Plan::default() }
}

async fn the_fanout_crashes_after_storing(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "crash-after-store", crash(CrashPoint::AfterStore)).await
}

async fn the_fanout_crashes_between_posts(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "crash-mid-posts", crash(CrashPoint::MidPosts)).await
}

/// Batches that succeeded are not deleted and come back whole.
async fn whole_batches_are_redelivered(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "redeliver", |rng, _| Plan { during: vec![Fault::Redeliver { times: few(rng) }], ..Plan::default() })
        .await
}

/// Appends stall for longer than the visibility timeout, so a batch outlives it while a churning
/// user reconnects: no batch may be delivered twice at once (which reorders what a connection
/// sees), as in AWS, where the visibility timeout is at least the function's timeout.
async fn slow_appends_outlast_the_visibility_timeout(kind: Kind) -> anyhow::Result<()> {
    let visibility = u64::try_from(fast_retry(kind, 2).as_millis()).unwrap_or(u64::MAX);
    scenario(kind, "stall", move |rng, cast| Plan {
        during: vec![Fault::Stall {
            room: Some(cast.room.clone()),
            delay_ms: visibility * rng.random_range(3..=6) / 2,
            times: few(rng),
        }],
        churn: Some(true),
        exempt: vec![cast.churn.clone()],
        ..Plan::default()
    })
    .await
}

fn disconnect(mode: DisconnectMode) -> impl Fn(&mut StdRng, &Cast) -> Plan + Sync {
    move |rng, cast| Plan {
        before: vec![Fault::Disconnect { mode, delay_ms: rng.random_range(0..500), times: 1 }],
        churn: Some(rng.random_bool(0.5)),
        exempt: vec![cast.churn.clone()],
        ..Plan::default()
    }
}

async fn a_disconnect_is_lost(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "disconnect-lost", disconnect(DisconnectMode::Lost)).await
}

async fn a_disconnect_comes_late(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "disconnect-late", disconnect(DisconnectMode::Late)).await
}

async fn a_disconnect_comes_twice(kind: Kind) -> anyhow::Result<()> {
    scenario(kind, "disconnect-doubled", disconnect(DisconnectMode::Doubled)).await
}

/// DynamoDB faults exist on the SDK backend only.
mod dynamo {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn throttling_on_any_call_moto() -> anyhow::Result<()> {
        scenario(Kind::Moto, "dynamo-throttling", |rng, _| {
            let operation = [None, Some("TransactWriteItems"), Some("Query"), Some("UpdateItem"), Some("GetItem")]
                [rng.random_range(0..5)]
            .map(str::to_owned);
            let fault = Fault::Dynamo { error: DynamoFault::Throttling, operation, times: rng.random_range(1..=4) };
            Plan { during: vec![fault], ..Plan::default() }
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelled_transactions_moto() -> anyhow::Result<()> {
        scenario(Kind::Moto, "dynamo-transaction-canceled", |rng, _| {
            let fault = Fault::Dynamo {
                error: DynamoFault::TransactionCanceled,
                operation: Some("TransactWriteItems".into()),
                times: rng.random_range(1..=4),
            };
            Plan { during: vec![fault], ..Plan::default() }
        })
        .await
    }
}
