//! The content stage's seam (spec §6, §7.5 stages 5 and 8). The Guard asks a [`ContentGate`] to
//! judge text for a hook; the Wasm plugin host implements it. A preset without plugins for a hook
//! has no content stage for it, and a preset *with* plugins but no gate fails closed.

use serde_json::Value;

use crate::preset::{Hook, Preset};
use crate::profile::VerificationProfile;
use crate::violation::{Phase, Violation};

/// What the content is about (the `subject` of the plugin input, spec §6.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContentSubject<'a> {
    pub tool: Option<&'a str>,
    pub params: &'a Value,
    pub capabilities: &'a [String],
    pub destination: Option<&'a str>,
    pub stage: Option<&'a Value>,
    pub release: Option<&'a Value>,
}

/// One request to judge `text` under the preset's plugins for `hook`.
#[derive(Debug, Clone, Copy)]
pub struct ContentRequest<'a> {
    pub hook: Hook,
    pub phase: Phase,
    pub preset: &'a Preset,
    pub profile: &'a VerificationProfile,
    pub subject: ContentSubject<'a>,
    pub text: &'a str,
}

/// The phase outcome after the host category policy (spec §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentAction {
    /// `pass` or `warn` (warn violations are in `violations`).
    Allow,
    Deny,
    /// Only valid in the `tool_output` and `final_output` phases.
    Redact {
        text: String,
    },
}

/// A content stage's answer: action, violations (block and warn) and data labels found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentVerdict {
    pub action: ContentAction,
    pub violations: Vec<Violation>,
    pub labels: Vec<String>,
}

/// Judges content for a preset's plugins. Implementations turn every internal failure (trap,
/// timeout, bad answer) into a `Deny` with a `plugin_error` violation.
pub trait ContentGate: Send + Sync {
    fn evaluate(&self, request: &ContentRequest<'_>) -> ContentVerdict;
}

/// The text plugins see for a tool call (spec §6.9): `tool:<name>`, then one `key=value` line per
/// argument in key order; objects and arrays as compact JSON, null as empty, strings verbatim.
pub fn serialize_tool_input(tool: &str, args: &Value) -> String {
    let mut out = format!("tool:{tool}");
    if let Value::Object(map) = args {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for key in keys {
            let value = match &map[key] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push('\n');
            out.push_str(key);
            out.push('=');
            out.push_str(&value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_input_is_serialised_in_key_order() {
        let text = serialize_tool_input(
            "file_write",
            &json!({"path": "r/a.txt", "append": false, "content": "x", "meta": {"a": [1]}, "n": null}),
        );
        assert_eq!(
            text,
            "tool:file_write\nappend=false\ncontent=x\nmeta={\"a\":[1]}\nn=\npath=r/a.txt"
        );
    }
}
