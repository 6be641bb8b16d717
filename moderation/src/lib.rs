//! Starling's content moderation, for the send path before `accepted`: the built-in [`Filter`]
//! (word and phrase lists on folded text, limits on links, mentions and repeated characters).
//! Not yet applied by `send`; once it is, a rejected message gets the `rejected` error with a
//! reason code, and a masked one is stored and delivered masked, its original never stored
//! (docs/moderation.md).

mod filter;
mod fold;
pub mod rules;

pub use filter::Filter;
pub use rules::{Action, Rules, RulesError, Term};

/// Why a message was refused: the `reason` of the `rejected` error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A word or phrase the rules reject.
    BlockedTerm,
    /// More links than `maxLinks`.
    TooManyLinks,
    /// More `@mentions` than `maxMentions`.
    TooManyMentions,
    /// A character repeated more than `maxRepeat` times in a row.
    RepeatedCharacters,
}

impl Reason {
    /// The reason code clients see.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BlockedTerm => "blocked_term",
            Self::TooManyLinks => "too_many_links",
            Self::TooManyMentions => "too_many_mentions",
            Self::RepeatedCharacters => "repeated_characters",
        }
    }
}

/// What moderation decided about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send it as it is.
    Allow,
    /// Send this body instead (masked).
    Replace(String),
    /// Refuse it.
    Reject(Reason),
}
