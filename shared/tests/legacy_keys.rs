//! Upgrading a live table from a release before shards, on moto: subscriber items written then
//! (`ROOM#r / SUB#{connectionId}`, no bucket) stay until TTL removes them, and until then their
//! connections must keep working: membership checks pass, a leave ends them, a join moves them to
//! the current key, and a sharded room's deliveries reach each of them exactly once.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use common::{moto_config, unique_name};
use starling_shared::adapters::dynamo::DynamoStore;
use starling_shared::domain::{Connection, Shard, Subscriber};
use starling_shared::ports::{ConnectionStore, SubscriptionStore};

struct Table {
    client: Client,
    name: String,
    store: DynamoStore,
}

async fn table(page: i32) -> Table {
    let client = Client::new(&moto_config().await);
    let name = unique_name("legacy");
    DynamoStore::create_table_if_missing(&client, &name).await.expect("create table on moto");
    let store = DynamoStore::new(client.clone(), name.clone()).with_page_size(page);
    Table { client, name, store }
}

fn conn(i: usize) -> Connection {
    // API Gateway's ids: 16 characters of base64, so their first characters cover the alphabet.
    let alphabet: Vec<char> = ('A'..='Z').chain('a'..='z').chain('0'..='9').chain(['+', '/']).collect();
    let id = format!("{}{}Lc7gIAMCJQ{i:04}=", alphabet[i % alphabet.len()], alphabet[(i / 3) % alphabet.len()]);
    Connection { id, user: format!("user{i}"), connected_at_ms: 0, batch: i.is_multiple_of(2) }
}

impl Table {
    /// Subscribes `c` to `room` as the release before shards did: the same items, with the room's
    /// subscriber item under `SUB#{connectionId}`.
    async fn subscribe_as_before_shards(&self, room: &str, c: &Connection) {
        self.store.subscribe(room, c).await.unwrap();
        let pk = AttributeValue::S(format!("ROOM#{room}"));
        let current = self
            .subscriber_items(room)
            .await
            .into_iter()
            .find(|i| i.get("connectionId").and_then(|v| v.as_s().ok()) == Some(&c.id))
            .expect("the current subscriber item");
        let sk = current["sk"].clone();
        self.client.delete_item().table_name(&self.name).key("pk", pk.clone()).key("sk", sk).send().await.unwrap();
        let mut legacy: HashMap<String, AttributeValue> = current;
        legacy.insert("sk".into(), AttributeValue::S(format!("SUB#{}", c.id)));
        self.client.put_item().table_name(&self.name).set_item(Some(legacy)).send().await.unwrap();
    }

    /// The room's subscriber items, as stored.
    async fn subscriber_items(&self, room: &str) -> Vec<HashMap<String, AttributeValue>> {
        let out = self
            .client
            .query()
            .table_name(&self.name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :sub)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("ROOM#{room}")))
            .expression_attribute_values(":sub", AttributeValue::S("SUB#".into()))
            .send()
            .await
            .unwrap();
        out.items.unwrap_or_default()
    }

    /// The room's subscriber sort keys, as stored.
    async fn sort_keys(&self, room: &str) -> Vec<String> {
        self.subscriber_items(room).await.iter().filter_map(|i| i.get("sk")?.as_s().ok().cloned()).collect()
    }

    async fn listing(&self, room: &str, shard: Shard) -> Vec<Subscriber> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.store.subscribers_in(room, shard, cursor.as_deref()).await.unwrap();
            all.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    }
}

#[tokio::test]
async fn a_connection_subscribed_before_shards_is_still_subscribed_and_its_leave_ends_it() {
    let t = table(100).await;
    let old = conn(1);
    t.store.register(&old).await.unwrap();
    t.subscribe_as_before_shards("lobby", &old).await;
    assert_eq!(t.sort_keys("lobby").await, [format!("SUB#{}", old.id)]);

    assert!(t.store.is_subscribed("lobby", &old.id).await.unwrap(), "send, typing and leave accept it");
    assert!(!t.store.is_subscribed("lobby", &conn(2).id).await.unwrap());
    assert!(!t.store.is_subscribed("elsewhere", &old.id).await.unwrap());

    t.store.unsubscribe("lobby", &old).await.unwrap();
    assert!(t.sort_keys("lobby").await.is_empty(), "the leave removed the old item");
    assert!(!t.store.is_subscribed("lobby", &old.id).await.unwrap());
    assert_eq!(t.store.subscription_count(&old.id).await.unwrap(), 0);
}

#[tokio::test]
async fn joining_again_moves_an_old_subscription_to_its_current_key_and_the_room_lists_it_once() {
    let t = table(100).await;
    let old = conn(3);
    t.store.register(&old).await.unwrap();
    t.subscribe_as_before_shards("lobby", &old).await;

    assert!(t.store.subscribe_within("lobby", &old, 1).await.unwrap(), "not refused as a second room");
    let keys = t.sort_keys("lobby").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].ends_with(&format!("#{}", old.id)) && keys[0].len() == "SUB#bb#".len() + old.id.len(), "{keys:?}");
    assert_eq!(t.store.subscription_count(&old.id).await.unwrap(), 1, "counted once");
}

#[tokio::test]
async fn every_shard_listing_together_reaches_old_and_new_subscribers_exactly_once() {
    let t = table(7).await;
    let mut expected = Vec::new();
    let mut current = std::collections::HashSet::new();
    for i in 0..120 {
        let c = conn(i);
        t.store.register(&c).await.unwrap();
        if i.is_multiple_of(3) {
            t.store.subscribe("big", &c).await.unwrap();
            current.insert(c.id.clone());
        } else {
            t.subscribe_as_before_shards("big", &c).await;
        }
        expected.push(c.id);
    }
    t.store.mark_sharded("big", 2_000_000_000).await.unwrap();
    expected.sort();

    let full: Vec<String> = t.listing("big", Shard::ALL).await.into_iter().map(|s| s.connection_id).collect();
    let mut sorted_full = full.clone();
    sorted_full.sort();
    assert_eq!(sorted_full, expected, "the whole room");

    for of in [2, 3, 16] {
        let mut union: Vec<String> = Vec::new();
        for index in 0..of {
            let shard = Shard { index, of };
            let listed = t.listing("big", shard).await;
            for s in listed.iter().filter(|s| current.contains(&s.connection_id)) {
                assert!(shard.contains(&s.connection_id), "a current item is read by its bucket's shard");
            }
            // A second listing of the same shard is the same: each connection stays in one shard.
            let again: Vec<String> = t.listing("big", shard).await.into_iter().map(|s| s.connection_id).collect();
            assert_eq!(listed.iter().map(|s| s.connection_id.clone()).collect::<Vec<_>>(), again);
            union.extend(again);
        }
        union.sort();
        assert_eq!(union, expected, "{of} shards: every subscriber once");
    }
}
