//! The `keywords` plugin: blocked keywords and patterns, configured per preset — the PHI list
//! of `hipaa` (spec/API.md §6.5), the MNPI keywords and patterns of `sox` (§6.6) and the
//! privilege markers of `legal_privilege` (§6.7).
//!
//! Every hit is a `block` violation in the configured category: keywords give
//! `Blocked keyword: <kw>` with `keyword_code`, patterns `Pattern match: <matched text>` with
//! `pattern_code`. Any hit denies, in every phase (keywords are never neutralised by
//! redaction), and adds the configured label.

pub mod config;
pub mod matcher;

use certior_plugin::{export_plugin, Category, Input, Plugin, Verdict, Violation};

use crate::config::Config;
use crate::matcher::{Hit, Matcher};

/// The `keywords` plugin.
pub struct Keywords {
    matcher: Matcher,
    category: Category,
    label: String,
    keyword_code: String,
    pattern_code: String,
}

impl Plugin for Keywords {
    type Config = Config;

    fn new(config: Config) -> Result<Keywords, String> {
        if config.label.trim().is_empty() {
            return Err("`label` must not be empty".into());
        }
        let keyword_code = required_code(&config.keyword_code, !config.keywords.is_empty(), "keyword_code", "keywords")?;
        let pattern_code = required_code(&config.pattern_code, !config.patterns.is_empty(), "pattern_code", "patterns")?;
        Ok(Keywords { matcher: Matcher::new(&config)?, category: config.category, label: config.label, keyword_code, pattern_code })
    }

    fn evaluate(&self, input: &Input) -> Verdict {
        let violations = self
            .matcher
            .scan(&input.content, input.profile.task_class.as_deref())
            .into_iter()
            .map(|hit| match hit {
                Hit::Keyword { keyword, span } => {
                    Violation::block(self.keyword_code.clone(), self.category, format!("Blocked keyword: {keyword}")).at(span)
                }
                Hit::Pattern { text, span } => {
                    Violation::block(self.pattern_code.clone(), self.category, format!("Pattern match: {text}")).at(span)
                }
            })
            .collect();
        Verdict::from_violations(violations).with_label(self.label.as_str())
    }
}

/// The code for a rule kind: required when that kind is configured, unused (empty) otherwise.
fn required_code(code: &Option<String>, needed: bool, field: &str, rules: &str) -> Result<String, String> {
    match code {
        Some(code) if !code.trim().is_empty() => Ok(code.clone()),
        _ if needed => Err(format!("`{field}` is required when `{rules}` is set")),
        _ => Ok(String::new()),
    }
}

export_plugin!(Keywords);
