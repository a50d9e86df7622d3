//! Finding secrets in text: every type's matches, then each match's check.

use certior_plugin::{ascii_pattern, PatternSet, Span};

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
    /// All patterns, in `SECRET_TYPES` order.
    patterns: PatternSet,
}

impl Detector {
    pub fn new() -> Result<Detector, String> {
        let patterns: Vec<String> = SECRET_TYPES.iter().map(|t| ascii_pattern(t.pattern)).collect();
        Ok(Detector { patterns: PatternSet::new(&patterns)? })
    }

    /// Every accepted match, grouped by type in `SECRET_TYPES` order, each group in text order.
    pub fn scan(&self, text: &str) -> Vec<Found> {
        let mut matches = self.patterns.find_all(text);
        // Stable: each type's matches stay in text order.
        matches.sort_by_key(|m| m.pattern);
        matches
            .into_iter()
            .filter_map(|m| {
                let kind: &SecretType = &SECRET_TYPES[m.pattern];
                let matched = &text[m.span.start..m.span.end];
                if kind.check == Check::NotHex && matched.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                Some(Found { kind: kind.name, span: m.span })
            })
            .collect()
    }
}
