//! [`SubscriptionStore`]: a subscription is three items written in one transaction, the room's
//! subscriber, the connection's inverse and the membership (which outlives the connection). The
//! same transaction counts the connection's rooms in `roomCount` on its `CONN` item, under the
//! limit as a condition, so concurrent joins cannot pass it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, Select, TransactWriteItem, Update};

use super::items::{
    ConnectionRoomItem, MemberItem, RouteItem, SUBSCRIBER_PROJECTION, SubscriberItem, SubscriberProjection, from_item,
    to_item,
};
use super::keys::{self, Key, SK};
use super::paging::Pages;
use super::schema::GSI1;
use super::{DynamoStore, build_err, number, sdk_err};
use crate::domain::{Connection, Page, Probe, Shard, Subscriber};
use crate::ports::{StoreError, SubscriptionStore};

impl DynamoStore {
    /// Writes the subscription's items again without counting it (it is counted already), so a
    /// repeated join restores a membership another device's `leave` ended.
    async fn renew_subscription(&self, room: &str, conn: &Connection) -> Result<(), StoreError> {
        // Only a registered connection may subscribe: a `$disconnect` that ran first has removed it.
        let registered = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(Key::connection(&conn.id).into_item()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(registered).build(),
            self.transact_put(to_item(&SubscriberItem::new(room, conn))?)?,
            self.transact_put(to_item(&ConnectionRoomItem::new(room, conn))?)?,
            self.transact_put(to_item(&MemberItem::new(room, &conn.user))?)?,
            // The subscriber item moves to its current key, so the room lists it once.
            self.transact_delete(Key::legacy_subscriber(room, &conn.id))?,
        ];
        if self.transact(items).await? { Ok(()) } else { Err(StoreError::NotFound(format!("connection {}", conn.id))) }
    }
}

#[async_trait]
impl SubscriptionStore for DynamoStore {
    async fn subscribe_within(&self, room: &str, conn: &Connection, max_rooms: usize) -> Result<bool, StoreError> {
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::connection(&conn.id).into_item()))
            .update_expression("ADD roomCount :one")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(roomCount) OR roomCount < :max)")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":max", number(max_rooms))
            .build()
            .map_err(build_err)?;
        let inverse = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&ConnectionRoomItem::new(room, conn))?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder().update(count).build(),
            TransactWriteItem::builder().put(inverse).build(),
            self.transact_put(to_item(&SubscriberItem::new(room, conn))?)?,
            self.transact_put(to_item(&MemberItem::new(room, &conn.user))?)?,
        ];
        if self.transact(items).await? {
            return Ok(true);
        }
        // Cancelled: unregistered, already subscribed (renew it, uncounted), or at the limit.
        if !self.exists(Key::connection(&conn.id)).await? {
            return Err(StoreError::NotFound(format!("connection {}", conn.id)));
        }
        if !self.is_subscribed(room, &conn.id).await? {
            return Ok(false);
        }
        self.renew_subscription(room, conn).await?;
        Ok(true)
    }

    async fn unsubscribe(&self, room: &str, conn: &Connection) -> Result<(), StoreError> {
        let inverse = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Key::connection_room(&conn.id, room).into_item()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_err)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::connection(&conn.id).into_item()))
            .update_expression("ADD roomCount :minus")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":minus", number(-1))
            .build()
            .map_err(build_err)?;
        let counted = vec![
            TransactWriteItem::builder().delete(inverse).build(),
            TransactWriteItem::builder().update(count).build(),
            self.transact_delete(Key::subscriber(room, &conn.id))?,
            self.transact_delete(Key::legacy_subscriber(room, &conn.id))?,
            self.transact_delete(Key::member(room, &conn.user))?,
        ];
        if self.transact(counted).await? {
            return Ok(());
        }
        // Not subscribed, or the connection is gone: nothing to count, delete what remains.
        let items = vec![
            self.transact_delete(Key::subscriber(room, &conn.id))?,
            self.transact_delete(Key::legacy_subscriber(room, &conn.id))?,
            self.transact_delete(Key::connection_room(&conn.id, room))?,
            self.transact_delete(Key::member(room, &conn.user))?,
        ];
        if self.transact(items).await? {
            Ok(())
        } else {
            Err(StoreError::Failed("unconditional unsubscribe was cancelled".into()))
        }
    }

    async fn is_subscribed(&self, room: &str, connection_id: &str) -> Result<bool, StoreError> {
        // A connection opened before the upgrade to shards is subscribed under the old key; only
        // a refusal pays for the second read.
        Ok(self.exists(Key::subscriber(room, connection_id)).await?
            || self.exists(Key::legacy_subscriber(room, connection_id)).await?)
    }

    async fn subscription_count(&self, connection_id: &str) -> Result<usize, StoreError> {
        let query = self
            .query_partition(keys::connection_partition(connection_id), Some(keys::SUBSCRIPTION_PREFIX))
            .select(Select::Count)
            .consistent_read(true);
        let mut pages = Pages::new(query);
        let mut count = 0usize;
        while let Some(page) = pages.next().await? {
            count += usize::try_from(page.count).unwrap_or(0);
        }
        Ok(count)
    }

    async fn subscribers_in(
        &self,
        room: &str,
        shard: Shard,
        cursor: Option<&str>,
    ) -> Result<Page<Subscriber>, StoreError> {
        let query = if shard.is_all() {
            self.query_partition(keys::room_partition(room), Some(keys::SUBSCRIPTION_PREFIX))
        } else {
            let (first, last) = keys::shard_range(shard);
            self.query_range(keys::room_partition(room), first, last)
        };
        let out = query
            .projection_expression(SUBSCRIBER_PROJECTION)
            .expression_attribute_names("#u", "user")
            .expression_attribute_names("#b", "batch")
            .set_limit(self.page_size)
            .set_exclusive_start_key(cursor.map(|c| Key::room_cursor(room, c).into_item()))
            .send()
            .await
            .map_err(sdk_err)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item::<SubscriberProjection>(i).map(Subscriber::from))
            .collect::<Result<Vec<_>, _>>()?;
        // The cursor is the last sort key; the partition is implied by the room.
        let next = out.last_evaluated_key.and_then(|k| k.get(SK).and_then(|v| v.as_s().ok()).cloned());
        Ok(Page { items, next })
    }

    async fn probe(&self, room: &str, limit: usize) -> Result<Probe, StoreError> {
        let route = Key::room_route(room).sk;
        // One more than `limit`: the route item, when there is one, takes a place.
        let out = self
            .query_range(keys::room_partition(room), route.clone(), keys::SUBSCRIPTION_END.to_owned())
            .projection_expression(format!("{SUBSCRIBER_PROJECTION}, sk, shardedUntil"))
            .expression_attribute_names("#u", "user")
            .expression_attribute_names("#b", "batch")
            .limit(i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(sdk_err)?;
        let mut probe = Probe::default();
        for item in out.items.unwrap_or_default() {
            if item.get(SK).and_then(|v| v.as_s().ok()) == Some(&route) {
                probe.sharded_until = item.get("shardedUntil").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
            } else {
                probe.subscribers.push(from_item::<SubscriberProjection>(item).map(Subscriber::from)?);
            }
        }
        let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        probe.complete = !more && probe.subscribers.len() < limit;
        Ok(probe)
    }

    async fn mark_sharded(&self, room: &str, until: i64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&RouteItem::new(room, until))?))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn is_member(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        self.exists(Key::member(room, user)).await
    }

    async fn members(&self, room: &str) -> Result<Vec<String>, StoreError> {
        let items = self.query_all(keys::room_partition(room), Some(keys::MEMBER_PREFIX)).await?;
        items.into_iter().map(|i| from_item::<MemberItem>(i).map(|m| m.user)).collect()
    }

    async fn rooms_of(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let query = self
            .query()
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :u")
            .expression_attribute_values(":u", AttributeValue::S(keys::user_partition(user)));
        let mut pages = Pages::new(query);
        let mut rooms = Vec::new();
        while let Some(page) = pages.next().await? {
            for item in page.items.unwrap_or_default() {
                rooms.push(from_item::<MemberItem>(item)?.room);
            }
        }
        Ok(rooms)
    }
}
