//! [`PresenceStore`]: presence, read cursors and the typing gate.
//!
//! Presence is `USER#u / PRESENCE`, read whole, changed by [`PresenceRecord`]'s transitions and
//! written back only if its `version` is still the one read (optimistic concurrency), so
//! transitions apply one at a time and each gets a greater version. Attributes: `conns`, a string
//! set of the user's counted connections as `<expiresAt>#<connectionId>`; `seen`, a map of
//! connection id to last recorded activity (epoch s); `away`; `lastSeen`; `st`, the status last
//! announced; `version`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::keys::{self, Key, PK};
use super::{DynamoStore, Item, build_err, is_condition_failure, number, retry, sdk_err};
use crate::domain::{
    ACTIVITY_GRANULARITY_SECS, Connection, MAX_CONNECTION_SECS, Opened, Presence, PresenceRecord, Status, StatusSet,
    Tracked,
};
use crate::ports::{PresenceStore, StoreError};

/// BatchGetItem takes at most 100 keys.
const BATCH_GET_MAX: usize = 100;
/// Tries of a presence write that lost to another writer before giving up with `Contention`.
const WRITE_ATTEMPTS: u32 = 10;

fn number_of(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

fn status_of(s: &str) -> Option<Status> {
    [Status::Online, Status::Away, Status::Offline].into_iter().find(|st| st.as_str() == s)
}

/// The record a presence item (or its absence) stands for.
fn record_of(item: Option<&Item>) -> PresenceRecord {
    let Some(item) = item else { return PresenceRecord::default() };
    let seen = item.get("seen").and_then(|v| v.as_m().ok());
    let conns = item.get("conns").and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default();
    let connections = conns
        .iter()
        .filter_map(|e| {
            let (exp, id) = e.split_once('#')?;
            let active_at = seen.and_then(|m| m.get(id)).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
            Some((id.to_owned(), Tracked { expires_at: exp.parse().ok()?, active_at }))
        })
        .collect();
    PresenceRecord {
        connections,
        away: item.get("away").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        last_seen: number_of(item, "lastSeen"),
        announced: item.get("st").and_then(|v| v.as_s().ok()).and_then(|s| status_of(s)),
        version: number_of(item, "version").and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
    }
}

/// The item of `user`'s record.
fn item_of(user: &str, r: &PresenceRecord) -> Item {
    let mut item = Key::presence(user).into_item();
    let conns: Vec<String> = r.connections.iter().map(|(id, t)| format!("{}#{id}", t.expires_at)).collect();
    if !conns.is_empty() {
        item.insert("conns".into(), AttributeValue::Ss(conns));
    }
    let seen = r.connections.iter().filter_map(|(id, t)| Some((id.clone(), number(t.active_at?)))).collect();
    item.insert("seen".into(), AttributeValue::M(seen));
    item.insert("away".into(), AttributeValue::Bool(r.away));
    if let Some(l) = r.last_seen {
        item.insert("lastSeen".into(), number(l));
    }
    if let Some(st) = r.announced {
        item.insert("st".into(), AttributeValue::S(st.as_str().to_owned()));
    }
    item.insert("version".into(), number(r.version));
    item
}

impl DynamoStore {
    /// Reads `user`'s record, applies `change`, and writes it back if nobody wrote it meanwhile,
    /// re-reading and re-applying otherwise. `change` answers what to return and whether to write.
    async fn change_presence<T>(
        &self,
        user: &str,
        change: impl Fn(&mut PresenceRecord) -> (T, bool),
    ) -> Result<T, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let old = self.get_item(Key::presence(user)).await?;
            let mut record = record_of(old.as_ref());
            let read_version = old.as_ref().and_then(|i| number_of(i, "version"));
            let (answer, write) = change(&mut record);
            if !write {
                return Ok(answer);
            }
            let put = self.client.put_item().table_name(&self.table).set_item(Some(item_of(user, &record)));
            let put = match read_version {
                Some(v) => put.condition_expression("version = :v").expression_attribute_values(":v", number(v)),
                None if old.is_some() => put.condition_expression("attribute_not_exists(version)"),
                None => put.condition_expression("attribute_not_exists(pk)"),
            };
            match put.send().await {
                Ok(_) => return Ok(answer),
                Err(e) if is_condition_failure(&e) => continue,
                Err(e) => return Err(sdk_err(e)),
            }
        }
        Err(StoreError::Contention { room: format!("presence of {user}") })
    }

    /// The presence items of `users` (at most one per user) by user, read consistently.
    async fn presence_items(&self, users: &[String]) -> Result<HashMap<String, Item>, StoreError> {
        let mut found: HashMap<String, Item> = HashMap::new();
        for chunk in users.chunks(BATCH_GET_MAX) {
            let mut batch: Vec<Item> = chunk.iter().map(|u| Key::presence(u).into_item()).collect();
            batch.dedup();
            let pages = retry::until_processed("presence reads", retry::READ_ATTEMPTS, batch, |k| self.batch_get(k));
            for item in pages.await?.into_iter().flatten() {
                let user = item.get(PK).and_then(|v| v.as_s().ok()).and_then(|pk| keys::user_of_partition(pk));
                if let Some(user) = user.map(str::to_owned) {
                    found.insert(user, item);
                }
            }
        }
        Ok(found)
    }

    /// One consistent BatchGetItem; returns the items found and the keys left unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<(Vec<Item>, Vec<Item>), StoreError> {
        let request =
            KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().map_err(build_err)?;
        let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(sdk_err)?;
        let found = out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default();
        let unprocessed = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys);
        Ok((found, unprocessed.unwrap_or_default()))
    }
}

#[async_trait]
impl PresenceStore for DynamoStore {
    async fn connection_opened(&self, conn: &Connection, now: i64) -> Result<Opened, StoreError> {
        self.change_presence(&conn.user, |r| (r.open(conn, now), true)).await
    }

    async fn connection_closed(&self, conn: &Connection, now: i64) -> Result<Option<Presence>, StoreError> {
        self.change_presence(&conn.user, |r| match r.close(&conn.user, &conn.id, now) {
            Some(transition) => (transition, true),
            None => (None, false),
        })
        .await
    }

    async fn set_status(&self, user: &str, status: Status, now: i64) -> Result<StatusSet, StoreError> {
        self.change_presence(user, |r| (r.set_away(user, status == Status::Away, now), true)).await
    }

    async fn presence(&self, users: &[String], now: i64) -> Result<Vec<Presence>, StoreError> {
        let found = self.presence_items(users).await?;
        Ok(users.iter().map(|u| record_of(found.get(u)).presence(u, now)).collect())
    }

    async fn connections_of(&self, user: &str, now: i64) -> Result<Vec<String>, StoreError> {
        let found = self.presence_items(&[user.to_owned()]).await?;
        Ok(record_of(found.get(user)).live_connections(now))
    }

    async fn touch(&self, conn: &Connection, now: i64) -> Result<(), StoreError> {
        // One conditional update, no read: it writes only when the recorded activity is older
        // than the granularity; bumping the version makes a concurrent whole-record write retry.
        let result = self
            .update(Key::presence(&conn.user))
            .update_expression("SET seen.#c = :now ADD version :one")
            .condition_expression("seen.#c < :cutoff")
            .expression_attribute_names("#c", &conn.id)
            .expression_attribute_values(":now", number(now))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":cutoff", number(now - ACTIVITY_GRANULARITY_SECS + 1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn set_read(&self, user: &str, room: &str, seq: u64) -> Result<u64, StoreError> {
        let result = self
            .update(Key::read_cursor(user, room))
            .update_expression("SET seq = :seq")
            .condition_expression("attribute_not_exists(seq) OR seq < :seq")
            .expression_attribute_values(":seq", number(seq))
            .send()
            .await;
        match result {
            Ok(_) => Ok(seq),
            Err(e) if is_condition_failure(&e) => Ok(self.read_cursor(user, room).await?.unwrap_or(seq)),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn read_cursor(&self, user: &str, room: &str) -> Result<Option<u64>, StoreError> {
        let item = self.get_item(Key::read_cursor(user, room)).await?;
        Ok(item.and_then(|i| i.get("seq").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())))
    }

    async fn typing_allowed(
        &self,
        connection_id: &str,
        room: &str,
        now_ms: i64,
        interval_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .update(Key::typing(connection_id, room))
            .update_expression("SET lastTyping = :now, expiresAt = :exp")
            .condition_expression("attribute_not_exists(lastTyping) OR lastTyping <= :cutoff")
            .expression_attribute_values(":now", number(now_ms))
            .expression_attribute_values(":cutoff", number(now_ms - interval_ms))
            .expression_attribute_values(":exp", number(now_ms / 1000 + MAX_CONNECTION_SECS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }
}
