//! Text as the word lists match it. Each character is decomposed (NFKD) and its marks dropped,
//! homoglyphs and stylised letters are mapped to ASCII by `decancer`'s tables ("ʜ" to "h", "Ｈ"
//! to "h", Cyrillic "е" to "e"), letters are lowercased, leetspeak digits and signs join their
//! letter's class ("3" is "e", "0" is "o"; "1", "!", "|", "l" and "i" are one class; a sign such
//! as "!" or "$" only when a letter or digit follows it, so "hello!" ends a word and "$hit" does
//! not start with a separator), and every run of other characters is one separator. Runs of the same class collapse to one entry that
//! remembers its length, so "heeelllo" is found by "hello" while "as" is not by "ass": a match
//! needs each run of the text to be at least as long as the term's.

use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The separator every run of non-letters becomes.
pub(super) const SEPARATOR: char = ' ';

/// One run of the folded text: a class, how many characters made it, and where they were.
/// Compact (bodies are far under 4 GiB), as a message folds into one run per character or so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) class: char,
    pub(super) len: u32,
    /// The bytes of the original text the run came from.
    start: u32,
    end: u32,
}

impl Run {
    /// The bytes of the original text the run came from.
    pub(super) fn source(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Folded text: its runs, and the string of their classes that the automaton searches.
#[derive(Debug, Default)]
pub(super) struct Folded {
    pub(super) runs: Vec<Run>,
    /// One class per run.
    pub(super) classes: String,
    /// For each byte of `classes`, the index of its run.
    pub(super) run_at: Vec<u32>,
}

impl Folded {
    fn push(&mut self, class: char, source: Range<usize>) {
        let (start, end) =
            (u32::try_from(source.start).unwrap_or(u32::MAX), u32::try_from(source.end).unwrap_or(u32::MAX));
        if let Some(last) = self.runs.last_mut()
            && last.class == class
        {
            last.len += 1;
            last.end = end;
            return;
        }
        if class == SEPARATOR && self.runs.is_empty() {
            return;
        }
        let index = u32::try_from(self.runs.len()).unwrap_or(u32::MAX);
        self.runs.push(Run { class, len: 1, start, end });
        self.classes.push(class);
        for _ in 0..class.len_utf8() {
            self.run_at.push(index);
        }
    }

    /// Drops a trailing separator, so a term never ends with one.
    fn trim_end(&mut self) {
        if self.runs.last().is_some_and(|r| r.class == SEPARATOR) {
            self.runs.pop();
            self.classes.pop();
            self.run_at.truncate(self.classes.len());
        }
    }
}

/// The class of an ASCII letter or digit: its leetspeak letter or lowercase letter, or a digit
/// that is no letter; anything else is the separator.
fn ascii_class(c: u8) -> char {
    match c.to_ascii_lowercase() {
        b'l' | b'i' | b'1' => 'i',
        b'0' => 'o',
        b'3' => 'e',
        b'4' => 'a',
        b'5' => 's',
        b'7' => 't',
        b'8' => 'b',
        b'9' => 'g',
        c if c.is_ascii_alphanumeric() => char::from(c),
        _ => SEPARATOR,
    }
}

/// The letter a sign stands for in leetspeak, if it does.
fn sign_letter(c: char) -> Option<char> {
    match c {
        '!' | '|' => Some('i'),
        '@' => Some('a'),
        '$' => Some('s'),
        '+' => Some('t'),
        _ => None,
    }
}

/// The classes of a character beyond ASCII, in order (none for a mark or a control).
fn wide_classes(c: char, out: &mut impl FnMut(char)) {
    for d in c.nfkd() {
        if is_combining_mark(d) {
            continue;
        }
        if d.is_ascii() {
            out(ascii_class(d as u8));
            continue;
        }
        match decancer::cure_char(d, decancer::Options::default()) {
            decancer::Translation::Character(x) if x.is_ascii() => out(ascii_class(x as u8)),
            decancer::Translation::Character(x) => x.to_lowercase().for_each(&mut *out),
            decancer::Translation::String(s) => s.bytes().for_each(|b| out(ascii_class(b))),
            decancer::Translation::None => {}
        }
    }
}

/// Where the run of signs starting at `from` ends, and whether a letter or digit comes next.
fn after_signs(text: &str, from: usize) -> (usize, bool) {
    match text[from..].char_indices().find(|(_, c)| sign_letter(*c).is_none()) {
        Some((i, c)) => (from + i, c.is_alphanumeric()),
        None => (text.len(), false),
    }
}

/// Folds `text`.
pub(super) fn fold(text: &str) -> Folded {
    let mut folded = Folded { runs: Vec::with_capacity(text.len()), ..Folded::default() };
    folded.classes.reserve(text.len());
    folded.run_at.reserve(text.len());
    // The current run of signs: where it ends and whether a word follows it, looked up once per
    // run so a message of signs folds in linear time.
    let mut signs = (0, false);
    for (at, c) in text.char_indices() {
        let source = at..at + c.len_utf8();
        if c.is_ascii() {
            let class = match sign_letter(c) {
                Some(letter) => {
                    if at >= signs.0 {
                        signs = after_signs(text, at);
                    }
                    if signs.1 { letter } else { ascii_class(c as u8) }
                }
                None => ascii_class(c as u8),
            };
            folded.push(class, source);
        } else {
            wide_classes(c, &mut |class| folded.push(class, source.clone()));
        }
    }
    folded.trim_end();
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(s: &str) -> String {
        fold(s).classes
    }

    #[test]
    fn disguises_fold_to_the_same_classes() {
        let hello = classes("hello");
        for disguised in ["ʜ3ll0", "HELLO", "ＨＥＬＬＯ", "һеllo", "hèllo", "he11o", "h3|!0", "heeelllooo"] {
            assert_eq!(classes(disguised), hello, "{disguised}");
        }
        assert_eq!(classes("  a, b..  "), "a b");
        assert_eq!(classes("ﬁne"), classes("fine"));
        assert_eq!(classes("$hit! h3|!0 wow!!!"), "shit heio wow");
    }

    #[test]
    fn runs_remember_their_length_and_their_source_bytes() {
        let f = fold("xéé y");
        assert_eq!(f.classes, "xe y");
        assert_eq!((f.runs[1].class, f.runs[1].len, f.runs[1].source()), ('e', 2, 1..5));
        assert_eq!(f.runs[2].source(), 5..6);
        assert_eq!(f.run_at, [0, 1, 2, 3]);
    }
}
