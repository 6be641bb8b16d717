//! The built-in moderation filter: every rule, the disguises it sees through, and what it must
//! not catch.

use proptest::prelude::*;
use starling_moderation::{Filter, Reason, Rules, RulesError, Verdict};

fn filter(json: &str) -> Filter {
    Filter::new(Rules::parse(json).unwrap()).unwrap()
}

fn words() -> Filter {
    filter(
        r#"{"version":1,"terms":[
            {"text":"hello","action":"reject"},
            {"text":"darn","action":"mask"},
            {"text":"ass","action":"reject"},
            {"text":"go away","action":"mask"},
            {"text":"spam","action":"mask","withinWords":true}
        ]}"#,
    )
}

#[test]
fn a_rejected_word_is_found_through_case_accents_homoglyphs_leetspeak_and_repeats() {
    let f = words();
    for body in [
        "hello",
        "say HELLO!",
        "ʜ3ll0 there",
        "ＨＥＬＬＯ",
        "һеllo",
        "hèllo",
        "he11o",
        "h3|!0",
        "heeelllooo",
        "x hello.",
    ] {
        assert_eq!(f.review(body), Verdict::Reject(Reason::BlockedTerm), "{body:?}");
    }
}

#[test]
fn whole_words_only_unless_the_term_says_otherwise() {
    let f = words();
    for body in ["class", "as", "hell", "helo", "othello", "assassin", "go awayward"] {
        assert_eq!(f.review(body), Verdict::Allow, "{body:?}");
    }
    // A run of letters is matched whole: "spam" in "SPAMMY" masks both m's.
    assert_eq!(f.review("SPAMMY spam"), Verdict::Replace("*****Y ****".into()));
}

#[test]
fn a_masked_word_or_phrase_keeps_the_rest_of_the_message_character_for_character() {
    let f = words();
    assert_eq!(f.review("oh darn it"), Verdict::Replace("oh **** it".into()));
    assert_eq!(f.review("DÄRN, dаrn!"), Verdict::Replace("****, ****!".into()), "accents and a Cyrillic а");
    assert_eq!(f.review("please go   away now"), Verdict::Replace("please **   **** now".into()));
    assert_eq!(
        f.review("go-away"),
        Verdict::Replace("*******".into()),
        "what joins a phrase is masked too, but not spaces"
    );
    assert_eq!(f.review("ｄａｒｎ 🎉"), Verdict::Replace("**** 🎉".into()));
}

#[test]
fn links_mentions_and_floods_have_their_limits() {
    let f = filter(r#"{"version":1,"maxLinks":2,"maxMentions":3,"maxRepeat":5}"#);
    assert_eq!(f.review("see https://a.example and http://b.example/x"), Verdict::Allow);
    let three = "https://a.example www.b.example/c and me@c.example";
    assert_eq!(f.review(three), Verdict::Reject(Reason::TooManyLinks));
    assert_eq!(f.review("@a @b @c hi"), Verdict::Allow);
    assert_eq!(f.review("@a @b @c @d hi"), Verdict::Reject(Reason::TooManyMentions));
    assert_eq!(f.review("mail me@x.example"), Verdict::Allow, "an address is no mention");
    assert_eq!(f.review("wow!!!!!"), Verdict::Allow);
    assert_eq!(f.review("wow!!!!!!"), Verdict::Reject(Reason::RepeatedCharacters));
    assert_eq!(f.review("ééééééé"), Verdict::Reject(Reason::RepeatedCharacters));
}

#[test]
fn a_rejection_wins_over_masks_and_reasons_have_codes() {
    let f = words();
    assert_eq!(f.review("darn, hello"), Verdict::Reject(Reason::BlockedTerm));
    let codes: Vec<&str> =
        [Reason::BlockedTerm, Reason::TooManyLinks, Reason::TooManyMentions, Reason::RepeatedCharacters]
            .iter()
            .map(Reason::code)
            .collect();
    assert_eq!(codes, ["blocked_term", "too_many_links", "too_many_mentions", "repeated_characters"]);
}

#[test]
fn a_bad_document_is_refused_whole() {
    let bad = |json: &str| Rules::parse(json).and_then(Filter::new).err().unwrap_or_else(|| panic!("accepted {json}"));
    assert!(matches!(bad(r#"{"version":2}"#), RulesError::Version(2)));
    assert!(matches!(bad(r#"{"version":1,"terms":[{"text":"x","action":"ban"}]}"#), RulesError::Parse(_)));
    assert!(matches!(bad(r#"{"version":1,"maxLink":3}"#), RulesError::Parse(_)), "unknown fields are typos");
    assert!(matches!(bad(r#"{"version":1,"maxRepeat":0}"#), RulesError::ZeroLimit("maxRepeat")));
    assert!(matches!(
        bad(r#"{"version":1,"terms":[{"text":"?,.","action":"mask"}]}"#),
        RulesError::BadTerm { index: 0, .. }
    ));
    let long = format!(r#"{{"version":1,"terms":[{{"text":"{}","action":"mask"}}]}}"#, "a".repeat(101));
    assert!(matches!(bad(&long), RulesError::BadTerm { .. }));
    let many: Vec<String> = (0..10_001).map(|i| format!(r#"{{"text":"w{i}","action":"mask"}}"#)).collect();
    assert!(matches!(
        bad(&format!(r#"{{"version":1,"terms":[{}]}}"#, many.join(","))),
        RulesError::TooManyTerms(10_001)
    ));
    assert_eq!(filter(r#"{"version":1}"#).review("anything at all"), Verdict::Allow);
}

proptest! {
    #[test]
    fn masking_changes_only_matched_characters_to_stars_and_never_panics(body in "\\PC{0,80}") {
        let f = words();
        match f.review(&body) {
            Verdict::Replace(masked) => {
                prop_assert_eq!(masked.chars().count(), body.chars().count());
                for (m, b) in masked.chars().zip(body.chars()) {
                    prop_assert!(m == b || m == '*', "{:?} became {:?}", b, m);
                }
                prop_assert_ne!(f.review(&masked), Verdict::Replace(masked.clone()), "masking again changes nothing more");
            }
            Verdict::Allow | Verdict::Reject(_) => {}
        }
    }

    #[test]
    fn a_rejected_word_among_any_words_is_found(before in "[a-z ]{0,20}", after in "[a-z ]{0,20}") {
        let body = format!("{before} H3LLO {after}");
        prop_assert_eq!(words().review(&body), Verdict::Reject(Reason::BlockedTerm));
    }
}
