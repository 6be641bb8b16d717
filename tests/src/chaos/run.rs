//! One chaos run: a room with two senders, two receivers and maybe a churning user, faults
//! planned over HTTP at random moments, then the history checker over what everyone saw.

use std::time::Duration;

use anyhow::{Context as _, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use starling_client::{Client, ClientError, Message, ServerFrame};
use starling_devstack::{Fault, Handle};
use starling_shared::domain::Status;

use super::checker::{self, Answer, Observed, Outcome, Sent};
use crate::{Kind, eventually, joined, send_request, unique};

/// Messages each sender sends per run: fewer on moto, whose single-threaded server is the
/// bottleneck of a run there.
fn per_sender(kind: Kind) -> usize {
    match kind {
        Kind::Memory => 8,
        Kind::Moto | Kind::Lambda => 5,
    }
}

/// The users of one run.
#[derive(Debug, Clone)]
pub struct Cast {
    /// The run's room.
    pub room: String,
    /// The two users who send (and receive).
    pub senders: [String; 2],
    /// The two users who only receive.
    pub receivers: [String; 2],
    /// The user whose connection closes mid-run, when the plan churns.
    pub churn: String,
    /// Messages each sender sends.
    pub per_sender: usize,
}

/// What a scenario does to one run.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Faults planned before anything is sent.
    pub before: Vec<Fault>,
    /// Faults planned at a random moment while the senders send.
    pub during: Vec<Fault>,
    /// Messages `(sender, i)` made poison: their body carries a marker an always-failing
    /// append fault matches.
    pub poison: Vec<(usize, usize)>,
    /// Users whose connections may miss messages (a post fault hits them).
    pub exempt: Vec<String>,
    /// Close the churn user's connection mid-run; `Some(true)` reconnects it afterwards.
    pub churn: Option<bool>,
}

/// How long a run waits for deliveries and redeliveries.
fn patience(kind: Kind) -> (Duration, Duration) {
    match kind {
        Kind::Memory => (Duration::from_secs(30), Duration::from_millis(300)),
        Kind::Moto | Kind::Lambda => (Duration::from_secs(90), Duration::from_millis(500)),
    }
}

/// Plans `fault` on the devstack over HTTP, as a chaos script would.
pub async fn plan_fault(stack: &Handle, fault: &Fault) -> anyhow::Result<()> {
    let url = format!("{}/_devstack/faults", stack.management_url());
    let response = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(serde_json::to_string(fault)?)
        .send()
        .await
        .with_context(|| url.clone())?;
    let status = response.status().as_u16();
    if status != 201 {
        bail!("POST {url} answered {status}: {}", response.text().await.unwrap_or_default());
    }
    Ok(())
}

/// Clears every planned fault over HTTP.
pub async fn clear_faults(stack: &Handle) -> anyhow::Result<()> {
    let url = format!("{}/_devstack/faults", stack.management_url());
    let status = reqwest::Client::new().delete(&url).send().await.with_context(|| url.clone())?.status().as_u16();
    if status != 204 {
        bail!("DELETE {url} answered {status}");
    }
    Ok(())
}

/// One run; the broken guarantees, empty when it kept them all.
pub async fn one_run(
    stack: &Handle,
    kind: Kind,
    seed: u64,
    plan_for: &(dyn Fn(&mut StdRng, &Cast) -> Plan + Sync),
) -> anyhow::Result<Vec<String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = unique("c");
    let cast = Cast {
        room: format!("chaos-{tag}"),
        senders: [format!("s0-{tag}"), format!("s1-{tag}")],
        receivers: [format!("r0-{tag}"), format!("r1-{tag}")],
        churn: format!("u-{tag}"),
        per_sender: per_sender(kind),
    };
    let plan = plan_for(&mut rng, &cast);
    let marker = format!("POISON-{tag}");
    let (receivers, churner, sender_clients) = set_up(stack, &cast, &plan, &marker).await?;
    let [mut r0, mut r1, mut r2]: [StdRng; 3] = std::array::from_fn(|_| StdRng::seed_from_u64(rng.random()));
    let injector = inject_during(stack, &plan.during, &mut r0);
    let senders = send_all(sender_clients, &cast, &plan, &marker, &mut r1);
    let churn = churn(stack, &cast, churner, plan.churn, &mut r2);
    let (injected, senders, churned) = tokio::join!(injector, senders, churn);
    injected?;
    let (mut observers, sent) = senders?;
    observers.extend(receivers.into_iter().map(|(user, client)| (user.clone(), user, client)));
    if let Some(client) = churned? {
        observers.push((format!("{} (rejoined)", cast.churn), cast.churn.clone(), client));
    }
    let mut violations = settle(stack, kind, &cast.room, &plan, &sent, &mut observers).await?;
    violations.extend(check_churn(stack, &cast, plan.churn).await);
    for (_, _, client) in observers {
        let _ = client.close().await;
    }
    clear_faults(stack).await?;
    if !violations.is_empty() {
        let logged = super::evidence::logged_for(&tag);
        if !logged.is_empty() {
            violations.push(format!("the devstack logged for this run:\n{}", logged.join("\n")));
        }
    }
    Ok(violations)
}

/// Plans the poison and the faults planned before the run, and joins everyone. Everyone joins
/// before anyone sends or any other fault is planned, so the senders and receivers are
/// subscribed throughout and setup never meets a fault.
async fn set_up(
    stack: &Handle,
    cast: &Cast,
    plan: &Plan,
    marker: &str,
) -> anyhow::Result<(Vec<(String, Client)>, Option<Client>, Vec<Client>)> {
    clear_faults(stack).await?;
    if !plan.poison.is_empty() {
        let fault = Fault::Append {
            room: Some(cast.room.clone()),
            body_contains: Some(marker.to_owned()),
            when: starling_devstack::AppendFault::BeforeStore,
            times: -1,
        };
        plan_fault(stack, &fault).await?;
    }
    let mut receivers = Vec::new();
    for user in &cast.receivers {
        receivers.push((user.clone(), joined(stack, user, &cast.room).await?));
    }
    let churner = match plan.churn {
        Some(_) => Some(joined(stack, &cast.churn, &cast.room).await?),
        None => None,
    };
    let mut senders = Vec::new();
    for user in &cast.senders {
        senders.push(joined(stack, user, &cast.room).await?);
    }
    for fault in &plan.before {
        plan_fault(stack, fault).await?;
    }
    Ok((receivers, churner, senders))
}

/// Plans each of `faults` at a random moment of the first 150 ms.
async fn inject_during(stack: &Handle, faults: &[Fault], rng: &mut StdRng) -> anyhow::Result<()> {
    let mut timed: Vec<(u64, &Fault)> = faults.iter().map(|f| (rng.random_range(0..150), f)).collect();
    timed.sort_by_key(|(at, _)| *at);
    let mut waited = 0;
    for (at, fault) in timed {
        tokio::time::sleep(Duration::from_millis(at - waited)).await;
        waited = at;
        plan_fault(stack, fault).await?;
    }
    Ok(())
}

type Observers = Vec<(String, String, Client)>;

/// Both senders send [`Cast::per_sender`] messages each, at once, with random pauses; returns their
/// clients (to observe) and what was sent.
async fn send_all(
    clients: Vec<Client>,
    cast: &Cast,
    plan: &Plan,
    marker: &str,
    rng: &mut StdRng,
) -> anyhow::Result<(Observers, Vec<Sent>)> {
    let mut tasks = Vec::new();
    for ((s, user), client) in cast.senders.iter().enumerate().zip(clients) {
        let poison: Vec<usize> = plan.poison.iter().filter(|(p, _)| *p == s).map(|(_, i)| *i).collect();
        let pauses: Vec<u64> = (0..cast.per_sender).map(|_| rng.random_range(0..25)).collect();
        let (room, user, marker) = (cast.room.clone(), user.clone(), marker.to_owned());
        tasks.push(tokio::spawn(async move { send_some(client, room, user, poison, pauses, marker).await }));
    }
    let mut observers = Vec::new();
    let mut sent = Vec::new();
    for task in tasks {
        let (user, client, some) = task.await?;
        observers.push((user.clone(), user, client));
        sent.extend(some);
    }
    Ok((observers, sent))
}

async fn send_some(
    mut client: Client,
    room: String,
    user: String,
    poison: Vec<usize>,
    pauses: Vec<u64>,
    marker: String,
) -> (String, Client, Vec<Sent>) {
    let mut sent = Vec::new();
    for (i, pause) in pauses.into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let is_poison = poison.contains(&i);
        let client_msg_id = format!("{user}-{i}");
        let body = if is_poison { format!("{user} {i} {marker}") } else { format!("{user} {i}") };
        let answer = match client.request(&send_request(&room, body, Some(&client_msg_id))).await {
            Ok(ServerFrame::Accepted { .. }) => Answer::Accepted,
            Ok(other) => Answer::Refused { code: other.to_json(), maybe: true },
            Err(ClientError::Server(e)) => Answer::Refused { code: e.code.as_str().to_owned(), maybe: false },
            Err(e) => Answer::Refused { code: e.to_string(), maybe: true },
        };
        sent.push(Sent { from: user.clone(), client_msg_id, poison: is_poison, answer });
    }
    (user, client, sent)
}

/// Closes the churn user's connection at a random moment and, when asked, reconnects it.
async fn churn(
    stack: &Handle,
    cast: &Cast,
    client: Option<Client>,
    rejoin: Option<bool>,
    rng: &mut StdRng,
) -> anyhow::Result<Option<Client>> {
    let (Some(client), Some(rejoin)) = (client, rejoin) else { return Ok(None) };
    let (close_after, rejoin_after) = (rng.random_range(0..100), rng.random_range(0..200));
    tokio::time::sleep(Duration::from_millis(close_after)).await;
    client.close().await?;
    if !rejoin {
        return Ok(None);
    }
    tokio::time::sleep(Duration::from_millis(rejoin_after)).await;
    Ok(Some(joined(stack, &cast.churn, &cast.room).await?))
}

/// Waits until every complete observer holds every healthy accepted message (and the DLQ every
/// poison one), lets redeliveries land, then runs the checker.
async fn settle(
    stack: &Handle,
    kind: Kind,
    room: &str,
    plan: &Plan,
    sent: &[Sent],
    observers: &mut Observers,
) -> anyhow::Result<Vec<String>> {
    let (within, quiet) = patience(kind);
    let healthy = sent.iter().filter(|s| s.answer == Answer::Accepted && !s.poison).count();
    let poison = sent.iter().filter(|s| s.answer == Answer::Accepted && s.poison).count();
    let deadline = tokio::time::Instant::now() + within;
    for (label, user, client) in observers.iter_mut() {
        if plan.exempt.contains(user) || label.ends_with("(rejoined)") {
            continue;
        }
        while distinct(client, room) < healthy && tokio::time::Instant::now() < deadline {
            client.set_timeout(deadline.saturating_duration_since(tokio::time::Instant::now()));
            if client.read_ahead().await.is_err() {
                break;
            }
        }
    }
    if poison > 0 {
        let _ = eventually("the poison in the DLQ", within, || async {
            Ok((dlq_of(stack, room).await?.len() >= poison).then_some(()))
        })
        .await;
    }
    tokio::time::sleep(quiet).await;
    let mut seen = Vec::new();
    for (label, user, client) in observers.iter_mut() {
        client.set_timeout(Duration::from_millis(200));
        while client.read_ahead().await.is_ok() {}
        let complete = !plan.exempt.contains(user) && !label.ends_with("(rejoined)");
        seen.push(Observed { label: label.clone(), complete, messages: messages_in(client, room) });
    }
    let outcome = Outcome { history: stack.stored_messages(room).await?, dlq: dlq_of(stack, room).await? };
    let mut violations: Vec<String> = checker::check(sent, &seen, &outcome).iter().map(ToString::to_string).collect();
    if !violations.is_empty() {
        let stored: Vec<String> = outcome
            .history
            .iter()
            .map(|m| format!("{}={}", m.seq, m.client_msg_id.as_deref().unwrap_or(&m.id)))
            .collect();
        let saw: Vec<String> = seen
            .iter()
            .map(|o| format!("{}: {:?}", o.label, o.messages.iter().map(|m| m.seq).collect::<Vec<_>>()))
            .collect();
        violations.push(format!("stored {}; seen by {}", stored.join(" "), saw.join(", ")));
    }
    Ok(violations)
}

fn messages_in(client: &Client, room: &str) -> Vec<Message> {
    client
        .buffered()
        .filter_map(|f| match f {
            ServerFrame::Message(m) if m.room == room => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn distinct(client: &Client, room: &str) -> usize {
    let mut seqs: Vec<u64> = messages_in(client, room).iter().map(|m| m.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs.len()
}

/// The bodies of the DLQ's messages of `room`.
async fn dlq_of(stack: &Handle, room: &str) -> anyhow::Result<Vec<String>> {
    Ok(stack.dlq().await?.into_iter().filter(|e| e.group_id == room).map(|e| e.body).collect())
}

/// A user whose connection closed (its `$disconnect` lost, late or doubled) ends offline, and
/// one who reconnected ends online.
async fn check_churn(stack: &Handle, cast: &Cast, rejoin: Option<bool>) -> Vec<String> {
    let Some(rejoin) = rejoin else { return vec![] };
    let want = if rejoin { Status::Online } else { Status::Offline };
    // A lost $disconnect is only noticed at the next post to the connection.
    // The poke joins, so its send is accepted and its message posted to the dead connection.
    if !rejoin && let Ok(mut poke) = joined(stack, &cast.receivers[0], &cast.room).await {
        let _ = poke.request(&send_request(&cast.room, "poke", None)).await;
        let _ = poke.close().await;
    }
    let settled = eventually("the churn user's presence", Duration::from_secs(15), || async {
        Ok((stack.presence_of(&cast.churn).await? == want).then_some(()))
    })
    .await;
    match settled {
        Ok(()) => vec![],
        Err(_) => vec![format!("presence of {} is not {} at the end", cast.churn, want.as_str())],
    }
}
