//! The moderation rules document: JSON, versioned, checked whole before it replaces the rules in
//! force (docs/moderation.md has the format).

use serde::Deserialize;

/// What a matching term does to the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The message is refused: the sender gets `rejected` and nothing is stored.
    Reject,
    /// The matched characters are replaced with `*`; the masked message is stored and delivered.
    Mask,
}

/// One word or phrase.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Term {
    /// The word or phrase, matched after folding (`fold.rs`): case, accents, look-alike letters
    /// and leetspeak do not matter, and neither do repeated letters in the message.
    pub text: String,
    /// What a match does.
    pub action: Action,
    /// Match inside longer words too; by default only whole words ("ass" does not match "class").
    #[serde(default)]
    pub within_words: bool,
}

/// The rules document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rules {
    /// The format's version: 1.
    pub version: u32,
    /// Words and phrases.
    #[serde(default)]
    pub terms: Vec<Term>,
    /// Most links (URLs and e-mail addresses) a message may hold.
    pub max_links: Option<usize>,
    /// Most `@mentions` a message may hold.
    pub max_mentions: Option<usize>,
    /// Most times one character may repeat in a row ("!!!!!!!!!!").
    pub max_repeat: Option<usize>,
}

/// The most terms one document may hold.
pub const MAX_TERMS: usize = 10_000;
/// The longest term, in characters.
pub const MAX_TERM_CHARS: usize = 100;

/// Why a rules document was refused; the rules in force stay.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// Not JSON of the documented shape: fix the document.
    #[error("the moderation rules are not a valid document")]
    Parse(#[source] serde_json::Error),
    /// A version this release does not read.
    #[error("moderation rules version {0} is not supported (1 is)")]
    Version(u32),
    /// Over [`MAX_TERMS`] terms.
    #[error("{0} terms: at most {MAX_TERMS}")]
    TooManyTerms(usize),
    /// A term that is empty once folded (only punctuation), or over [`MAX_TERM_CHARS`].
    #[error("term {index} ({text:?}) {problem}")]
    BadTerm {
        /// Its place in `terms`.
        index: usize,
        /// The term.
        text: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The terms passed every check but the automaton could not be built from them (a limit of
    /// the matching library): split the list or shorten it.
    #[error("the terms could not be compiled")]
    Automaton(#[source] aho_corasick::BuildError),
    /// A limit of 0 (it would refuse everything of its kind; leave the limit out to allow any).
    #[error("{0} must be at least 1")]
    ZeroLimit(&'static str),
}

impl Rules {
    /// Reads and checks a document.
    pub fn parse(json: &str) -> Result<Self, RulesError> {
        let rules: Self = serde_json::from_str(json).map_err(RulesError::Parse)?;
        if rules.version != 1 {
            return Err(RulesError::Version(rules.version));
        }
        if rules.terms.len() > MAX_TERMS {
            return Err(RulesError::TooManyTerms(rules.terms.len()));
        }
        for (name, limit) in
            [("maxLinks", rules.max_links), ("maxMentions", rules.max_mentions), ("maxRepeat", rules.max_repeat)]
        {
            if limit == Some(0) {
                return Err(RulesError::ZeroLimit(name));
            }
        }
        Ok(rules)
    }
}
