//! `keys.*` through the send function: a device publishes under its own user only, anyone claims,
//! limits answer `forbidden` with what to do, and a claim costs enough to slow a drain.

use super::common;

use base64::Engine;
use common::{World, error_code};
use serde_json::json;
use starling_shared::adapters::memory::MemoryStore;
use starling_shared::protocol::{ClaimedKeyPackage, ServerFrame};
use starling_shared::service::send::SendLimits;

/// A KeyPackage message of about 300 bytes whose filler is `tag`.
fn kp(tag: u8) -> String {
    let mut bytes = vec![0, 1, 0, 5];
    bytes.resize(300, tag);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn publish(device: &str, tags: &[u8], last_resort: Option<u8>) -> String {
    let packages: Vec<String> = tags.iter().map(|t| kp(*t)).collect();
    json!({"action": "keys.publish", "device": device, "keyPackages": packages, "lastResort": last_resort.map(kp)})
        .to_string()
}

#[tokio::test]
async fn a_device_publishes_under_its_own_user_and_another_user_claims_one_package_per_device() {
    let w = World::new();
    let alice = w.connect("alice").await;
    let bob = w.connect("bob").await;
    let held = w.act(&alice, &publish("laptop", &[1, 2], Some(9))).await;
    assert_eq!(held, ServerFrame::Keys { device: "laptop".into(), one_time: 2, last_resort: true });
    w.act(&alice, &publish("phone", &[3], None)).await;

    let claimed = w.act(&bob, r#"{"action":"keys.claim","user":"alice"}"#).await;
    let expected = vec![
        ClaimedKeyPackage { device: "laptop".into(), key_package: kp(1), last_resort: false },
        ClaimedKeyPackage { device: "phone".into(), key_package: kp(3), last_resort: false },
    ];
    assert_eq!(claimed, ServerFrame::KeyPackages { user: "alice".into(), key_packages: expected });
    // Bob's own directory is untouched by publishing or claiming Alice's.
    let bobs = w.act(&bob, r#"{"action":"keys.count","device":"laptop"}"#).await;
    assert_eq!(bobs, ServerFrame::Keys { device: "laptop".into(), one_time: 0, last_resort: false });
    let left = w.act(&alice, r#"{"action":"keys.count","device":"laptop"}"#).await;
    assert_eq!(left, ServerFrame::Keys { device: "laptop".into(), one_time: 1, last_resort: true });

    let removed = w.act(&alice, r#"{"action":"keys.remove","device":"laptop"}"#).await;
    assert_eq!(removed, ServerFrame::Keys { device: "laptop".into(), one_time: 0, last_resort: false });
    let ServerFrame::KeyPackages { key_packages, .. } = w.act(&bob, r#"{"action":"keys.claim","user":"alice"}"#).await
    else {
        panic!("a keyPackages frame")
    };
    assert!(key_packages.is_empty(), "the laptop is gone and the phone's one package was claimed: {key_packages:?}");
}

#[tokio::test]
async fn the_limits_answer_forbidden_saying_what_to_do_and_store_nothing() {
    let w = World::new();
    let alice = w.connect("alice").await;
    for round in 0..5u8 {
        let tags: Vec<u8> = (0..20).map(|i| round * 20 + i).collect();
        assert!(matches!(w.act(&alice, &publish("phone", &tags, None)).await, ServerFrame::Keys { .. }));
    }
    let full = w.act(&alice, &publish("phone", &[200], None)).await;
    assert_eq!(error_code(&full), Some("forbidden"));
    let ServerFrame::Error(e) = full else { unreachable!() };
    assert!(e.message.contains("holds 100 one-time key packages; at most 100, so at most 0 more"), "{}", e.message);

    for d in 1..10 {
        w.act(&alice, &publish(&format!("d{d}"), &[], Some(1))).await;
    }
    let eleventh = w.act(&alice, &publish("d10", &[1], Some(1))).await;
    let ServerFrame::Error(e) = eleventh else { panic!("{eleventh:?}") };
    assert!(e.message.contains("at most 10 devices; keys.remove one first"), "{}", e.message);
    let count = w.act(&alice, r#"{"action":"keys.count","device":"d10"}"#).await;
    assert_eq!(count, ServerFrame::Keys { device: "d10".into(), one_time: 0, last_resort: false });
}

#[tokio::test]
async fn claims_cost_five_so_a_user_drains_at_most_twenty_claims_per_window() {
    let w = World::with(SendLimits::default(), MemoryStore::new());
    let alice = w.connect("alice").await;
    let mallory = w.connect("mallory").await;
    w.act(&alice, &publish("phone", &(0..20).collect::<Vec<_>>(), Some(99))).await;
    w.act(&alice, &publish("laptop", &(20..40).collect::<Vec<_>>(), Some(98))).await;
    let mut answered = 0;
    let mut refused = 0;
    for _ in 0..40 {
        match w.act(&mallory, r#"{"action":"keys.claim","user":"alice"}"#).await {
            ServerFrame::KeyPackages { .. } => answered += 1,
            other => {
                assert_eq!(error_code(&other), Some("rate_limited"), "{other:?}");
                refused += 1;
            }
        }
    }
    assert_eq!((answered, refused), (20, 20), "100 units per window at 5 a claim");
    let left = w.act(&alice, r#"{"action":"keys.count","device":"phone"}"#).await;
    assert_eq!(left, ServerFrame::Keys { device: "phone".into(), one_time: 0, last_resort: true });
}
