//! `starling chat --e2e` end to end: three CLI sessions (alice, bob, carol), each its own device
//! with its own state directory, over real WebSockets to an in-process devstack. The sessions
//! run the CLI's own loop ([`starling_cli::e2e::run`]); the test types their lines and reads
//! their events.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use starling_cli::e2e::{Device, Event, run, safety_number};
use starling_cli::{CliError, Conn};
use starling_client::RoomId;
use starling_devstack::{Config, Handle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const SECRET: &str = "cli-e2e-secret";
const ROOM: &str = "e2e:team";
/// How long a session has to show an event.
const PROMPT: Duration = Duration::from_secs(30);

/// One running `starling chat --e2e`.
struct Session {
    name: String,
    lines: mpsc::Sender<String>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Every event read so far, in order.
    seen: Vec<Event>,
    task: JoinHandle<Result<(), CliError>>,
}

impl Session {
    fn start(stack: &Handle, dir: &Path, user: &str, device: Option<&str>) -> Self {
        let token = starling_shared::auth::mint_for(SECRET.as_bytes(), user, 600).unwrap();
        let conn = Conn { url: stack.ws_url(), token };
        let device = Device::open(dir, user, device).unwrap();
        let name = device.identity();
        let (lines, rx) = mpsc::channel(16);
        let (tx, events) = mpsc::unbounded_channel();
        let room = RoomId::parse(ROOM).unwrap();
        let task = tokio::spawn(async move {
            run(&conn, device, room, rx, &mut |e: &Event| {
                let _ = tx.send(e.clone());
                Ok(())
            })
            .await
        });
        Self { name, lines, events, seen: Vec::new(), task }
    }

    async fn say(&self, line: &str) {
        self.lines.send(line.to_owned()).await.unwrap();
    }

    /// The next event for which `pred` holds (those before it are kept in `seen`).
    async fn expect(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + PROMPT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.events.recv()).await;
            let Ok(Some(event)) = next else {
                panic!("{}: no {what} within {PROMPT:?}; saw:\n{}", self.name, lines(&self.seen));
            };
            self.seen.push(event.clone());
            if let Event::Warning(w) = &event {
                assert!(!w.contains("cannot"), "{}: {w}", self.name);
            }
            if pred(&event) {
                return event;
            }
        }
    }

    async fn text(&mut self, text: &str) -> u64 {
        let e = self.expect(text, |e| matches!(e, Event::Text { text: t, .. } if t == text)).await;
        let Event::Text { seq, .. } = e else { unreachable!() };
        seq
    }

    async fn epoch(&mut self, epoch: u64) -> Event {
        self.expect(&format!("epoch {epoch}"), |e| matches!(e, Event::Changed { epoch: n, .. } if *n == epoch)).await
    }

    /// Ends the session as Ctrl-D does.
    async fn stop(self) -> Vec<Event> {
        drop(self.lines);
        let result = tokio::time::timeout(PROMPT, self.task).await.expect("the session ends").expect("no panic");
        result.expect("the session ends cleanly");
        self.seen
    }
}

fn lines(events: &[Event]) -> String {
    events.iter().map(|e| format!("  {e}\n")).collect()
}

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("starling-cli-e2e-chat-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The state directories, removed at the end, failed or not.
struct Dirs([PathBuf; 3]);

impl Drop for Dirs {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn ready(e: &Event) -> bool {
    matches!(e, Event::Ready { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_cli_devices_chat_encrypted_add_remove_catch_up_and_resolve_a_conflict() {
    let mut config = Config { port: 0, jwt_secret: SECRET.into(), ..Config::default() };
    config.action_limits.rate_limit = 10_000;
    let stack = starling_devstack::serve(config).await.unwrap();
    let guard = Dirs([state_dir("alice"), state_dir("bob"), state_dir("carol")]);
    let dirs = &guard.0;

    let (mut alice, mut bob, mut carol) = form_the_group(&stack, dirs).await;
    everyone_decrypts_everyone(&mut alice, &mut bob, &mut carol).await;
    let bob_key = Device::open(&dirs[1], "bob", None).unwrap().signature_key().to_vec();
    safety_numbers(&mut alice, &bob_key).await;
    a_removed_member_reads_nothing_sent_after(&mut alice, &mut bob, carol, &dirs[2]).await;
    bob.stop().await;
    let mut bob = an_offline_member_catches_up_in_order(&stack, &mut alice, &dirs[1]).await;
    concurrent_commits_one_wins_the_other_retries(&stack, &mut alice, &mut bob).await;
    the_server_holds_ciphertext_only(&stack).await;

    let (alice_saw, bob_saw) = (alice.stop().await, bob.stop().await);
    println!("alice:\n{}bob (after its restart):\n{}", lines(&alice_saw), lines(&bob_saw));
    stack.shutdown().await;
}

/// Alice is first: the room has no group, so her first Commit makes it (epoch 0 to 1). Bob and
/// Carol try to make one too and get `conflict`; Alice adds them, and each joins from the
/// Welcome the server held for its device.
async fn form_the_group(stack: &Handle, dirs: &[PathBuf; 3]) -> (Session, Session, Session) {
    let mut alice = Session::start(stack, &dirs[0], "alice", Some("laptop"));
    alice.expect("published key packages", |e| matches!(e, Event::Published { one_time: 10 })).await;
    assert_eq!(alice.expect("ready", ready).await, Event::Ready { room: ROOM.into(), epoch: None });
    alice.expect("the group", |e| matches!(e, Event::Created { epoch: 1 })).await;

    let mut bob = Session::start(stack, &dirs[1], "bob", Some("phone"));
    let mut carol = Session::start(stack, &dirs[2], "carol", Some("laptop"));
    for s in [&mut bob, &mut carol] {
        s.expect("ready", ready).await;
        s.expect("the room is taken", |e| matches!(e, Event::Notice(n) if n.contains("already has a group"))).await;
    }
    alice.say("/add bob").await;
    alice.epoch(2).await;
    let welcomed = bob.expect("welcome", |e| matches!(e, Event::Welcomed { .. })).await;
    assert!(matches!(&welcomed, Event::Welcomed { epoch: 2, from, .. } if from == "alice/laptop"), "{welcomed:?}");
    alice.say("/add carol").await;
    alice.epoch(3).await;
    carol.expect("welcome", |e| matches!(e, Event::Welcomed { epoch: 3, .. })).await;
    let added = bob.epoch(3).await;
    assert!(matches!(&added, Event::Changed { added, by, .. } if added == &["carol/laptop"] && by == "alice/laptop"));
    (alice, bob, carol)
}

async fn everyone_decrypts_everyone(alice: &mut Session, bob: &mut Session, carol: &mut Session) {
    for (i, text) in ["hello from alice", "hi from bob", "carol here"].into_iter().enumerate() {
        [&*alice, &*bob, &*carol][i].say(text).await;
        for s in [&mut *alice, &mut *bob, &mut *carol] {
            s.text(text).await;
        }
    }
    let own = alice.seen.iter().find(|e| matches!(e, Event::Text { text, .. } if text == "hello from alice"));
    assert!(matches!(own, Some(Event::Text { own: true, sender, .. }) if sender == "alice/laptop"), "{own:?}");
    let from_bob = alice.seen.iter().find(|e| matches!(e, Event::Text { text, .. } if text == "hi from bob"));
    let bobs = matches!(from_bob, Some(Event::Text { own: false, sender, from, .. }) if sender == "bob/phone" && from == "bob");
    assert!(bobs, "{from_bob:?}");
}

/// Alice's `/members` shows Bob's safety number, computed from his real key.
async fn safety_numbers(alice: &mut Session, bob_key: &[u8]) {
    alice.say("/members").await;
    let Event::Members(members) = alice.expect("members", |e| matches!(e, Event::Members(_))).await else {
        unreachable!()
    };
    let ids: Vec<&str> = members.iter().map(|m| m.identity.as_str()).collect();
    assert_eq!(ids, ["alice/laptop", "bob/phone", "carol/laptop"]);
    assert_eq!(members[1].safety_number, safety_number("bob/phone", bob_key));
    assert!(members[0].me && !members[1].me);
}

/// Carol is removed: she still receives the room's ciphertext, and reads none of it.
async fn a_removed_member_reads_nothing_sent_after(
    alice: &mut Session,
    bob: &mut Session,
    mut carol: Session,
    dir: &Path,
) {
    alice.say("/remove carol").await;
    alice.epoch(4).await;
    bob.epoch(4).await;
    carol.expect("removal", |e| matches!(e, Event::RemovedSelf { by, .. } if by == "alice/laptop")).await;
    alice.say("after carol left").await;
    let seq = bob.text("after carol left").await;
    carol.expect("a locked message", |e| matches!(e, Event::Locked { seq: s, .. } if *s == seq)).await;
    let carol_saw = carol.stop().await;
    assert!(!carol_saw.iter().any(|e| matches!(e, Event::Text { text, .. } if text == "after carol left")));
    let carols_rooms = std::fs::read_to_string(dir.join("rooms.json")).unwrap();
    assert!(!carols_rooms.contains(ROOM), "carol's device forgot the group: {carols_rooms}");
}

/// While Bob is offline Alice sends, commits (a key update) and sends more. Bob's CLI restarts
/// with the same state directory: the same device, in epoch 4, which catches up through the
/// Commit in seq order.
async fn an_offline_member_catches_up_in_order(stack: &Handle, alice: &mut Session, dir: &Path) -> Session {
    alice.say("while you were away 1").await;
    alice.text("while you were away 1").await;
    alice.say("/rotate").await;
    alice.epoch(5).await;
    for text in ["while you were away 2", "while you were away 3"] {
        alice.say(text).await;
        alice.text(text).await;
    }
    let mut bob = Session::start(stack, dir, "bob", None);
    assert_eq!(bob.expect("ready", ready).await, Event::Ready { room: ROOM.into(), epoch: Some(4) });
    let mut seqs = Vec::new();
    for text in ["while you were away 1", "while you were away 2", "while you were away 3"] {
        seqs.push(bob.text(text).await);
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(bob.seen.iter().any(|e| matches!(e, Event::Changed { epoch: 5, .. })), "{}", lines(&bob.seen));
    bob
}

/// Both commit in epoch 5 while the fanout is paused: one wins, the other gets `conflict`,
/// processes the winner and commits again in epoch 6; both end in epoch 7 and read each other.
async fn concurrent_commits_one_wins_the_other_retries(stack: &Handle, alice: &mut Session, bob: &mut Session) {
    stack.pause_fanout();
    alice.say("/rotate").await;
    bob.say("/rotate").await;
    for s in [&mut *alice, &mut *bob] {
        s.expect("commit queued", |e| matches!(e, Event::CommitQueued { epoch: 5, .. })).await;
    }
    stack.resume_fanout();
    for s in [&mut *alice, &mut *bob] {
        s.epoch(7).await;
    }
    let conflicts = [&*alice, &*bob].map(|s| s.seen.iter().filter(|e| matches!(e, Event::Conflict { .. })).count());
    assert_eq!(conflicts.iter().sum::<usize>(), 1, "alice {}\nbob {}", lines(&alice.seen), lines(&bob.seen));
    alice.say("after the race").await;
    bob.text("after the race").await;
    bob.say("agreed").await;
    alice.text("agreed").await;
}

async fn the_server_holds_ciphertext_only(stack: &Handle) {
    let stored = stack.stored_messages(ROOM).await.unwrap();
    assert!(stored.len() >= 15, "{}", stored.len());
    for m in &stored {
        let bytes = STANDARD.decode(&m.body).unwrap();
        for secret in ["hello from alice", "carol here", "after carol left", "agreed"] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "plaintext at #{}", m.seq);
        }
    }
}
