//! The `{{name}}` plugin: blocks text that matches one of the regular expressions listed in
//! its `[plugins.config]` table in `preset/preset.toml`.
//!
//! `new` runs once, when the server loads the preset (it compiles and warms the patterns, and the
//! server snapshots the result); `evaluate` runs in a fresh sandbox for every tool call, tool
//! output and final answer the preset's hooks cover.

use certior_plugin::{ascii_pattern, export_plugin, Input, PatternSet, Plugin, Severity, Verdict, Violation};
use serde::Deserialize;

/// The `[plugins.config]` table. Unknown keys are refused, so a misspelt setting is noticed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Regular expressions (`regex` crate syntax); `\d` and `\b` are ASCII.
    patterns: Vec<String>,
}

pub struct PatternBlocker {
    patterns: PatternSet,
}

impl Plugin for PatternBlocker {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.patterns.is_empty() {
            return Err("`patterns` must list at least one regular expression".to_string());
        }
        let patterns: Vec<String> = config.patterns.iter().map(|p| ascii_pattern(p)).collect();
        Ok(PatternBlocker { patterns: PatternSet::new(&patterns)? })
    }

    fn evaluate(&self, input: &Input) -> Verdict {
        let violations = self
            .patterns
            .find_all(&input.content)
            .into_iter()
            .map(|found| {
                // No category: the preset's category policy does not apply, the block stands.
                let message = format!("Blocked pattern {} of plugin `{{name}}`", found.pattern);
                Violation::new("{{name}}_match", None, Severity::Block, message).at(found.span)
            })
            .collect();
        Verdict::from_violations(violations)
    }
}

export_plugin!(PatternBlocker);

#[cfg(test)]
mod tests {
    use super::*;
    use certior_plugin::{Action, Phase};

    fn plugin() -> PatternBlocker {
        PatternBlocker::new(Config { patterns: vec![r"\bTICKET-\d{4,}\b".to_string()] }).unwrap()
    }

    #[test]
    fn blocks_the_pattern_and_passes_other_text() {
        let verdict = plugin().evaluate(&Input::new(Phase::ToolOutput, "see TICKET-20417 for details"));
        assert_eq!(verdict.action, Action::Deny);
        assert_eq!(verdict.violations[0].code, "{{name}}_match");
        let verdict = plugin().evaluate(&Input::new(Phase::ToolOutput, "see the ticket for details"));
        assert_eq!(verdict.action, Action::Allow);
    }

    #[test]
    fn refuses_an_empty_configuration() {
        assert!(PatternBlocker::new(Config { patterns: Vec::new() }).is_err());
    }
}
