//! Devices and their state directories, without a server.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use mls_rs::MlsMessage;
use mls_rs::group::ReceivedMessage;
use starling_shared::protocol::ClaimedKeyPackage;

use super::*;

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("starling-cli-e2e-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn claimed(device: &str, package: String) -> ClaimedKeyPackage {
    ClaimedKeyPackage { device: device.into(), key_package: package, last_resort: false }
}

fn decrypt(group: &mut device::Group, message: MlsMessage) -> Vec<u8> {
    match group.process_incoming_message(message).unwrap() {
        ReceivedMessage::ApplicationMessage(m) => m.data().to_vec(),
        other => panic!("not an application message: {other:?}"),
    }
}

/// Alice (a device in its own directory) makes a group and adds `package`; returns her group
/// and the Welcome.
fn alice_adds(dir: &TempDir, user: &str, device: &str, package: String) -> (device::Group, MlsMessage) {
    let alice = Device::open(&dir.0, "alice", Some("laptop")).unwrap();
    let mut group = alice.create_group().unwrap();
    let package = check_key_package(user, &claimed(device, package)).unwrap();
    let out = group.commit_builder().add_member(package).unwrap().build().unwrap();
    group.apply_pending_commit().unwrap();
    (group, out.welcome_messages[0].clone())
}

fn b64(message: &MlsMessage) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(message.to_bytes().unwrap())
}

#[test]
fn a_restarted_device_keeps_its_identity_and_its_groups_and_decrypts() {
    let (bob_dir, alice_dir) = (TempDir::new(), TempDir::new());
    let bob = Device::open(&bob_dir.0, "bob", Some("phone")).unwrap();
    let (identity, key) = (bob.identity(), bob.signature_key().to_vec());
    let package = bob.key_packages(1).unwrap().remove(0);
    drop(bob);

    // Restarted between publishing and being added: the package's private keys were kept.
    let bob = Device::open(&bob_dir.0, "bob", None).unwrap();
    assert_eq!((bob.identity(), bob.signature_key()), (identity.clone(), &key[..]));
    let (mut alice, welcome) = alice_adds(&alice_dir, "bob", "phone", package);
    let (mut group, _) = bob.join(&b64(&welcome)).unwrap();
    bob.save(&mut group, 7).unwrap();
    bob.rooms().set("e2e:team", Some(store::RoomEntry { group: hex::encode(group.group_id()) })).unwrap();
    let first = alice.encrypt_application_message(b"before", vec![]).unwrap();
    assert_eq!(decrypt(&mut group, first), b"before");
    bob.save(&mut group, 8).unwrap();
    drop((group, bob));

    // Restarted again: same identity, the group and its seq come back, and it decrypts both
    // ways (its own sending ratchet was saved too).
    let bob = Device::open(&bob_dir.0, "bob", Some("phone")).unwrap();
    assert_eq!((bob.identity(), bob.signature_key()), (identity, &key[..]));
    let entry = bob.rooms().get("e2e:team").unwrap().unwrap();
    let id = hex::decode(entry.group).unwrap();
    assert_eq!(bob.cursor(&id).unwrap(), 8);
    let mut group = bob.load_group(&id).unwrap();
    assert_eq!(group.current_epoch(), alice.current_epoch());
    let second = alice.encrypt_application_message(b"after the restart", vec![]).unwrap();
    assert_eq!(decrypt(&mut group, second), b"after the restart");
    let reply = group.encrypt_application_message(b"hi alice", vec![]).unwrap();
    assert_eq!(decrypt(&mut alice, reply), b"hi alice");

    // A directory is one device of one user.
    let other = Device::open(&bob_dir.0, "bob", Some("laptop")).unwrap_err();
    assert!(other.to_string().contains("not laptop"), "{other}");
    let other = Device::open(&bob_dir.0, "mallory", None).unwrap_err();
    assert!(other.to_string().contains("bob's device"), "{other}");
}

#[test]
fn a_one_time_package_is_used_once_and_a_last_resort_one_outlives_its_joins() {
    let bob_dir = TempDir::new();
    let bob = Device::open(&bob_dir.0, "bob", Some("phone")).unwrap();
    let one_time = bob.key_packages(1).unwrap().remove(0);
    let last_resort = bob.last_resort().unwrap();

    let (a, b, c) = (TempDir::new(), TempDir::new(), TempDir::new());
    let (_, welcome) = alice_adds(&a, "bob", "phone", one_time);
    let (mut group, _) = bob.join(&b64(&welcome)).unwrap();
    // mls-rs deletes the package's keys with the joined group's first write.
    bob.save(&mut group, 1).unwrap();
    assert!(bob.join(&b64(&welcome)).is_err(), "the one-time keys are gone after their join");

    for dir in [&b, &c] {
        let (mut group, welcome) = alice_adds(dir, "bob", "phone", last_resort.clone());
        let (mut joined, _) = bob.join(&b64(&welcome)).unwrap();
        bob.save(&mut joined, 1).unwrap();
        let m = group.encrypt_application_message(b"x", vec![]).unwrap();
        assert_eq!(decrypt(&mut joined, m), b"x");
    }
}

#[test]
fn a_claimed_package_must_name_the_claimed_user_and_device() {
    let dir = TempDir::new();
    let bob = Device::open(&dir.0, "bob", Some("phone")).unwrap();
    let package = bob.key_packages(1).unwrap().remove(0);
    assert!(check_key_package("bob", &claimed("phone", package.clone())).is_ok());
    let wrong_device = check_key_package("bob", &claimed("laptop", package.clone())).unwrap_err();
    assert!(wrong_device.contains(r#"names "bob/phone", not "bob/laptop""#), "{wrong_device}");
    let wrong_user = check_key_package("carol", &claimed("phone", package)).unwrap_err();
    assert!(wrong_user.contains("not \"carol/phone\""), "{wrong_user}");
    assert!(check_key_package("bob", &claimed("phone", "AAEABQ==".into())).is_err());
    assert!(check_key_package("bob", &claimed("phone", "not base64!".into())).is_err());
}

#[test]
fn the_command_line_takes_the_room_as_an_argument_and_the_e2e_options() {
    use clap::Parser as _;
    let args = ["starling", "chat", "--e2e", "--device", "laptop", "--state", "/tmp/s", "--token", "t", "e2e:team"];
    let crate::Command::Chat { room, room_arg, e2e, .. } = crate::Cli::try_parse_from(args).unwrap().command else {
        panic!("not chat")
    };
    assert_eq!((room, room_arg.map(|r| r.to_string())), (None, Some("e2e:team".to_owned())));
    assert!(e2e.e2e && e2e.device.as_deref() == Some("laptop") && e2e.state == Some("/tmp/s".into()));
    // --device means nothing without --e2e, and --since nothing with it.
    assert!(crate::Cli::try_parse_from(["starling", "chat", "--device", "x", "--token", "t", "lobby"]).is_err());
    let since = ["starling", "chat", "--e2e", "--since", "3", "--token", "t", "e2e:team"];
    assert!(crate::Cli::try_parse_from(since).is_err());
}

#[test]
fn the_token_names_the_user() {
    let token = starling_shared::auth::mint_for(b"s", "alice", 60).unwrap();
    assert_eq!(chat::token_user(&token).as_deref(), Some("alice"));
    assert_eq!(chat::token_user("not-a-jwt"), None);
}

fn sends(outputs: &[Output]) -> Vec<&starling_client::Request> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(r) => Some(r),
            Output::Event(_) => None,
        })
        .collect()
}

#[test]
fn start_up_publishes_joins_reads_welcomes_creates_and_a_reconnect_resends_the_commit() {
    use starling_client::{Request, RoomId, ServerFrame};
    use starling_shared::protocol::{KeyRequest, WelcomeRequest};

    let dir = TempDir::new();
    let room = RoomId::parse("e2e:team").unwrap();
    let mut s = Session::new(Device::open(&dir.0, "alice", Some("laptop")).unwrap(), room.clone());
    let count = s.start();
    assert_eq!(sends(&count), [&Request::Keys(KeyRequest::Count { device: "laptop".into() })]);

    // 3 one-time packages left and no last-resort one: top up to 10, with a last-resort one.
    let publish = s.on_frame(&ServerFrame::Keys { device: "laptop".into(), one_time: 3, last_resort: false });
    let [Request::Keys(KeyRequest::Publish { key_packages, last_resort: Some(_), .. })] = &sends(&publish)[..] else {
        panic!("{publish:?}")
    };
    assert_eq!(key_packages.len(), 7);
    let join = s.on_frame(&ServerFrame::Keys { device: "laptop".into(), one_time: 10, last_resort: true });
    assert_eq!(sends(&join), [&Request::Join { room: room.clone() }]);
    let list = s.on_frame(&ServerFrame::Joined { room: "e2e:team".into(), last_seq: 4 });
    assert_eq!(sends(&list), [&Request::Welcomes(WelcomeRequest::List { device: "laptop".into() })]);

    // No welcome: the device syncs the room from its last seq and tries to make the group.
    let none = ServerFrame::Welcomes { device: "laptop".into(), welcomes: vec![], has_more: false };
    let create = s.on_frame(&none);
    let sent = sends(&create);
    assert!(matches!(sent[0], Request::Sync { rooms, .. } if rooms == &[(room.clone(), Some(4))]), "{sent:?}");
    let commit = sent[1].clone();
    assert!(matches!(&commit, Request::Send { welcome: None, client_msg_id: Some(_), .. }), "{commit:?}");

    // The connection drops before the answer: on the new one, join again, then the inbox, the
    // sync, and the same Commit with the same clientMsgId (a duplicate if it was stored).
    assert_eq!(sends(&s.reconnected()), [&Request::Join { room: room.clone() }]);
    let again = s.on_frame(&ServerFrame::Joined { room: "e2e:team".into(), last_seq: 5 });
    let again = sends(&again);
    assert_eq!(again.len(), 3, "{again:?}");
    assert!(matches!(again[0], Request::Welcomes(WelcomeRequest::List { .. })));
    assert!(matches!(again[1], Request::Sync { .. }));
    assert_eq!(again[2], &commit);
    assert_eq!(s.epoch(), None, "not a member until the Commit comes back stored");

    // It comes back stored, as seq 5: now the group is the room's, in epoch 1.
    let Request::Send { body, client_msg_id, .. } = commit else { unreachable!() };
    let stored = starling_client::Message {
        room: "e2e:team".into(),
        seq: 5,
        id: "X".into(),
        from: "alice".into(),
        body,
        sent_at: "t".into(),
        client_msg_id,
    };
    let created = s.on_frame(&ServerFrame::Message(stored));
    assert!(created.contains(&Output::Event(Event::Created { epoch: 1 })), "{created:?}");
    assert_eq!(s.epoch(), Some(1));
    let entry = s.device().rooms().get("e2e:team").unwrap().expect("the room's group is kept");
    assert_eq!(s.device().cursor(&hex::decode(entry.group).unwrap()).unwrap(), 5);
}
