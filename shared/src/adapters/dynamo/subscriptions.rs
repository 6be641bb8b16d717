//! [`SubscriptionStore`]: a subscription is three items written in one transaction, the room's
//! subscriber, the connection's inverse and the membership (which outlives the connection).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Select, TransactWriteItem};

use super::items::{
    ConnectionRoomItem, MemberItem, SUBSCRIBER_PROJECTION, SubscriberItem, SubscriberProjection, from_item, to_item,
};
use super::keys::{self, Key, SK};
use super::paging::Pages;
use super::schema::GSI1;
use super::{DynamoStore, build_err, sdk_err};
use crate::domain::{Connection, Page, Subscriber};
use crate::ports::{StoreError, SubscriptionStore};

#[async_trait]
impl SubscriptionStore for DynamoStore {
    async fn subscribe(&self, room: &str, conn: &Connection) -> Result<(), StoreError> {
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
        ];
        if self.transact(items).await? { Ok(()) } else { Err(StoreError::NotFound(format!("connection {}", conn.id))) }
    }

    async fn unsubscribe(&self, room: &str, conn: &Connection) -> Result<(), StoreError> {
        let items = vec![
            self.transact_delete(Key::subscriber(room, &conn.id))?,
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
        self.exists(Key::subscriber(room, connection_id)).await
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

    async fn subscribers(&self, room: &str, cursor: Option<&str>) -> Result<Page<Subscriber>, StoreError> {
        let out = self
            .query_partition(keys::room_partition(room), Some(keys::SUBSCRIPTION_PREFIX))
            .projection_expression(SUBSCRIBER_PROJECTION)
            .expression_attribute_names("#u", "user")
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
