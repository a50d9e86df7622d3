//! Locating configured keywords and patterns in text.

use std::collections::BTreeMap;

use certior_plugin::{ascii_pattern, PatternSet, Screen, Span};

use crate::config::Config;

/// What matched: a keyword (by its configured text) or a pattern (with the matched text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    Keyword { keyword: String, span: Span },
    Pattern { text: String, span: Span },
}

/// The compiled rules. Built once, in `certior_init`, so that evaluation never compiles.
pub struct Matcher {
    keywords: Vec<String>,
    /// Keywords then patterns, in configured order, all case-insensitive.
    rules: PatternSet,
    /// Task class → indices into `keywords` that are not checked.
    exempt: BTreeMap<String, Vec<usize>>,
}

impl Matcher {
    pub fn new(config: &Config) -> Result<Matcher, String> {
        if config.keywords.is_empty() && config.patterns.is_empty() {
            return Err("configure at least one of `keywords` and `patterns`".into());
        }
        let mut sources = Vec::new();
        let mut keywords = Vec::new();
        for keyword in &config.keywords {
            if keyword.trim().is_empty() {
                return Err("`keywords` must not contain empty strings".into());
            }
            if keywords.iter().any(|k: &String| k.eq_ignore_ascii_case(keyword)) {
                return Err(format!("keyword `{keyword}` is listed twice"));
            }
            keywords.push(keyword.clone());
            sources.push(format!("(?i){}", regex::escape(keyword)));
        }
        for pattern in &config.patterns {
            let source = format!("(?i:{})", ascii_pattern(pattern));
            regex::Regex::new(&source).map_err(|e| format!("pattern `{pattern}`: {e}"))?;
            sources.push(source);
        }
        // A keyword is case-insensitive text, so it is its own screen (one with a non-ASCII
        // letter stays unscreened, see `Screen::needs_text`); patterns are not screened.
        let mut screen = Screen::new(sources.len());
        for (index, keyword) in keywords.iter().enumerate() {
            screen = screen.needs_text(index, &[keyword], true);
        }
        let rules = PatternSet::new(&sources)?.screened(screen)?;
        let mut exempt = BTreeMap::new();
        for (task_class, listed) in &config.exempt_for_task_class {
            let indices = listed
                .iter()
                .map(|keyword| {
                    keywords
                        .iter()
                        .position(|k| k.eq_ignore_ascii_case(keyword))
                        .ok_or_else(|| format!("`exempt_for_task_class.{task_class}` names `{keyword}`, which is not a keyword"))
                })
                .collect::<Result<Vec<usize>, String>>()?;
            exempt.insert(task_class.clone(), indices);
        }
        Ok(Matcher { keywords, rules, exempt })
    }

    /// Every hit: keywords in configured order, then patterns in configured order, each one's
    /// non-overlapping occurrences in text order. Keywords exempt for `task_class` are skipped.
    pub fn scan(&self, text: &str, task_class: Option<&str>) -> Vec<Hit> {
        let exempt: &[usize] = task_class.and_then(|class| self.exempt.get(class)).map_or(&[], |v| v.as_slice());
        let mut matches = self.rules.find_all(text);
        // Stable: each rule's matches stay in text order.
        matches.sort_by_key(|m| m.pattern);
        matches
            .into_iter()
            .filter(|m| !exempt.contains(&m.pattern))
            .map(|m| match self.keywords.get(m.pattern) {
                Some(keyword) => Hit::Keyword { keyword: keyword.clone(), span: m.span },
                None => Hit::Pattern { text: text[m.span.start..m.span.end].to_string(), span: m.span },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certior_plugin::recombinations;

    fn config(keywords: &[&str]) -> Config {
        serde_json::from_value(serde_json::json!({
            "category": "phi_exposure", "label": "PHI", "keyword_code": "phi_keyword",
            "keywords": keywords, "pattern_code": "p", "patterns": [r"\bMNPI\b"],
        }))
        .unwrap()
    }

    fn unscreened(keywords: &[&str]) -> PatternSet {
        let mut sources: Vec<String> = keywords.iter().map(|k| format!("(?i){}", regex::escape(k))).collect();
        sources.push(format!("(?i:{})", ascii_pattern(r"\bMNPI\b")));
        PatternSet::new(&sources).unwrap()
    }

    #[test]
    fn the_screen_never_hides_a_match() {
        let keywords = ["patient name", "Diagnosis", "ſecret", "medical record", "k"];
        let matcher = Matcher::new(&config(&keywords)).unwrap();
        let plain = unscreened(&keywords);
        let samples = [
            "PATIENT NAME: x; patient  name; diagnosisDIAGNOSIS; Medical Record 7",
            "secret SECRET ſecret; K k \u{212a}; mnpi MNPI xMNPI",
            "nothing here at all, only prose about weather",
        ];
        for text in samples {
            assert_eq!(matcher.rules.find_all(text), plain.find_all(text), "text {text:?}");
        }
        for text in recombinations(&samples, |c| c == ' ' || c == ';', 2000, 6) {
            assert_eq!(matcher.rules.find_all(&text), plain.find_all(&text), "text {text:?}");
        }
    }
}
