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

/// An input in its wire form, encoded once for every plugin of a stage: the JSON object of
/// spec/API.md §6.1 without its `config` member, which each plugin fills with its own.
#[derive(Debug, Clone)]
pub struct EncodedInput {
    /// `{"abi":1,"hook":…,"phase":…,"preset":…,"config":`
    head: Vec<u8>,
    /// `,"profile":…,"subject":…,"content":…}`
    tail: Vec<u8>,
    phase: Phase,
    content_len: usize,
}

#[derive(Serialize)]
struct Head<'a> {
    abi: u32,
    hook: Hook,
    phase: Phase,
    preset: &'a str,
}

#[derive(Serialize)]
struct Tail<'a> {
    profile: &'a Value,
    subject: &'a Value,
    content: Option<&'a str>,
}

impl EncodedInput {
    pub fn new(input: &PluginInput) -> EncodedInput {
        let head = Head {
            abi: 1,
            hook: input.phase.hook(),
            phase: input.phase,
            preset: &input.preset,
        };
        let tail = Tail {
            profile: &input.profile,
            subject: &input.subject,
            content: input.content.as_deref(),
        };
        // Both are non-empty objects: the head loses its `}`, the tail's `{` becomes a comma.
        let mut head = serde_json::to_vec(&head).expect("JSON values and strings always encode");
        head.pop();
        head.extend_from_slice(br#","config":"#);
        let mut tail = serde_json::to_vec(&tail).expect("JSON values and strings always encode");
        tail[0] = b',';
        EncodedInput {
            head,
            tail,
            phase: input.phase,
            content_len: input.content.as_deref().map_or(0, str::len),
        }
    }

    /// The wire form with `config` (a JSON value) in place, in three consecutive pieces.
    pub(crate) fn pieces<'a>(&'a self, config: &'a [u8]) -> [&'a [u8]; 3] {
        [&self.head, config, &self.tail]
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn content_len(&self) -> usize {
        self.content_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(input: &PluginInput, config: &Value) -> Vec<u8> {
        let config = serde_json::to_vec(config).unwrap();
        EncodedInput::new(input).pieces(&config).concat()
    }

    #[test]
    fn encodes_the_spec_shape() {
        let input = PluginInput {
            phase: Phase::ToolOutput,
            preset: "hipaa".into(),
            profile: json!({"task_class": "clinical_intake", "stage_role": "intake"}),
            subject: json!({"tool": "file_read"}),
            content: Some("…".into()),
        };
        let encoded: Value = serde_json::from_slice(&wire(&input, &json!({"mode": "redact"}))).unwrap();
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
        let encoded: Value = serde_json::from_slice(&wire(&release, &Value::Null)).unwrap();
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
