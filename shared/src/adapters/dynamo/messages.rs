//! [`MessageStore`]: gapless per-room seqs from a conditional head, each append one
//! TransactWriteItems of head, message and dedup record; history and sync as range Queries.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::PoisonError;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use tracing::debug;

use super::items::{DedupItem, HeadItem, MessageItem, from_item, to_item};
use super::keys::{self, Key};
use super::paging::Pages;
use super::{DynamoStore, build_err, is_condition_failure, number, sdk_err};
use crate::domain::Message;
use crate::domain::{AppendOutcome, Appended, HistoryPage, NewMessage, RoomEpoch, SyncPage};
use crate::ports::{MessageStore, StoreError};

/// Head-conflict retries before `append` gives up with `Contention`.
const APPEND_ATTEMPTS: usize = 8;
/// Room heads remembered between invocations; past this the cache is cleared.
const HEAD_CACHE_MAX: usize = 10_000;

impl DynamoStore {
    fn cached_head(&self, room: &str) -> Option<u64> {
        self.heads.lock().unwrap_or_else(PoisonError::into_inner).get(room).copied()
    }

    fn remember_head(&self, room: &str, seq: u64) {
        let mut heads = self.heads.lock().unwrap_or_else(PoisonError::into_inner);
        if heads.len() >= HEAD_CACHE_MAX {
            heads.clear();
        }
        heads.insert(room.to_owned(), seq);
    }

    /// The transaction appending `msg` after `head`, and the message it stores. It is cancelled
    /// when the head has moved, the seq is taken, or a live dedup record says `msg` is stored.
    fn append_transaction(
        &self,
        msg: &NewMessage,
        head: u64,
    ) -> Result<(Vec<TransactWriteItem>, MessageItem), StoreError> {
        let seq = head + 1;
        // An update, not a put: it must keep an encrypted room's epoch and group id.
        let mut set = String::from("SET lastSeq = :seq");
        let mut condition = String::from(if head == 0 { "attribute_not_exists(lastSeq)" } else { "lastSeq = :head" });
        let mut values = HashMap::from([(":seq".to_owned(), number(seq))]);
        if head > 0 {
            values.insert(":head".to_owned(), number(head));
        }
        if let Some(commit) = &msg.commit {
            // One Commit per epoch: stored only while the room is at its epoch (and group),
            // moving it to the next in the same transaction.
            set.push_str(", epoch = :next, groupId = :group");
            condition.push_str(if commit.epoch == 0 {
                " AND (attribute_not_exists(epoch) OR epoch = :epoch) AND attribute_not_exists(groupId)"
            } else {
                " AND epoch = :epoch AND groupId = :group"
            });
            values.insert(":next".to_owned(), number(commit.epoch + 1));
            values.insert(":epoch".to_owned(), number(commit.epoch));
            values.insert(":group".to_owned(), AttributeValue::S(commit.group_id.clone()));
            if commit.epoch == 0 {
                // The Commit making the group admits its sender (RoomEpoch::admitted).
                set.push_str(" ADD admitted :creator");
                values.insert(":creator".to_owned(), AttributeValue::Ss(vec![msg.from.clone()]));
            }
        }
        let head_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::head(&msg.room).into_item()))
            .update_expression(set)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(build_err)?;
        let message = MessageItem::new(msg.sequenced(seq), msg.expires_at);
        let message_put =
            self.put(to_item(&message)?).condition_expression("attribute_not_exists(pk)").build().map_err(build_err)?;
        // An expired dedup record may be overwritten: TTL deletes lazily (or, in emulators, never).
        let dedup_put = self
            .put(to_item(&DedupItem::new(msg, seq))?)
            .condition_expression("attribute_not_exists(pk) OR expiresAt < :now")
            .expression_attribute_values(":now", number(msg.now))
            .build()
            .map_err(build_err)?;
        let mut items = vec![TransactWriteItem::builder().update(head_update).build()];
        items.extend([message_put, dedup_put].map(|put| TransactWriteItem::builder().put(put).build()));
        Ok((items, message))
    }

    /// The room's head, read consistently (all zero for a room without messages).
    async fn head(&self, room: &str) -> Result<HeadItem, StoreError> {
        match self.get_item(Key::head(room)).await? {
            Some(item) => from_item(item),
            None => Ok(HeadItem::default()),
        }
    }

    /// The stored original when `msg` (or its client message id) has a live dedup record.
    async fn already_appended(&self, msg: &NewMessage) -> Result<Option<Appended>, StoreError> {
        let Some(item) = self.get_item(Key::dedup(msg)).await? else {
            return Ok(None);
        };
        let record: DedupItem = from_item(item)?;
        if record.expires_at < msg.now {
            return Ok(None);
        }
        let stored = self.read_message(&msg.room, record.seq).await?;
        let outcome = if stored.id == msg.id { AppendOutcome::Redelivered } else { AppendOutcome::Duplicate };
        Ok(Some(Appended { message: stored, outcome }))
    }

    async fn read_message(&self, room: &str, seq: u64) -> Result<Message, StoreError> {
        let item = self
            .get_item(Key::message(room, seq))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("message {room}#{seq}")))?;
        Ok(from_item::<MessageItem>(item)?.into())
    }

    /// Up to `want` messages of a room with seq in `seqs`, ascending or descending, across
    /// DynamoDB's 1 MB pages (101 messages of 16 KiB exceed one); `keep` drops items uncounted.
    async fn query_messages(
        &self,
        room: &str,
        seqs: RangeInclusive<u64>,
        ascending: bool,
        want: usize,
        keep: impl Fn(&MessageItem) -> bool + Send,
    ) -> Result<Vec<MessageItem>, StoreError> {
        let query = self
            .query()
            .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", AttributeValue::S(keys::room_partition(room)))
            .expression_attribute_values(":lo", AttributeValue::S(keys::message_sort_key(*seqs.start())))
            .expression_attribute_values(":hi", AttributeValue::S(keys::message_sort_key(*seqs.end())))
            .scan_index_forward(ascending)
            // Consistent, like the head read before it: every seq up to that head must be seen,
            // or `synced.lastSeq` would vouch for a message the page left out.
            .consistent_read(true);
        let mut pages = Pages::new(query);
        let mut found: Vec<MessageItem> = Vec::with_capacity(want.min(1024));
        while found.len() < want {
            let limit = i32::try_from(want - found.len()).unwrap_or(i32::MAX);
            let Some(page) = pages.next_at_most(limit).await? else {
                break;
            };
            for item in page.items.unwrap_or_default() {
                let m: MessageItem = from_item(item)?;
                if keep(&m) {
                    found.push(m);
                }
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn append(&self, msg: NewMessage) -> Result<Appended, StoreError> {
        let mut head = match self.cached_head(&msg.room) {
            Some(h) => h,
            None => self.last_seq(&msg.room).await?,
        };
        for _ in 0..APPEND_ATTEMPTS {
            let (items, message) = self.append_transaction(&msg, head)?;
            if self.transact(items).await? {
                self.remember_head(&msg.room, message.seq);
                return Ok(Appended { message: message.into(), outcome: AppendOutcome::Fresh });
            }
            // Cancelled: either this message (or its clientMsgId) is stored already, or the head
            // moved. Reading the dedup record first tells which.
            if let Some(appended) = self.already_appended(&msg).await? {
                return Ok(appended);
            }
            let now = self.head(&msg.room).await?;
            if let Some(commit) = &msg.commit {
                let group_differs = now.group_id.as_ref().is_some_and(|g| *g != commit.group_id);
                if now.epoch != commit.epoch || group_differs {
                    self.remember_head(&msg.room, now.last_seq);
                    return Ok(Appended {
                        message: msg.sequenced(0),
                        outcome: AppendOutcome::Conflict { epoch: now.epoch },
                    });
                }
            }
            head = now.last_seq;
            debug!(room = %msg.room, head, "room head moved; appending again");
            self.remember_head(&msg.room, head);
        }
        Err(StoreError::Contention { room: msg.room })
    }

    async fn last_seq(&self, room: &str) -> Result<u64, StoreError> {
        Ok(self.head(room).await?.last_seq)
    }

    async fn room_epoch(&self, room: &str) -> Result<RoomEpoch, StoreError> {
        let head = self.head(room).await?;
        Ok(RoomEpoch { epoch: head.epoch, group_id: head.group_id, admitted: head.admitted })
    }

    async fn admit(&self, room: &str, users: &[String]) -> Result<(), StoreError> {
        if users.is_empty() {
            return Ok(());
        }
        // On the head only once it names a group: never a head made of `admitted` alone.
        let out = self
            .update(Key::head(room))
            .update_expression("ADD admitted :users")
            .condition_expression("attribute_exists(groupId)")
            .expression_attribute_values(":users", AttributeValue::Ss(users.to_vec()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::NotFound(format!("the MLS group of {room}"))),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn history(&self, room: &str, before: Option<u64>, limit: u32, now: i64) -> Result<HistoryPage, StoreError> {
        let upper = match before {
            Some(0 | 1) => return Ok(HistoryPage { messages: vec![], has_more: false }),
            Some(b) => b - 1,
            None => u64::MAX,
        };
        let want = limit as usize + 1;
        let newest_first = self.query_messages(room, 1..=upper, false, want, |_| true).await?;
        // Retention is by seq order, so once one message is expired every older one is too.
        let live: Vec<MessageItem> = newest_first.into_iter().take_while(|m| m.expires_at >= now).collect();
        let has_more = live.len() > limit as usize;
        let mut messages: Vec<Message> = live.into_iter().take(limit as usize).map(Message::from).collect();
        messages.reverse();
        Ok(HistoryPage { messages, has_more })
    }

    async fn since(&self, room: &str, after: u64, limit: usize, now: i64) -> Result<SyncPage, StoreError> {
        let last_seq = self.last_seq(room).await?;
        if last_seq <= after {
            return Ok(SyncPage { messages: vec![], recovered: true, has_more: false, last_seq });
        }
        // Expired messages are the oldest, so they sit at the start of the range; skipping them
        // without counting them keeps `limit` live ones.
        let live = self.query_messages(room, after + 1..=u64::MAX, true, limit + 1, |m| m.expires_at >= now).await?;
        let has_more = live.len() > limit;
        let recovered = live.first().is_some_and(|m| m.seq == after + 1);
        let messages = live.into_iter().take(limit).map(Message::from).collect();
        Ok(SyncPage { messages, recovered, has_more, last_seq })
    }
}
