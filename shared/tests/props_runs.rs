//! Property test of hot-room delivery (issue #12): whatever the batch sizes SQS hands over,
//! whichever appends fail and are retried, and whichever connections opted in to `messages`
//! frames, every connection receives every stored seq of every room, and sees each seq for the
//! first time only after every lower one (repeats from retried runs are allowed: clients drop them).

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{FailingAppends, World, records_of};
use proptest::prelude::*;
use starling_shared::ports::MessageStore;
use starling_shared::service::fanout::{self, Record};

const ROOMS: [&str; 3] = ["lobby", "dev", "ops"];

/// One step: a message to a room, then SQS handing over up to `take` records, with the next
/// `fail` appends refused.
#[derive(Debug, Clone)]
struct Step {
    room: usize,
    take: usize,
    fail: u32,
}

fn step() -> impl Strategy<Value = Step> {
    (0..ROOMS.len(), 1usize..=10, prop_oneof![4 => Just(0u32), 1 => 1u32..=3]).prop_map(|(room, take, fail)| Step {
        room,
        take,
        fail,
    })
}

/// Plays SQS FIFO: a batch is the first `take` records still queued (a failed record and those
/// behind it in its group stay at the front, in order); the done ones are deleted.
async fn receive(w: &World, queue: &mut Vec<Record>, take: usize) {
    let batch: Vec<Record> = queue.iter().take(take).cloned().collect();
    let failed = fanout::process_batch(&w.fanout, batch.clone()).await;
    let done: HashSet<String> = batch.into_iter().map(|r| r.id).filter(|id| !failed.contains(id)).collect();
    queue.retain(|r| !done.contains(&r.id));
}

fn check(steps: &[Step]) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    rt.block_on(async {
        let mut w = World::new();
        let appends = FailingAppends::wrap(w.fanout.stores.messages.clone(), "\u{0}never", 0);
        w.fanout.stores.messages = appends.clone();
        let mut callers = Vec::new();
        for (i, user) in ["ann", "ben", "cat", "dan"].into_iter().enumerate() {
            let caller = w.connect_with(user, i % 2 == 0).await;
            for room in ROOMS {
                w.join(&caller, room).await;
            }
            callers.push(caller);
        }
        let mut queue = Vec::new();
        for (n, s) in steps.iter().enumerate() {
            w.send(&callers[n % callers.len()], ROOMS[s.room], &format!("m{n}"), None).await;
            queue.extend(w.drain_records());
            appends.fail_next(s.fail);
            receive(&w, &mut queue, s.take).await;
        }
        appends.fail_next(0);
        for _ in 0..1_000 {
            if queue.is_empty() {
                break;
            }
            receive(&w, &mut queue, 10).await;
        }
        prop_assert!(queue.is_empty(), "records never delivered: {}", queue.len());
        for caller in &callers {
            let mut firsts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
            let mut seen = HashSet::new();
            for m in w.received_all(caller) {
                if seen.insert((m.room.clone(), m.seq)) {
                    let room = ROOMS.iter().find(|r| **r == m.room).expect("a known room");
                    firsts.entry(room).or_default().push(m.seq);
                }
            }
            for room in ROOMS {
                let last = w.store.last_seq(room).await.expect("the in-memory store answers");
                let got = firsts.remove(room).unwrap_or_default();
                prop_assert_eq!(got, (1..=last).collect::<Vec<_>>(), "{} in {}", caller.connection.id, room);
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_connection_gets_every_seq_first_in_order_whatever_the_batches_and_failed_appends(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        check(&steps)?;
    }
}

/// One step of the sharded run: a message, churn, and which queue SQS serves next.
#[derive(Debug, Clone)]
struct ShardStep {
    churn: Option<(usize, bool)>,
    main_take: usize,
    /// Which delivery group to serve, by index among the groups waiting, and how many records.
    deliver: Option<(usize, usize)>,
}

fn shard_step() -> impl Strategy<Value = ShardStep> {
    let churn = prop::option::of((0usize..4, any::<bool>()));
    let deliver = prop::option::of((0usize..8, 1usize..=10));
    (churn, 0usize..=10, deliver).prop_map(|(churn, main_take, deliver)| ShardStep { churn, main_take, deliver })
}

/// Serves up to `take` records of the `pick`-th waiting group of the delivery queue, as SQS
/// FIFO may: any group next, each group in order.
async fn serve_group(w: &World, queue: &mut Vec<Record>, pick: usize, take: usize) {
    let mut groups: Vec<String> = Vec::new();
    for r in queue.iter() {
        let g = r.group.clone().unwrap_or_default();
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let Some(group) = groups.get(pick % groups.len().max(1)).cloned() else { return };
    let batch: Vec<Record> = queue.iter().filter(|r| r.group.as_deref() == Some(&group)).take(take).cloned().collect();
    let failed = fanout::process_batch(&w.fanout, batch.clone()).await;
    let done: HashSet<String> = batch.into_iter().map(|r| r.id).filter(|id| !failed.contains(id)).collect();
    queue.retain(|r| !done.contains(&r.id));
}

fn check_sharded(steps: &[ShardStep]) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    rt.block_on(async {
        let mut w = World::new();
        let deliveries = w.with_shards(5, 4);
        let mut stable = Vec::new();
        for (i, user) in ["ann", "ben", "cat", "dan"].into_iter().enumerate() {
            let c = w.connect_with(user, i % 2 == 0).await;
            w.join(&c, "hall").await;
            stable.push(c);
        }
        let mut churners = Vec::new();
        for (i, user) in ["eve", "fay", "gus", "hal"].into_iter().enumerate() {
            churners.push(w.connect_with(user, i % 2 == 1).await);
        }
        let (mut main, mut shards) = (Vec::new(), Vec::new());
        for (n, s) in steps.iter().enumerate() {
            if let Some((who, join)) = s.churn {
                let action = if join { "join" } else { "leave" };
                w.act(&churners[who], &format!(r#"{{"action":"{action}","room":"hall"}}"#)).await;
            }
            w.send(&stable[n % stable.len()], "hall", &format!("m{n}"), None).await;
            main.extend(w.drain_records());
            receive(&w, &mut main, s.main_take).await;
            shards.extend(records_of(&deliveries));
            if let Some((pick, take)) = s.deliver {
                serve_group(&w, &mut shards, pick, take).await;
            }
        }
        for _ in 0..1_000 {
            if main.is_empty() && shards.is_empty() {
                break;
            }
            receive(&w, &mut main, 10).await;
            shards.extend(records_of(&deliveries));
            serve_group(&w, &mut shards, 0, 10).await;
        }
        prop_assert!(main.is_empty() && shards.is_empty(), "records left: {} and {}", main.len(), shards.len());
        let last = w.store.last_seq("hall").await.expect("the in-memory store answers");
        for (caller, complete) in stable.iter().map(|c| (c, true)).chain(churners.iter().map(|c| (c, false))) {
            let mut firsts = Vec::new();
            for m in w.received_all(caller) {
                if !firsts.contains(&m.seq) {
                    firsts.push(m.seq);
                }
            }
            prop_assert!(firsts.windows(2).all(|p| p[0] < p[1]), "{}: {:?}", caller.connection.id, firsts);
            if complete {
                prop_assert_eq!(firsts, (1..=last).collect::<Vec<_>>(), "{}", caller.connection.id);
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn through_shards_and_churn_around_the_threshold_each_connections_first_arrivals_stay_in_order(
        steps in prop::collection::vec(shard_step(), 1..40)
    ) {
        check_sharded(&steps)?;
    }
}
