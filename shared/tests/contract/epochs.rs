//! One MLS Commit per epoch (docs/e2e.md) in the contract suite: every case runs against the
//! in-memory store and against DynamoDB on moto, and the hostile ones race Commits.

use super::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::join_all;
use starling_shared::domain::{AppendOutcome, CommitEpoch, NewMessage, RoomEpoch};
use starling_shared::ports::Store;

fn memory() -> Arc<dyn Store> {
    common::memory_store(2)
}

async fn moto() -> Arc<dyn Store> {
    common::moto_store("contract-epochs", 2).await
}

common::contract!(
    a_commit_is_stored_only_in_its_epoch_and_moves_the_room_to_the_next,
    other_messages_between_commits_keep_the_epoch,
    a_redelivered_commit_is_a_redelivery_not_a_conflict,
    of_concurrent_commits_for_one_epoch_exactly_one_is_stored_and_seqs_stay_gapless,
    a_commit_for_another_group_is_a_conflict,
    the_commit_making_the_group_admits_its_sender_and_admit_adds_users,
    admitting_into_a_room_without_a_group_is_not_found_and_writes_nothing,
);

const NOW: i64 = 1_800_000_000;

fn message(room: &str, id: &str, commit: Option<(&str, u64)>) -> NewMessage {
    NewMessage {
        id: id.into(),
        room: room.into(),
        from: "alice".into(),
        body: format!("ciphertext {id}"),
        client_msg_id: Some(format!("c-{id}")),
        sent_at: "2026-11-24T21:00:00.000Z".into(),
        expires_at: NOW + 1000,
        now: NOW,
        commit: commit.map(|(group, epoch)| CommitEpoch { group_id: group.into(), epoch }),
    }
}

async fn a_commit_is_stored_only_in_its_epoch_and_moves_the_room_to_the_next(s: Arc<dyn Store>) {
    let first = s.append(message("e2e:a", "01A", Some(("g", 0)))).await.unwrap();
    assert_eq!((first.outcome, first.message.seq), (AppendOutcome::Fresh, 1));
    let late = s.append(message("e2e:a", "01B", Some(("g", 0)))).await.unwrap();
    assert_eq!(late.outcome, AppendOutcome::Conflict { epoch: 1 });
    assert_eq!(s.last_seq("e2e:a").await.unwrap(), 1, "the loser was not stored");
    let ahead = s.append(message("e2e:a", "01C", Some(("g", 5)))).await.unwrap();
    assert_eq!(ahead.outcome, AppendOutcome::Conflict { epoch: 1 }, "a commit from the future");
    let next = s.append(message("e2e:a", "01D", Some(("g", 1)))).await.unwrap();
    assert_eq!((next.outcome, next.message.seq), (AppendOutcome::Fresh, 2));
    // The store's own cached head is current here, so only the epoch condition can refuse it.
    let stale = s.append(message("e2e:a", "01E", Some(("g", 1)))).await.unwrap();
    assert_eq!(stale.outcome, AppendOutcome::Conflict { epoch: 2 });
    let history = s.history("e2e:a", None, 10, NOW).await.unwrap();
    let ids: Vec<_> = history.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["01A", "01D"]);
}

async fn other_messages_between_commits_keep_the_epoch(s: Arc<dyn Store>) {
    s.append(message("e2e:b", "01A", Some(("g", 0)))).await.unwrap();
    for i in 0..3 {
        let app = s.append(message("e2e:b", &format!("01P{i}"), None)).await.unwrap();
        assert_eq!(app.outcome, AppendOutcome::Fresh);
    }
    assert_eq!(
        s.append(message("e2e:b", "01B", Some(("g", 0)))).await.unwrap().outcome,
        AppendOutcome::Conflict { epoch: 1 }
    );
    let next = s.append(message("e2e:b", "01C", Some(("g", 1)))).await.unwrap();
    assert_eq!((next.outcome, next.message.seq), (AppendOutcome::Fresh, 5));
    let at = s.room_epoch("e2e:b").await.unwrap();
    let creator = BTreeSet::from(["alice".to_owned()]);
    assert_eq!(at, RoomEpoch { epoch: 2, group_id: Some("g".into()), admitted: creator }, "what send reads");
    assert_eq!(s.room_epoch("e2e:none").await.unwrap(), RoomEpoch::default(), "a room with no Commit");
}

async fn a_redelivered_commit_is_a_redelivery_not_a_conflict(s: Arc<dyn Store>) {
    let stored = s.append(message("e2e:c", "01A", Some(("g", 0)))).await.unwrap();
    let again = s.append(message("e2e:c", "01A", Some(("g", 0)))).await.unwrap();
    assert_eq!(again.outcome, AppendOutcome::Redelivered);
    assert_eq!(again.message, stored.message);
}

async fn of_concurrent_commits_for_one_epoch_exactly_one_is_stored_and_seqs_stay_gapless(s: Arc<dyn Store>) {
    for epoch in 0..3u64 {
        let racers = join_all((0..6).map(|i| {
            let s = s.clone();
            async move {
                let commit = s.append(message("e2e:d", &format!("01C{epoch}{i}"), Some(("g", epoch))));
                let app = s.append(message("e2e:d", &format!("01M{epoch}{i}"), None));
                let (commit, app) = futures::join!(commit, app);
                (commit.unwrap(), app.unwrap())
            }
        }))
        .await;
        let winners: Vec<_> = racers.iter().filter(|(c, _)| c.outcome == AppendOutcome::Fresh).collect();
        assert_eq!(winners.len(), 1, "epoch {epoch}: {racers:?}");
        for (commit, app) in &racers {
            assert!(
                commit.outcome == AppendOutcome::Fresh
                    || commit.outcome == AppendOutcome::Conflict { epoch: epoch + 1 },
                "{commit:?}"
            );
            assert_eq!(app.outcome, AppendOutcome::Fresh);
        }
    }
    let history = s.history("e2e:d", None, 100, NOW).await.unwrap();
    let seqs: Vec<u64> = history.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=21).collect::<Vec<_>>(), "3 commits and 18 other messages, no gap");
    let commits: BTreeSet<_> = history.messages.iter().filter(|m| m.id.starts_with("01C")).map(|m| &m.id).collect();
    assert_eq!(commits.len(), 3);
}

async fn a_commit_for_another_group_is_a_conflict(s: Arc<dyn Store>) {
    s.append(message("e2e:e", "01A", Some(("g", 0)))).await.unwrap();
    let other = s.append(message("e2e:e", "01B", Some(("h", 1)))).await.unwrap();
    assert_eq!(other.outcome, AppendOutcome::Conflict { epoch: 1 });
    let founding = s.append(message("e2e:e", "01C", Some(("h", 0)))).await.unwrap();
    assert_eq!(founding.outcome, AppendOutcome::Conflict { epoch: 1 }, "the room already has its group");
    assert_eq!(s.append(message("e2e:e", "01D", Some(("g", 1)))).await.unwrap().outcome, AppendOutcome::Fresh);
}

fn from(user: &str, mut m: NewMessage) -> NewMessage {
    m.from = user.into();
    m
}

async fn the_commit_making_the_group_admits_its_sender_and_admit_adds_users(s: Arc<dyn Store>) {
    let room = "e2e:roster";
    assert!(s.room_epoch(room).await.unwrap().admits("anyone"), "no group yet: nothing to keep anyone out of");
    s.append(from("alice", message(room, "01A", Some(("g", 0))))).await.unwrap();
    let lost = s.append(from("mallory", message(room, "01B", Some(("g", 0))))).await.unwrap();
    assert_eq!(lost.outcome, AppendOutcome::Conflict { epoch: 1 });
    // Later Commits and other messages admit nobody.
    s.append(from("mallory", message(room, "01C", None))).await.unwrap();
    s.append(from("alice", message(room, "01D", Some(("g", 1))))).await.unwrap();
    let at = s.room_epoch(room).await.unwrap();
    assert_eq!(at.admitted, BTreeSet::from(["alice".to_owned()]), "the creator alone");
    assert!(at.admits("alice") && !at.admits("mallory"));

    s.admit(room, &["bob".to_owned(), "carol".to_owned()]).await.unwrap();
    s.admit(room, &["bob".to_owned()]).await.unwrap();
    s.admit(room, &[]).await.unwrap();
    let at = s.room_epoch(room).await.unwrap();
    let want: BTreeSet<String> = ["alice", "bob", "carol"].map(str::to_owned).into();
    assert_eq!(at.admitted, want);
    assert_eq!((at.epoch, at.group_id.as_deref()), (2, Some("g")), "admitting leaves the epoch alone");
    assert_eq!(s.last_seq(room).await.unwrap(), 3, "and the head");
}

async fn admitting_into_a_room_without_a_group_is_not_found_and_writes_nothing(s: Arc<dyn Store>) {
    let err = s.admit("e2e:nogroup", &["bob".to_owned()]).await.unwrap_err();
    assert!(matches!(err, starling_shared::ports::StoreError::NotFound(_)), "{err:?}");
    assert_eq!(s.room_epoch("e2e:nogroup").await.unwrap(), RoomEpoch::default());
    // A room with messages but no Commit (its head exists) has no group either.
    s.append(message("e2e:plain", "01A", None)).await.unwrap();
    let err = s.admit("e2e:plain", &["bob".to_owned()]).await.unwrap_err();
    assert!(matches!(err, starling_shared::ports::StoreError::NotFound(_)), "{err:?}");
    let at = s.room_epoch("e2e:plain").await.unwrap();
    assert!(at.admitted.is_empty() && at.group_id.is_none());
    assert_eq!(s.last_seq("e2e:plain").await.unwrap(), 1);
}
