//! Finding secrets in text: a one-pass screen, then the located and checked matches.

use certior_plugin::{ascii_pattern, Span};
use regex::{Regex, RegexSet};

use crate::rules::{Check, SecretType, SECRET_TYPES};

/// One accepted match: the type and where it is. Deliberately no copy of the matched text, so
/// that nothing downstream can store or echo the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub kind: &'static str,
    pub span: Span,
}

/// The compiled patterns. Built once, in `certior_init`, so that evaluation never compiles.
pub struct Detector {
    /// All patterns in `SECRET_TYPES` order: one scan for clean text, and which types to locate.
    screen: RegexSet,
    regexes: Vec<Regex>,
}

impl Detector {
    pub fn new() -> Result<Detector, String> {
        let patterns: Vec<String> = SECRET_TYPES.iter().map(|t| ascii_pattern(t.pattern)).collect();
        let screen = RegexSet::new(&patterns).map_err(|e| e.to_string())?;
        let regexes = patterns
            .iter()
            .map(|p| Regex::new(p).map_err(|e| e.to_string()))
            .collect::<Result<Vec<Regex>, String>>()?;
        Ok(Detector { screen, regexes })
    }

    /// Every accepted match, grouped by type in `SECRET_TYPES` order, each group in text order.
    pub fn scan(&self, text: &str) -> Vec<Found> {
        let hits = self.screen.matches(text);
        let mut found = Vec::new();
        for index in hits.iter() {
            let kind: &SecretType = &SECRET_TYPES[index];
            for m in self.regexes[index].find_iter(text) {
                if kind.check == Check::NotHex && m.as_str().bytes().all(|b| b.is_ascii_hexdigit()) {
                    continue;
                }
                found.push(Found { kind: kind.name, span: Span::new(m.start(), m.end()) });
            }
        }
        found
    }
}
