//! The MLS key package directory in the contract suite: every case runs against the in-memory
//! store and against DynamoDB on moto, and the hostile ones race claims and publishes.

use super::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::join_all;
use starling_shared::domain::{DeviceKeys, MAX_DEVICES_PER_USER, MAX_ONE_TIME_PER_DEVICE, PublishOutcome};
use starling_shared::ports::Store;

fn memory() -> Arc<dyn Store> {
    common::memory_store(2)
}

async fn moto() -> Arc<dyn Store> {
    common::moto_store("contract-keys", 2).await
}

common::contract!(
    claims_hand_out_one_time_packages_oldest_first_then_the_last_resort,
    concurrent_claims_never_hand_out_the_same_one_time_package,
    a_publish_past_the_device_limit_is_refused_whole_even_when_concurrent,
    a_publish_past_the_package_limit_is_refused_whole_even_when_concurrent,
    removing_a_device_forgets_its_packages_and_frees_its_place,
    each_user_and_device_has_its_own_packages,
);

fn packages(device: &str, from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("kp-{device}-{i:03}")).collect()
}

fn published(outcome: PublishOutcome) -> DeviceKeys {
    match outcome {
        PublishOutcome::Published(held) => held,
        other => panic!("expected a publish, got {other:?}"),
    }
}

async fn claims_hand_out_one_time_packages_oldest_first_then_the_last_resort(s: Arc<dyn Store>) {
    assert!(s.claim_keys("bob").await.unwrap().is_empty(), "a user with no devices has nothing to claim");
    let held = published(s.publish_keys("bob", "phone", &packages("phone", 0, 2), Some("lr-phone-1")).await.unwrap());
    assert_eq!(held, DeviceKeys { one_time: 2, last_resort: true });
    published(s.publish_keys("bob", "laptop", &packages("laptop", 0, 1), None).await.unwrap());

    let first = s.claim_keys("bob").await.unwrap();
    let got: Vec<_> = first.iter().map(|c| (c.device.as_str(), c.key_package.as_str(), c.last_resort)).collect();
    assert_eq!(got, [("laptop", "kp-laptop-000", false), ("phone", "kp-phone-000", false)]);
    let second = s.claim_keys("bob").await.unwrap();
    let got: Vec<_> = second.iter().map(|c| (c.device.as_str(), c.key_package.as_str(), c.last_resort)).collect();
    assert_eq!(got, [("phone", "kp-phone-001", false)], "the laptop has no last resort, so it is left out");

    for _ in 0..3 {
        let again = s.claim_keys("bob").await.unwrap();
        let got: Vec<_> = again.iter().map(|c| (c.device.as_str(), c.key_package.as_str(), c.last_resort)).collect();
        assert_eq!(got, [("phone", "lr-phone-1", true)], "the last resort stays");
    }
    published(s.publish_keys("bob", "phone", &[], Some("lr-phone-2")).await.unwrap());
    assert_eq!(s.claim_keys("bob").await.unwrap()[0].key_package, "lr-phone-2", "a new last resort replaces it");
    assert_eq!(s.key_count("bob", "phone").await.unwrap(), DeviceKeys { one_time: 0, last_resort: true });
    assert_eq!(s.key_count("bob", "laptop").await.unwrap(), DeviceKeys { one_time: 0, last_resort: false });
}

async fn concurrent_claims_never_hand_out_the_same_one_time_package(s: Arc<dyn Store>) {
    published(s.publish_keys("bob", "phone", &packages("phone", 0, 12), Some("lr")).await.unwrap());
    let claims = join_all((0..20).map(|_| {
        let s = s.clone();
        async move { s.claim_keys("bob").await }
    }))
    .await;
    let mut one_time = Vec::new();
    let mut last_resort = 0;
    for claim in claims {
        // Losing races never fails a claim: it goes on to the next package, or the last resort.
        let claim = claim.unwrap();
        assert_eq!(claim.len(), 1);
        if claim[0].last_resort {
            last_resort += 1;
        } else {
            one_time.push(claim[0].key_package.clone());
        }
    }
    let distinct: BTreeSet<_> = one_time.iter().collect();
    assert_eq!(distinct.len(), one_time.len(), "a one-time package went to two claimers: {one_time:?}");
    let left = s.key_count("bob", "phone").await.unwrap().one_time;
    assert_eq!(one_time.len() as u32 + left, 12, "every package is either handed out once or still held");
    assert!(one_time.len() >= 8, "most claims got a one-time package: {one_time:?}, {last_resort} last resorts");
}

async fn a_publish_past_the_device_limit_is_refused_whole_even_when_concurrent(s: Arc<dyn Store>) {
    let devices: Vec<String> = (0..MAX_DEVICES_PER_USER + 5).map(|i| format!("d{i:02}")).collect();
    let outcomes = join_all(devices.iter().map(|d| {
        let s = s.clone();
        async move { (d.clone(), s.publish_keys("carol", d, &packages(d, 0, 2), Some("lr")).await) }
    }))
    .await;
    let mut admitted = Vec::new();
    for (device, outcome) in outcomes {
        match outcome {
            Ok(PublishOutcome::Published(_)) => admitted.push(device),
            Ok(PublishOutcome::TooManyDevices) => {
                assert_eq!(s.key_count("carol", &device).await.unwrap(), DeviceKeys::default(), "nothing stored");
            }
            other => panic!("{device}: {other:?}"),
        }
    }
    assert_eq!(admitted.len(), MAX_DEVICES_PER_USER, "{admitted:?}");
    assert_eq!(s.claim_keys("carol").await.unwrap().len(), MAX_DEVICES_PER_USER);
    // A device already admitted may always publish more.
    published(s.publish_keys("carol", &admitted[0], &packages("x", 0, 1), None).await.unwrap());
}

async fn a_publish_past_the_package_limit_is_refused_whole_even_when_concurrent(s: Arc<dyn Store>) {
    let batch = 20;
    let attempts = MAX_ONE_TIME_PER_DEVICE as usize / batch + 3;
    let outcomes = join_all((0..attempts).map(|i| {
        let s = s.clone();
        async move { s.publish_keys("dave", "phone", &packages(&format!("b{i}"), 0, batch), None).await }
    }))
    .await;
    let mut admitted = 0;
    for outcome in outcomes {
        match outcome.unwrap() {
            PublishOutcome::Published(held) => {
                admitted += 1;
                assert!(held.one_time <= MAX_ONE_TIME_PER_DEVICE);
            }
            PublishOutcome::TooManyPackages { held } => assert!(held + batch as u32 > MAX_ONE_TIME_PER_DEVICE),
            PublishOutcome::TooManyDevices => panic!("one device"),
        }
    }
    let held = s.key_count("dave", "phone").await.unwrap().one_time;
    assert_eq!(held, MAX_ONE_TIME_PER_DEVICE, "exactly full");
    assert_eq!(admitted * batch, held as usize, "every admitted batch whole, no refused one in part");
    let mut claimed = 0;
    while s.claim_keys("dave").await.unwrap().first().is_some_and(|c| !c.last_resort) {
        claimed += 1;
    }
    assert_eq!(claimed, MAX_ONE_TIME_PER_DEVICE, "the count matches the packages stored");
    match s.publish_keys("dave", "phone", &packages("again", 0, batch), None).await.unwrap() {
        PublishOutcome::Published(held) => assert_eq!(held.one_time, batch as u32),
        other => panic!("room again after the claims: {other:?}"),
    }
}

async fn removing_a_device_forgets_its_packages_and_frees_its_place(s: Arc<dyn Store>) {
    for i in 0..MAX_DEVICES_PER_USER {
        published(s.publish_keys("erin", &format!("d{i}"), &packages("p", 0, 3), Some("lr")).await.unwrap());
    }
    assert_eq!(s.publish_keys("erin", "new", &[], Some("lr")).await.unwrap(), PublishOutcome::TooManyDevices);
    s.remove_device("erin", "d3").await.unwrap();
    s.remove_device("erin", "d3").await.unwrap();
    s.remove_device("erin", "never").await.unwrap();
    assert_eq!(s.key_count("erin", "d3").await.unwrap(), DeviceKeys::default());
    let claimed = s.claim_keys("erin").await.unwrap();
    assert!(claimed.iter().all(|c| c.device != "d3"), "{claimed:?}");
    assert_eq!(claimed.len(), MAX_DEVICES_PER_USER - 1);
    published(s.publish_keys("erin", "new", &[], Some("lr")).await.unwrap());
    assert_eq!(s.publish_keys("erin", "d3", &[], None).await.unwrap(), PublishOutcome::TooManyDevices);
    s.remove_device("erin", "new").await.unwrap();
    // Published again, the removed device starts empty: none of its old packages come back.
    assert_eq!(published(s.publish_keys("erin", "d3", &[], None).await.unwrap()), DeviceKeys::default());
}

async fn each_user_and_device_has_its_own_packages(s: Arc<dyn Store>) {
    // Device ids that are prefixes of each other must not share packages.
    published(s.publish_keys("frank", "ph", &packages("ph", 0, 1), None).await.unwrap());
    published(s.publish_keys("frank", "ph2", &packages("ph2", 0, 1), None).await.unwrap());
    published(s.publish_keys("frankie", "ph", &packages("frankie", 0, 1), None).await.unwrap());
    let claimed = s.claim_keys("frank").await.unwrap();
    let got: Vec<_> = claimed.iter().map(|c| (c.device.as_str(), c.key_package.as_str())).collect();
    assert_eq!(got, [("ph", "kp-ph-000"), ("ph2", "kp-ph2-000")]);
    assert_eq!(s.key_count("frankie", "ph").await.unwrap().one_time, 1);
    assert!(s.claim_keys("frank").await.unwrap().is_empty());
}
