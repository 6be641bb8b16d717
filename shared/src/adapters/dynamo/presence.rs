//! [`PresenceStore`]: presence, read cursors and the typing gate, each one item changed only by
//! update expressions.
//!
//! Presence is `USER#u / PRESENCE`: `conns`, a string set of the user's open connections as
//! `<expiresAt>#<connectionId>` (so one whose `$disconnect` never came stops counting after API
//! Gateway's two-hour limit), `away` and `lastSeen`. A user is online while one element is live.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};

use super::keys::{self, Key, PK};
use super::{DynamoStore, Item, build_err, is_condition_failure, number, retry, sdk_err};
use crate::domain::Presence;
use crate::domain::Status;
use crate::domain::{Connection, MAX_CONNECTION_SECS, timestamp_secs};
use crate::ports::{PresenceStore, StoreError};

/// BatchGetItem takes at most 100 keys.
const BATCH_GET_MAX: usize = 100;

/// The element of `conns` that stands for `conn`.
fn conn_element(conn: &Connection) -> String {
    format!("{}#{}", conn.expires_at(), conn.id)
}

fn element_live(element: &str, now: i64) -> bool {
    element.split_once('#').and_then(|(exp, _)| exp.parse::<i64>().ok()).is_some_and(|exp| exp > now)
}

fn string_set(item: &Item, name: &str) -> Vec<String> {
    item.get(name).and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default()
}

fn number_of(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

/// The presence a presence item (or its absence) stands for at `now`.
fn presence_of(user: &str, item: Option<&Item>, now: i64) -> Presence {
    let live = item.is_some_and(|i| string_set(i, "conns").iter().any(|e| element_live(e, now)));
    let away = item.and_then(|i| i.get("away")).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
    let last_seen = item.and_then(|i| number_of(i, "lastSeen")).map(timestamp_secs);
    let status = match (live, away) {
        (false, _) => Status::Offline,
        (true, true) => Status::Away,
        (true, false) => Status::Online,
    };
    Presence { user: user.to_owned(), status, last_seen }
}

/// After `element` was added to `old`: whether the user was offline before, and the update that
/// prunes dead elements (and clears `away` on coming online), if one is needed.
fn after_opening(old: &[String], element: &str, now: i64) -> (bool, Option<(&'static str, Vec<String>)>) {
    let dead: Vec<String> = old.iter().filter(|e| !element_live(e, now) && *e != element).cloned().collect();
    let was_offline = !old.iter().any(|e| element_live(e, now) && e != element);
    let expression = match (was_offline, dead.is_empty()) {
        (true, true) => Some("REMOVE away"),
        (true, false) => Some("REMOVE away DELETE conns :dead"),
        (false, false) => Some("DELETE conns :dead"),
        (false, true) => None,
    };
    (was_offline, expression.map(|e| (e, dead)))
}

impl DynamoStore {
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
    async fn connection_opened(&self, conn: &Connection, now: i64) -> Result<Option<Presence>, StoreError> {
        let element = conn_element(conn);
        let out = self
            .update(Key::presence(&conn.user))
            .update_expression("ADD conns :c")
            .expression_attribute_values(":c", AttributeValue::Ss(vec![element.clone()]))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        let old = out.attributes.map(|a| string_set(&a, "conns")).unwrap_or_default();
        let (was_offline, prune) = after_opening(&old, &element, now);
        if let Some((expression, dead)) = prune {
            self.update(Key::presence(&conn.user))
                .update_expression(expression)
                .set_expression_attribute_values(
                    (!dead.is_empty()).then(|| HashMap::from([(":dead".to_owned(), AttributeValue::Ss(dead))])),
                )
                .send()
                .await
                .map_err(sdk_err)?;
        }
        Ok(was_offline.then(|| Presence { user: conn.user.clone(), status: Status::Online, last_seen: None }))
    }

    async fn connection_closed(&self, conn: &Connection, now: i64) -> Result<Option<Presence>, StoreError> {
        let element = conn_element(conn);
        let result = self
            .update(Key::presence(&conn.user))
            .update_expression("DELETE conns :c SET lastSeen = :now")
            .condition_expression("contains(conns, :e)")
            .expression_attribute_values(":c", AttributeValue::Ss(vec![element.clone()]))
            .expression_attribute_values(":e", AttributeValue::S(element.clone()))
            .expression_attribute_values(":now", number(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(out) => out.attributes.map(|a| string_set(&a, "conns")).unwrap_or_default(),
            Err(e) if is_condition_failure(&e) => return Ok(None),
            Err(e) => return Err(sdk_err(e)),
        };
        let was_live = old.iter().any(|e| element_live(e, now));
        let still_live = old.iter().any(|e| element_live(e, now) && *e != element);
        Ok((was_live && !still_live).then(|| Presence {
            user: conn.user.clone(),
            status: Status::Offline,
            last_seen: Some(timestamp_secs(now)),
        }))
    }

    async fn set_status(&self, user: &str, status: Status, now: i64) -> Result<Option<Presence>, StoreError> {
        let away = AttributeValue::Bool(status == Status::Away);
        let out = self
            .update(Key::presence(user))
            .update_expression("SET away = :away")
            .expression_attribute_values(":away", away.clone())
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_err)?;
        let old = out.attributes.unwrap_or_default();
        let before = presence_of(user, Some(&old), now);
        let mut new = old;
        new.insert("away".into(), away);
        let after = presence_of(user, Some(&new), now);
        Ok((before.status != after.status).then_some(Presence { last_seen: None, ..after }))
    }

    async fn presence(&self, users: &[String], now: i64) -> Result<Vec<Presence>, StoreError> {
        let found = self.presence_items(users).await?;
        Ok(users.iter().map(|u| presence_of(u, found.get(u), now)).collect())
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
