use super::*;

fn msg(room: &str, seq: u64) -> Message {
    Message {
        room: room.into(),
        seq,
        id: format!("id-{seq}"),
        from: "bob".into(),
        body: format!("m{seq}"),
        sent_at: "2026-11-22T21:00:00.000Z".into(),
        client_msg_id: None,
    }
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

#[test]
fn a_live_message_ahead_of_the_sync_waits_until_the_pages_fill_the_gap() {
    // The issue's case: seq 601 arrives live before synced 1–600.
    let mut t = SeqTracker::new(0);
    assert!(t.offer(msg("r", 601)).is_empty(), "601 cannot go before 1");
    assert!(t.has_gap());
    let mut out = Vec::new();
    for s in 1..=600 {
        out.extend(t.offer(msg("r", s)));
    }
    assert_eq!(seqs(&out), (1..=601).collect::<Vec<_>>());
    assert!(t.settle(600).is_empty(), "synced 600 after 601 delivers nothing again");
    assert_eq!(t.delivered(), 601, "lastSeq below what is held does not move delivered back");
}

#[test]
fn duplicates_are_dropped_whether_live_synced_or_repeated() {
    let mut t = SeqTracker::new(3);
    assert!(t.offer(msg("r", 2)).is_empty(), "at or below delivered");
    assert_eq!(seqs(&t.offer(msg("r", 4))), [4]);
    assert!(t.offer(msg("r", 4)).is_empty());
    assert!(t.offer(msg("r", 6)).is_empty());
    assert!(t.offer(msg("r", 6)).is_empty(), "a duplicate of a waiting one");
    assert_eq!(seqs(&t.offer(msg("r", 5))), [5, 6]);
}

#[test]
fn synced_settles_a_gap_lost_to_retention() {
    // Sync from 0; 1–4 expired, so the pages start at 5; a live 9 came early.
    let mut t = SeqTracker::new(0);
    assert!(t.offer(msg("r", 9)).is_empty());
    for s in 5..=7 {
        assert!(t.offer(msg("r", s)).is_empty(), "1–4 may still come");
    }
    assert_eq!(seqs(&t.settle(8)), [5, 6, 7, 9], "nothing up to 8 is coming (8 is gone too), and 9 follows");
    assert_eq!(t.delivered(), 9);
    assert!(!t.has_gap());
}

#[test]
fn a_messages_frame_is_offered_like_each_of_its_messages_repeats_included() {
    let room = RoomId::parse("r").expect("a valid room");
    let mut inbox = Inbox::new();
    inbox.track(&room, 2);
    let batch = |seqs: &[u64]| ServerFrame::Messages {
        room: "r".into(),
        messages: seqs.iter().map(|s| msg("r", *s)).collect(),
    };
    assert_eq!(seqs(&inbox.on_frame(&batch(&[3, 4, 5])).deliver), [3, 4, 5]);
    assert!(inbox.on_frame(&batch(&[3, 4, 5])).deliver.is_empty(), "a retried batch is dropped");
    let ahead = inbox.on_frame(&batch(&[7, 8]));
    assert!(ahead.deliver.is_empty(), "7 cannot go before 6");
    assert!(ahead.follow_up.is_some(), "the gap asks for a sync");
    assert_eq!(seqs(&inbox.on_frame(&batch(&[5, 6])).deliver), [6, 7, 8]);
}

/// A tiny xorshift, so the interleavings are many but the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A room on a server: `head` messages stored, `retained_from` the first not expired. A sync
/// answers from `after` with pages of `page` messages, at most `budget` pages per request.
struct Server {
    head: u64,
    retained_from: u64,
    page: u64,
    budget: u64,
}

impl Server {
    fn sync(&self, after: u64) -> Vec<ServerFrame> {
        let mut frames = Vec::new();
        let mut next = after.max(self.retained_from - 1) + 1;
        for _ in 0..self.budget {
            if next > self.head {
                break;
            }
            let end = (next + self.page - 1).min(self.head);
            frames.push(ServerFrame::SyncPage {
                room: "r".into(),
                messages: (next..=end).map(|s| msg("r", s)).collect(),
            });
            next = end + 1;
        }
        let has_more = next <= self.head;
        let last_seq = if has_more { next - 1 } else { self.head };
        frames.push(ServerFrame::Synced {
            room: "r".into(),
            recovered: after + 1 >= self.retained_from,
            last_seq,
            has_more,
        });
        frames
    }
}

#[test]
fn every_seq_once_and_in_order_across_random_interleavings_of_live_and_synced_frames() {
    let room = RoomId::parse("r").unwrap();
    for seed in 1..=300_u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let held = rng.next(20);
        let retained_from = 1 + rng.next(30);
        let mut server =
            Server { head: 40 + rng.next(40), retained_from, page: 1 + rng.next(7), budget: 1 + rng.next(4) };
        let live_total = rng.next(30);
        let mut inbox = Inbox::new();
        inbox.track(&room, held);
        let mut wire: std::collections::VecDeque<ServerFrame> = Default::default();
        let mut requests = vec![inbox.sync_request().expect("a sync")];
        let mut live_sent = 0;
        let mut delivered = Vec::new();
        for _ in 0..10_000 {
            // Serve any request, then put the live messages sent meanwhile anywhere among its
            // frames (each live seq once or twice, live ones in order).
            for request in requests.drain(..) {
                let Request::Sync { rooms, .. } = request else { panic!("{request:?}") };
                let mut frames: std::collections::VecDeque<ServerFrame> = server.sync(rooms[0].1.unwrap()).into();
                while live_sent < live_total && rng.next(3) == 0 {
                    server.head += 1;
                    live_sent += 1;
                    let at = rng.next(frames.len() as u64 + 1) as usize;
                    frames.insert(at, ServerFrame::Message(msg("r", server.head)));
                    if rng.next(4) == 0 {
                        frames.insert(at + 1, ServerFrame::Message(msg("r", server.head)));
                    }
                }
                wire.extend(frames);
            }
            let Some(frame) = wire.pop_front() else { break };
            let step = inbox.on_frame(&frame);
            delivered.extend(step.deliver);
            requests.extend(step.follow_up);
        }
        assert!(!inbox.syncing(), "seed {seed}: the procedure ended");
        let first = held.max(retained_from - 1) + 1;
        assert_eq!(seqs(&delivered), (first..=server.head).collect::<Vec<_>>(), "seed {seed}");
        assert_eq!(inbox.delivered("r"), Some(server.head));
    }
}
