//! Many regular expressions, each matched on its own, ready for fresh instances.
//!
//! The `regex` crate builds its matching automaton lazily, state by state, as text needs it. A
//! plugin runs in a fresh instance started from a snapshot taken after `certior_init`, so the
//! states built during an evaluation are thrown away with the instance and built again by the
//! next one. What is built before the snapshot stays: a [`PatternSet`] therefore searches a
//! warm-up text at construction. Small automata (one per pattern) are nearly complete after
//! that; one automaton for all patterns at once (an alternation or a `RegexSet`) has so many
//! states that most evaluations spend their time building new ones (measured on the `pii`
//! rules: 180 µs for the first 1 KiB after construction, against 45 µs for the patterns one by
//! one).

use regex::Regex;

use crate::{Screen, Span};

/// One match of one pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PatternMatch {
    /// Index of the pattern in the list given to [`PatternSet::new`].
    pub pattern: usize,
    pub span: Span,
}

/// Text of the kinds plugins see (clinical notes, mail, tool-call arguments, JSON, code, logs,
/// secrets, non-ASCII prose), searched once at construction.
const WARM_UP_TEXT: &str = include_str!("warm_up.txt");

/// Patterns compiled and warmed for [`PatternSet::find_all`].
#[derive(Debug, Clone)]
pub struct PatternSet {
    regexes: Vec<Regex>,
    /// Rules patterns out before their search ([`PatternSet::screened`]).
    screen: Option<Screen>,
}

impl PatternSet {
    /// Compiles `patterns` (each in `regex` syntax, with its own flags) and warms them up. The
    /// error names the first pattern that does not compile.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<PatternSet, String> {
        let regexes = patterns
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                let pattern = pattern.as_ref();
                Regex::new(pattern).map_err(|e| format!("pattern {index} `{pattern}`: {e}"))
            })
            .collect::<Result<Vec<Regex>, String>>()?;
        for regex in &regexes {
            regex.find_iter(WARM_UP_TEXT).count();
        }
        Ok(PatternSet { regexes, screen: None })
    }

    /// The same set, searching only the patterns `screen` does not rule out. The screen must
    /// cover exactly these patterns.
    pub fn screened(self, screen: Screen) -> Result<PatternSet, String> {
        if screen.patterns() != self.regexes.len() {
            return Err(format!("the screen covers {} patterns, the set has {}", screen.patterns(), self.regexes.len()));
        }
        Ok(PatternSet { screen: Some(screen), ..self })
    }

    pub fn len(&self) -> usize {
        self.regexes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.regexes.is_empty()
    }

    /// For every pattern, its non-overlapping leftmost-first matches in `text` (its own
    /// `find_iter`), ordered by start, then by pattern index. Empty matches are never reported.
    pub fn find_all(&self, text: &str) -> Vec<PatternMatch> {
        let candidates = self.screen.as_ref().map(|screen| screen.candidates(text));
        let mut found: Vec<PatternMatch> = Vec::new();
        for (pattern, regex) in self.regexes.iter().enumerate() {
            if candidates.as_ref().map_or(false, |candidates| !candidates[pattern]) {
                continue;
            }
            found.extend(
                regex
                    .find_iter(text)
                    .filter(|m| !m.as_str().is_empty())
                    .map(|m| PatternMatch { pattern, span: Span::new(m.start(), m.end()) }),
            );
        }
        found.sort_by_key(|m| (m.span.start, m.pattern));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(set: &PatternSet, text: &str) -> Vec<(usize, usize, usize)> {
        set.find_all(text).iter().map(|m| (m.pattern, m.span.start, m.span.end)).collect()
    }

    #[test]
    fn every_pattern_finds_its_own_matches_even_inside_another_match() {
        let set = PatternSet::new(&[r"\b\d{3}-\d{2}-\d{4}\b", r"\b[a-z0-9.-]+@[a-z.]+\.org\b"]).unwrap();
        // The SSN lies inside the address; each pattern reports its own match.
        assert_eq!(spans(&set, "id john.123-45-6789@x.org"), [(1, 3, 25), (0, 8, 19)]);
        assert_eq!(spans(&set, "a123-45-6789 no, 123-45-6789 yes"), [(0, 17, 28)]);
    }

    #[test]
    fn matches_are_ordered_by_start_then_pattern() {
        let set = PatternSet::new(&["abc", "ab", "b"]).unwrap();
        assert_eq!(spans(&set, "abc ab"), [(0, 0, 3), (1, 0, 2), (2, 1, 2), (1, 4, 6), (2, 5, 6)]);
    }

    #[test]
    fn empty_matches_are_not_reported() {
        let set = PatternSet::new(&["a*", "b"]).unwrap();
        assert_eq!(spans(&set, "baab"), [(1, 0, 1), (0, 1, 3), (1, 3, 4)]);
    }

    #[test]
    fn a_screened_set_skips_ruled_out_patterns_and_finds_the_rest() {
        let patterns = [r"(?i)secret\s*=\s*\w+", r"AKIA[0-9A-Z]{4}", r"\d+"];
        let screen = Screen::new(3).needs_text(0, &["secret"], true).needs_text(1, &["AKIA"], false);
        let plain = PatternSet::new(&patterns).unwrap();
        let screened = PatternSet::new(&patterns).unwrap().screened(screen.clone()).unwrap();
        for text in ["SECRET = x1 AKIA1234 7", "nothing 42", "", "sécret = 1 AKIAZZZZ"] {
            assert_eq!(spans(&screened, text), spans(&plain, text), "text {text:?}");
        }
        assert!(PatternSet::new(&patterns[..2]).unwrap().screened(screen).is_err());
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let error = PatternSet::new(&["ok", "(unclosed"]).unwrap_err();
        assert!(error.starts_with("pattern 1 `(unclosed`"), "{error}");
    }
}
