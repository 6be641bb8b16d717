//! The results as tables or JSON: per delivered message, per message, set-up per connection,
//! and the read-cost ratio of the Scan design to Starling.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::meter::Tally;
use crate::workload::{Measured, Workload};

/// The bill's approximations, printed with every result.
const NOTES: &[&str] = &[
    "Units are computed from request and response bodies by AWS's item size rules, not read from moto.",
    "UpdateItem, DeleteItem and ConditionCheck are billed as their key plus the values they set (AWS bills the larger of the item before and after; every item here is under 1 KB, so one unit either way).",
    "A cancelled transaction or failed conditional write is billed as if it wrote; an item with an index's keys also bills the index copy at the standard rate.",
    "Reads that project, count or filter are billed by the whole items read, learned by an uncounted shadow read.",
    "Posts are PostToConnection calls (each an API Gateway message); SQS requests count each 64 KB of payload.",
];

/// Every workload's results.
#[derive(Debug)]
pub(crate) struct Report {
    rows: Vec<Row>,
    consistent_scan: bool,
    elapsed: Duration,
}

#[derive(Debug)]
struct Row {
    workload: Workload,
    starling: Measured,
    scan: Measured,
}

/// One tally divided by a count.
#[derive(Debug, Clone, Copy, Serialize)]
struct Per {
    rcu: f64,
    wcu: f64,
    posts: f64,
    sqs: f64,
}

impl Per {
    fn of(t: &Tally, n: u64) -> Self {
        let n = n.max(1) as f64;
        Self { rcu: t.rcu / n, wcu: t.wcu / n, posts: t.posts as f64 / n, sqs: t.sqs as f64 / n }
    }
}

impl Row {
    fn per_delivery(m: &Measured) -> Per {
        Per::of(&m.message, m.deliveries)
    }

    /// Scan RCU ÷ Starling RCU, per delivered message.
    fn read_ratio(&self) -> f64 {
        let starling = Self::per_delivery(&self.starling).rcu;
        if starling > 0.0 { Self::per_delivery(&self.scan).rcu / starling } else { f64::INFINITY }
    }

    fn system(m: &Measured) -> Value {
        json!({
            "measured": m,
            "per_delivery": Self::per_delivery(m),
            "per_message": Per::of(&m.message, m.messages as u64),
            "setup_per_connection": Per::of(&m.setup, m.connections as u64),
        })
    }
}

impl Report {
    /// The report of `results`, each (workload, Starling, Scan design).
    pub(crate) fn new(results: &[(Workload, Measured, Measured)], consistent_scan: bool, elapsed: Duration) -> Self {
        let rows = results.iter().map(|(w, s, b)| Row { workload: *w, starling: s.clone(), scan: b.clone() }).collect();
        Self { rows, consistent_scan, elapsed }
    }

    /// Machine-readable: every measured count, and the figures derived from them.
    pub(crate) fn json(&self) -> String {
        let workloads: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "room_size": r.workload.room_size,
                    "connections": r.workload.connections,
                    "rooms_messaged": r.workload.rooms,
                    "rooms": r.workload.all_rooms(),
                    "starling": Row::system(&r.starling),
                    "scan": Row::system(&r.scan),
                    "read_ratio_scan_to_starling": r.read_ratio(),
                    "goal_read_ratio_at_least_100": r.read_ratio() >= 100.0,
                })
            })
            .collect();
        let out = json!({
            "workloads": workloads,
            "scan_read": self.scan_read(),
            "starling_read": "strongly consistent",
            "elapsed_s": self.elapsed.as_secs_f64(),
            "approximations": NOTES,
        });
        serde_json::to_string_pretty(&out).unwrap_or_default()
    }

    fn scan_read(&self) -> &'static str {
        if self.consistent_scan { "strongly consistent" } else { "eventually consistent (as the AWS sample)" }
    }

    /// The tables.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Per delivered message (message path only; Scan reads {}):\n", self.scan_read());
        let _ = writeln!(
            out,
            "| room size | system | connections | messages | deliveries | RCU | WCU | posts | SQS requests | read ratio (Scan ÷ Starling) |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.rows {
            for (name, m) in [("Starling", &r.starling), ("Scan", &r.scan)] {
                let p = Row::per_delivery(m);
                let ratio = if name == "Scan" { format!("{:.1}", r.read_ratio()) } else { String::new() };
                let _ = writeln!(
                    out,
                    "| {} | {name} | {} | {} | {} | {:.4} | {:.4} | {:.3} | {:.4} | {ratio} |",
                    r.workload.room_size, m.connections, m.messages, m.deliveries, p.rcu, p.wcu, p.posts, p.sqs
                );
            }
        }
        self.per_message_table(&mut out);
        self.operations_table(&mut out);
        let _ = writeln!(out, "\nApproximations:");
        for n in NOTES {
            let _ = writeln!(out, "- {n}");
        }
        let _ = writeln!(out, "\n{:.0} s in all.", self.elapsed.as_secs_f64());
        out
    }

    /// Starling's message path by operation: where its units go.
    fn operations_table(&self, out: &mut String) {
        let _ = writeln!(out, "\nStarling's message path by operation, per message (calls: RCU/WCU/SQS):\n");
        for r in &self.rows {
            let n = r.starling.messages.max(1) as f64;
            let ops: Vec<String> = r
                .starling
                .message_ops
                .iter()
                .filter(|(op, _)| !op.ends_with("PostToConnection"))
                .map(|(op, t)| {
                    let u = &t.units;
                    let units = match (u.rcu > 0.0, u.wcu > 0.0) {
                        (true, _) => format!("{:.2} RCU", u.rcu / n),
                        (false, true) => format!("{:.2} WCU", u.wcu / n),
                        _ => format!("{:.2} SQS", u.sqs as f64 / n),
                    };
                    format!("{op} {:.1}: {units}", t.calls as f64 / n)
                })
                .collect();
            let _ = writeln!(out, "- room size {}: {}", r.workload.room_size, ops.join("; "));
        }
    }

    fn per_message_table(&self, out: &mut String) {
        let _ = writeln!(out, "\nPer message, and set-up (connect + join) per connection:\n");
        let _ = writeln!(
            out,
            "| room size | system | RCU/msg | WCU/msg | SQS/msg | set-up RCU/conn | set-up WCU/conn | set-up SQS/conn | moto s (messages) |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.rows {
            for (name, m) in [("Starling", &r.starling), ("Scan", &r.scan)] {
                let p = Per::of(&m.message, m.messages as u64);
                let s = Per::of(&m.setup, m.connections as u64);
                let _ = writeln!(
                    out,
                    "| {} | {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
                    r.workload.room_size,
                    p.rcu,
                    p.wcu,
                    p.sqs,
                    s.rcu,
                    s.wcu,
                    s.sqs,
                    m.message_time.as_secs_f64()
                );
            }
        }
    }
}
