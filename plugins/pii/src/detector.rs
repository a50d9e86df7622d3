//! Finding PII in text: every rule's matches (by hand, dates by regex), then each match's check.

use certior_plugin::{ascii_pattern, luhn_valid, PatternSet, Span};

use crate::entity::Entity;
use crate::rules::{rules, Check, BIRTH_KEYWORD, BIRTH_WINDOW_CHARS};
use crate::scan;

/// One accepted match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub entity: Entity,
    pub span: Span,
}

struct Rule {
    entity: Entity,
    check: Check,
}

/// The compiled rules. Built once, in `certior_init`, so that evaluation never compiles.
pub struct Detector {
    rules: Vec<Rule>,
    /// The date rules' patterns; `scan` matches the others by hand.
    dates: PatternSet,
    /// Rule index of each pattern in `dates`.
    date_rules: Vec<usize>,
    birth_keyword: PatternSet,
}

impl Detector {
    pub fn new() -> Result<Detector, String> {
        let specs = rules();
        let date_rules: Vec<usize> = (0..specs.len())
            .filter(|&i| specs[i].check == Check::BirthContext)
            .collect();
        let date_patterns: Vec<String> = date_rules.iter().map(|&i| ascii_pattern(&specs[i].pattern)).collect();
        let rules = specs
            .iter()
            .map(|spec| Rule {
                entity: spec.entity,
                check: spec.check,
            })
            .collect();
        let birth_keyword = PatternSet::new(&[ascii_pattern(BIRTH_KEYWORD)])?;
        Ok(Detector {
            rules,
            dates: PatternSet::new(&date_patterns)?,
            date_rules,
            birth_keyword,
        })
    }

    /// Every accepted match, grouped by entity in report order, each group in text order.
    /// Identical spans found by two patterns of one entity are reported once.
    pub fn scan(&self, text: &str) -> Vec<Found> {
        let mut matches = scan::scan(text);
        // A date counts only after a birth keyword: without one, the date rules need not run.
        let birth_keywords = self.birth_keywords(text);
        if !birth_keywords.is_empty() {
            matches.extend(
                self.dates
                    .find_all(text)
                    .into_iter()
                    .map(|m| (self.date_rules[m.pattern], m.span)),
            );
        }
        let mut by_entity: Vec<Vec<Span>> = vec![Vec::new(); Entity::ALL.len()];
        for (index, span) in matches {
            let rule = &self.rules[index];
            let accepted = match rule.check {
                Check::None => true,
                Check::Luhn => luhn_valid(&text[span.start..span.end]),
                Check::BirthContext => follows_birth_keyword(text, span, &birth_keywords),
            };
            if accepted {
                by_entity[rule.entity.rank()].push(span);
            }
        }
        let mut found = Vec::new();
        for (entity, mut spans) in Entity::ALL.into_iter().zip(by_entity) {
            spans.sort();
            spans.dedup();
            found.extend(spans.into_iter().map(|span| Found { entity, span }));
        }
        found
    }

    fn birth_keywords(&self, text: &str) -> Vec<Span> {
        if !mentions_birth(text) {
            return Vec::new();
        }
        self.birth_keyword.find_all(text).into_iter().map(|m| m.span).collect()
    }
}

/// Whether `text` contains `dob`, `born` or `birth` in any ASCII case: every birth keyword
/// does, and most texts contain none, so one pass over the bytes spares the keyword regex.
fn mentions_birth(text: &str) -> bool {
    let b = text.as_bytes();
    let at = |i: usize, word: &[u8]| b.len() - i >= word.len() && b[i..i + word.len()].eq_ignore_ascii_case(word);
    (0..b.len()).any(|i| match b[i].to_ascii_lowercase() {
        b'd' => at(i, b"dob"),
        b'b' => at(i, b"born") || at(i, b"birth"),
        _ => false,
    })
}

/// Whether some keyword ends before `date` with at most `BIRTH_WINDOW_CHARS` characters
/// between them ("preceded within 20 characters", counted in characters, not bytes).
fn follows_birth_keyword(text: &str, date: Span, keywords: &[Span]) -> bool {
    keywords
        .iter()
        .filter(|keyword| keyword.end <= date.start)
        .any(|keyword| text[keyword.end..date.start].chars().count() <= BIRTH_WINDOW_CHARS)
}
