//! An end-to-end encrypted room (docs/e2e.md) through the devstack, on both backends: three
//! mls-rs members over real WebSockets publish and claim KeyPackages, join from the Welcome the
//! server holds with its Commit, exchange messages, remove a member, catch up after being
//! offline, and resolve two concurrent Commits through `conflict`. Then nothing the server
//! queued or stored holds a plaintext.

use anyhow::{Context as _, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mls_rs::client_builder::MlsConfig;
use mls_rs::group::ReceivedMessage;
use mls_rs::identity::SigningIdentity;
use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
use mls_rs::{CipherSuite, CipherSuiteProvider, Client as MlsClient, CryptoProvider, Group, MlsMessage};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use serde_json::json;
use starling_client::{Client, ErrorCode, ServerFrame};
use starling_devstack::Handle;
use starling_e2e::{ClientExt as _, Kind, connect, on_both_backends, room, start};
use starling_shared::protocol::{KeyRequest, Request};

on_both_backends!(three_members_talk_through_the_server_which_never_holds_a_plaintext);

const ROOM: &str = "e2e:team";
const SUITE: CipherSuite = CipherSuite::CURVE25519_AES128;

fn device(identity: &str) -> MlsClient<impl MlsConfig + use<>> {
    let crypto = RustCryptoProvider::new();
    let suite = crypto.cipher_suite_provider(SUITE).expect("ciphersuite 1");
    let (secret, public) = suite.signature_key_generate().expect("a signature key");
    let credential = BasicCredential::new(identity.as_bytes().to_vec()).into_credential();
    MlsClient::builder()
        .identity_provider(BasicIdentityProvider)
        .crypto_provider(crypto)
        .signing_identity(SigningIdentity::new(credential, public), secret, SUITE)
        .build()
}

fn b64(m: &MlsMessage) -> anyhow::Result<String> {
    Ok(STANDARD.encode(m.to_bytes()?))
}

fn mls(body: &str) -> anyhow::Result<MlsMessage> {
    Ok(MlsMessage::from_bytes(&STANDARD.decode(body)?)?)
}

/// One member: its connection, its MLS group once in it, and what it decrypted, by seq.
struct Member<C: MlsConfig> {
    name: &'static str,
    ws: Client,
    group: Option<Group<C>>,
    seen: u64,
    read: Vec<(u64, String)>,
}

impl<C: MlsConfig> Member<C> {
    fn group(&mut self) -> anyhow::Result<&mut Group<C>> {
        self.group.as_mut().context("not in the group")
    }

    async fn send(
        &mut self,
        body: String,
        id: &str,
        welcome: Option<serde_json::Value>,
    ) -> anyhow::Result<ServerFrame> {
        let mut frame = json!({"action":"send","room":ROOM,"body":body,"clientMsgId":id});
        if let Some(w) = welcome {
            frame["welcome"] = w;
        }
        self.ws.send_text(frame.to_string()).await?;
        Ok(self.ws.wait_for(|f| matches!(f, ServerFrame::Accepted { .. } | ServerFrame::Error(_))).await?)
    }

    async fn say(&mut self, text: &str, id: &str) -> anyhow::Result<()> {
        let secret = self.group()?.encrypt_application_message(text.as_bytes(), vec![])?;
        let reply = self.send(b64(&secret)?, id, None).await?;
        ensure!(matches!(reply, ServerFrame::Accepted { .. }), "{}: {reply:?}", self.name);
        Ok(())
    }

    /// Reads the room's messages up to `seq`, in order, and applies each: its own Commit is
    /// applied when it comes back stored, others' are processed, application messages decrypted.
    async fn follow(&mut self, seq: u64) -> anyhow::Result<()> {
        while self.seen < seq {
            let m = self.ws.messages(ROOM, 1).await?.remove(0);
            if m.seq <= self.seen {
                continue;
            }
            ensure!(m.seq == self.seen + 1, "{} got seq {} after {}", self.name, m.seq, self.seen);
            self.seen = m.seq;
            let own = m.from == self.name;
            let group = self.group()?;
            if own {
                // This test names its Commits `commit-…`; its own application messages it
                // cannot decrypt (MLS) and need not.
                if m.client_msg_id.as_deref().is_some_and(|c| c.starts_with("commit")) {
                    group.apply_pending_commit()?;
                }
                continue;
            }
            match group.process_incoming_message(mls(&m.body)?) {
                Ok(ReceivedMessage::ApplicationMessage(a)) => {
                    self.read.push((m.seq, String::from_utf8(a.data().to_vec())?))
                }
                Ok(_) => {}
                Err(e) => self.read.push((m.seq, format!("undecryptable: {e}"))),
            }
        }
        Ok(())
    }
}

async fn member<C: MlsConfig>(stack: &Handle, name: &'static str, keys: &MlsClient<C>) -> anyhow::Result<Member<C>> {
    let mut ws = connect(stack, name).await?;
    let kp = keys.generate_key_package_message(Default::default(), Default::default(), None)?;
    let publish = KeyRequest::Publish { device: "phone".into(), key_packages: vec![b64(&kp)?], last_resort: None };
    ensure!(matches!(ws.request(&Request::Keys(publish)).await?, ServerFrame::Keys { one_time: 1, .. }));
    Ok(Member { name, ws, group: None, seen: 0, read: vec![] })
}

/// Claims `user`'s package and checks its credential names `{user}/{device}`, as a client must.
async fn claim<C: MlsConfig>(adder: &mut Member<C>, user: &str) -> anyhow::Result<MlsMessage> {
    let ServerFrame::KeyPackages { key_packages, .. } =
        adder.ws.request(&Request::Keys(KeyRequest::Claim { user: user.into() })).await?
    else {
        bail!("no keyPackages frame")
    };
    let claimed = key_packages.first().context("no package")?;
    let message = mls(&claimed.key_package)?;
    let package = message.clone().into_key_package().context("not a KeyPackage")?;
    let identity = package.signing_identity().credential.as_basic().context("a basic credential")?.identifier.clone();
    ensure!(identity == format!("{user}/{}", claimed.device).into_bytes(), "a package of someone else");
    Ok(message)
}

/// Joins from the Welcome the server posted to this member's connection, then syncs the room
/// from the Commit that added it.
async fn join_from_welcome<C: MlsConfig>(m: &mut Member<C>, keys: &MlsClient<C>) -> anyhow::Result<()> {
    let frame = m.ws.wait_for(|f| matches!(f, ServerFrame::Welcome { device, .. } if device == "phone")).await?;
    let ServerFrame::Welcome { welcome, .. } = frame else { unreachable!() };
    let (group, _) = keys.join_group(None, &mls(&welcome.welcome)?, None)?;
    m.group = Some(group);
    m.seen = welcome.seq;
    m.ws.join(&room(ROOM)).await?;
    let sync = Request::Sync { rooms: vec![(room(ROOM), Some(welcome.seq))], pages: false };
    m.ws.request(&sync).await?;
    let ack = json!({"action":"welcomes.ack","device":"phone","room":ROOM,"seq":welcome.seq});
    m.ws.send_text(ack.to_string()).await?;
    m.ws.wait_for(|f| matches!(f, ServerFrame::Welcomes { welcomes, .. } if welcomes.is_empty())).await?;
    Ok(())
}

async fn three_members_talk_through_the_server_which_never_holds_a_plaintext(kind: Kind) -> anyhow::Result<()> {
    let stack = start(kind, |_| {}).await?;
    stack.faults().record_enqueues();
    let (alice_keys, bob_keys, carol_keys) = (device("alice/phone"), device("bob/phone"), device("carol/phone"));
    let mut alice = member(&stack, "alice", &alice_keys).await?;
    let mut bob = member(&stack, "bob", &bob_keys).await?;
    let mut carol = member(&stack, "carol", &carol_keys).await?;
    alice.ws.join(&room(ROOM)).await?;

    // Alice creates the group and adds Bob and Carol in one Commit with one Welcome.
    alice.group = Some(alice_keys.create_group(Default::default(), Default::default(), None)?);
    let (bob_kp, carol_kp) = (claim(&mut alice, "bob").await?, claim(&mut alice, "carol").await?);
    let added = alice.group()?.commit_builder().add_member(bob_kp)?.add_member(carol_kp)?.build()?;
    let to = json!({"message": b64(&added.welcome_messages[0])?, "to": [
        {"user":"bob","device":"phone"}, {"user":"carol","device":"phone"}]});
    let reply = alice.send(b64(&added.commit_message)?, "commit-1", Some(to)).await?;
    ensure!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
    alice.follow(1).await?;
    alice.say("hello from alice", "a-1").await?;
    join_from_welcome(&mut bob, &bob_keys).await?;
    join_from_welcome(&mut carol, &carol_keys).await?;
    bob.say("hello from bob", "b-1").await?;
    carol.say("hello from carol", "c-1").await?;
    for m in [&mut alice, &mut bob, &mut carol] {
        m.follow(4).await?;
    }
    ensure!(bob.read == [(2, "hello from alice".into()), (4, "hello from carol".into())], "{:?}", bob.read);
    ensure!(carol.read == [(2, "hello from alice".into()), (3, "hello from bob".into())], "{:?}", carol.read);

    // Alice removes Carol, who then reads nothing sent after.
    let carol_leaf = alice
        .group()?
        .roster()
        .members()
        .iter()
        .find(|m| m.signing_identity.credential.as_basic().is_some_and(|c| c.identifier == b"carol/phone"))
        .context("carol in the roster")?
        .index;
    let removed = alice.group()?.commit_builder().remove_member(carol_leaf)?.build()?;
    ensure!(matches!(alice.send(b64(&removed.commit_message)?, "commit-2", None).await?, ServerFrame::Accepted { .. }));
    // Only once her Commit is stored and applied does Alice write in the epoch without Carol
    // (sent before, the message would still be in Carol's epoch).
    alice.follow(5).await?;
    alice.say("after carol left", "a-2").await?;
    for m in [&mut alice, &mut bob, &mut carol] {
        m.follow(6).await?;
    }
    ensure!(bob.read.last() == Some(&(6, "after carol left".into())), "{:?}", bob.read);
    ensure!(carol.read.iter().all(|(_, text)| text != "after carol left"), "carol read past her removal");
    ensure!(
        carol.read.last().is_some_and(|(seq, text)| *seq == 6 && text.starts_with("undecryptable")),
        "{:?}",
        carol.read
    );

    // Bob goes offline; Alice sends three; Bob comes back and catches up in order.
    let (held, bob_group) = (bob.seen, bob.group.take());
    bob.ws.close().await?;
    for i in 0..3 {
        alice.say(&format!("while bob was away {i}"), &format!("a-away-{i}")).await?;
    }
    alice.follow(9).await?;
    let mut bob = Member { ws: connect(&stack, "bob").await?, group: bob_group, ..bob };
    bob.ws.join(&room(ROOM)).await?;
    bob.ws.request(&Request::Sync { rooms: vec![(room(ROOM), Some(held))], pages: false }).await?;
    bob.follow(9).await?;
    let away: Vec<_> = bob.read.iter().filter(|(s, _)| *s > 6).cloned().collect();
    let want: Vec<(u64, String)> = (0..3).map(|i| (7 + i, format!("while bob was away {i}"))).collect();
    ensure!(away == want, "{away:?}");

    // Alice and Bob commit in the same epoch: Alice's is stored, Bob gets `conflict`, processes
    // hers and commits again.
    let from_alice = alice.group()?.commit_builder().build()?;
    let from_bob = bob.group()?.commit_builder().build()?;
    ensure!(matches!(
        alice.send(b64(&from_alice.commit_message)?, "commit-3", None).await?,
        ServerFrame::Accepted { .. }
    ));
    ensure!(matches!(bob.send(b64(&from_bob.commit_message)?, "commit-b1", None).await?, ServerFrame::Accepted { .. }));
    let conflict = bob.ws.wait_for(|f| matches!(f, ServerFrame::Error(e) if e.code == ErrorCode::Conflict)).await?;
    let ServerFrame::Error(conflict) = conflict else { unreachable!() };
    ensure!(conflict.client_msg_id.as_deref() == Some("commit-b1"), "{conflict:?}");
    bob.group()?.clear_pending_commit();
    alice.follow(10).await?;
    bob.follow(10).await?;
    let again = bob.group()?.commit_builder().build()?;
    ensure!(matches!(bob.send(b64(&again.commit_message)?, "commit-b2", None).await?, ServerFrame::Accepted { .. }));
    bob.follow(11).await?;
    alice.follow(11).await?;
    let (ea, eb) = (alice.group()?.current_epoch(), bob.group()?.current_epoch());
    ensure!(ea == eb && ea == 4, "epochs {ea} and {eb}");
    bob.say("after the conflict", "b-2").await?;
    alice.follow(12).await?;
    ensure!(alice.read.last() == Some(&(12, "after the conflict".into())), "{:?}", alice.read);

    no_plaintext_on_the_server(&stack, kind).await?;
    stack.shutdown().await;
    Ok(())
}

/// Every plaintext sent above, searched for as bytes in what was queued (as queued, and with
/// each base64 body decoded) and in every stored message (likewise), and on moto in every item
/// of the table.
async fn no_plaintext_on_the_server(stack: &Handle, kind: Kind) -> anyhow::Result<()> {
    let mut haystacks: Vec<Vec<u8>> = Vec::new();
    let queued = stack.faults().enqueued();
    ensure!(queued.len() >= 13, "{} records queued", queued.len());
    for record in queued {
        let envelope: serde_json::Value = serde_json::from_str(&record)?;
        if let Some(body) = envelope["body"].as_str() {
            haystacks.push(STANDARD.decode(body)?);
        }
        haystacks.push(record.into_bytes());
    }
    let stored = stack.stored_messages(ROOM).await?;
    ensure!(stored.len() == 12, "{} stored", stored.len());
    for m in stored {
        haystacks.push(STANDARD.decode(&m.body)?);
        haystacks.push(m.body.into_bytes());
    }
    if let starling_devstack::Backend::Aws(aws) = &stack.config().backend {
        let config = starling_devstack::sdk_config(aws.endpoint_url.as_deref()).await;
        let ddb = aws_sdk_dynamodb::Client::new(&config);
        let items = ddb.scan().table_name(&aws.table).send().await?.items.unwrap_or_default();
        ensure!(!items.is_empty(), "the table is empty");
        haystacks.extend(items.iter().map(|i| format!("{i:?}").into_bytes()));
    } else {
        ensure!(kind == Kind::Memory, "{kind:?} has no table to scan");
    }
    // What is searched is what the server holds: the room's name is in it, a plaintext is not.
    ensure!(haystacks.iter().any(|h| h.windows(8).any(|w| w == b"e2e:team")), "nothing of the room was searched");
    for text in ["hello from", "after carol left", "while bob was away", "after the conflict"] {
        let found = haystacks.iter().any(|h| h.windows(text.len()).any(|w| w == text.as_bytes()));
        ensure!(!found, "the plaintext {text:?} is on the server");
    }
    Ok(())
}
