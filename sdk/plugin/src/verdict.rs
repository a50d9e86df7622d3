//! The verdict a plugin answers with (spec/API.md §6.1).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::{Category, Span};

/// What the plugin wants done with the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Deny,
    /// Replace the content with `Verdict::redacted`; valid only in output phases.
    Redact,
}

/// How hard a violation bites before the host's category policy adjusts it (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Block,
    Warn,
}

/// One finding. `message` must never quote secret material; the host records it verbatim.
///
/// The text members are `Cow<'static, str>` so that the usual fixed codes, entities and
/// messages cost no allocation: a plugin reporting dozens of matches per evaluation otherwise
/// spends a fifth of its time in the allocator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub code: Cow<'static, str>,
    /// `None` only for `plugin_error`, which the spec reports without a category.
    pub category: Option<Category>,
    pub severity: Severity,
    pub message: Cow<'static, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<Cow<'static, str>>,
    /// Set when this verdict's redaction removed the span, which neutralises a `block` (§6.10).
    #[serde(default, skip_serializing_if = "is_false")]
    pub redacted: bool,
    /// Release hook only (spec/RELEASES.md §3.4): what to do about the blocker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediation_steps: Vec<String>,
    /// Release hook only: the subsystem that owns the blocker (host default `plugin:<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_subsystem: Option<String>,
    /// Release hook only: the evidence row the blocker is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_id: Option<String>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Violation {
    /// A `block` violation.
    pub fn block(code: impl Into<Cow<'static, str>>, category: Category, message: impl Into<Cow<'static, str>>) -> Violation {
        Violation::new(code, Some(category), Severity::Block, message)
    }

    /// A `warn` violation.
    pub fn warn(code: impl Into<Cow<'static, str>>, category: Category, message: impl Into<Cow<'static, str>>) -> Violation {
        Violation::new(code, Some(category), Severity::Warn, message)
    }

    /// Any violation. Release gates use `category: None`: the content category policy does
    /// not apply to them.
    pub fn new(
        code: impl Into<Cow<'static, str>>,
        category: Option<Category>,
        severity: Severity,
        message: impl Into<Cow<'static, str>>,
    ) -> Violation {
        Violation {
            code: code.into(),
            category,
            severity,
            message: message.into(),
            span: None,
            entity: None,
            redacted: false,
            remediation_steps: Vec::new(),
            owner_subsystem: None,
            evidence_id: None,
        }
    }

    /// The same violation located at `span`.
    pub fn at(mut self, span: Span) -> Violation {
        self.span = Some(span);
        self
    }

    /// The same violation naming the entity or type it found (e.g. `SSN`).
    pub fn entity(mut self, entity: impl Into<Cow<'static, str>>) -> Violation {
        self.entity = Some(entity.into());
        self
    }

    /// Release hook: the same violation with remediation steps, owner and evidence row.
    pub fn release_details(mut self, remediation_steps: Vec<String>, owner_subsystem: Option<String>, evidence_id: Option<String>) -> Violation {
        self.remediation_steps = remediation_steps;
        self.owner_subsystem = owner_subsystem;
        self.evidence_id = evidence_id;
        self
    }
}

/// The plugin's answer. Build it with the constructors so that `redacted` is present exactly
/// when the action is `redact`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub action: Action,
    pub violations: Vec<Violation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
    /// Data labels found in the content (e.g. `PHI`), which join the run's flow labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Verdict {
    /// Nothing found.
    pub fn allow() -> Verdict {
        Verdict { action: Action::Allow, violations: Vec::new(), redacted: None, labels: Vec::new() }
    }

    /// `deny` if any violation is `block`, otherwise `allow` carrying the (warn) violations.
    /// The host would treat an `allow` with a `block` violation as `deny` anyway; answering it
    /// honestly keeps the plugin's own tests meaningful.
    pub fn from_violations(violations: Vec<Violation>) -> Verdict {
        let action = if violations.iter().any(|v| v.severity == Severity::Block) { Action::Deny } else { Action::Allow };
        Verdict { action, violations, redacted: None, labels: Vec::new() }
    }

    /// Replace the content with `redacted_text`. Every violation is marked as removed by the
    /// redaction, because the caller redacted exactly their spans.
    pub fn redact(redacted_text: String, violations: Vec<Violation>) -> Verdict {
        let violations = violations.into_iter().map(|v| Violation { redacted: true, ..v }).collect();
        Verdict { action: Action::Redact, violations, redacted: Some(redacted_text), labels: Vec::new() }
    }

    /// A `deny` with code `plugin_error`, for inputs or configurations the plugin cannot
    /// handle: failing closed with the cause beats trapping without one.
    pub fn plugin_error(message: impl Into<Cow<'static, str>>) -> Verdict {
        let violation = Violation::new("plugin_error", None, Severity::Block, message);
        Verdict { action: Action::Deny, violations: vec![violation], redacted: None, labels: Vec::new() }
    }

    /// Add a data label, unless there was nothing to label (labels describe found data).
    pub fn with_label(mut self, label: impl Into<String>) -> Verdict {
        let label = label.into();
        if !self.violations.is_empty() && !self.labels.contains(&label) {
            self.labels.push(label);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redact_verdict_matches_the_spec_shape() {
        let violation = Violation::block("pii_detected", Category::HateBiasPii, "PII detected: SSN")
            .at(Span::new(4, 15))
            .entity("SSN");
        let verdict = Verdict::redact("SSN [REDACTED-SSN]".into(), vec![violation]).with_label("PHI");
        assert_eq!(
            serde_json::to_value(&verdict).unwrap(),
            json!({"action": "redact",
                   "violations": [{"code": "pii_detected", "category": "hate_bias_pii", "severity": "block",
                                   "message": "PII detected: SSN", "span": [4, 15], "entity": "SSN",
                                   "redacted": true}],
                   "redacted": "SSN [REDACTED-SSN]", "labels": ["PHI"]})
        );
    }

    #[test]
    fn allow_is_minimal_and_unlabelled() {
        let verdict = Verdict::allow().with_label("PHI");
        assert_eq!(serde_json::to_value(&verdict).unwrap(), json!({"action": "allow", "violations": []}));
    }

    #[test]
    fn from_violations_denies_only_on_block() {
        assert_eq!(Verdict::from_violations(vec![]).action, Action::Allow);
        let warn = Violation::warn("advice", Category::UnauthorizedAdvice, "m");
        assert_eq!(Verdict::from_violations(vec![warn.clone()]).action, Action::Allow);
        let block = Violation::block("k", Category::MnpiLeak, "m");
        let verdict = Verdict::from_violations(vec![warn, block]).with_label("MNPI").with_label("MNPI");
        assert_eq!(verdict.action, Action::Deny);
        assert_eq!(verdict.labels, vec!["MNPI".to_string()]);
        assert_eq!(verdict.redacted, None);
    }

    #[test]
    fn plugin_error_has_no_category() {
        let value = serde_json::to_value(Verdict::plugin_error("invalid input: x")).unwrap();
        assert_eq!(
            value,
            json!({"action": "deny", "violations": [{"code": "plugin_error", "category": null,
                   "severity": "block", "message": "invalid input: x"}]})
        );
    }

    #[test]
    fn release_violation_matches_the_releases_spec_shape() {
        let violation = Violation::new("sbom_missing", None, Severity::Block, "No SBOM artifact is recorded for this commit")
            .release_details(vec!["Attach sbom.spdx.json to the evidence".into()], Some("supply_chain".into()), None);
        assert_eq!(
            serde_json::to_value(Verdict::from_violations(vec![violation])).unwrap(),
            json!({"action": "deny", "violations": [{"code": "sbom_missing", "category": null, "severity": "block",
                   "message": "No SBOM artifact is recorded for this commit",
                   "remediation_steps": ["Attach sbom.spdx.json to the evidence"], "owner_subsystem": "supply_chain"}]})
        );
    }

    #[test]
    fn round_trips() {
        let verdict = Verdict::from_violations(vec![Violation::block("c", Category::Weapons, "m").at(Span::new(0, 1))]);
        let back: Verdict = serde_json::from_str(&serde_json::to_string(&verdict).unwrap()).unwrap();
        assert_eq!(back, verdict);
    }
}
