//! Finding PII in text: every rule's matches, then each match's check.

use certior_plugin::{ascii_pattern, luhn_valid, PatternSet, Span};

use crate::entity::Entity;
use crate::rules::{rules, Check, BIRTH_KEYWORD, BIRTH_WINDOW_CHARS};

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
    /// Every rule's pattern, in rule order.
    patterns: PatternSet,
    rules: Vec<Rule>,
    birth_keyword: PatternSet,
}

impl Detector {
    pub fn new() -> Result<Detector, String> {
        let specs = rules();
        let patterns: Vec<String> = specs.iter().map(|spec| ascii_pattern(&spec.pattern)).collect();
        let rules = specs.iter().map(|spec| Rule { entity: spec.entity, check: spec.check }).collect();
        let birth_keyword = PatternSet::new(&[ascii_pattern(BIRTH_KEYWORD)])?;
        Ok(Detector { patterns: PatternSet::new(&patterns)?, rules, birth_keyword })
    }

    /// Every accepted match, grouped by entity in report order, each group in text order.
    /// Identical spans found by two patterns of one entity are reported once.
    pub fn scan(&self, text: &str) -> Vec<Found> {
        // A date counts only after a birth keyword: without one, the date rules need not run.
        let birth_keywords = self.birth_keywords(text);
        let wanted = |pattern: usize| self.rules[pattern].check != Check::BirthContext || !birth_keywords.is_empty();
        let mut by_entity: Vec<Vec<Span>> = vec![Vec::new(); Entity::ALL.len()];
        for m in self.patterns.find_all_of(text, wanted) {
            let rule = &self.rules[m.pattern];
            let accepted = match rule.check {
                Check::None => true,
                Check::Luhn => luhn_valid(&text[m.span.start..m.span.end]),
                Check::BirthContext => follows_birth_keyword(text, m.span, &birth_keywords),
            };
            if accepted {
                by_entity[rule.entity.rank()].push(m.span);
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
        self.birth_keyword.find_all(text).into_iter().map(|m| m.span).collect()
    }
}

/// Whether some keyword ends before `date` with at most `BIRTH_WINDOW_CHARS` characters
/// between them ("preceded within 20 characters", counted in characters, not bytes).
fn follows_birth_keyword(text: &str, date: Span, keywords: &[Span]) -> bool {
    keywords
        .iter()
        .filter(|keyword| keyword.end <= date.start)
        .any(|keyword| text[keyword.end..date.start].chars().count() <= BIRTH_WINDOW_CHARS)
}
