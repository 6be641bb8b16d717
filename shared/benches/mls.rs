//! End-to-end encrypted rooms (docs/e2e.md) with real MLS clients (mls-rs, ciphersuite 1) and
//! the send function on the in-memory adapters, for groups of 2, 50 and 500 members:
//!
//! - `encrypt_and_send`: one application message encrypted by a member and taken by `send`
//!   (parsing, the epoch check, the queue), what a sender's message costs before the fanout;
//! - `receive_and_decrypt`: one `message` frame read and decrypted by another member;
//! - `add_one_to/500`: a Commit adding one member to a group of 500, with its Welcome (ratchet
//!   tree included, as Starling's clients send it). Sizes are printed once.
//!
//! `cargo bench -p starling-shared --bench mls`; `scripts/bench-e2e.sh` runs it beside the
//! TypeScript SDK's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use mls_rs::client_builder::MlsConfig;
use mls_rs::group::ReceivedMessage;
use mls_rs::identity::SigningIdentity;
use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
use mls_rs::{CipherSuite, CipherSuiteProvider, Client, CryptoProvider, Group, MlsMessage};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use starling_shared::adapters::memory::{MemoryPusher, MemoryStore, RecordingQueue};
use starling_shared::domain::{CommitEpoch, Connection, NewMessage};
use starling_shared::ports::{ConnectionStore, MessageStore, SubscriptionStore};
use starling_shared::protocol::{ServerFrame, mls};
use starling_shared::service::send::{self, Caller, SendDeps, SendLimits};
use starling_shared::wiring;

const SUITE: CipherSuite = CipherSuite::CURVE25519_AES128;
const ROOM: &str = "e2e:bench";
const TEXT: &[u8] = b"a message of ordinary length, about a line of chat text";

/// `cargo test --benches` runs each benchmark once (criterion's test mode: `cargo bench` alone
/// passes `--bench`). CI does, and there a group of 500, built twice in a debug build, would
/// take over a minute; smaller groups check the same code.
fn sizes() -> (&'static [usize], usize) {
    if std::env::args().any(|a| a == "--bench") { (&[2, 50, 500], 500) } else { (&[2, 50], 50) }
}

fn device(identity: &str) -> Client<impl MlsConfig + use<>> {
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

/// A group of `n`: Alice and `n - 1` members added in one Commit, of whom Bob joins.
struct Members<C: MlsConfig> {
    alice: Group<C>,
    bob: Group<C>,
}

fn group_of<C: MlsConfig>(alice: &Client<C>, bob: &Client<C>, n: usize) -> Members<C> {
    let mut group = alice.create_group(Default::default(), Default::default(), None).unwrap();
    let mut commit = group.commit_builder();
    commit = commit
        .add_member(bob.generate_key_package_message(Default::default(), Default::default(), None).unwrap())
        .unwrap();
    for i in 2..n {
        let other = device(&format!("user{i}/d"));
        let kp = other.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
        commit = commit.add_member(kp).unwrap();
    }
    let output = commit.build().unwrap();
    group.apply_pending_commit().unwrap();
    let (bob, _) = bob.join_group(None, &output.welcome_messages[0], None).unwrap();
    Members { alice: group, bob }
}

/// The send function on memory, the room holding the group's first Commit (epoch 1), and
/// Alice's connection subscribed to it. The Commit is stored directly: one adding 499 members is
/// far over the 16 KiB body limit (clients add about 40 members per Commit).
async fn server(group_id: &[u8]) -> (SendDeps, Arc<RecordingQueue>, Caller) {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(RecordingQueue::default());
    let limits = SendLimits { rate_limit: u64::MAX / 2, ..SendLimits::default() };
    let deps = wiring::send(store.clone(), queue.clone(), Arc::new(MemoryPusher::default()), limits, None);
    let conn = Connection { id: "alice=".into(), user: "alice".into(), connected_at_ms: 0, batch: false };
    store.register(&conn).await.unwrap();
    store.subscribe(ROOM, &conn).await.unwrap();
    let first = NewMessage {
        id: "01FIRST".into(),
        room: ROOM.into(),
        from: "alice".into(),
        body: "commit".into(),
        client_msg_id: None,
        sent_at: "2026-11-25T00:00:00.000Z".into(),
        expires_at: i64::MAX,
        now: 0,
        commit: Some(CommitEpoch { group_id: STANDARD.encode(group_id), epoch: 0 }),
    };
    store.append(first).await.unwrap();
    let caller = Caller { connection: conn, endpoint: Some("https://x.example/prod".into()) };
    (deps, queue, caller)
}

fn per_message(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut group = c.benchmark_group("mls_message");
    group.sample_size(20);
    let (alice, bob) = (device("alice/laptop"), device("bob/phone"));
    for &n in sizes().0 {
        let mut m = group_of(&alice, &bob, n);
        let (deps, queue, caller) = rt.block_on(server(m.alice.group_id()));
        group.bench_function(format!("encrypt_and_send/{n}"), |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for i in 0..iters {
                    let message = m.alice.encrypt_application_message(TEXT, vec![]).unwrap();
                    let body = STANDARD.encode(message.to_bytes().unwrap());
                    let frame = format!(r#"{{"action":"send","room":"{ROOM}","body":"{body}","clientMsgId":"b-{i}"}}"#);
                    let reply = rt.block_on(send::handle_frame(&deps, &caller, &frame));
                    assert!(matches!(reply.frame, Some(ServerFrame::Accepted { .. })), "{reply:?}");
                }
                let spent = started.elapsed();
                queue.drain();
                spent
            })
        });
        group.bench_function(format!("receive_and_decrypt/{n}"), |b| {
            b.iter_custom(|iters| {
                // Bob writes, Alice reads: Alice's own sending ratchet is far ahead after the
                // send benchmark, and a receiver refuses generations over 1,000 ahead of its own.
                let frames: Vec<String> = (0..iters).map(|seq| message_frame(&mut m.bob, seq + 2)).collect();
                let started = Instant::now();
                for frame in frames {
                    let ServerFrame::Message(msg) = serde_json::from_str(&frame).unwrap() else { panic!() };
                    let incoming = MlsMessage::from_bytes(&STANDARD.decode(&msg.body).unwrap()).unwrap();
                    match m.alice.process_incoming_message(incoming).unwrap() {
                        ReceivedMessage::ApplicationMessage(d) => assert_eq!(d.data(), TEXT),
                        other => panic!("{other:?}"),
                    }
                }
                started.elapsed()
            })
        });
    }
    group.finish();
}

/// A `message` frame as the fanout posts it, carrying a fresh application message.
fn message_frame<C: MlsConfig>(sender: &mut Group<C>, seq: u64) -> String {
    let body = STANDARD.encode(sender.encrypt_application_message(TEXT, vec![]).unwrap().to_bytes().unwrap());
    format!(
        r#"{{"type":"message","room":"{ROOM}","seq":{seq},"id":"01M{seq:023}","from":"alice","body":"{body}","sentAt":"2026-11-25T00:00:00.000Z"}}"#
    )
}

fn add_one(c: &mut Criterion) {
    let n = sizes().1;
    let mut group = c.benchmark_group("mls_commit");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    let (alice, bob) = (device("alice/laptop"), device("bob/phone"));
    let mut m = group_of(&alice, &bob, n);
    let newcomer = device("zed/phone");
    let kp = newcomer.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let sample = m.alice.commit_builder().add_member(kp).unwrap().build().unwrap();
    let commit = sample.commit_message.to_bytes().unwrap();
    let welcome = sample.welcome_messages[0].to_bytes().unwrap();
    let framing = mls::read_framing(&STANDARD.encode(&commit)).unwrap();
    eprintln!(
        "add one to a group of {n}: Commit {} bytes ({}), Welcome {} bytes with the ratchet tree ({} characters of base64; the limit is {})",
        commit.len(),
        if framing.private { "PrivateMessage" } else { "PublicMessage" },
        welcome.len(),
        STANDARD.encode(&welcome).len(),
        starling_shared::protocol::MAX_WELCOME_CHARS,
    );
    m.alice.clear_pending_commit();
    group.bench_function(format!("add_one_to/{n}"), |b| {
        b.iter_custom(|iters| {
            let kps: Vec<MlsMessage> = (0..iters)
                .map(|_| newcomer.generate_key_package_message(Default::default(), Default::default(), None).unwrap())
                .collect();
            let started = Instant::now();
            for kp in kps {
                let out = m.alice.commit_builder().add_member(kp).unwrap().build().unwrap();
                assert_eq!(out.welcome_messages.len(), 1);
                m.alice.clear_pending_commit();
            }
            started.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, per_message, add_one);
criterion_main!(benches);
