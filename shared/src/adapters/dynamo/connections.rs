//! [`ConnectionStore`]: the connection item, its inverse under the user, and removing a connection
//! with everything in its partition.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use tracing::debug;

use super::items::{ConnectionItem, UserConnectionItem, from_item, to_item};
use super::keys::{self, ConnectionSortKey, Key, SK};
use super::{DynamoStore, build_err, retry, sdk_err};
use crate::domain::{Connection, Removed};
use crate::ports::{ConnectionStore, StoreError};

/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_MAX: usize = 25;

impl DynamoStore {
    /// Deletes keys with BatchWriteItem, 25 at a time, resending what DynamoDB leaves unprocessed.
    pub(super) async fn delete_keys(&self, keys: Vec<Key>) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH_WRITE_MAX) {
            let requests = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder().set_key(Some(key.clone().into_item())).build();
                    Ok(WriteRequest::builder().delete_request(delete.map_err(build_err)?).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            retry::until_processed("deletes", retry::WRITE_ATTEMPTS, requests, |r| self.batch_write(r)).await?;
        }
        Ok(())
    }

    /// One BatchWriteItem; returns the requests left unprocessed.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<((), Vec<WriteRequest>), StoreError> {
        let out = self.client.batch_write_item().request_items(&self.table, requests).send().await.map_err(sdk_err)?;
        Ok(((), out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default()))
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn register(&self, conn: &Connection) -> Result<(), StoreError> {
        let main = to_item(&ConnectionItem::from(conn))?;
        let by_user = to_item(&UserConnectionItem::from(conn))?;
        let ok = self.transact(vec![self.transact_put(main)?, self.transact_put(by_user)?]).await?;
        if ok { Ok(()) } else { Err(StoreError::Failed("unconditional register was cancelled".into())) }
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let Some(item) = self.get_item(Key::connection(connection_id)).await? else {
            return Ok(None);
        };
        Ok(Some(from_item::<ConnectionItem>(item)?.into()))
    }

    async fn remove(&self, connection_id: &str) -> Result<Removed, StoreError> {
        let items = self.query_all(keys::connection_partition(connection_id), None).await?;
        let mut removed = Removed::default();
        let mut doomed = Vec::with_capacity(items.len() * 2 + 1);
        for item in items {
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            match keys::classify_connection_sort_key(&sk) {
                ConnectionSortKey::Connection => {
                    let connection: Connection = from_item::<ConnectionItem>(item)?.into();
                    doomed.push(Key::user_connection(&connection.user, connection_id));
                    removed.user = Some(connection.user.clone());
                    removed.connection = Some(connection);
                }
                ConnectionSortKey::Subscription(room) => {
                    doomed.push(Key::subscriber(room, connection_id));
                    removed.rooms.push(room.to_owned());
                }
                ConnectionSortKey::Other => {}
            }
            doomed.push(Key::in_connection(connection_id, sk));
        }
        debug!(connection_id, deletes = doomed.len(), "removing connection");
        self.delete_keys(doomed).await?;
        Ok(removed)
    }
}
