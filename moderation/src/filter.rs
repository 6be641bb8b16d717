//! The built-in filter: word and phrase lists matched on folded text (`fold.rs`) by one
//! Aho-Corasick automaton, and limits on links, mentions and repeated characters.

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use linkify::LinkFinder;

use super::fold::{Folded, SEPARATOR, fold};
use super::rules::{Action, MAX_TERM_CHARS, Rules, RulesError};
use super::{Reason, Verdict};

/// A term, folded: its run lengths (the classes are in the automaton) and what it does.
#[derive(Debug)]
struct Compiled {
    lens: Vec<u32>,
    action: Action,
    within_words: bool,
}

/// Rules ready to apply; build once per rules document.
#[derive(Debug)]
pub struct Filter {
    automaton: Option<AhoCorasick>,
    terms: Vec<Compiled>,
    rules: Rules,
}

impl Filter {
    /// Compiles `rules`; a term that folds to nothing or is too long refuses the whole document.
    pub fn new(rules: Rules) -> Result<Self, RulesError> {
        let mut patterns = Vec::with_capacity(rules.terms.len());
        let mut terms = Vec::with_capacity(rules.terms.len());
        for (index, term) in rules.terms.iter().enumerate() {
            let bad = |problem| RulesError::BadTerm { index, text: term.text.clone(), problem };
            if term.text.chars().count() > MAX_TERM_CHARS {
                return Err(bad("is longer than 100 characters"));
            }
            let folded = fold(&term.text);
            if folded.runs.is_empty() || folded.runs[0].class == SEPARATOR {
                return Err(bad("has no letter or digit"));
            }
            patterns.push(folded.classes);
            terms.push(Compiled {
                lens: folded.runs.iter().map(|r| if r.class == SEPARATOR { 1 } else { r.len }).collect(),
                action: term.action,
                within_words: term.within_words,
            });
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            // A DFA: every message is searched, the rules change rarely (about 1 MB for 1,000 terms).
            // Building fails only past the library's size limits, which the term caps keep far off.
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&patterns)
                .map_err(RulesError::Automaton)?;
            Some(ac)
        };
        Ok(Self { automaton, terms, rules })
    }

    /// The rules this filter applies.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// What the rules make of `body`.
    pub fn review(&self, body: &str) -> Verdict {
        if let Some(max) = self.rules.max_repeat
            && longest_repeat(body) > max
        {
            return Verdict::Reject(Reason::RepeatedCharacters);
        }
        if let Some(max) = self.rules.max_mentions
            && mentions(body) > max
        {
            return Verdict::Reject(Reason::TooManyMentions);
        }
        if let Some(max) = self.rules.max_links
            && LinkFinder::new().url_must_have_scheme(false).links(body).nth(max).is_some()
        {
            return Verdict::Reject(Reason::TooManyLinks);
        }
        let Some(automaton) = &self.automaton else { return Verdict::Allow };
        let folded = fold(body);
        let mut masks: Vec<Range<usize>> = Vec::new();
        for m in automaton.find_overlapping_iter(&folded.classes) {
            let term = &self.terms[m.pattern().as_usize()];
            let Some(source) = matched(&folded, m.range(), term) else { continue };
            match term.action {
                Action::Reject => return Verdict::Reject(Reason::BlockedTerm),
                Action::Mask => masks.push(source),
            }
        }
        if masks.is_empty() { Verdict::Allow } else { Verdict::Replace(mask(body, masks)) }
    }
}

/// The original bytes of a candidate match, if it is one: each run of the text at least as long
/// as the term's, and on word boundaries unless the term matches within words.
fn matched(folded: &Folded, at: Range<usize>, term: &Compiled) -> Option<Range<usize>> {
    let (first, last) = (folded.run_at[at.start] as usize, folded.run_at[at.end - 1] as usize);
    let runs = &folded.runs[first..=last];
    if runs.len() != term.lens.len() || runs.iter().zip(&term.lens).any(|(r, len)| r.len < *len) {
        return None;
    }
    let separated = |i: Option<usize>| i.and_then(|i| folded.runs.get(i)).is_none_or(|r| r.class == SEPARATOR);
    let whole_word = separated(first.checked_sub(1)) && separated(Some(last + 1));
    if !(term.within_words || whole_word) {
        return None;
    }
    Some(runs[0].source().start..runs[runs.len() - 1].source().end)
}

/// `body` with every character inside `ranges` (byte ranges on character boundaries) replaced by
/// `*`.
fn mask(body: &str, mut ranges: Vec<Range<usize>>) -> String {
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(body.len());
    let mut ranges = ranges.into_iter().peekable();
    for (at, c) in body.char_indices() {
        while ranges.peek().is_some_and(|r| r.end <= at) {
            ranges.next();
        }
        let inside = ranges.peek().is_some_and(|r| r.start <= at);
        out.push(if inside && !c.is_whitespace() { '*' } else { c });
    }
    out
}

/// The longest run of one character.
fn longest_repeat(body: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    let mut previous = None;
    for c in body.chars() {
        run = if Some(c) == previous { run + 1 } else { 1 };
        previous = Some(c);
        longest = longest.max(run);
    }
    longest
}

/// `@name` tokens: an `@` at the start or after whitespace, followed by a letter, a digit or `_`.
fn mentions(body: &str) -> usize {
    let mut count = 0;
    let mut previous = ' ';
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '@' && previous.is_whitespace() && chars.peek().is_some_and(|n| n.is_alphanumeric() || *n == '_') {
            count += 1;
        }
        previous = c;
    }
    count
}
