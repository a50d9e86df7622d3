//! The plugin's answer and the checks that make it trustworthy enough to act on.

use serde::Deserialize;

use super::error::PluginErrorCause;
use super::input::Phase;

/// The violation categories of spec/API.md §6.2. An answer with any other category is
/// malformed: the host's category policy could not place it.
pub use crate::preset::CATEGORIES;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginAction {
    Allow,
    Deny,
    Redact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginSeverity {
    Block,
    Warn,
}

/// One violation as the plugin reported it (before the host's category policy).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PluginViolation {
    pub code: String,
    #[serde(default)]
    pub category: Option<String>,
    pub severity: PluginSeverity,
    /// Required for content hooks by convention; release gates may omit it (spec/RELEASES.md §3.4).
    #[serde(default)]
    pub message: Option<String>,
    /// `[start, end)` UTF-8 byte offsets into the content; checked to lie within it.
    #[serde(default)]
    pub span: Option<(usize, usize)>,
    #[serde(default)]
    pub entity: Option<String>,
    /// The plugin's own redaction removed this span (spec/API.md §6.10).
    #[serde(default)]
    pub redacted: bool,
    #[serde(default)]
    pub remediation_steps: Vec<String>,
    #[serde(default)]
    pub owner_subsystem: Option<String>,
    #[serde(default)]
    pub evidence_id: Option<String>,
}

/// A validated answer: the action is known, `redact` carries text and came in an output
/// phase, categories are known and spans lie within the content.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PluginAnswer {
    pub action: PluginAction,
    #[serde(default)]
    pub violations: Vec<PluginViolation>,
    #[serde(default)]
    pub redacted: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
}

impl PluginAnswer {
    /// The action the host acts on: a plugin cannot allow more than its violations say, so an
    /// `allow` with a `block` violation is a `deny` (spec/API.md §6.1).
    pub fn effective_action(&self) -> PluginAction {
        let blocks = self.violations.iter().any(|v| v.severity == PluginSeverity::Block);
        match self.action {
            PluginAction::Allow if blocks => PluginAction::Deny,
            action => action,
        }
    }
}

pub(crate) fn parse(bytes: &[u8], phase: Phase, content_len: usize) -> Result<PluginAnswer, PluginErrorCause> {
    // One UTF-8 check of the whole answer instead of one per string inside it.
    let text = std::str::from_utf8(bytes).map_err(|e| PluginErrorCause::MalformedAnswer(format!("not UTF-8: {e}")))?;
    let answer: PluginAnswer =
        serde_json::from_str(text).map_err(|e| PluginErrorCause::MalformedAnswer(e.to_string()))?;
    if answer.action == PluginAction::Redact {
        if !phase.allows_redaction() {
            return Err(PluginErrorCause::RedactNotAllowed(phase.as_str()));
        }
        if answer.redacted.is_none() {
            return Err(PluginErrorCause::RedactWithoutText);
        }
    }
    for violation in &answer.violations {
        if let Some(category) = &violation.category {
            if !CATEGORIES.contains(&category.as_str()) {
                return Err(PluginErrorCause::MalformedAnswer(format!(
                    "unknown category `{category}`"
                )));
            }
        }
        if let Some((start, end)) = violation.span {
            if start > end || end > content_len {
                return Err(PluginErrorCause::MalformedAnswer(format!(
                    "span [{start}, {end}) outside the {content_len}-byte content"
                )));
            }
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malformed(result: Result<PluginAnswer, PluginErrorCause>) -> String {
        match result {
            Err(PluginErrorCause::MalformedAnswer(message)) => message,
            other => panic!("expected a malformed answer, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_spec_verdict() {
        let json = br#"{"action": "redact",
            "violations": [{"code": "pii_detected", "category": "hate_bias_pii", "severity": "block",
                            "message": "PII detected: SSN", "span": [4, 15], "entity": "SSN", "redacted": true}],
            "redacted": "SSN [REDACTED-SSN]", "labels": ["PHI"]}"#;
        let answer = parse(json, Phase::ToolOutput, 15).unwrap();
        assert_eq!(answer.action, PluginAction::Redact);
        assert_eq!(answer.violations[0].span, Some((4, 15)));
        assert!(answer.violations[0].redacted);
        assert_eq!(answer.labels, vec!["PHI".to_string()]);
    }

    #[test]
    fn an_answer_that_is_not_utf8_is_malformed() {
        let message = malformed(parse(
            b"{\"action\": \"allow\", \"labels\": [\"\xff\"]}",
            Phase::ToolOutput,
            0,
        ));
        assert!(message.starts_with("not UTF-8"), "{message}");
    }

    #[test]
    fn redact_rules() {
        let redact = br#"{"action": "redact", "violations": [], "redacted": "x"}"#;
        assert_eq!(
            parse(redact, Phase::ToolInput, 0),
            Err(PluginErrorCause::RedactNotAllowed("tool_input"))
        );
        assert_eq!(
            parse(redact, Phase::Release, 0),
            Err(PluginErrorCause::RedactNotAllowed("release"))
        );
        assert!(parse(redact, Phase::FinalOutput, 0).is_ok());
        assert_eq!(
            parse(br#"{"action": "redact"}"#, Phase::ToolOutput, 0),
            Err(PluginErrorCause::RedactWithoutText)
        );
    }

    #[test]
    fn malformed_answers() {
        assert!(malformed(parse(b"not json", Phase::ToolOutput, 0)).contains("expected"));
        assert!(malformed(parse(br#"{"action": "maybe"}"#, Phase::ToolOutput, 0)).contains("unknown variant `maybe`"));
        let bad_severity = br#"{"action": "deny", "violations": [{"code": "c", "severity": "fatal"}]}"#;
        assert!(malformed(parse(bad_severity, Phase::ToolOutput, 0)).contains("unknown variant `fatal`"));
        let bad_category =
            br#"{"action": "deny", "violations": [{"code": "c", "category": "pii", "severity": "block"}]}"#;
        assert_eq!(
            malformed(parse(bad_category, Phase::ToolOutput, 0)),
            "unknown category `pii`"
        );
        let bad_span = br#"{"action": "deny", "violations": [{"code": "c", "severity": "block", "span": [2, 9]}]}"#;
        assert_eq!(
            malformed(parse(bad_span, Phase::ToolOutput, 5)),
            "span [2, 9) outside the 5-byte content"
        );
    }

    #[test]
    fn allow_with_a_block_violation_is_a_deny() {
        let json = br#"{"action": "allow", "violations": [{"code": "c", "category": null, "severity": "block"}]}"#;
        assert_eq!(
            parse(json, Phase::Stage, 0).unwrap().effective_action(),
            PluginAction::Deny
        );
        let warn = br#"{"action": "allow", "violations": [{"code": "c", "severity": "warn"}]}"#;
        assert_eq!(
            parse(warn, Phase::Stage, 0).unwrap().effective_action(),
            PluginAction::Allow
        );
    }
}
