//! The history checker: what one chaos run must satisfy, judged only from what the clients
//! saw, what the store holds and what the DLQ holds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use starling_client::Message;

/// How the service answered one `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `accepted`: it must be stored and delivered, unless it was made poison.
    Accepted,
    /// An error frame (or no answer at all): it must not be stored, unless `maybe` (a lost
    /// answer may hide an acceptance).
    Refused {
        /// The error code, or `no answer`.
        code: String,
        /// Whether the message may still have been accepted (the answer was lost).
        maybe: bool,
    },
}

/// One `send` of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The sender.
    pub from: String,
    /// Its clientMsgId, unique per sender and run.
    pub client_msg_id: String,
    /// Whether the run made it poison (an append that always fails).
    pub poison: bool,
    /// What the service answered.
    pub answer: Answer,
}

/// The `message` frames of the run's room one connection received, in arrival order.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Which connection (for reports).
    pub label: String,
    /// Whether it must have received every stored message: false for connections a fault
    /// touched (posts to them failed, or they closed).
    pub complete: bool,
    /// What it received.
    pub messages: Vec<Message>,
}

/// What the run left behind.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The room's stored messages, ascending by seq.
    pub history: Vec<Message>,
    /// The bodies of the DLQ's messages of the run's room (queue envelopes).
    pub dlq: Vec<String>,
}

/// A broken guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The stored seqs are not 1..=n.
    SeqGap {
        /// The stored seqs.
        seqs: Vec<u64>,
    },
    /// One (sender, clientMsgId) is stored more than once.
    StoredTwice(String),
    /// An accepted, healthy message is not stored.
    Lost(String),
    /// A refused message is stored.
    RefusedButStored(String),
    /// A poison message is stored.
    PoisonStored(String),
    /// A poison message is not in the DLQ.
    PoisonNotDeadLettered(String),
    /// The DLQ holds something that was not made poison.
    HealthyDeadLettered(String),
    /// A connection got a seq with another id than the stored one (or a seq not stored).
    WrongId {
        /// The connection.
        label: String,
        /// The seq.
        seq: u64,
    },
    /// A connection got a new seq below one it already had.
    OutOfOrder {
        /// The connection.
        label: String,
        /// The seq that came late.
        seq: u64,
        /// The highest seq it had before.
        after: u64,
    },
    /// A connection subscribed throughout misses stored seqs.
    Missed {
        /// The connection.
        label: String,
        /// The seqs it never got.
        seqs: Vec<u64>,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

fn key(from: &str, client_msg_id: &str) -> String {
    format!("{from}/{client_msg_id}")
}

/// Every guarantee the run broke; empty when it kept them all.
pub fn check(sent: &[Sent], observed: &[Observed], outcome: &Outcome) -> Vec<Violation> {
    let mut v = check_store(sent, outcome);
    let by_seq: BTreeMap<u64, &str> = outcome.history.iter().map(|m| (m.seq, m.id.as_str())).collect();
    for o in observed {
        v.extend(check_connection(o, &by_seq));
    }
    v
}

fn check_store(sent: &[Sent], outcome: &Outcome) -> Vec<Violation> {
    let mut v = Vec::new();
    let seqs: Vec<u64> = outcome.history.iter().map(|m| m.seq).collect();
    if !seqs.iter().copied().eq(1..=seqs.len() as u64) {
        v.push(Violation::SeqGap { seqs });
    }
    let mut stored = HashSet::new();
    for m in &outcome.history {
        let k = key(&m.from, m.client_msg_id.as_deref().unwrap_or(&m.id));
        if !stored.insert(k.clone()) {
            v.push(Violation::StoredTwice(k));
        }
    }
    let dead = |s: &Sent| outcome.dlq.iter().any(|body| body.contains(&s.client_msg_id) && body.contains(&s.from));
    for s in sent {
        let k = key(&s.from, &s.client_msg_id);
        let is_stored = stored.contains(&k);
        match (&s.answer, s.poison) {
            (_, true) if is_stored => v.push(Violation::PoisonStored(k)),
            (Answer::Accepted, true) if !dead(s) => v.push(Violation::PoisonNotDeadLettered(k)),
            (Answer::Accepted, false) if !is_stored => v.push(Violation::Lost(k)),
            (Answer::Refused { maybe: false, .. }, false) if is_stored => v.push(Violation::RefusedButStored(k)),
            _ => {}
        }
    }
    for body in &outcome.dlq {
        if !sent.iter().any(|s| s.poison && body.contains(&s.client_msg_id) && body.contains(&s.from)) {
            v.push(Violation::HealthyDeadLettered(body.chars().take(200).collect()));
        }
    }
    v
}

fn check_connection(o: &Observed, by_seq: &BTreeMap<u64, &str>) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut seen: HashMap<u64, &str> = HashMap::new();
    let mut max = 0;
    for m in &o.messages {
        if by_seq.get(&m.seq) != Some(&m.id.as_str()) || seen.get(&m.seq).is_some_and(|id| *id != m.id) {
            v.push(Violation::WrongId { label: o.label.clone(), seq: m.seq });
        }
        if seen.insert(m.seq, &m.id).is_none() && m.seq < max {
            v.push(Violation::OutOfOrder { label: o.label.clone(), seq: m.seq, after: max });
        }
        max = max.max(m.seq);
    }
    if o.complete {
        let missed: Vec<u64> = by_seq.keys().copied().filter(|s| !seen.contains_key(s)).collect();
        if !missed.is_empty() {
            v.push(Violation::Missed { label: o.label.clone(), seqs: missed });
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64, from: &str, cmid: &str) -> Message {
        Message {
            room: "r".into(),
            seq,
            id: format!("id-{from}-{cmid}"),
            from: from.into(),
            body: cmid.into(),
            client_msg_id: Some(cmid.into()),
            sent_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn accepted(from: &str, cmid: &str) -> Sent {
        Sent { from: from.into(), client_msg_id: cmid.into(), poison: false, answer: Answer::Accepted }
    }

    fn seen(label: &str, complete: bool, messages: &[Message]) -> Observed {
        Observed { label: label.into(), complete, messages: messages.to_vec() }
    }

    fn healthy_run() -> (Vec<Sent>, Vec<Message>) {
        let sent = vec![accepted("a", "a-0"), accepted("b", "b-0"), accepted("a", "a-1")];
        let history = vec![msg(1, "a", "a-0"), msg(2, "b", "b-0"), msg(3, "a", "a-1")];
        (sent, history)
    }

    #[test]
    fn a_clean_run_with_redelivered_duplicates_passes() {
        let (sent, history) = healthy_run();
        let h = &history;
        let observed = [seen("x", true, &[h[0].clone(), h[1].clone(), h[1].clone(), h[0].clone(), h[2].clone()])];
        let outcome = Outcome { history: history.clone(), dlq: vec![] };
        assert_eq!(check(&sent, &observed, &outcome), []);
    }

    #[test]
    fn a_lost_message_a_gap_and_a_refused_but_stored_one_are_caught() {
        let (mut sent, history) = healthy_run();
        sent.push(accepted("b", "b-1"));
        sent.push(Sent {
            from: "c".into(),
            client_msg_id: "c-0".into(),
            poison: false,
            answer: Answer::Refused { code: "internal".into(), maybe: false },
        });
        let mut stored = history.clone();
        stored.push(msg(5, "c", "c-0"));
        let v = check(&sent, &[], &Outcome { history: stored, dlq: vec![] });
        assert!(v.contains(&Violation::Lost("b/b-1".into())), "{v:?}");
        assert!(v.contains(&Violation::RefusedButStored("c/c-0".into())), "{v:?}");
        assert!(v.iter().any(|x| matches!(x, Violation::SeqGap { .. })), "{v:?}");
    }

    #[test]
    fn out_of_order_wrong_ids_and_misses_are_caught_per_connection() {
        let (sent, history) = healthy_run();
        let h = &history;
        let mut impostor = h[1].clone();
        impostor.id = "other".into();
        let observed = [
            seen("late", true, &[h[1].clone(), h[0].clone(), h[2].clone()]),
            seen("forged", true, &[h[0].clone(), impostor, h[2].clone()]),
            seen("short", true, &[h[0].clone(), h[2].clone()]),
            seen("exempt", false, &[h[2].clone()]),
        ];
        let v = check(&sent, &observed, &Outcome { history: history.clone(), dlq: vec![] });
        assert!(v.contains(&Violation::OutOfOrder { label: "late".into(), seq: 1, after: 2 }), "{v:?}");
        assert!(v.contains(&Violation::WrongId { label: "forged".into(), seq: 2 }), "{v:?}");
        assert!(v.contains(&Violation::Missed { label: "short".into(), seqs: vec![2] }), "{v:?}");
        assert_eq!(v.len(), 3, "the exempt connection is judged on order and ids only: {v:?}");
    }

    #[test]
    fn the_dlq_must_hold_exactly_the_poison() {
        let (mut sent, history) = healthy_run();
        sent.push(Sent { from: "p".into(), client_msg_id: "p-0".into(), poison: true, answer: Answer::Accepted });
        let healthy_in_dlq = r#"{"from":"a","clientMsgId":"a-1"}"#.to_owned();
        let v = check(&sent, &[], &Outcome { history, dlq: vec![healthy_in_dlq] });
        assert!(v.contains(&Violation::PoisonNotDeadLettered("p/p-0".into())), "{v:?}");
        assert!(v.iter().any(|x| matches!(x, Violation::HealthyDeadLettered(_))), "{v:?}");
    }
}
