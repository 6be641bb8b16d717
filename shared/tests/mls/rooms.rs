//! Issue #14, encrypted rooms as far as they are built: real MLS clients (mls-rs) meet through
//! the KeyPackage directory, and their messages in an `e2e:` room are stored and delivered as the
//! ciphertext they sent, unmoderated, with no plaintext anywhere on the server; a body that is not
//! an MLS message is refused.

use super::common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{World, error_code};
use mls_rs::client_builder::MlsConfig;
use mls_rs::group::ReceivedMessage;
use mls_rs::identity::SigningIdentity;
use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
use mls_rs::{CipherSuite, CipherSuiteProvider, Client, CryptoProvider, MlsMessage};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use serde_json::{Value, json};
use starling_shared::adapters::memory::{HookAnswer, MemoryHook};
use starling_shared::moderation::{FailurePolicy, HookTransport};
use starling_shared::ports::MessageStore as _;
use starling_shared::protocol::ServerFrame;
use starling_shared::service::fanout;
use starling_shared::service::send::Caller;
use starling_shared::wiring;

pub(super) const SUITE: CipherSuite = CipherSuite::CURVE25519_AES128;
pub(super) const SECRET: &[u8] = b"attack at dawn";

/// An MLS client whose basic credential names `{user}/{device}`.
pub(super) fn device(identity: &str) -> Client<impl MlsConfig> {
    let crypto = RustCryptoProvider::new();
    let suite = crypto.cipher_suite_provider(SUITE).expect("ciphersuite 1");
    let (secret, public) = suite.signature_key_generate().expect("a signature key");
    let credential = BasicCredential::new(identity.as_bytes().to_vec()).into_credential();
    Client::builder()
        .identity_provider(BasicIdentityProvider)
        .crypto_provider(crypto)
        .signing_identity(SigningIdentity::new(credential, public), secret, SUITE)
        .build()
}

pub(super) fn b64(message: &MlsMessage) -> String {
    STANDARD.encode(message.to_bytes().expect("serializable"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn mls_clients_meet_through_the_directory_and_the_server_only_ever_holds_ciphertext() {
    let mut w = World::new();
    // A hook that refuses everything: an encrypted room must never be moderated.
    let refuse = Arc::new(MemoryHook::new(HookAnswer::Reply(r#"{"verdict":"reject","reason":"nope"}"#.into())));
    let hook = Some((refuse.clone() as Arc<dyn HookTransport>, Duration::from_millis(200), FailurePolicy::Closed));
    w.send_deps.moderation = wiring::moderation(None, Duration::from_secs(60), hook);
    let [alice_ws, bob_ws] = w.room("e2e:team", ["alice", "bob"]).await;

    // Bob's phone publishes a real KeyPackage; Alice claims it through the server.
    let bob = device("bob/phone");
    let package = bob.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let published = w
        .act(&bob_ws, &json!({"action":"keys.publish","device":"phone","keyPackages":[b64(&package)]}).to_string())
        .await;
    assert!(matches!(published, ServerFrame::Keys { one_time: 1, .. }), "{published:?}");
    let ServerFrame::KeyPackages { key_packages, .. } =
        w.act(&alice_ws, r#"{"action":"keys.claim","user":"bob"}"#).await
    else {
        panic!("a keyPackages frame")
    };
    let claimed = MlsMessage::from_bytes(&STANDARD.decode(&key_packages[0].key_package).unwrap()).unwrap();

    let alice = device("alice/laptop");
    let mut group = alice.create_group(Default::default(), Default::default(), None).unwrap();
    let added = group.commit_builder().add_member(claimed).unwrap().build().unwrap();
    group.apply_pending_commit().unwrap();
    let (mut bobs_group, _) = bob.join_group(None, &added.welcome_messages[0], None).unwrap();

    let commit = json!({"action":"send","room":"e2e:team","body":b64(&added.commit_message),"clientMsgId":"c-1"});
    assert!(matches!(w.act(&alice_ws, &commit.to_string()).await, ServerFrame::Accepted { .. }));
    // The application message is sent once the Commit is stored, as a client does.
    let mut records = w.drain_records();
    assert!(fanout::process_batch(&w.fanout, records.clone()).await.is_empty());
    let secret = group.encrypt_application_message(SECRET, vec![]).unwrap();
    let send = json!({"action":"send","room":"e2e:team","body":b64(&secret),"clientMsgId":"c-2"});
    assert!(matches!(w.act(&alice_ws, &send.to_string()).await, ServerFrame::Accepted { .. }));
    assert!(refuse.requests().is_empty(), "the hook was asked about an encrypted message");

    // Nothing queued, stored or posted holds the plaintext, as text or once base64 is decoded.
    let second = w.drain_records();
    assert!(fanout::process_batch(&w.fanout, second.clone()).await.is_empty());
    records.extend(second);
    let mut seen = Vec::new();
    for record in &records {
        let envelope: serde_json::Value = serde_json::from_str(&record.body).unwrap();
        seen.push(STANDARD.decode(envelope["body"].as_str().unwrap()).unwrap());
        seen.push(record.body.clone().into_bytes());
    }
    let history = w.act(&bob_ws, r#"{"action":"history","room":"e2e:team"}"#).await;
    let ServerFrame::History { messages, .. } = &history else { panic!("{history:?}") };
    assert_eq!(messages.len(), 2);
    for m in messages {
        seen.push(STANDARD.decode(&m.body).unwrap());
    }
    seen.push(format!("{:?}", w.store).into_bytes());
    seen.extend(w.pusher.posts_to(&bob_ws.connection.id).into_iter().map(String::into_bytes));
    assert!(seen.iter().all(|bytes| !contains(bytes, SECRET)), "plaintext on the server");

    // What Bob received is what Alice sent, byte for byte, and it decrypts.
    let received = w.received(&bob_ws);
    assert_eq!(received.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(received[1].body, b64(&secret));
    let incoming = MlsMessage::from_bytes(&STANDARD.decode(&received[1].body).unwrap()).unwrap();
    match bobs_group.process_incoming_message(incoming).unwrap() {
        ReceivedMessage::ApplicationMessage(m) => assert_eq!(m.data(), SECRET),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_encrypted_room_refuses_bodies_that_are_not_mls_room_messages() {
    let w = World::new();
    let [alice_ws] = w.room("e2e:team", ["alice"]).await;
    let alice = device("alice/laptop");
    let package = alice.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let bodies = [
        ("hello in the clear".to_owned(), "base64"),
        (STANDARD.encode(b"hello in the clear"), "not an MLS message"),
        (b64(&package), "is not a room message"),
    ];
    for (body, words) in bodies {
        let frame = json!({"action":"send","room":"e2e:team","body":body,"clientMsgId":"c-1"}).to_string();
        let refused = w.act(&alice_ws, &frame).await;
        assert_eq!(error_code(&refused), Some("bad_request"), "{refused:?}");
        let ServerFrame::Error(e) = refused else { unreachable!() };
        assert!(e.message.contains(words), "{}", e.message);
        assert_eq!(e.client_msg_id.as_deref(), Some("c-1"));
    }
    assert!(w.drain_records().is_empty(), "nothing was queued");
    // The same text is an ordinary message in an ordinary room.
    let [plain] = w.room("team", ["alice"]).await;
    let ok = w.act(&plain, r#"{"action":"send","room":"team","body":"hello in the clear"}"#).await;
    assert!(matches!(ok, ServerFrame::Accepted { .. }));
}

/// Sends `message` to `room` as `ws` and expects `accepted`.
pub(super) async fn send(w: &World, ws: &Caller, room: &str, message: &MlsMessage, id: &str) {
    let frame = json!({"action":"send","room":room,"body":b64(message),"clientMsgId":id}).to_string();
    let reply = w.act(ws, &frame).await;
    assert!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
}

/// A `send` to `e2e:team` of a Commit with its Welcome for `to`; expects `accepted`.
pub(super) async fn commit_with_welcome(
    w: &World,
    ws: &Caller,
    commit: &MlsMessage,
    welcome: &MlsMessage,
    to: Value,
    id: &str,
) {
    let frame = json!({"action":"send","room":"e2e:team","body":b64(commit),"clientMsgId":id,
        "welcome":{"message":b64(welcome),"to":to}});
    let reply = w.act(ws, &frame.to_string()).await;
    assert!(matches!(reply, ServerFrame::Accepted { .. }), "{reply:?}");
}

#[tokio::test]
async fn of_two_commits_for_one_epoch_the_first_is_stored_and_the_other_sender_gets_conflict_then_recommits() {
    let w = World::new();
    let [alice_ws, bob_ws] = w.room("e2e:team", ["alice", "bob"]).await;
    let (alice, bob) = (device("alice/laptop"), device("bob/phone"));
    let mut a = alice.create_group(Default::default(), Default::default(), None).unwrap();
    let package = bob.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let added = a.commit_builder().add_member(package).unwrap().build().unwrap();
    let bob_phone = json!([{"user":"bob","device":"phone"}]);
    commit_with_welcome(&w, &alice_ws, &added.commit_message, &added.welcome_messages[0], bob_phone, "a-0").await;
    assert!(w.pump().await.is_empty());
    a.apply_pending_commit().unwrap();
    let (mut b, _) = bob.join_group(None, &added.welcome_messages[0], None).unwrap();
    assert_eq!((a.current_epoch(), b.current_epoch()), (1, 1));

    // Both commit in epoch 1; Alice's reaches the queue first.
    let from_alice = a.commit_builder().build().unwrap();
    let from_bob = b.commit_builder().build().unwrap();
    send(&w, &alice_ws, "e2e:team", &from_alice.commit_message, "a-1").await;
    send(&w, &bob_ws, "e2e:team", &from_bob.commit_message, "b-1").await;
    assert!(w.pump().await.is_empty(), "a lost commit is not a failed record");

    let stored = w.received(&bob_ws);
    assert_eq!(stored.iter().map(|m| m.client_msg_id.as_deref()).collect::<Vec<_>>(), [Some("a-0"), Some("a-1")]);
    let conflicts: Vec<_> = w
        .frames(&bob_ws)
        .into_iter()
        .filter_map(|f| match f {
            ServerFrame::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(error_code(&ServerFrame::Error(conflicts[0].clone())), Some("conflict"));
    assert_eq!((conflicts[0].epoch, conflicts[0].client_msg_id.as_deref()), (Some(2), Some("b-1")));
    assert!(w.frames(&alice_ws).iter().all(|f| !matches!(f, ServerFrame::Error(_))), "the winner is not told");

    // Alice's own commit came back stored: she applies it. Bob drops his and processes hers.
    a.apply_pending_commit().unwrap();
    b.clear_pending_commit();
    let winner = MlsMessage::from_bytes(&STANDARD.decode(&stored[1].body).unwrap()).unwrap();
    assert!(matches!(b.process_incoming_message(winner).unwrap(), ReceivedMessage::Commit(_)));
    assert_eq!((a.current_epoch(), b.current_epoch()), (2, 2));

    // Bob commits again, in epoch 2: stored, and Alice follows.
    let again = b.commit_builder().build().unwrap();
    send(&w, &bob_ws, "e2e:team", &again.commit_message, "b-2").await;
    assert!(w.pump().await.is_empty());
    b.apply_pending_commit().unwrap();
    let third = w.received(&alice_ws).pop().unwrap();
    assert_eq!((third.seq, third.client_msg_id.as_deref()), (3, Some("b-2")));
    let third = MlsMessage::from_bytes(&STANDARD.decode(&third.body).unwrap()).unwrap();
    assert!(matches!(a.process_incoming_message(third).unwrap(), ReceivedMessage::Commit(_)));
    assert_eq!((a.current_epoch(), b.current_epoch()), (3, 3));
    let secret = a.encrypt_application_message(SECRET, vec![]).unwrap();
    match b.process_incoming_message(secret).unwrap() {
        ReceivedMessage::ApplicationMessage(m) => assert_eq!(m.data(), SECRET),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_message_from_an_epoch_the_room_has_not_reached_or_another_group_is_refused_and_a_commit_retry_is_no_conflict()
 {
    let w = World::new();
    let [alice_ws, bob_ws] = w.room("e2e:team", ["alice", "bob"]).await;
    let (alice, bob) = (device("alice/laptop"), device("bob/phone"));
    let mut a = alice.create_group(Default::default(), Default::default(), None).unwrap();
    let package = bob.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let added = a.commit_builder().add_member(package).unwrap().build().unwrap();
    let bob_phone = json!([{"user":"bob","device":"phone"}]);
    commit_with_welcome(&w, &alice_ws, &added.commit_message, &added.welcome_messages[0], bob_phone.clone(), "a-0")
        .await;

    // A client that applies its Commit before the room stored it is ahead of the room.
    a.apply_pending_commit().unwrap();
    let early = b64(&a.encrypt_application_message(SECRET, vec![]).unwrap());
    let frame = json!({"action":"send","room":"e2e:team","body":early,"clientMsgId":"a-1"}).to_string();
    let refused = w.act(&alice_ws, &frame).await;
    assert_eq!(error_code(&refused), Some("bad_request"), "{refused:?}");
    let ServerFrame::Error(e) = &refused else { unreachable!() };
    assert!(e.message.contains("from epoch 1, but e2e:team is at epoch 0"), "{}", e.message);
    let records = w.drain_records();
    assert_eq!(records.len(), 1, "only the Commit was queued");
    assert!(fanout::process_batch(&w.fanout, records).await.is_empty());

    // Queue the Commit again (as stored now), then the same message once the room has it.
    commit_with_welcome(&w, &alice_ws, &added.commit_message, &added.welcome_messages[0], bob_phone, "a-0").await;
    assert!(matches!(w.act(&alice_ws, &frame).await, ServerFrame::Accepted { .. }));
    // A message of another group is refused, whatever its epoch.
    let mut stranger = device("carol/pc").create_group(Default::default(), Default::default(), None).unwrap();
    let foreign = b64(&stranger.encrypt_application_message(SECRET, vec![]).unwrap());
    let frame = json!({"action":"send","room":"e2e:team","body":foreign,"clientMsgId":"c-1"}).to_string();
    let refused = w.act(&bob_ws, &frame).await;
    assert_eq!(error_code(&refused), Some("bad_request"), "{refused:?}");
    assert!(w.pump().await.is_empty());
    assert!(w.frames(&alice_ws).iter().all(|f| !matches!(f, ServerFrame::Error(_))), "a retried Commit is no conflict");
    let stored: Vec<_> = w.received(&bob_ws).into_iter().map(|m| (m.seq, m.client_msg_id)).collect();
    assert_eq!(stored, [(1, Some("a-0".into())), (2, Some("a-1".into()))]);
}

#[tokio::test]
async fn a_stranger_in_the_room_cannot_send_into_its_group_so_a_forged_commit_never_moves_the_epoch() {
    let w = World::new();
    let [alice_ws, bob_ws, mallory_ws] = w.room("e2e:team", ["alice", "bob", "mallory"]).await;
    let (alice, bob) = (device("alice/laptop"), device("bob/phone"));
    let mut a = alice.create_group(Default::default(), Default::default(), None).unwrap();
    let package = bob.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let added = a.commit_builder().add_member(package).unwrap().build().unwrap();
    let bob_phone = json!([{"user":"bob","device":"phone"}]);
    commit_with_welcome(&w, &alice_ws, &added.commit_message, &added.welcome_messages[0], bob_phone, "a-0").await;
    assert!(w.pump().await.is_empty());
    a.apply_pending_commit().unwrap();
    let (mut b, _) = bob.join_group(None, &added.welcome_messages[0], None).unwrap();

    // Mallory joined the room, not the group. She reads its group id from any stored message's
    // clear framing and makes a group of her own with that id, moved to the room's epoch: its
    // Commits and messages carry the very framing a member's would.
    let mut forger = device("mallory/pc")
        .create_group_with_id(a.group_id().to_vec(), Default::default(), Default::default(), None)
        .unwrap();
    forger.commit_builder().build().unwrap();
    forger.apply_pending_commit().unwrap();
    assert_eq!((forger.group_id(), forger.current_epoch()), (a.group_id(), 1));
    let forged = forger.commit_builder().build().unwrap().commit_message;
    let chatter = forger.encrypt_application_message(b"buy now", vec![]).unwrap();
    for (what, message) in [("a forged Commit", &forged), ("an application message", &chatter)] {
        let frame = json!({"action":"send","room":"e2e:team","body":b64(message),"clientMsgId":"m-1"}).to_string();
        let refused = w.act(&mallory_ws, &frame).await;
        assert_eq!(error_code(&refused), Some("forbidden"), "{what}: {refused:?}");
        let ServerFrame::Error(e) = &refused else { unreachable!() };
        assert!(e.message.contains("not in e2e:team's MLS group"), "{}", e.message);
        assert!(w.drain_records().is_empty(), "{what} was queued");
    }
    // Her attempt to create the group (epoch 0), as a latecomer's client makes it, is answered
    // `conflict` by the fanout as before, and stores nothing.
    let mut creating = device("mallory/pc")
        .create_group_with_id(a.group_id().to_vec(), Default::default(), Default::default(), None)
        .unwrap();
    let attempt = creating.commit_builder().build().unwrap().commit_message;
    send(&w, &mallory_ws, "e2e:team", &attempt, "m-2").await;
    assert!(w.pump().await.is_empty());
    let told: Vec<_> = w.frames(&mallory_ws).into_iter().filter_map(|f| error_code(&f)).collect();
    assert_eq!(told, ["conflict"]);

    // The room is still at epoch 1, so the members carry on: Bob (admitted by his Welcome) commits.
    assert_eq!(w.store.room_epoch("e2e:team").await.unwrap().epoch, 1);
    let update = b.commit_builder().build().unwrap();
    send(&w, &bob_ws, "e2e:team", &update.commit_message, "b-1").await;
    assert!(w.pump().await.is_empty());
    b.apply_pending_commit().unwrap();
    let stored = w.received(&alice_ws);
    assert_eq!(stored.iter().map(|m| m.client_msg_id.as_deref()).collect::<Vec<_>>(), [Some("a-0"), Some("b-1")]);
    let commit = MlsMessage::from_bytes(&STANDARD.decode(&stored[1].body).unwrap()).unwrap();
    assert!(matches!(a.process_incoming_message(commit).unwrap(), ReceivedMessage::Commit(_)));
    assert_eq!((a.current_epoch(), b.current_epoch()), (2, 2));
}
