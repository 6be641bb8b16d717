//! Room analytics end to end (docs/analytics.md): two users send, a member's `stats` shows the
//! messages, the senders and the deliveries the fanout counted; a non-member is refused.

use std::time::Duration;

use anyhow::ensure;
use clap::Parser as _;
use starling_client::{ErrorCode, StatsTotals};
use starling_e2e::{ClientExt as _, Kind, connect, joined, on_both_backends, refusal, room, send_request, start};

on_both_backends!(a_members_stats_show_what_two_users_sent);

async fn a_members_stats_show_what_two_users_sent(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = joined(&stack, "alice", "lobby").await?;
    let mut bob = joined(&stack, "bob", "lobby").await?;
    alice.request(&send_request("lobby", "one", Some("a-1"))).await?;
    bob.request(&send_request("lobby", "two", Some("b-1"))).await?;
    alice.request(&send_request("lobby", "three", Some("a-2"))).await?;
    alice.messages("lobby", 3).await?;
    bob.messages("lobby", 3).await?;

    // The counters are updated after each run's delivery, so they may trail the messages briefly.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (minutes, totals) = loop {
        let (minutes, totals, has_more) = bob.stats(&room("lobby"), 60).await?;
        ensure!(!has_more, "an hour of three messages fits");
        if totals.deliveries == 6 || tokio::time::Instant::now() > deadline {
            break (minutes, totals);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Three messages, each delivered to both connections.
    assert_eq!(totals, StatsTotals { messages: 3, senders: 2, deliveries: 6 });
    ensure!((1..=2).contains(&minutes.len()), "the sends straddle at most one minute boundary: {minutes:?}");
    ensure!(minutes.iter().map(|m| m.messages).sum::<u64>() == 3, "{minutes:?}");
    ensure!(minutes.windows(2).all(|w| w[0].minute < w[1].minute), "oldest first: {minutes:?}");

    // The CLI prints the same counts.
    let cli = starling_cli::Cli::try_parse_from([
        "starling",
        "stats",
        "--url",
        &stack.ws_url(),
        "--token",
        &starling_e2e::token("bob"),
        "--room",
        "lobby",
    ])?;
    let mut out = Vec::new();
    starling_cli::run(cli, &mut out).await?;
    let printed = String::from_utf8(out)?;
    let total = printed.lines().last().unwrap_or_default().split_whitespace().collect::<Vec<_>>();
    ensure!(total == ["total", "3", "2", "6"], "{printed}");

    let mut mallory = connect(&stack, "mallory").await?;
    let refused = refusal(mallory.stats(&room("lobby"), 60).await.map(|_| starling_client::ServerFrame::Pong))?;
    ensure!(refused.code == ErrorCode::Forbidden, "{refused:?}");
    let bad = refusal(bob.request(&starling_client::Request::Stats { room: room("lobby"), minutes: 0 }).await)?;
    ensure!(bad.code == ErrorCode::BadRequest, "minutes 0 is refused by the server too: {bad:?}");
    Ok(())
}
