//! Room analytics on moto (docs/analytics.md): the export through the real Firehose adapter to a
//! DirectPut delivery stream that writes to S3 (moto writes one object per `PutRecordBatch`, at
//! once), and the counters' `ADD` updates and ranged Query on the real DynamoDB API.

mod common;

use std::sync::Arc;

use aws_sdk_firehose::types::{DeliveryStreamType, ExtendedS3DestinationConfiguration};
use common::{World, moto_config, moto_store, unique_name};
use serde_json::Value;
use starling_shared::domain::{Connection, MAX_COUNTED_SENDERS, NewMessage, RunCounts};
use starling_shared::ports::RoomStats;
use starling_shared::wiring;

/// A bucket and a DirectPut delivery stream into it, under `events/`; returns (stream, bucket).
async fn stream_to_s3(sdk: &aws_config::SdkConfig, s3: &aws_sdk_s3::Client) -> (String, String) {
    let (stream, bucket) = (unique_name("events"), unique_name("lake"));
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket on moto");
    let destination = ExtendedS3DestinationConfiguration::builder()
        .role_arn("arn:aws:iam::123456789012:role/firehose-to-s3")
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
        .prefix("events/")
        .build()
        .unwrap();
    aws_sdk_firehose::Client::new(sdk)
        .create_delivery_stream()
        .delivery_stream_name(&stream)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(destination)
        .send()
        .await
        .expect("create delivery stream on moto");
    (stream, bucket)
}

/// Every line of every object under `events/`, parsed.
async fn lines_in(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<Value> {
    let listing = s3.list_objects_v2().bucket(bucket).prefix("events/").send().await.unwrap();
    let mut lines = Vec::new();
    for object in listing.contents() {
        let key = object.key().unwrap();
        let body = s3.get_object().bucket(bucket).key(key).send().await.unwrap().body.collect().await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.ends_with('\n'), "JSON Lines: {text:?}");
        lines.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
    }
    lines
}

/// Two messages through the fanout, exported through the real adapter; the lines in S3.
async fn export_two(bodies: bool) -> Vec<Value> {
    let sdk = moto_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let (stream, bucket) = stream_to_s3(&sdk, &s3).await;
    let mut w = World::new();
    w.fanout.exports = Some(wiring::aws::Clients::new(&sdk).exports(stream));
    w.fanout.settings.export_bodies = bodies;
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    w.send(&alice, "lobby", "hello", Some("a1")).await;
    w.send(&bob, "lobby", "world!", Some("b1")).await;
    assert!(w.pump().await.is_empty());
    let lines = lines_in(&s3, &bucket).await;
    let delivered = w.received(&alice);
    assert_eq!(delivered.len(), 2);
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [delivered[0].id.as_str(), delivered[1].id.as_str()]);
    lines
}

#[tokio::test]
async fn the_export_lands_in_s3_as_json_lines_without_bodies_by_default() {
    let lines = export_two(false).await;
    assert_eq!(lines.len(), 2);
    for (line, (from, bytes)) in lines.iter().zip([("alice", 5), ("bob", 6)]) {
        assert_eq!((line["schema"].as_u64(), line["type"].as_str()), (Some(1), Some("message")));
        assert_eq!(
            (line["room"].as_str(), line["from"].as_str(), line["bytes"].as_u64()),
            (Some("lobby"), Some(from), Some(bytes))
        );
        assert!(line.get("body").is_none(), "{line}");
    }
    assert_eq!((lines[0]["seq"].as_u64(), lines[1]["seq"].as_u64()), (Some(1), Some(2)));
}

#[tokio::test]
async fn bodies_land_in_s3_when_configured() {
    let lines = export_two(true).await;
    let bodies: Vec<&str> = lines.iter().map(|l| l["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["hello", "world!"]);
}

fn run(minute: &str, messages: u64, deliveries: u64, senders: &[String]) -> RunCounts {
    RunCounts {
        room: "lobby".into(),
        minute: minute.into(),
        messages,
        deliveries,
        senders: senders.iter().cloned().collect(),
        expires_at: 1_800_000_000,
    }
}

#[tokio::test]
async fn counters_add_up_on_dynamodb_and_stay_out_of_the_rooms_other_reads() {
    let store = moto_store("stats", 100).await;
    let conn = Connection { id: "c1=".into(), user: "alice".into(), connected_at_ms: 0, batch: false };
    starling_shared::ports::ConnectionStore::register(store.as_ref(), &conn).await.unwrap();
    store.subscribe("lobby", &conn).await.unwrap();
    let names = |r: std::ops::Range<usize>| -> Vec<String> { r.map(|i| format!("user{i:03}")).collect() };
    store.add(&run("2026-11-24T17:04Z", 1, 3, &names(0..1))).await.unwrap();
    store.add(&run("2026-11-24T17:05Z", 2, 4, &names(0..2))).await.unwrap();
    store.add(&run("2026-11-24T17:05Z", 3, 5, &names(1..3))).await.unwrap();
    store.add(&run("2026-11-24T17:05Z", 0, 7, &[])).await.unwrap();
    let minutes = store.minutes("lobby", "2026-11-24T17:00Z", "2026-11-24T17:59Z").await.unwrap();
    let summary: Vec<(&str, u64, u64, usize)> =
        minutes.iter().map(|m| (m.minute.as_str(), m.messages, m.deliveries, m.senders.len())).collect();
    assert_eq!(summary, [("2026-11-24T17:04Z", 1, 3, 1), ("2026-11-24T17:05Z", 5, 16, 3)]);
    let later = store.minutes("lobby", "2026-11-24T17:05Z", "2026-11-24T17:05Z").await.unwrap();
    assert_eq!(later.len(), 1, "the range is inclusive and bounded");
    assert!(store.minutes("other", "2026-11-24T17:00Z", "2026-11-24T17:59Z").await.unwrap().is_empty());

    // The sender set stops growing at the cap; the counts go on.
    store.add(&run("2026-11-24T17:06Z", 1, 1, &names(0..MAX_COUNTED_SENDERS))).await.unwrap();
    store.add(&run("2026-11-24T17:06Z", 1, 1, &names(500..510))).await.unwrap();
    let capped = store.minutes("lobby", "2026-11-24T17:06Z", "2026-11-24T17:06Z").await.unwrap();
    assert_eq!((capped[0].senders.len(), capped[0].messages), (MAX_COUNTED_SENDERS, 2));

    // The room's members, subscribers and messages read as before.
    assert_eq!(store.members("lobby").await.unwrap(), ["alice"]);
    assert_eq!(store.subscribers("lobby", None).await.unwrap().items.len(), 1);
    let probe = store.probe("lobby", 10).await.unwrap();
    assert!(probe.complete && probe.subscribers.len() == 1);
    let message = NewMessage {
        commit: None,
        id: "01X".into(),
        room: "lobby".into(),
        from: "alice".into(),
        body: "hi".into(),
        client_msg_id: None,
        sent_at: "2026-11-24T17:05:00.000Z".into(),
        expires_at: i64::MAX / 2,
        now: 0,
    };
    store.append(message).await.unwrap();
    let history = store.history("lobby", None, 100, 0).await.unwrap();
    assert_eq!(history.messages.len(), 1);
    assert_eq!(store.last_seq("lobby").await.unwrap(), 1);
    let _keep: Arc<dyn RoomStats> = store;
}
