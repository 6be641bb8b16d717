//! End-to-end: a client that reconnects and syncs while others keep sending ends with every seq
//! exactly once and in order, by the protocol's merge procedure (`starling_client::Inbox`), on
//! both backends.

use anyhow::{Context as _, ensure};
use starling_client::{Client, Inbox, Message, Request, ServerFrame};
use starling_e2e::{ClientExt as _, Kind, connect, joined, on_both_backends, room, send_request, start, unique};

on_both_backends!(a_client_resyncing_while_three_others_send_gets_every_seq_once_in_order,);

/// Every retained message of `lobby`, oldest first, by paging `history` back.
async fn whole_history(client: &mut Client) -> anyhow::Result<Vec<Message>> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = client.request(&Request::History { room: room("lobby"), before, limit: 100 }).await?;
        let ServerFrame::History { mut messages, has_more, .. } = page else { anyhow::bail!("not history: {page:?}") };
        before = messages.first().map(|m| m.seq);
        messages.append(&mut all);
        all = messages;
        if !has_more {
            return Ok(all);
        }
    }
}

async fn send_n(mut client: Client, who: &str, n: usize) -> anyhow::Result<Client> {
    for i in 0..n {
        // One at a time, each after its `accepted`, so the senders really interleave.
        client.send_all(&[send_request("lobby", format!("{who}-{i}"), Some(&unique(who)))]).await?;
    }
    Ok(client)
}

async fn a_client_resyncing_while_three_others_send_gets_every_seq_once_in_order(kind: Kind) -> anyhow::Result<()> {
    // Small sync budgets so the resync takes several `hasMore` rounds while the others send.
    let stack = start(kind, |c| {
        c.action_limits.sync_limit = 15;
        c.action_limits.sync_max_frames = 2;
    })
    .await?;
    let mut alice = joined(&stack, "alice", "lobby").await?;
    let mut bob = joined(&stack, "bob", "lobby").await?;
    bob.send_all(&(0..5).map(|i| send_request("lobby", format!("early-{i}"), Some(&unique("e")))).collect::<Vec<_>>())
        .await?;
    let seen = alice.messages("lobby", 5).await?;
    let held = seen.last().map_or(0, |m| m.seq);
    alice.close().await?;

    // Missed while away: enough for several sync pages and rounds.
    let mut watcher = joined(&stack, "watcher", "lobby").await?;
    bob.send_all(
        &(0..30).map(|i| send_request("lobby", format!("missed-{i}"), Some(&unique("m")))).collect::<Vec<_>>(),
    )
    .await?;
    watcher.peek_messages("lobby", 30).await?;

    let per_sender = if kind == Kind::Moto { 8 } else { 25 };
    let carol = joined(&stack, "carol", "lobby").await?;
    let dave = joined(&stack, "dave", "lobby").await?;
    let senders = [("bob", bob), ("carol", carol), ("dave", dave)]
        .map(|(who, client)| tokio::spawn(send_n(client, who, per_sender)));

    // The procedure: reconnect, join, sync from what is held, merge every frame by seq.
    let mut alice = connect(&stack, "alice").await?;
    alice.join(&room("lobby")).await?;
    let mut inbox = Inbox::new();
    inbox.track(&room("lobby"), held);
    let mut delivered: Vec<Message> = Vec::new();
    alice.send(&inbox.sync_request().context("a first sync")?).await?;
    let total = held + 30 + 3 * per_sender as u64;
    let mut syncs = 1;
    while inbox.syncing() || inbox.delivered("lobby") < Some(total) {
        let frame =
            alice.recv().await.with_context(|| format!("delivered up to {:?} of {total}", inbox.delivered("lobby")))?;
        let step = inbox.on_frame(&frame);
        delivered.extend(step.deliver);
        if let Some(request) = step.follow_up {
            syncs += 1;
            alice.send(&request).await?;
        }
    }
    for sender in senders {
        sender.await??;
    }
    ensure!(syncs > 1, "the budget of 2 frames should have taken several syncs");

    let seqs: Vec<u64> = delivered.iter().map(|m| m.seq).collect();
    ensure!(seqs == (held + 1..=total).collect::<Vec<_>>(), "delivered {seqs:?}");
    let history = whole_history(&mut alice).await?;
    ensure!(history.len() as u64 == total, "history holds {} of {total}", history.len());
    let expected: Vec<&Message> = history.iter().filter(|m| m.seq > held).collect();
    ensure!(delivered.iter().eq(expected.iter().copied()), "what was delivered differs from the room's history");
    stack.shutdown().await;
    Ok(())
}
