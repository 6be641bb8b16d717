//! End-to-end: presence announcements carry a per-user version that grows with every change,
//! and the `presence` listing carries the version of the status it shows, on both backends.

use anyhow::ensure;
use starling_client::{Client, Request, ServerFrame, Status};
use starling_e2e::{Kind, connect, joined, on_every_backend, room, start};

on_every_backend!(every_presence_change_of_a_user_has_a_greater_version_and_the_listing_agrees,);

/// Waits for `user`'s next `presenceChanged` with `status` and returns its version.
async fn announced(client: &mut Client, user: &str, status: Status) -> anyhow::Result<u64> {
    let frame = client
        .wait_for(|f| matches!(f, ServerFrame::PresenceChanged { user: u, status: s, .. } if u == user && *s == status))
        .await?;
    let ServerFrame::PresenceChanged { version, .. } = frame else { unreachable!("matched above") };
    Ok(version)
}

async fn every_presence_change_of_a_user_has_a_greater_version_and_the_listing_agrees(
    kind: Kind,
) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut bob = joined(&stack, "bob", "lobby").await?;
    let alice = joined(&stack, "alice", "lobby").await?;
    alice.close().await?;
    let offline = announced(&mut bob, "alice", Status::Offline).await?;
    let mut alice = connect(&stack, "alice").await?;
    let online = announced(&mut bob, "alice", Status::Online).await?;
    ensure!(online > offline, "online {online} after offline {offline}");

    let reply = alice.request(&Request::SetStatus { status: Status::Away }).await?;
    let ServerFrame::PresenceChanged { version: replied, .. } = reply else { anyhow::bail!("{reply:?}") };
    let away = announced(&mut bob, "alice", Status::Away).await?;
    ensure!(away == replied && away > online, "the reply {replied} and the announcement {away} after {online}");

    let listed = bob.request(&Request::Presence { room: room("lobby"), cursor: None }).await?;
    let ServerFrame::Presence { members, .. } = listed else { anyhow::bail!("{listed:?}") };
    let entry = members.iter().find(|m| m.user == "alice").map(|m| (m.status, m.version));
    ensure!(entry == Some((Status::Away, away)), "listed {entry:?}, announced away at {away}");
    Ok(())
}
