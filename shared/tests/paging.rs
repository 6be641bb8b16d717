//! Every frame the server sends fits one API Gateway message (128 KB), and the lists that could
//! outgrow it (`history`, `presence`, `sync`) page by size as well as by count.

mod common;

use common::World;
use starling_shared::domain::{Message, NewMessage};
use starling_shared::ports::MessageStore;
use starling_shared::protocol::{MAX_FRAME_BYTES, ServerFrame};

const BIG_BODY: usize = 16 * 1024;

/// `n` messages of `body_len` bytes appended straight to the store (the fanout's job, skipped).
async fn fill(w: &World, room: &str, n: u64, body_len: usize) {
    let now = w.clock.now_ms() / 1000;
    for i in 1..=n {
        let body = format!("{i:>8}{}", "x".repeat(body_len.saturating_sub(8)));
        let msg = NewMessage {
            commit: None,
            id: format!("01PAGING{i:018}"),
            room: room.into(),
            from: "bob".into(),
            body,
            client_msg_id: Some(format!("c-{i}")),
            sent_at: "2026-11-22T21:00:00.000Z".into(),
            expires_at: now + 86_400,
            now,
        };
        w.store.append(msg).await.unwrap();
    }
}

/// Every page of `history` from the newest back, as sent: (frame length, messages, hasMore).
async fn history_pages(
    w: &World,
    caller: &starling_shared::service::send::Caller,
    room: &str,
    limit: u32,
) -> Vec<(usize, Vec<Message>, bool)> {
    let mut pages = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut frame = serde_json::json!({"action":"history","room":room,"limit":limit});
        if let Some(b) = before {
            frame["before"] = b.into();
        }
        let reply = w.reply_text(caller, &frame.to_string()).await.expect("a reply");
        let ServerFrame::History { messages, has_more, .. } = serde_json::from_str(&reply).unwrap() else {
            panic!("not a history page: {reply:.200}")
        };
        before = messages.first().map(|m| m.seq);
        pages.push((reply.len(), messages, has_more));
        if !has_more {
            return pages;
        }
        assert!(before.is_some(), "an empty page with hasMore would loop forever");
        assert!(pages.len() < 1_000, "history never ends");
    }
}

#[tokio::test]
async fn history_of_large_messages_pages_by_size_and_returns_every_message_once_in_order() {
    for n in [20_u64, 100] {
        let w = World::new();
        let [alice] = w.room("big", ["alice"]).await;
        fill(&w, "big", n, BIG_BODY).await;
        let pages = history_pages(&w, &alice, "big", 100).await;
        for (len, _, _) in &pages {
            assert!(*len <= MAX_FRAME_BYTES, "a history frame of {len} bytes (n = {n})");
        }
        let mut seqs: Vec<u64> = pages.iter().rev().flat_map(|(_, m, _)| m.iter().map(|m| m.seq)).collect();
        assert!(pages.len() > 1, "{n} messages of 16 KiB cannot fit one frame");
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "every message exactly once, in order");
        seqs.dedup();
        assert_eq!(seqs.len() as u64, n);
    }
}

#[tokio::test]
async fn presence_of_a_room_with_5000_members_pages_with_a_cursor() {
    use starling_shared::ports::SubscriptionStore;
    let w = World::new();
    let [alice] = w.room("crowd", ["alice"]).await;
    for i in 0..5_000 {
        // Members with long ids make the size limit bite before the count limit on some pages.
        let user = format!("member-{i:05}-{}", "u".repeat(if i % 2 == 0 { 200 } else { 0 }));
        let conn = starling_shared::domain::Connection { id: format!("c{i}="), user, connected_at_ms: 0, batch: false };
        starling_shared::ports::ConnectionStore::register(w.store.as_ref(), &conn).await.unwrap();
        w.store.subscribe("crowd", &conn).await.unwrap();
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut frame = serde_json::json!({"action":"presence","room":"crowd"});
        if let Some(c) = &cursor {
            frame["cursor"] = c.clone().into();
        }
        let text = w.reply_text(&alice, &frame.to_string()).await.expect("a reply");
        assert!(text.len() <= MAX_FRAME_BYTES, "a presence frame of {} bytes", text.len());
        let ServerFrame::Presence { members, has_more, cursor: next, .. } = serde_json::from_str(&text).unwrap() else {
            panic!("not presence: {text:.200}")
        };
        assert!(members.len() <= 500, "{} members in one page", members.len());
        seen.extend(members.into_iter().map(|m| m.user));
        pages += 1;
        assert!(pages < 100, "presence never ends");
        if !has_more {
            assert!(next.is_none(), "the last page has no cursor");
            break;
        }
        cursor = Some(next.expect("hasMore comes with a cursor"));
    }
    assert!(pages >= 10, "5,001 members in {pages} pages");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a member listed twice");
    assert_eq!(seen.len(), 5_001, "every member, alice included");
}

/// Runs the sync procedure until no room has `hasMore`: every frame posted and replied, as text,
/// and the messages per room in arrival order.
async fn sync_until_done(
    w: &World,
    caller: &starling_shared::service::send::Caller,
    rooms: &[&str],
    pages: bool,
) -> (Vec<usize>, std::collections::BTreeMap<String, Vec<u64>>, usize) {
    let mut from: std::collections::BTreeMap<String, u64> = rooms.iter().map(|r| (r.to_string(), 0)).collect();
    let mut got: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    let mut lens = Vec::new();
    let mut requests = 0;
    while !from.is_empty() {
        requests += 1;
        assert!(requests < 500, "sync never ends");
        let frame = serde_json::json!({"action":"sync","rooms":from,"pages":pages});
        let before = w.pusher.posts_to(&caller.connection.id).len();
        let reply = w.reply_text(caller, &frame.to_string()).await.expect("a reply");
        let mut texts: Vec<String> = w.pusher.posts_to(&caller.connection.id).split_off(before);
        texts.push(reply);
        from.clear();
        for text in texts {
            lens.push(text.len());
            match serde_json::from_str::<ServerFrame>(&text).unwrap() {
                ServerFrame::SyncPage { room, messages } => {
                    assert!(pages, "syncPage only when asked for");
                    got.entry(room).or_default().extend(messages.iter().map(|m| m.seq));
                }
                ServerFrame::Message(m) => got.entry(m.room).or_default().push(m.seq),
                ServerFrame::Synced { room, last_seq, has_more: true, .. } => {
                    from.insert(room, last_seq);
                }
                ServerFrame::Synced { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    (lens, got, requests)
}

#[tokio::test]
async fn sync_of_many_rooms_of_large_messages_pages_and_continues_until_everything_came_once() {
    let limits =
        starling_shared::service::send::SendLimits { rate_limit: 10_000, sync_max_frames: 40, ..Default::default() };
    let w = World::with(limits, starling_shared::adapters::memory::MemoryStore::new());
    let rooms: Vec<String> = (0..12).map(|i| format!("r{i:02}")).collect();
    let names: Vec<&str> = rooms.iter().map(String::as_str).collect();
    let alice = w.connect("alice").await;
    for (i, room) in names.iter().enumerate() {
        w.join(&alice, room).await;
        // Big bodies in some rooms, many small messages in others.
        if i % 2 == 0 { fill(&w, room, 60, BIG_BODY).await } else { fill(&w, room, 1_500, 100).await }
    }
    let (lens, got, requests) = sync_until_done(&w, &alice, &names, true).await;
    assert!(lens.iter().all(|l| *l <= MAX_FRAME_BYTES), "largest frame {:?}", lens.iter().max());
    assert!(requests > 1, "40 frames cannot carry all of it: the budget must stop the first sync");
    for (i, room) in names.iter().enumerate() {
        let n = if i % 2 == 0 { 60 } else { 1_500 };
        assert_eq!(got.get(*room).cloned().unwrap_or_default(), (1..=n).collect::<Vec<u64>>(), "{room}");
    }
}

#[tokio::test]
async fn a_sync_stops_at_its_frame_budget_and_answers_every_room_with_has_more() {
    let limits =
        starling_shared::service::send::SendLimits { rate_limit: 10_000, sync_max_frames: 5, ..Default::default() };
    let w = World::with(limits, starling_shared::adapters::memory::MemoryStore::new());
    let alice = w.connect("alice").await;
    for room in ["a", "b", "c"] {
        w.join(&alice, room).await;
        fill(&w, room, 30, 100).await;
    }
    // One message per frame (the original form): 5 frames reach 5 messages of room a.
    let reply = w.act(&alice, r#"{"action":"sync","rooms":{"a":0,"b":0,"c":7}}"#).await;
    let frames = w.frames(&alice);
    let synced: Vec<&ServerFrame> =
        frames.iter().chain([&reply]).filter(|f| matches!(f, ServerFrame::Synced { .. })).collect();
    let expected = [("a", 5), ("b", 0), ("c", 7)];
    assert_eq!(synced.len(), 3, "{synced:?}");
    for (frame, (room, last)) in synced.iter().zip(expected) {
        assert_eq!(**frame, ServerFrame::Synced { room: room.into(), recovered: true, last_seq: last, has_more: true },);
    }
    let seqs: Vec<u64> = frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Message(m) => Some(m.seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    // The original form still gets everything by following hasMore.
    let (_, got, _) = sync_until_done(&w, &alice, &["a", "b", "c"], false).await;
    for room in ["a", "b", "c"] {
        assert_eq!(got[room], (1..=30).collect::<Vec<u64>>(), "{room}");
    }
}

#[tokio::test]
async fn a_post_over_the_message_limit_is_refused_not_sent() {
    use starling_shared::ports::{PushError, Pusher};
    let w = World::new();
    let alice = w.connect("alice").await;
    let big = vec![b'x'; MAX_FRAME_BYTES + 1];
    let err = w.pusher.post(common::ENDPOINT, &alice.connection.id, &big).await.unwrap_err();
    assert!(matches!(err, PushError::TooLarge { bytes } if bytes == MAX_FRAME_BYTES + 1), "{err:?}");
    assert!(w.pusher.posts_to(&alice.connection.id).is_empty());
    let exact = vec![b'x'; MAX_FRAME_BYTES];
    w.pusher.post(common::ENDPOINT, &alice.connection.id, &exact).await.unwrap();
}
