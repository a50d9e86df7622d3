//! Finding PII in text: a one-pass screen, then the located and checked matches.

use certior_plugin::{ascii_pattern, luhn_valid, Span};
use regex::{Regex, RegexSet};

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
    regex: Regex,
    check: Check,
}

/// The compiled rules. Built once, in `certior_init`, so that evaluation never compiles.
pub struct Detector {
    /// Every rule's pattern, in rule order: one scan tells clean text apart and names the rules
    /// worth locating.
    screen: RegexSet,
    rules: Vec<Rule>,
    birth_keyword: Regex,
}

impl Detector {
    pub fn new() -> Result<Detector, String> {
        let specs = rules();
        let patterns: Vec<String> = specs.iter().map(|spec| ascii_pattern(&spec.pattern)).collect();
        let screen = RegexSet::new(&patterns).map_err(|e| e.to_string())?;
        let rules = specs
            .into_iter()
            .zip(&patterns)
            .map(|(spec, pattern)| {
                let regex = Regex::new(pattern).map_err(|e| e.to_string())?;
                Ok(Rule { entity: spec.entity, regex, check: spec.check })
            })
            .collect::<Result<Vec<Rule>, String>>()?;
        let birth_keyword = Regex::new(&ascii_pattern(BIRTH_KEYWORD)).map_err(|e| e.to_string())?;
        Ok(Detector { screen, rules, birth_keyword })
    }

    /// Every accepted match, grouped by entity in report order, each group in text order.
    /// Identical spans found by two patterns of one entity are reported once.
    pub fn scan(&self, text: &str) -> Vec<Found> {
        let hits = self.screen.matches(text);
        if !hits.matched_any() {
            return Vec::new();
        }
        let mut birth_keywords: Option<Vec<Span>> = None;
        let mut found = Vec::new();
        for entity in Entity::ALL {
            let mut spans: Vec<Span> = Vec::new();
            for (index, rule) in self.rules.iter().enumerate() {
                if rule.entity != entity || !hits.matched(index) {
                    continue;
                }
                for m in rule.regex.find_iter(text) {
                    let span = Span::new(m.start(), m.end());
                    let accepted = match rule.check {
                        Check::None => true,
                        Check::Luhn => luhn_valid(m.as_str()),
                        Check::BirthContext => {
                            let keywords = birth_keywords.get_or_insert_with(|| self.birth_keywords(text));
                            follows_birth_keyword(text, span, keywords)
                        }
                    };
                    if accepted {
                        spans.push(span);
                    }
                }
            }
            spans.sort();
            spans.dedup();
            found.extend(spans.into_iter().map(|span| Found { entity, span }));
        }
        found
    }

    fn birth_keywords(&self, text: &str) -> Vec<Span> {
        self.birth_keyword.find_iter(text).map(|m| Span::new(m.start(), m.end())).collect()
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
