//! End-to-end: offline sync, presence, direct-message privacy and typing through the devstack,
//! on both backends.

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use starling_e2e::{Client, Kind, PROMPT, on_both_backends, start, unique};

on_both_backends!(
    an_offline_user_syncs_exactly_the_50_missed_messages_in_order,
    a_gap_past_retention_syncs_with_recovered_false,
    a_user_with_two_devices_goes_offline_once,
    a_direct_message_room_refuses_an_outsider_for_every_action,
    typing_reaches_others_only_and_is_never_stored,
);

async fn send_and_deliver(
    sender: &mut Client,
    watcher: &mut Client,
    room: &str,
    n: usize,
    kind: Kind,
) -> anyhow::Result<()> {
    // On moto, rounds of 10 keep its queue shallow (it slows as a queue deepens).
    let round = if kind == Kind::Moto { 10 } else { n };
    let mut sent = 0;
    while sent < n {
        let upto = (sent + round).min(n);
        for i in sent..upto {
            sender
                .send(json!({"action": "send", "room": room, "body": format!("m{i}"), "clientMsgId": unique("c")}))
                .await?;
        }
        for _ in sent..upto {
            let r = sender.wait_for(|v| v["type"] == "accepted" || v["type"] == "error").await?;
            ensure!(r["type"] == "accepted", "send refused: {r}");
        }
        watcher.peek_messages(room, upto).await?;
        sent = upto;
    }
    Ok(())
}

/// Sends `sync` and collects what comes back: the message frames, then `synced`.
async fn sync(client: &mut Client, rooms: Value) -> anyhow::Result<(Vec<Value>, Value)> {
    client.send(json!({"action": "sync", "rooms": rooms})).await?;
    let mut messages = Vec::new();
    loop {
        let v = client.wait_for(|v| matches!(v["type"].as_str(), Some("message" | "synced" | "error"))).await?;
        match v["type"].as_str() {
            Some("message") => messages.push(v),
            _ => return Ok((messages, v)),
        }
    }
}

async fn an_offline_user_syncs_exactly_the_50_missed_messages_in_order(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    let mut bob = Client::connect(&stack, "bob").await?;
    alice.join("lobby").await?;
    bob.join("lobby").await?;
    send_and_deliver(&mut bob, &mut alice, "lobby", 2, kind).await?;
    let seen = alice.messages("lobby", 2).await?;
    let last_seen = seen[1]["seq"].as_u64().context("seq")?;
    alice.close().await?;

    let mut watcher = Client::connect(&stack, "carol").await?;
    watcher.join("lobby").await?;
    send_and_deliver(&mut bob, &mut watcher, "lobby", 50, kind).await?;

    let mut again = Client::connect(&stack, "alice").await?;
    let (messages, synced) = sync(&mut again, json!({"lobby": last_seen})).await?;
    let seqs: Vec<u64> = messages.iter().filter_map(|m| m["seq"].as_u64()).collect();
    ensure!(seqs == (last_seen + 1..=last_seen + 50).collect::<Vec<_>>(), "synced seqs {seqs:?}");
    ensure!(messages.iter().all(|m| m["room"] == "lobby" && m["from"] == "bob"), "foreign frames in the sync");
    ensure!(
        synced == json!({"type": "synced", "room": "lobby", "recovered": true, "lastSeq": last_seen + 50}),
        "{synced}"
    );
    Ok(())
}

async fn a_gap_past_retention_syncs_with_recovered_false(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |c| c.fanout.retention_secs = 1).await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    alice.join("lobby").await?;
    let mut me = Client::connect(&stack, "alice").await?;
    me.join("lobby").await?;
    send_and_deliver(&mut alice, &mut me, "lobby", 3, kind).await?;
    // Retention is one second: poll until the messages have aged out (no fixed sleep).
    let deadline = tokio::time::Instant::now() + PROMPT;
    let (messages, synced) = loop {
        let (messages, synced) = sync(&mut me, json!({"lobby": 0})).await?;
        // Each message ages out in its own second; wait until all three have.
        if synced["recovered"] == false && messages.is_empty() {
            break (messages, synced);
        }
        ensure!(tokio::time::Instant::now() < deadline, "the gap never passed retention: {synced}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    ensure!(messages.is_empty(), "expired messages were sent: {messages:?}");
    ensure!(synced["lastSeq"] == 3, "{synced}");
    let (_, synced) = sync(&mut me, json!({"lobby": 3})).await?;
    ensure!(synced["recovered"] == true, "nothing after seq 3 is missing: {synced}");
    Ok(())
}

fn presence_of(frame: &Value, user: &str) -> Option<String> {
    frame["members"]
        .as_array()?
        .iter()
        .find(|m| m["user"] == user)
        .and_then(|m| m["status"].as_str())
        .map(str::to_owned)
}

async fn a_user_with_two_devices_goes_offline_once(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut phone = Client::connect(&stack, "alice").await?;
    phone.join("lobby").await?;
    let mut laptop = Client::connect(&stack, "alice").await?;
    laptop.join("lobby").await?;
    let mut bob = Client::connect(&stack, "bob").await?;
    bob.join("lobby").await?;
    let p = bob.request(json!({"action": "presence", "room": "lobby"}), "presence").await?;
    ensure!(presence_of(&p, "alice").as_deref() == Some("online"), "{p}");

    phone.close().await?;
    let p = bob.request(json!({"action": "presence", "room": "lobby"}), "presence").await?;
    ensure!(presence_of(&p, "alice").as_deref() == Some("online"), "one device left: {p}");

    laptop.close().await?;
    let offline =
        bob.wait_for(|v| v["type"] == "presenceChanged" && v["user"] == "alice" && v["status"] == "offline").await?;
    ensure!(offline["lastSeen"].is_string(), "{offline}");
    let p = bob.request(json!({"action": "presence", "room": "lobby"}), "presence").await?;
    ensure!(presence_of(&p, "alice").as_deref() == Some("offline"), "{p}");
    bob.round_trip().await?;
    let more = bob.buffered().filter(|v| v["type"] == "presenceChanged" && v["user"] == "alice").count();
    ensure!(more == 0, "a second presence change for one transition");
    Ok(())
}

async fn a_direct_message_room_refuses_an_outsider_for_every_action(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let room = "dm:alice:bob";
    let mut alice = Client::connect(&stack, "alice").await?;
    let mut bob = Client::connect(&stack, "bob").await?;
    alice.join(room).await?;
    bob.join(room).await?;
    send_and_deliver(&mut alice, &mut bob, room, 1, kind).await?;
    let mut eve = Client::connect(&stack, "eve").await?;
    for frame in [
        json!({"action": "join", "room": room}),
        json!({"action": "send", "room": room, "body": "hi"}),
        json!({"action": "history", "room": room}),
        json!({"action": "presence", "room": room}),
        json!({"action": "typing", "room": room}),
        json!({"action": "read", "room": room, "seq": 1}),
        json!({"action": "sync", "rooms": {room: 0}}),
    ] {
        let reply = eve.request(frame.clone(), "never").await?;
        ensure!(reply["type"] == "error" && reply["code"] == "forbidden", "{frame} gave {reply}");
        ensure!(
            !reply.to_string().contains("bob\"") && !reply["message"].as_str().unwrap_or("").contains("m0"),
            "leak: {reply}"
        );
    }
    eve.round_trip().await?;
    ensure!(eve.buffered().all(|v| v["type"] != "message" && v["type"] != "typing"), "content reached eve");
    Ok(())
}

async fn typing_reaches_others_only_and_is_never_stored(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    let mut alice = Client::connect(&stack, "alice").await?;
    let mut alice_phone = Client::connect(&stack, "alice").await?;
    let mut bob = Client::connect(&stack, "bob").await?;
    for c in [&mut alice, &mut alice_phone, &mut bob] {
        c.join("lobby").await?;
    }
    alice.send(json!({"action": "typing", "room": "lobby"})).await?;
    let typing = bob.wait_type("typing").await?;
    ensure!(typing == json!({"type": "typing", "room": "lobby", "user": "alice"}), "{typing}");
    for c in [&mut alice, &mut alice_phone] {
        c.round_trip().await?;
        ensure!(c.buffered().all(|v| v["type"] != "typing"), "typing echoed to the typist");
    }
    let history = bob.request(json!({"action": "history", "room": "lobby"}), "history").await?;
    ensure!(history["messages"] == json!([]), "typing was stored: {history}");
    let mut late = Client::connect(&stack, "carol").await?;
    let joined = late.request(json!({"action": "join", "room": "lobby"}), "joined").await?;
    ensure!(joined["lastSeq"] == 0, "typing took a seq: {joined}");
    Ok(())
}
