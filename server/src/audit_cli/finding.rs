//! Findings of `certior audit` (spec/RELEASES.md §8.4) and their fixed order.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Error,
    Warning,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Skill,
    Agent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Relative to the root, with `/`.
    pub file: String,
    pub line: Option<usize>,
    pub kind: Kind,
    pub subject: String,
    /// Null for delegation and skill findings.
    pub package: Option<String>,
    pub code: &'static str,
    pub level: Level,
    pub capability: Option<String>,
    pub message: String,
}

/// Sorts by file, line (null first), code, capability, package.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.code, &a.capability, &a.package).cmp(&(&b.file, b.line, b.code, &b.capability, &b.package))
    });
}

/// One line per rule: the short descriptions of the codes (SARIF `shortDescription`).
pub fn describe(code: &str) -> &'static str {
    match code {
        "wildcard_denied_under_compliance" => "A bare * capability is denied under a compliance preset",
        "forbidden_by_policy" => "The capability is forbidden by the preset",
        "capability_not_in_policy" => "The capability is outside the preset's ceiling",
        "permissions_not_subset" => "A delegated agent declares a capability its parent lacks",
        "budget_exceeds_parent" => "A delegated agent's budget exceeds its parent's",
        "unknown_parent" => "The parent agent is not declared in the file",
        "delegation_cycle" => "The parent chain loops",
        "unknown_skill" => "The agent loads a skill that is not declared",
        "skill_not_in_agent" => "A loaded skill declares a capability the agent lacks",
        "undeclared" => "The skill declares no capabilities",
        _ => "The declaration cannot be read",
    }
}
