//! The evaluation input the host sends (spec/API.md §6.1).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// Hosts send `null` for members that do not apply (a release input has `"content": null`,
/// `"profile": null`, `"capabilities": null`); read those as the empty value.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A JSON value kept as the host sent it (checked as JSON) and parsed only when the plugin
/// asks. Built-in plugins never read these members at evaluation; building them into `Value`s
/// on every call (keyword lists in the configuration, a 1 KiB `file_write` content in the
/// parameters) took about 6 µs of the `hipaa` guard check's three plugins in Wasm.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Json(Box<RawValue>);

impl Json {
    /// The JSON text as sent.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The value, parsed.
    pub fn value(&self) -> Value {
        self.parse().expect("the host sent valid JSON, checked when the input was read")
    }

    /// The value, parsed into `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.0.get())
    }
}

impl From<Value> for Json {
    fn from(value: Value) -> Json {
        Json(RawValue::from_string(value.to_string()).expect("a Value always encodes as JSON"))
    }
}

/// Equal when the values are, whatever their spacing and key order.
impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.value() == other.value()
    }
}

/// Where in a run the plugin is being asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    ToolCall,
    Content,
    Stage,
    Release,
}

/// The precise point within a hook. It decides what a plugin may answer: `redact` is valid
/// only for [`Phase::ToolOutput`] and [`Phase::FinalOutput`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    ToolInput,
    ToolOutput,
    FinalOutput,
    Stage,
    Release,
}

impl Phase {
    /// The hook this phase belongs to (the pairing is fixed by the spec).
    pub fn hook(self) -> Hook {
        match self {
            Phase::ToolInput => Hook::ToolCall,
            Phase::ToolOutput | Phase::FinalOutput => Hook::Content,
            Phase::Stage => Hook::Stage,
            Phase::Release => Hook::Release,
        }
    }

    /// Whether the host accepts a `redact` verdict in this phase.
    pub fn allows_redaction(self) -> bool {
        matches!(self, Phase::ToolOutput | Phase::FinalOutput)
    }
}

/// The execution's verification profile, for plugins whose rules relax by task class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub task_class: Option<String>,
    #[serde(default)]
    pub stage_role: Option<String>,
}

/// What the content belongs to: the tool call, stage or release under evaluation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub params: Json,
    #[serde(default, deserialize_with = "null_as_default")]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub destination: Option<String>,
    #[serde(default)]
    pub stage: Json,
    #[serde(default)]
    pub release: Json,
}

/// One evaluation request. Unknown fields are ignored so that a newer host can add context
/// without breaking plugins built against this version.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Input {
    /// ABI version of the request; the SDK refuses anything but 1 before the plugin runs.
    pub abi: u32,
    pub hook: Hook,
    pub phase: Phase,
    /// Canonical key of the preset the plugin runs under.
    pub preset: String,
    /// The plugin's `[plugins.config]` table, verbatim (the plugin was built from it already,
    /// see [`Plugin::new`](crate::Plugin::new)).
    #[serde(default)]
    pub config: Json,
    #[serde(default, deserialize_with = "null_as_default")]
    pub profile: Profile,
    #[serde(default, deserialize_with = "null_as_default")]
    pub subject: Subject,
    /// The text to check (spec/API.md §6.9 says what it is for each hook); empty for the
    /// `release` hook, whose input is `subject.release`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: String,
}

impl Input {
    /// An input for `phase` with the given content and everything else empty — what tests and
    /// examples need; the host always fills every field.
    pub fn new(phase: Phase, content: impl Into<String>) -> Input {
        Input {
            abi: 1,
            hook: phase.hook(),
            phase,
            preset: String::new(),
            config: Json::default(),
            profile: Profile::default(),
            subject: Subject::default(),
            content: content.into(),
        }
    }

    /// The same input under another task class.
    pub fn with_task_class(mut self, task_class: impl Into<String>) -> Input {
        self.profile.task_class = Some(task_class.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example() {
        let json = r#"{"abi": 1, "hook": "content", "phase": "tool_output", "preset": "hipaa",
            "config": {}, "profile": {"task_class": "clinical_intake", "stage_role": "intake"},
            "subject": {"tool": "file_read", "params": {"path": "notes/a.txt"},
                        "capabilities": ["filesystem:read"], "destination": null,
                        "stage": null, "release": null},
            "content": "SSN 123-45-6789", "future_field": true}"#;
        let input: Input = serde_json::from_str(json).unwrap();
        assert_eq!(input.hook, Hook::Content);
        assert_eq!(input.phase, Phase::ToolOutput);
        assert_eq!(input.preset, "hipaa");
        assert_eq!(input.profile.task_class.as_deref(), Some("clinical_intake"));
        assert_eq!(input.subject.tool.as_deref(), Some("file_read"));
        assert_eq!(input.subject.capabilities, vec!["filesystem:read".to_string()]);
        assert_eq!(input.subject.params.value()["path"], "notes/a.txt");
        assert_eq!(input.content, "SSN 123-45-6789");
    }

    #[test]
    fn release_input_with_nulls() {
        let json = r#"{"abi": 1, "hook": "release", "phase": "release", "preset": "acme",
            "config": {"min_components": 1}, "profile": null,
            "subject": {"tool": null, "params": null, "capabilities": null, "destination": null,
                        "stage": null, "release": {"repo": "acme/widget"}},
            "content": null}"#;
        let input: Input = serde_json::from_str(json).unwrap();
        assert_eq!(input.hook, Hook::Release);
        assert_eq!(input.content, "");
        assert_eq!(input.profile, Profile::default());
        assert!(input.subject.capabilities.is_empty());
        assert_eq!(input.subject.release.value()["repo"], "acme/widget");
        assert_eq!(input.config.value()["min_components"], 1);
        assert_eq!(input.subject.params, Json::from(Value::Null));
        assert_eq!(input.config.parse::<std::collections::BTreeMap<String, u32>>().unwrap()["min_components"], 1);
    }

    #[test]
    fn minimal_input_and_unknown_phase() {
        let input: Input = serde_json::from_str(
            r#"{"abi":1,"hook":"tool_call","phase":"tool_input","preset":"default","content":""}"#,
        )
        .unwrap();
        assert_eq!(input.profile, Profile::default());
        assert!(serde_json::from_str::<Input>(
            r#"{"abi":1,"hook":"content","phase":"later","preset":"x","content":""}"#
        )
        .is_err());
    }

    #[test]
    fn phases_map_to_hooks_and_redaction_rights() {
        assert_eq!(Phase::ToolInput.hook(), Hook::ToolCall);
        assert_eq!(Phase::ToolOutput.hook(), Hook::Content);
        assert_eq!(Phase::FinalOutput.hook(), Hook::Content);
        assert_eq!(Phase::Stage.hook(), Hook::Stage);
        assert_eq!(Phase::Release.hook(), Hook::Release);
        let redactable: Vec<Phase> = [Phase::ToolInput, Phase::ToolOutput, Phase::FinalOutput, Phase::Stage, Phase::Release]
            .into_iter()
            .filter(|p| p.allows_redaction())
            .collect();
        assert_eq!(redactable, vec![Phase::ToolOutput, Phase::FinalOutput]);
        let input = Input::new(Phase::FinalOutput, "x").with_task_class("public_safe_summary");
        assert_eq!(input.hook, Hook::Content);
        assert_eq!(input.profile.task_class.as_deref(), Some("public_safe_summary"));
    }
}
