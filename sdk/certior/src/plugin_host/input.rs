//! The evaluation input, as the host sends it (spec/API.md §6.1).

use serde::Serialize;
use serde_json::Value;

/// The hook a plugin is asked under; fixed by the phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    ToolCall,
    Content,
    Stage,
    Release,
}

/// Where in a run the content comes from. Decides whether `redact` is an acceptable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    ToolInput,
    ToolOutput,
    FinalOutput,
    Stage,
    Release,
}

impl Phase {
    pub fn hook(self) -> Hook {
        match self {
            Phase::ToolInput => Hook::ToolCall,
            Phase::ToolOutput | Phase::FinalOutput => Hook::Content,
            Phase::Stage => Hook::Stage,
            Phase::Release => Hook::Release,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::ToolInput => "tool_input",
            Phase::ToolOutput => "tool_output",
            Phase::FinalOutput => "final_output",
            Phase::Stage => "stage",
            Phase::Release => "release",
        }
    }

    pub fn allows_redaction(self) -> bool {
        matches!(self, Phase::ToolOutput | Phase::FinalOutput)
    }
}

/// One evaluation request. The plugin's configuration is added by the host from the load, so
/// a caller cannot send a plugin a configuration other than the one it was initialized with.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInput {
    pub phase: Phase,
    /// Canonical preset key.
    pub preset: String,
    /// `{"task_class": …, "stage_role": …}`, or null (release gates).
    pub profile: Value,
    /// `{"tool", "params", "capabilities", "destination", "stage", "release"}`.
    pub subject: Value,
    /// The text under check; `None` (JSON null) for release gates.
    pub content: Option<String>,
}

impl PluginInput {
    /// Content to check in `phase`, with an empty profile and subject.
    pub fn new(phase: Phase, preset: &str, content: &str) -> PluginInput {
        PluginInput {
            phase,
            preset: preset.to_string(),
            profile: Value::Null,
            subject: Value::Null,
            content: Some(content.to_string()),
        }
    }
}

/// The wire form: the input plus the ABI version, the hook and the configuration.
#[derive(Serialize)]
struct Wire<'a> {
    abi: u32,
    hook: Hook,
    phase: Phase,
    preset: &'a str,
    config: &'a Value,
    profile: &'a Value,
    subject: &'a Value,
    content: Option<&'a str>,
}

pub(crate) fn encode(input: &PluginInput, config: &Value) -> Vec<u8> {
    let wire = Wire {
        abi: 1,
        hook: input.phase.hook(),
        phase: input.phase,
        preset: &input.preset,
        config,
        profile: &input.profile,
        subject: &input.subject,
        content: input.content.as_deref(),
    };
    serde_json::to_vec(&wire).expect("JSON values and strings always encode")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_the_spec_shape() {
        let input = PluginInput {
            phase: Phase::ToolOutput,
            preset: "hipaa".into(),
            profile: json!({"task_class": "clinical_intake", "stage_role": "intake"}),
            subject: json!({"tool": "file_read"}),
            content: Some("…".into()),
        };
        let encoded: Value = serde_json::from_slice(&encode(&input, &json!({"mode": "redact"}))).unwrap();
        assert_eq!(
            encoded,
            json!({"abi": 1, "hook": "content", "phase": "tool_output", "preset": "hipaa",
                   "config": {"mode": "redact"},
                   "profile": {"task_class": "clinical_intake", "stage_role": "intake"},
                   "subject": {"tool": "file_read"}, "content": "…"})
        );
        let release = PluginInput {
            phase: Phase::Release,
            content: None,
            ..input
        };
        let encoded: Value = serde_json::from_slice(&encode(&release, &Value::Null)).unwrap();
        assert_eq!(
            (encoded["hook"].as_str(), encoded["content"].is_null()),
            (Some("release"), true)
        );
    }

    #[test]
    fn phases() {
        let all = [
            Phase::ToolInput,
            Phase::ToolOutput,
            Phase::FinalOutput,
            Phase::Stage,
            Phase::Release,
        ];
        let hooks: Vec<Hook> = all.iter().map(|p| p.hook()).collect();
        assert_eq!(
            hooks,
            [Hook::ToolCall, Hook::Content, Hook::Content, Hook::Stage, Hook::Release]
        );
        for phase in all {
            assert_eq!(serde_json::to_value(phase).unwrap(), phase.as_str());
        }
        let redactable: Vec<Phase> = all.into_iter().filter(|p| p.allows_redaction()).collect();
        assert_eq!(redactable, [Phase::ToolOutput, Phase::FinalOutput]);
    }
}
