//! The violation object of spec §7.5, shared by every gate stage and the content plugins.

use serde::{Deserialize, Serialize};

/// Where in the tool-call gate (or content pipeline) a violation arose (spec §7.5, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Prepare,
    Token,
    Capability,
    Authorization,
    ToolInput,
    Flow,
    Budget,
    ToolOutput,
    FinalOutput,
    Stage,
    Release,
}

/// `block` stops the subject; `warn` is recorded only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Block,
    Warn,
}

/// `{code, phase, category, severity, message, policy_ids, plugin, span, redacted}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub code: String,
    pub phase: Phase,
    pub category: Option<String>,
    pub severity: Severity,
    pub message: String,
    pub policy_ids: Vec<String>,
    pub plugin: Option<String>,
    pub span: Option<[usize; 2]>,
    pub redacted: bool,
}

impl Violation {
    /// A blocking violation raised by the host (no category, plugin or span).
    pub fn block(code: &str, phase: Phase, message: impl Into<String>, policy_ids: Vec<String>) -> Self {
        Self {
            code: code.to_owned(),
            phase,
            category: None,
            severity: Severity::Block,
            message: message.into(),
            policy_ids,
            plugin: None,
            span: None,
            redacted: false,
        }
    }
}
