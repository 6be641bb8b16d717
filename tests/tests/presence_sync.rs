//! End-to-end: offline sync, presence, direct-message privacy and typing through the devstack,
//! on both backends.

use anyhow::{Context as _, ensure};
use starling_client::{Client, ErrorCode, Message, Request, ServerFrame, Status};
use starling_e2e::{
    ClientExt as _, Kind, PROMPT, connect, joined, on_both_backends, on_every_backend, refusal, room, send_request,
    start, unique,
};

on_every_backend!(
    an_offline_user_syncs_exactly_the_50_missed_messages_in_order,
    a_user_with_two_devices_goes_offline_once,
    a_direct_message_room_refuses_an_outsider_for_every_action,
    typing_reaches_others_only_and_is_never_stored,
);

// These change what only the functions' environment decides in Lambda mode, or use in-process faults.
on_both_backends!(a_gap_past_retention_syncs_with_recovered_false,);

async fn send_and_deliver(
    sender: &mut Client,
    watcher: &mut Client,
    room: &str,
    n: usize,
    kind: Kind,
) -> anyhow::Result<()> {
    // On moto, rounds of 10 keep its queue shallow (it slows as a queue deepens).
    let round = if kind != Kind::Memory { 10 } else { n };
    let mut sent = 0;
    while sent < n {
        let upto = (sent + round).min(n);
        let requests: Vec<Request> =
            (sent..upto).map(|i| send_request(room, format!("m{i}"), Some(&unique("c")))).collect();
        sender.send_all(&requests).await?;
        watcher.peek_messages(room, upto).await?;
        sent = upto;
    }
    Ok(())
}

/// Sends `sync` for `lobby` from `seq` and collects what comes back: the messages, then `synced`.
async fn sync(client: &mut Client, seq: u64) -> anyhow::Result<(Vec<Message>, ServerFrame)> {
    client.send(&Request::Sync { rooms: vec![(room("lobby"), Some(seq))], pages: false }).await?;
    let mut messages = Vec::new();
    loop {
        match client
            .wait_for(|f| matches!(f, ServerFrame::Message(_) | ServerFrame::Synced { .. } | ServerFrame::Error(_)))
            .await?
        {
            ServerFrame::Message(m) => messages.push(m),
            other => return Ok((messages, other)),
        }
    }
}

async fn an_offline_user_syncs_exactly_the_50_missed_messages_in_order(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = joined(&stack, "alice", "lobby").await?;
    let mut bob = joined(&stack, "bob", "lobby").await?;
    send_and_deliver(&mut bob, &mut alice, "lobby", 2, kind).await?;
    let seen = alice.messages("lobby", 2).await?;
    let last_seen = seen[1].seq;
    alice.close().await?;

    let mut watcher = joined(&stack, "carol", "lobby").await?;
    send_and_deliver(&mut bob, &mut watcher, "lobby", 50, kind).await?;

    let mut again = connect(&stack, "alice").await?;
    let (messages, synced) = sync(&mut again, last_seen).await?;
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    ensure!(seqs == (last_seen + 1..=last_seen + 50).collect::<Vec<_>>(), "synced seqs {seqs:?}");
    ensure!(messages.iter().all(|m| m.room == "lobby" && m.from == "bob"), "foreign frames in the sync");
    let expected =
        ServerFrame::Synced { room: "lobby".into(), recovered: true, last_seq: last_seen + 50, has_more: false };
    ensure!(synced == expected, "{synced:?}");
    Ok(())
}

async fn a_gap_past_retention_syncs_with_recovered_false(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| c.fanout.retention_secs = 1).await?;
    let mut alice = joined(&stack, "alice", "lobby").await?;
    let mut me = joined(&stack, "alice", "lobby").await?;
    send_and_deliver(&mut alice, &mut me, "lobby", 3, kind).await?;
    // Retention is one second: poll until the messages have aged out (no fixed sleep).
    let deadline = tokio::time::Instant::now() + PROMPT;
    let (messages, synced) = loop {
        let (messages, synced) = sync(&mut me, 0).await?;
        // Each message ages out in its own second; wait until all three have.
        if matches!(synced, ServerFrame::Synced { recovered: false, .. }) && messages.is_empty() {
            break (messages, synced);
        }
        ensure!(tokio::time::Instant::now() < deadline, "the gap never passed retention: {synced:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    ensure!(messages.is_empty(), "expired messages were sent: {messages:?}");
    ensure!(matches!(synced, ServerFrame::Synced { last_seq: 3, .. }), "{synced:?}");
    let (_, synced) = sync(&mut me, 3).await?;
    ensure!(
        matches!(synced, ServerFrame::Synced { recovered: true, .. }),
        "nothing after seq 3 is missing: {synced:?}"
    );
    Ok(())
}

/// `user`'s status in the lobby, as `client` asks for it.
async fn presence_of(client: &mut Client, user: &str) -> anyhow::Result<Option<Status>> {
    let reply = client.request(&Request::Presence { room: room("lobby"), cursor: None }).await?;
    let ServerFrame::Presence { members, .. } = reply else { anyhow::bail!("not presence: {reply:?}") };
    Ok(members.iter().find(|m| m.user == user).map(|m| m.status))
}

async fn a_user_with_two_devices_goes_offline_once(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let phone = joined(&stack, "alice", "lobby").await?;
    let laptop = joined(&stack, "alice", "lobby").await?;
    let mut bob = joined(&stack, "bob", "lobby").await?;
    ensure!(presence_of(&mut bob, "alice").await? == Some(Status::Online));

    phone.close().await?;
    ensure!(presence_of(&mut bob, "alice").await? == Some(Status::Online), "one device left");

    laptop.close().await?;
    let alice_offline = |f: &ServerFrame| matches!(f, ServerFrame::PresenceChanged { user, status: Status::Offline, .. } if user == "alice");
    let offline = bob.wait_for(alice_offline).await?;
    ensure!(matches!(offline, ServerFrame::PresenceChanged { last_seen: Some(_), .. }), "{offline:?}");
    ensure!(presence_of(&mut bob, "alice").await? == Some(Status::Offline));
    bob.ping().await?;
    let more =
        bob.buffered().filter(|f| matches!(f, ServerFrame::PresenceChanged { user, .. } if user == "alice")).count();
    ensure!(more == 0, "a second presence change for one transition");
    Ok(())
}

async fn a_direct_message_room_refuses_an_outsider_for_every_action(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let dm = "dm:alice:bob";
    let mut alice = joined(&stack, "alice", dm).await?;
    let mut bob = joined(&stack, "bob", dm).await?;
    send_and_deliver(&mut alice, &mut bob, dm, 1, kind).await?;
    let mut eve = connect(&stack, "eve").await?;
    for request in [
        Request::Join { room: room(dm) },
        send_request(dm, "hi", None),
        Request::History { room: room(dm), before: None, limit: 50 },
        Request::Presence { room: room(dm), cursor: None },
        Request::Typing { room: room(dm) },
        Request::Read { room: room(dm), seq: 1 },
        Request::Sync { rooms: vec![(room(dm), Some(0))], pages: true },
    ] {
        let refused = refusal(eve.request(&request).await).with_context(|| format!("{request:?}"))?;
        ensure!(refused.code == ErrorCode::Forbidden, "{request:?} gave {refused:?}");
        let json = ServerFrame::Error(refused.clone()).to_json();
        ensure!(!json.contains("bob\"") && !refused.message.contains("m0"), "leak: {json}");
    }
    eve.ping().await?;
    let content = eve.buffered().any(|f| matches!(f, ServerFrame::Message(_) | ServerFrame::Typing { .. }));
    ensure!(!content, "content reached eve");
    Ok(())
}

async fn typing_reaches_others_only_and_is_never_stored(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = joined(&stack, "alice", "lobby").await?;
    let mut alice_phone = joined(&stack, "alice", "lobby").await?;
    let mut bob = joined(&stack, "bob", "lobby").await?;
    alice.send(&Request::Typing { room: room("lobby") }).await?;
    let typing = bob.wait_for(|f| matches!(f, ServerFrame::Typing { .. })).await?;
    ensure!(typing == ServerFrame::Typing { room: "lobby".into(), user: "alice".into() }, "{typing:?}");
    for c in [&mut alice, &mut alice_phone] {
        c.ping().await?;
        ensure!(c.buffered().all(|f| !matches!(f, ServerFrame::Typing { .. })), "typing echoed to the typist");
    }
    let history = bob.request(&Request::History { room: room("lobby"), before: None, limit: 50 }).await?;
    ensure!(matches!(&history, ServerFrame::History { messages, .. } if messages.is_empty()), "typing was stored");
    let mut late = connect(&stack, "carol").await?;
    ensure!(late.join(&room("lobby")).await? == 0, "typing took a seq");
    Ok(())
}
