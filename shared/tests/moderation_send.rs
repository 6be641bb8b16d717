//! Issue #13, moderation in the send path: every rule refuses with `rejected` and its reason
//! before anything is queued; a masked message is the only version queued, stored and
//! delivered; the rules reload after their TTL and a bad document never replaces good rules;
//! the hook's verdicts, its timeout and both failure policies.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{World, error_code};
use starling_shared::adapters::memory::{HookAnswer, MemoryHook, MemoryRules};
use starling_shared::moderation::{FailurePolicy, HookTransport, RulesSource};
use starling_shared::protocol::ServerFrame;
use starling_shared::service::fanout;
use starling_shared::wiring;

const RULES: &str = r#"{"version":1,
  "terms":[{"text":"badword","action":"reject"},{"text":"darn","action":"mask"}],
  "maxLinks":2,"maxMentions":3,"maxRepeat":5}"#;
const TTL: Duration = Duration::from_secs(60);

fn moderated(world: &mut World, rules: Option<Arc<MemoryRules>>, hook: Option<(Arc<MemoryHook>, FailurePolicy)>) {
    let rules = rules.map(|r| r as Arc<dyn RulesSource>);
    let hook = hook.map(|(h, policy)| (h as Arc<dyn HookTransport>, Duration::from_millis(200), policy));
    world.send_deps.moderation = wiring::moderation(rules, TTL, hook);
}

fn reason(frame: &ServerFrame) -> Option<&str> {
    match frame {
        ServerFrame::Error(e) => e.reason.as_deref(),
        _ => None,
    }
}

/// Everything the message left behind: what was queued, what a room member received, and the
/// room's stored history, as text.
async fn traces(w: &World, member: &starling_shared::service::send::Caller) -> String {
    let records = w.drain_records();
    let queued: Vec<String> = records.iter().map(|r| format!("{r:?}")).collect();
    assert!(fanout::process_batch(&w.fanout, records).await.is_empty(), "the fanout failed a record");
    let history = w.act(member, r#"{"action":"history","room":"lobby"}"#).await;
    format!("{queued:?}\n{:?}\n{history:?}", w.frames(member))
}

#[tokio::test]
async fn each_rule_rejects_with_its_reason_and_queues_nothing() {
    let mut w = World::new();
    moderated(&mut w, Some(Arc::new(MemoryRules::new(RULES))), None);
    let [alice] = w.room("lobby", ["alice"]).await;
    let cases = [
        ("you B4DW0RD", "blocked_term"),
        ("a.com b.com c.com", "too_many_links"),
        ("@a @b @c @d", "too_many_mentions"),
        ("hello!!!!!!", "repeated_characters"),
    ];
    for (body, expected) in cases {
        let frame = w.send(&alice, "lobby", body, Some("m1")).await;
        assert_eq!(error_code(&frame), Some("rejected"), "{body:?}: {frame:?}");
        assert_eq!(reason(&frame), Some(expected), "{body:?}");
        let ServerFrame::Error(e) = &frame else { unreachable!() };
        assert_eq!(e.client_msg_id.as_deref(), Some("m1"), "the rejection names the send it refuses");
    }
    assert!(w.queue.is_empty(), "a rejected message was queued");
    let ok = w.send(&alice, "lobby", "hello there", None).await;
    assert!(matches!(ok, ServerFrame::Accepted { .. }), "{ok:?}");
}

#[tokio::test]
async fn a_masked_message_is_queued_stored_and_delivered_masked_and_the_original_is_nowhere() {
    let mut w = World::new();
    moderated(&mut w, Some(Arc::new(MemoryRules::new(RULES))), None);
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;
    let frame = w.send(&alice, "lobby", "well D4RN it", Some("m1")).await;
    assert!(matches!(frame, ServerFrame::Accepted { .. }), "{frame:?}");
    let all = traces(&w, &bob).await;
    assert!(!all.contains("D4RN"), "the original body left a trace: {all}");
    let got = w.received_all(&bob);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "well **** it");
    assert!(all.contains("well **** it"));
}

#[tokio::test(start_paused = true)]
async fn rules_changes_apply_after_the_ttl_and_a_bad_document_keeps_the_last_good_rules() {
    let mut w = World::new();
    let rules = Arc::new(MemoryRules::new(RULES));
    moderated(&mut w, Some(rules.clone()), None);
    let [alice] = w.room("lobby", ["alice"]).await;
    assert!(matches!(w.send(&alice, "lobby", "spam", None).await, ServerFrame::Accepted { .. }));
    rules.set(r#"{"version":1,"terms":[{"text":"spam","action":"reject"}]}"#);
    assert!(matches!(w.send(&alice, "lobby", "spam", None).await, ServerFrame::Accepted { .. }), "before the TTL");
    tokio::time::advance(TTL).await;
    assert_eq!(reason(&w.send(&alice, "lobby", "spam", None).await), Some("blocked_term"), "after the TTL");

    rules.set(r#"{"version":1,"terms":[{"text":"spam","action":"reject"}],"maxLink":1}"#);
    tokio::time::advance(TTL).await;
    assert_eq!(reason(&w.send(&alice, "lobby", "spam", None).await), Some("blocked_term"), "bad rules replaced good");
    let reads = rules.fetches();
    tokio::time::advance(TTL).await;
    w.send(&alice, "lobby", "spam", None).await;
    assert_eq!(rules.fetches(), reads + 1, "one read per TTL");

    rules.fail(true);
    tokio::time::advance(TTL).await;
    assert_eq!(
        reason(&w.send(&alice, "lobby", "spam", None).await),
        Some("blocked_term"),
        "an outage dropped the rules"
    );
}

#[tokio::test(start_paused = true)]
async fn rules_never_loaded_refuse_sends_with_internal_and_the_source_is_not_read_per_message() {
    let mut w = World::new();
    let rules = Arc::new(MemoryRules::new(RULES));
    rules.fail(true);
    moderated(&mut w, Some(rules.clone()), None);
    let [alice] = w.room("lobby", ["alice"]).await;
    for _ in 0..20 {
        assert_eq!(error_code(&w.send(&alice, "lobby", "hello", Some("m")).await), Some("internal"));
    }
    assert_eq!(rules.fetches(), 1, "a failed read is retried after a pause, not per message");
    assert!(w.queue.is_empty());
    rules.fail(false);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(matches!(w.send(&alice, "lobby", "hello", None).await, ServerFrame::Accepted { .. }));
}

#[tokio::test]
async fn a_first_document_that_is_invalid_refuses_sends_until_it_is_fixed() {
    let mut w = World::new();
    let rules = Arc::new(MemoryRules::new(r#"{"version":2}"#));
    moderated(&mut w, Some(rules), None);
    let [alice] = w.room("lobby", ["alice"]).await;
    assert_eq!(error_code(&w.send(&alice, "lobby", "hello", None).await), Some("internal"));
    assert!(w.queue.is_empty());
}

#[tokio::test]
async fn the_hook_sees_what_the_filter_left_and_can_allow_reject_or_replace() {
    let mut w = World::new();
    let hook = Arc::new(MemoryHook::allowing());
    moderated(&mut w, Some(Arc::new(MemoryRules::new(RULES))), Some((hook.clone(), FailurePolicy::Closed)));
    let [alice, bob] = w.room("lobby", ["alice", "bob"]).await;

    assert!(matches!(w.send(&alice, "lobby", "darn", Some("c1")).await, ServerFrame::Accepted { .. }));
    let request = &hook.requests()[0];
    assert_eq!(request["body"], "****", "the hook got the original");
    assert_eq!((request["room"].as_str(), request["from"].as_str()), (Some("lobby"), Some("alice")));
    assert_eq!(request["clientMsgId"], "c1");

    hook.then(HookAnswer::Reply(r#"{"verdict":"reject","reason":"spam_link"}"#.into()));
    assert_eq!(reason(&w.send(&alice, "lobby", "buy now", None).await), Some("spam_link"));
    hook.then(HookAnswer::Reply(r#"{"verdict":"reject","reason":"Not A Code"}"#.into()));
    assert_eq!(reason(&w.send(&alice, "lobby", "buy now", None).await), Some("hook"));
    let before = hook.requests().len();
    assert_eq!(reason(&w.send(&alice, "lobby", "badword", None).await), Some("blocked_term"));
    assert_eq!(hook.requests().len(), before, "a message the filter rejects does not reach the hook");

    hook.then(HookAnswer::Reply(r#"{"verdict":"replace","body":"[removed]"}"#.into()));
    assert!(matches!(w.send(&alice, "lobby", "secret stuff", None).await, ServerFrame::Accepted { .. }));
    let all = traces(&w, &bob).await;
    assert!(!all.contains("secret stuff"), "the replaced original left a trace");
    let bodies: Vec<String> = w.received_all(&bob).into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, ["****", "[removed]"]);
}

#[tokio::test(start_paused = true)]
async fn a_slow_or_failing_hook_is_skipped_when_open_and_refuses_when_closed() {
    let failures = [
        HookAnswer::Fail("Unhandled: boom".into()),
        HookAnswer::Reply("not json".into()),
        HookAnswer::Reply(r#"{"verdict":"maybe"}"#.into()),
        HookAnswer::Reply(r#"{"verdict":"replace","body":""}"#.into()),
        HookAnswer::Reply(format!(r#"{{"verdict":"replace","body":"{}"}}"#, "x".repeat(16 * 1024 + 1))),
    ];
    for policy in [FailurePolicy::Open, FailurePolicy::Closed] {
        let mut w = World::new();
        let hook = Arc::new(MemoryHook::allowing());
        moderated(&mut w, None, Some((hook.clone(), policy)));
        let [alice] = w.room("lobby", ["alice"]).await;
        let expect = |frame: &ServerFrame| match policy {
            FailurePolicy::Open => assert!(matches!(frame, ServerFrame::Accepted { .. }), "{policy:?}: {frame:?}"),
            FailurePolicy::Closed => assert_eq!(error_code(frame), Some("internal"), "{policy:?}: {frame:?}"),
        };
        for failure in &failures {
            hook.then(failure.clone());
            expect(&w.send(&alice, "lobby", "hi", Some("m")).await);
        }
        hook.slow(Duration::from_millis(201));
        let started = tokio::time::Instant::now();
        expect(&w.send(&alice, "lobby", "hi", Some("m")).await);
        assert_eq!(started.elapsed(), Duration::from_millis(200), "the timeout is 200 ms");
        hook.slow(Duration::from_millis(199));
        assert!(matches!(w.send(&alice, "lobby", "hi", None).await, ServerFrame::Accepted { .. }), "in time");
        let queued = w.queue.len();
        let sent_unreviewed = match policy {
            FailurePolicy::Open => failures.len() + 2,
            FailurePolicy::Closed => 1,
        };
        assert_eq!(queued, sent_unreviewed, "{policy:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_sends_read_the_rules_once_and_only_the_first_load_makes_them_wait() {
    let mut w = World::new();
    let rules = Arc::new(MemoryRules::new(RULES));
    rules.slow(Duration::from_millis(300));
    moderated(&mut w, Some(rules.clone()), None);
    let [alice] = w.room("lobby", ["alice"]).await;
    let burst = |body: &'static str| futures::future::join_all((0..20).map(|_| w.send(&alice, "lobby", body, None)));

    let started = tokio::time::Instant::now();
    let replies = burst("badword").await;
    assert!(replies.iter().all(|r| reason(r) == Some("blocked_term")), "{replies:?}");
    assert_eq!(rules.fetches(), 1, "20 first sends, one read");
    assert_eq!(started.elapsed(), Duration::from_millis(300), "they waited for the one read");

    rules.set(r#"{"version":1,"terms":[]}"#);
    tokio::time::advance(TTL).await;
    let started = tokio::time::Instant::now();
    let replies = burst("badword").await;
    assert_eq!(rules.fetches(), 2, "20 sends after the TTL, one read");
    let refused = replies.iter().filter(|r| reason(r) == Some("blocked_term")).count();
    assert_eq!(refused, 19, "the others went on with the rules in force: {replies:?}");
    assert_eq!(started.elapsed(), Duration::from_millis(300), "only the reader waited");
    assert!(
        matches!(w.send(&alice, "lobby", "badword", None).await, ServerFrame::Accepted { .. }),
        "new rules in force"
    );
}

#[tokio::test(start_paused = true)]
async fn hook_failures_and_unreadable_rules_are_counted_in_their_metrics() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use starling_shared::telemetry::metric;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    {
        let _local = metrics::set_default_local_recorder(&recorder);
        let mut w = World::new();
        let rules = Arc::new(MemoryRules::new(RULES));
        rules.fail(true);
        let hook = Arc::new(MemoryHook::new(HookAnswer::Fail("boom".into())));
        moderated(&mut w, Some(rules.clone()), Some((hook, FailurePolicy::Open)));
        let [alice] = w.room("lobby", ["alice"]).await;
        w.send(&alice, "lobby", "hi", None).await;
        rules.fail(false);
        tokio::time::advance(Duration::from_secs(5)).await;
        for _ in 0..3 {
            assert!(matches!(w.send(&alice, "lobby", "hi", None).await, ServerFrame::Accepted { .. }));
        }
    }
    let counts: Vec<(String, DebugValue)> =
        snapshotter.snapshot().into_vec().into_iter().map(|(k, _, _, v)| (k.key().name().to_owned(), v)).collect();
    let count = |name: &str| counts.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    assert_eq!(count(metric::MODERATION_RULES_FAILED), Some(&DebugValue::Counter(1)), "{counts:?}");
    assert_eq!(count(metric::MODERATION_HOOK_FAILED), Some(&DebugValue::Counter(3)), "{counts:?}");
}
