//! Welcome messages (docs/e2e.md): held with their Commit, released only when it is stored,
//! posted to the users' open connections and kept in each device's inbox until acked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mls_rs::MlsMessage;
use mls_rs::group::ReceivedMessage;
use serde_json::{Value, json};
use starling_shared::domain::{HeldWelcome, PendingWelcome};
use starling_shared::ports::{StoreError, WelcomeInbox};
use starling_shared::protocol::ServerFrame;
use starling_shared::service::send::Caller;

use super::common::{World, error_code};
use super::rooms::{SECRET, b64, commit_with_welcome, device, send};

fn welcomes_posted(w: &World, ws: &Caller) -> Vec<(String, PendingWelcome)> {
    w.frames(ws)
        .into_iter()
        .filter_map(|f| match f {
            ServerFrame::Welcome { device, welcome } => Some((device, welcome)),
            _ => None,
        })
        .collect()
}

async fn inbox(w: &World, ws: &Caller, device: &str) -> Vec<PendingWelcome> {
    match w.act(ws, &json!({"action":"welcomes","device":device}).to_string()).await {
        ServerFrame::Welcomes { welcomes, has_more: false, device: d } if d == device => welcomes,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_welcome_goes_out_only_with_its_stored_commit_and_an_offline_device_joins_from_its_inbox() {
    let w = World::new();
    let [alice_ws, carol_ws] = w.room("e2e:team", ["alice", "carol"]).await;
    let (alice, carol) = (device("alice/laptop"), device("carol/phone"));
    let mut a = alice.create_group(Default::default(), Default::default(), None).unwrap();

    // Alice adds Carol, who is online: the Welcome reaches her connection with the Commit's seq.
    let carol_kp = carol.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let added = a.commit_builder().add_member(carol_kp).unwrap().build().unwrap();
    let to_carol = json!([{"user":"carol","device":"phone"}]);
    commit_with_welcome(&w, &alice_ws, &added.commit_message, &added.welcome_messages[0], to_carol, "a-0").await;
    assert!(welcomes_posted(&w, &carol_ws).is_empty(), "nothing is released before the Commit is stored");
    assert!(inbox(&w, &carol_ws, "phone").await.is_empty());
    assert!(w.pump().await.is_empty());
    a.apply_pending_commit().unwrap();
    let posted = welcomes_posted(&w, &carol_ws);
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!((posted[0].0.as_str(), posted[0].1.seq, posted[0].1.from.as_str()), ("phone", 1, "alice"));
    let welcome = MlsMessage::from_bytes(&STANDARD.decode(&posted[0].1.welcome).unwrap()).unwrap();
    let (mut c, _) = carol.join_group(None, &welcome, None).unwrap();
    assert!(w.frames(&alice_ws).iter().all(|f| !matches!(f, ServerFrame::Welcome { .. })), "not to the committer");

    // In epoch 1 Alice adds Bob and Carol adds Dave: Alice's Commit wins, so Dave's Welcome is
    // dropped, and Bob's is kept for his phone, which is offline.
    let bob = device("bob/phone");
    let bob_kp = bob.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let dave_kp = device("dave/pc").generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let adds_bob = a.commit_builder().add_member(bob_kp).unwrap().build().unwrap();
    let adds_dave = c.commit_builder().add_member(dave_kp).unwrap().build().unwrap();
    let (to_bob, to_dave) = (json!([{"user":"bob","device":"phone"}]), json!([{"user":"dave","device":"pc"}]));
    commit_with_welcome(&w, &alice_ws, &adds_bob.commit_message, &adds_bob.welcome_messages[0], to_bob, "a-1").await;
    commit_with_welcome(&w, &carol_ws, &adds_dave.commit_message, &adds_dave.welcome_messages[0], to_dave, "c-1").await;
    let dave_ws = w.connect("dave").await;
    assert!(w.pump().await.is_empty());
    a.apply_pending_commit().unwrap();
    assert!(welcomes_posted(&w, &dave_ws).is_empty(), "a losing Commit's Welcome is never posted");
    assert!(inbox(&w, &dave_ws, "pc").await.is_empty(), "nor kept");
    c.clear_pending_commit();
    let won = w.received(&carol_ws).pop().unwrap();
    let won = MlsMessage::from_bytes(&STANDARD.decode(&won.body).unwrap()).unwrap();
    assert!(matches!(c.process_incoming_message(won).unwrap(), ReceivedMessage::Commit(_)));
    let secret = a.encrypt_application_message(SECRET, vec![]).unwrap();
    send(&w, &alice_ws, "e2e:team", &secret, "a-2").await;
    assert!(w.pump().await.is_empty());

    // Bob connects later, finds the Welcome in his phone's inbox, joins, and syncs from its seq.
    let bob_ws = w.connect("bob").await;
    let pending = inbox(&w, &bob_ws, "phone").await;
    assert_eq!(pending.iter().map(|p| (p.room.as_str(), p.seq)).collect::<Vec<_>>(), [("e2e:team", 2)]);
    assert!(inbox(&w, &bob_ws, "tablet").await.is_empty(), "the inbox is per device");
    let carols: Vec<u64> = inbox(&w, &carol_ws, "phone").await.iter().map(|p| p.seq).collect();
    assert_eq!(carols, [1], "and per user: carol's phone holds only her own (not acked yet)");
    let welcome = MlsMessage::from_bytes(&STANDARD.decode(&pending[0].welcome).unwrap()).unwrap();
    let (mut b, _) = bob.join_group(None, &welcome, None).unwrap();
    w.join(&bob_ws, "e2e:team").await;
    w.act(&bob_ws, &json!({"action":"sync","rooms":{"e2e:team":pending[0].seq}}).to_string()).await;
    let synced = w.received(&bob_ws);
    assert_eq!(synced.iter().map(|m| m.seq).collect::<Vec<_>>(), [3], "everything after the Commit that added him");
    let incoming = MlsMessage::from_bytes(&STANDARD.decode(&synced[0].body).unwrap()).unwrap();
    match b.process_incoming_message(incoming).unwrap() {
        ReceivedMessage::ApplicationMessage(m) => assert_eq!(m.data(), SECRET),
        other => panic!("{other:?}"),
    }
    let acked = w.act(&bob_ws, r#"{"action":"welcomes.ack","device":"phone","room":"e2e:team","seq":2}"#).await;
    assert!(matches!(acked, ServerFrame::Welcomes { ref welcomes, .. } if welcomes.is_empty()), "{acked:?}");
}

/// A welcome inbox whose next `failures` holds fail, over the memory store.
#[derive(Debug)]
struct FlakyInbox {
    inner: Arc<dyn WelcomeInbox>,
    failures: AtomicU32,
}

#[async_trait]
impl WelcomeInbox for FlakyInbox {
    async fn hold_welcome(&self, held: &HeldWelcome) -> Result<(), StoreError> {
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(StoreError::Failed("the inbox is down".into()));
        }
        self.inner.hold_welcome(held).await
    }

    async fn pending_welcomes(&self, u: &str, d: &str, n: usize, now: i64) -> Result<Vec<PendingWelcome>, StoreError> {
        self.inner.pending_welcomes(u, d, n, now).await
    }

    async fn ack_welcome(&self, user: &str, device: &str, room: &str, seq: u64) -> Result<(), StoreError> {
        self.inner.ack_welcome(user, device, room, seq).await
    }
}

#[tokio::test]
async fn a_welcome_that_could_not_be_kept_fails_the_record_and_the_retry_keeps_it_once() {
    let mut w = World::new();
    w.fanout.stores.welcomes = Arc::new(FlakyInbox { inner: w.store.clone(), failures: AtomicU32::new(2) });
    let [alice_ws] = w.room("e2e:team", ["alice"]).await;
    let bob_ws = w.connect("bob").await;
    let bob = device("bob/phone");
    let mut a = device("alice/laptop").create_group(Default::default(), Default::default(), None).unwrap();
    let kp = bob.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let added = a.commit_builder().add_member(kp).unwrap().build().unwrap();
    let to = json!([{"user":"bob","device":"phone"}]);
    commit_with_welcome(&w, &alice_ws, &added.commit_message, &added.welcome_messages[0], to, "a-0").await;
    let records = w.drain_records();
    for attempt in 0..2 {
        let failed = starling_shared::service::fanout::process_batch(&w.fanout, records.clone()).await;
        assert_eq!(failed.len(), 1, "attempt {attempt}: the record is retried while the welcome is not kept");
    }
    assert!(welcomes_posted(&w, &bob_ws).is_empty(), "nothing posted that is not kept");
    assert!(starling_shared::service::fanout::process_batch(&w.fanout, records).await.is_empty());
    assert_eq!(inbox(&w, &bob_ws, "phone").await.len(), 1);
    assert_eq!(welcomes_posted(&w, &bob_ws).len(), 1);
    let stored = w.act(&alice_ws, r#"{"action":"history","room":"e2e:team"}"#).await;
    let ServerFrame::History { messages, .. } = stored else { panic!() };
    assert_eq!(messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [1], "the Commit was stored once");
}

#[tokio::test]
async fn a_send_with_a_welcome_that_breaks_a_rule_is_refused_and_nothing_is_queued() {
    let w = World::new();
    let [alice_ws] = w.room("e2e:team", ["alice"]).await;
    let [plain_ws] = w.room("team", ["alice"]).await;
    let bob = device("bob/phone");
    let mut a = device("alice/laptop").create_group(Default::default(), Default::default(), None).unwrap();
    let kp = bob.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let added = a.commit_builder().add_member(kp.clone()).unwrap().build().unwrap();
    let (commit, welcome) = (b64(&added.commit_message), b64(&added.welcome_messages[0]));
    a.apply_pending_commit().unwrap();
    let app = b64(&a.encrypt_application_message(SECRET, vec![]).unwrap());
    let bob_phone = json!({"user":"bob","device":"phone"});
    let many: Vec<Value> = (0..51).map(|i| json!({"user":"bob","device":format!("d{i}")})).collect();
    let huge = STANDARD.encode([&[0u8, 1, 0, 3][..], &vec![7u8; 49_200]].concat());
    let cases: Vec<(&Caller, &str, &str, Value, &str, &str)> = vec![
        (
            &alice_ws,
            "e2e:team",
            &app,
            json!({"message":welcome,"to":[bob_phone]}),
            "bad_request",
            "only with an MLS Commit",
        ),
        (
            &plain_ws,
            "team",
            "hi",
            json!({"message":welcome,"to":[bob_phone]}),
            "bad_request",
            "only with an MLS Commit",
        ),
        (
            &alice_ws,
            "e2e:team",
            &commit,
            json!({"message":b64(&kp),"to":[bob_phone]}),
            "bad_request",
            "not an MLS 1.0 Welcome",
        ),
        (
            &alice_ws,
            "e2e:team",
            &commit,
            json!({"message":"not base64!","to":[bob_phone]}),
            "bad_request",
            "not base64",
        ),
        (&alice_ws, "e2e:team", &commit, json!({"message":welcome,"to":[]}), "bad_request", "at least one device"),
        (&alice_ws, "e2e:team", &commit, json!({"message":welcome,"to":many}), "too_large", "at most 50 devices"),
        (
            &alice_ws,
            "e2e:team",
            &commit,
            json!({"message":welcome,"to":[bob_phone, bob_phone]}),
            "bad_request",
            "twice",
        ),
        (
            &alice_ws,
            "e2e:team",
            &commit,
            json!({"message":welcome,"to":[{"user":"bob","device":"a#b"}]}),
            "bad_request",
            "device must be",
        ),
        (
            &alice_ws,
            "e2e:team",
            &commit,
            json!({"message":welcome,"to":[{"user":"bo b","device":"x"}]}),
            "bad_request",
            "not a user id",
        ),
        (
            &alice_ws,
            "e2e:team",
            &commit,
            json!({"message":huge,"to":[bob_phone]}),
            "too_large",
            "over 65536 characters",
        ),
        (&alice_ws, "e2e:team", &commit, json!({"message":welcome}), "bad_request", "invalid send frame"),
    ];
    for (ws, room, body, welcome, code, words) in cases {
        let frame = json!({"action":"send","room":room,"body":body,"clientMsgId":"c-1","welcome":welcome});
        let reply = w.act(ws, &frame.to_string()).await;
        assert_eq!(error_code(&reply), Some(code), "{words}: {reply:?}");
        let ServerFrame::Error(e) = reply else { unreachable!() };
        assert!(e.message.contains(words), "{words}: {}", e.message);
        assert_eq!(e.client_msg_id.as_deref(), Some("c-1"));
    }
    assert!(w.drain_records().is_empty(), "nothing was queued");
    for bad in [
        json!({"action":"welcomes"}),
        json!({"action":"welcomes","device":""}),
        json!({"action":"welcomes.ack","device":"phone","room":"e2e:team"}),
        json!({"action":"welcomes.ack","device":"phone","room":"e2e:team","seq":0}),
        json!({"action":"welcomes.ack","device":"phone","room":"no room","seq":1}),
    ] {
        assert_eq!(error_code(&w.act(&alice_ws, &bad.to_string()).await), Some("bad_request"), "{bad}");
    }
}

#[tokio::test]
async fn a_full_inbox_pages_by_size_and_acking_gives_the_rest() {
    let w = World::new();
    let bob_ws = w.connect("bob").await;
    // Three welcomes of 64,008 base64 characters each: two cannot share a 120 KiB frame.
    let big = STANDARD.encode([&[0u8, 1, 0, 3][..], &vec![9u8; 48_000]].concat());
    for seq in 1..=3 {
        let held = HeldWelcome {
            welcome: PendingWelcome { room: "e2e:big".into(), seq, from: "alice".into(), welcome: big.clone() },
            to: vec![("bob".into(), "phone".into())],
            expires_at: i64::MAX,
        };
        w.store.hold_welcome(&held).await.unwrap();
    }
    let mut seen = Vec::new();
    loop {
        let reply = w.act(&bob_ws, r#"{"action":"welcomes","device":"phone"}"#).await;
        assert!(reply.to_json().len() <= 128 * 1024);
        let ServerFrame::Welcomes { welcomes, has_more, .. } = reply else { panic!() };
        assert_eq!(welcomes.len(), 1, "one 64 KiB welcome per frame");
        seen.push(welcomes[0].seq);
        let ack = json!({"action":"welcomes.ack","device":"phone","room":"e2e:big","seq":welcomes[0].seq});
        let rest = w.act(&bob_ws, &ack.to_string()).await;
        let ServerFrame::Welcomes { welcomes: left, .. } = rest else { panic!() };
        assert_eq!(left.len(), usize::from(has_more), "the ack answers with what is left");
        if !has_more {
            break;
        }
    }
    assert_eq!(seen, [1, 2, 3]);
}

#[tokio::test]
async fn each_connection_gets_one_welcome_frame_per_device_of_its_user_whatever_the_order_of_to() {
    let w = World::new();
    let [alice_ws] = w.room("e2e:team", ["alice"]).await;
    let (bob_ws, carol_ws) = (w.connect("bob").await, w.connect("carol").await);
    let mut a = device("alice/laptop").create_group(Default::default(), Default::default(), None).unwrap();
    let kp = device("bob/phone").generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let added = a.commit_builder().add_member(kp).unwrap().build().unwrap();
    // Bob's devices are not next to each other in `to`.
    let to = json!([{"user":"bob","device":"phone"},{"user":"carol","device":"pc"},{"user":"bob","device":"laptop"}]);
    commit_with_welcome(&w, &alice_ws, &added.commit_message, &added.welcome_messages[0], to, "a-0").await;
    assert!(w.pump().await.is_empty());
    let mut bobs: Vec<String> = welcomes_posted(&w, &bob_ws).into_iter().map(|(d, _)| d).collect();
    bobs.sort();
    assert_eq!(bobs, ["laptop", "phone"], "one frame per device, not one per mention of the user");
    assert_eq!(welcomes_posted(&w, &carol_ws).len(), 1);
}

#[tokio::test]
async fn a_welcome_whose_commit_is_a_duplicate_of_a_message_that_made_no_group_is_dropped_not_retried_forever() {
    let w = World::new();
    let [alice_ws, carol_ws] = w.room("e2e:team", ["alice", "carol"]).await;
    let (alice, carol) = (device("alice/laptop"), device("carol/phone"));
    let mut a = alice.create_group(Default::default(), Default::default(), None).unwrap();
    // Before any Commit, an application message of epoch 0 is stored under clientMsgId "x".
    send(&w, &alice_ws, "e2e:team", &a.encrypt_application_message(SECRET, vec![]).unwrap(), "x").await;
    assert!(w.pump().await.is_empty());

    // A Commit with a Welcome reuses "x": the fanout finds "x" stored, a message that made no group.
    let carol_kp = carol.generate_key_package_message(Default::default(), Default::default(), None).unwrap();
    let added = a.commit_builder().add_member(carol_kp).unwrap().build().unwrap();
    let to_carol = json!([{"user":"carol","device":"phone"}]);
    commit_with_welcome(&w, &alice_ws, &added.commit_message, &added.welcome_messages[0], to_carol, "x").await;
    assert!(w.pump().await.is_empty(), "the record succeeds: a retry could not change anything");
    assert!(welcomes_posted(&w, &carol_ws).is_empty(), "no group to join, so no Welcome");
    assert!(inbox(&w, &carol_ws, "phone").await.is_empty());
    assert_eq!(w.received(&carol_ws).len(), 1, "the Commit was not stored either");
}
