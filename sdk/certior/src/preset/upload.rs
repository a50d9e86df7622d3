//! Accepting an uploaded bundle (spec §4.6.3, §5.6): the loader's checks, then a trial
//! evaluation of every plugin. The server's upload endpoint and the authoring CLI
//! (`certior preset test`, `pack`, `push`) both call [`load_upload`], so an author sees locally
//! exactly the verdict the server will give.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::loader::{load_bundle, POLICY_FILE};
use super::manifest::Hook;
use super::{Preset, PresetError, PresetSource};
use crate::content::{serialize_tool_input, ContentGate, ContentRequest, ContentSubject};
use crate::plugin_host::PluginError;
use crate::profile::{build_profile, ProfileRequest};
use crate::violation::Phase;

/// Texts every plugin must answer with a verdict in each phase of its hooks: nothing, and a
/// plain sentence.
const TRIAL_TEXTS: [&str; 2] = [
    "",
    "Certior trial evaluation: the quick brown fox jumps over the lazy dog.",
];

/// Loads an uploaded bundle (file name → bytes, names as uploaded) and runs each plugin on
/// trial inputs. A missing `policy.cedar` means no extra rules (spec §4.6.3). Errors name the
/// bundle's file and the reason, without any prefix.
pub fn load_upload(mut files: BTreeMap<String, Vec<u8>>) -> Result<Preset, PresetError> {
    files.entry(POLICY_FILE.to_owned()).or_default();
    let preset = load_bundle(&files, "", PresetSource::Uploaded)?;
    trial(&preset)?;
    Ok(preset)
}

/// Runs every plugin through the content gate, as a task would, on [`TRIAL_TEXTS`] in every
/// phase of its hooks. A module that loads but traps, runs out of time or memory, or answers
/// something other than a valid verdict would deny every call it sees with `plugin_error`;
/// such a preset is refused now rather than discovered by its first task. Denying the trial
/// text is a verdict like any other and is accepted.
fn trial(preset: &Preset) -> Result<(), PresetError> {
    let plugins = &preset.manifest().plugins;
    if plugins.is_empty() {
        return Ok(());
    }
    let gate = preset.content_gate().map_err(|cause| PresetError::TrialFailed {
        file: plugins[0].file.clone(),
        phase: "load".into(),
        cause,
    })?;
    let profile = build_profile(&ProfileRequest::default());
    let args = json!({"path": "notes/trial.txt"});
    let capabilities = ["filesystem:read".to_owned()];
    let stage = json!({"stage_id": "trial", "stage_role": "worker", "upstream_execution_ids": []});
    let release = json!({});
    let tool_input = serialize_tool_input("file_read", &args);
    for (hook, phase, phase_name) in [
        (Hook::ToolCall, Phase::ToolInput, "tool_input"),
        (Hook::Content, Phase::ToolOutput, "tool_output"),
        (Hook::Content, Phase::FinalOutput, "final_output"),
        (Hook::Stage, Phase::Stage, "stage"),
        (Hook::Release, Phase::Release, "release"),
    ] {
        if preset.plugins_for(hook).next().is_none() {
            continue;
        }
        let tool_call = matches!(phase, Phase::ToolInput | Phase::ToolOutput);
        let subject = ContentSubject {
            tool: tool_call.then_some("file_read"),
            params: if tool_call { &args } else { &Value::Null },
            capabilities: if tool_call { &capabilities } else { &[] },
            destination: None,
            stage: (phase == Phase::Stage).then_some(&stage),
            release: (phase == Phase::Release).then_some(&release),
        };
        let texts: Vec<&str> = if phase == Phase::ToolInput {
            vec![&tool_input]
        } else {
            TRIAL_TEXTS.to_vec()
        };
        for text in texts {
            let verdict = gate.evaluate(&ContentRequest {
                hook,
                phase,
                preset,
                profile: &profile,
                subject,
                text,
            });
            let failure = verdict.violations.iter().find(|v| v.code == PluginError::CODE);
            if let Some(failure) = failure {
                let file = failure
                    .plugin
                    .as_deref()
                    .and_then(|name| plugins.iter().find(|p| p.name == name))
                    .map_or_else(|| plugins[0].file.clone(), |p| p.file.clone());
                let cause = failure.message.trim_start_matches("plugin_error: ").to_owned();
                return Err(PresetError::TrialFailed {
                    file,
                    phase: phase_name.to_owned(),
                    cause,
                });
            }
        }
    }
    Ok(())
}
