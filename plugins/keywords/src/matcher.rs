//! Locating configured keywords and patterns in text.

use std::collections::BTreeMap;

use certior_plugin::{ascii_pattern, Span};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::config::Config;

/// What matched: a keyword (by its configured text) or a pattern (with the matched text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    Keyword { keyword: String, span: Span },
    Pattern { text: String, span: Span },
}

/// The compiled rules. Built once, in `certior_init`, so that evaluation never compiles.
pub struct Matcher {
    keywords: Vec<(String, Regex)>,
    patterns: Vec<Regex>,
    /// Keywords then patterns, in that order: one pass tells clean text apart and names the
    /// rules worth locating.
    screen: RegexSet,
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
            if keywords.iter().any(|(k, _): &(String, Regex)| k.eq_ignore_ascii_case(keyword)) {
                return Err(format!("keyword `{keyword}` is listed twice"));
            }
            let source = format!("(?i){}", regex::escape(keyword));
            keywords.push((keyword.clone(), compile(&source)?));
            sources.push(source);
        }
        let mut patterns = Vec::new();
        for pattern in &config.patterns {
            let source = ascii_pattern(pattern);
            patterns.push(compile(&source).map_err(|e| format!("pattern `{pattern}`: {e}"))?);
            sources.push(source);
        }
        let screen = RegexSetBuilder::new(&sources).case_insensitive(true).build().map_err(|e| e.to_string())?;
        let mut exempt = BTreeMap::new();
        for (task_class, listed) in &config.exempt_for_task_class {
            let indices = listed
                .iter()
                .map(|keyword| {
                    keywords
                        .iter()
                        .position(|(k, _)| k.eq_ignore_ascii_case(keyword))
                        .ok_or_else(|| format!("`exempt_for_task_class.{task_class}` names `{keyword}`, which is not a keyword"))
                })
                .collect::<Result<Vec<usize>, String>>()?;
            exempt.insert(task_class.clone(), indices);
        }
        Ok(Matcher { keywords, patterns, screen, exempt })
    }

    /// Every hit: keywords in configured order, then patterns in configured order, each one's
    /// non-overlapping occurrences in text order. Keywords exempt for `task_class` are skipped.
    pub fn scan(&self, text: &str, task_class: Option<&str>) -> Vec<Hit> {
        let screened = self.screen.matches(text);
        if !screened.matched_any() {
            return Vec::new();
        }
        let exempt: &[usize] = task_class.and_then(|class| self.exempt.get(class)).map_or(&[], |v| v.as_slice());
        let mut hits = Vec::new();
        for (index, (keyword, regex)) in self.keywords.iter().enumerate() {
            if !screened.matched(index) || exempt.contains(&index) {
                continue;
            }
            hits.extend(regex.find_iter(text).map(|m| Hit::Keyword { keyword: keyword.clone(), span: Span::new(m.start(), m.end()) }));
        }
        for (offset, regex) in self.patterns.iter().enumerate() {
            if !screened.matched(self.keywords.len() + offset) {
                continue;
            }
            hits.extend(regex.find_iter(text).map(|m| Hit::Pattern { text: m.as_str().to_string(), span: Span::new(m.start(), m.end()) }));
        }
        hits
    }
}

fn compile(source: &str) -> Result<Regex, String> {
    RegexBuilder::new(source).case_insensitive(true).build().map_err(|e| e.to_string())
}
