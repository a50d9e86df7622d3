//! The Wasm [`ContentGate`]: a preset's plugins, loaded (pre-initialized, compiled, pre-linked)
//! once per preset load through a [`PluginHost`], then run for every content stage in manifest
//! order with the host category policy of spec §6.2 and the redaction rule of §6.10.
//!
//! Loading happens here and never per call: an evaluation only instantiates each plugin afresh.
//! Every plugin failure is a denial `plugin_error` naming the plugin and the cause (fail closed).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::content::{ContentAction, ContentGate, ContentRequest, ContentVerdict};
use crate::plugin_host::{
    self, EncodedInput, LoadedPlugin, PluginAction, PluginAnswer, PluginHost, PluginInput, PluginLoadError,
};
use crate::preset::{Hook, Manifest};
use crate::violation::{Phase, Severity, Violation};

/// Categories that block whatever the preset says (spec §6.2 rule 1).
pub const ALWAYS_BLOCK: [&str; 5] = [
    "mnpi_leak",
    "privilege_waiver",
    "criminal_planning",
    "weapons",
    "itar_controlled",
];

/// A plugin of the preset that could not be loaded: its module file (as named in `preset.toml`)
/// and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {error}")]
pub struct GateLoadError {
    pub file: String,
    pub error: PluginLoadError,
}

/// One loaded plugin and the hooks it is registered for.
struct GatePlugin {
    hooks: Vec<Hook>,
    plugin: LoadedPlugin,
}

/// A preset's plugins, ready to judge content. Shared by every Guard of the preset.
pub struct WasmGate {
    preset_key: String,
    blocked_categories: Vec<String>,
    warn_categories: Vec<String>,
    /// In manifest order, which is the order plugins of one hook run in.
    plugins: Vec<GatePlugin>,
}

impl std::fmt::Debug for WasmGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.plugins.iter().map(|p| p.plugin.name()).collect();
        f.debug_struct("WasmGate")
            .field("preset_key", &self.preset_key)
            .field("plugins", &names)
            .finish()
    }
}

impl WasmGate {
    /// Loads every `[[plugins]]` entry of `manifest` with its `[plugins.config]`. `modules` maps
    /// plugin names to their verified bytes. The first module that cannot be used is the error.
    pub fn load(
        manifest: &Manifest,
        modules: &BTreeMap<String, Arc<[u8]>>,
        host: &PluginHost,
    ) -> Result<WasmGate, GateLoadError> {
        let mut plugins = Vec::with_capacity(manifest.plugins.len());
        for entry in &manifest.plugins {
            let wasm = modules
                .get(&entry.name)
                .expect("the preset loader stores a verified module for every plugin entry");
            let config = Value::Object(entry.config.clone());
            let plugin = host.load(&entry.name, wasm, &config).map_err(|error| GateLoadError {
                file: entry.file.clone(),
                error,
            })?;
            plugins.push(GatePlugin {
                hooks: entry.hooks.clone(),
                plugin,
            });
        }
        Ok(WasmGate {
            preset_key: manifest.key.clone(),
            blocked_categories: manifest.content.blocked_categories.clone(),
            warn_categories: manifest.content.warn_categories.clone(),
            plugins,
        })
    }

    /// Runs the preset's `release` plugins in manifest order, each in a fresh instance, on the
    /// `release` member of the subject (spec/RELEASES.md §3.4). Every plugin runs, so every
    /// blocker is reported; each answer or failure comes back with the plugin's name.
    pub fn evaluate_release(&self, release: &Value) -> Vec<(String, Result<PluginAnswer, plugin_host::PluginError>)> {
        let input = EncodedInput::new(&PluginInput {
            phase: plugin_host::Phase::Release,
            preset: self.preset_key.clone(),
            profile: Value::Null,
            subject: json!({"tool": null, "params": null, "capabilities": null, "destination": null,
                            "stage": null, "release": release}),
            content: None,
        });
        self.plugins
            .iter()
            .filter(|p| p.hooks.contains(&Hook::Release))
            .map(|p| (p.plugin.name().to_owned(), p.plugin.evaluate_encoded(&input)))
            .collect()
    }

    /// The severity after the host category policy (spec §6.2).
    fn adjust(&self, category: Option<&str>, severity: Severity) -> Severity {
        let Some(category) = category else {
            return severity;
        };
        let listed = |list: &[String]| list.iter().any(|c| c == category);
        if ALWAYS_BLOCK.contains(&category) || listed(&self.blocked_categories) {
            Severity::Block
        } else if listed(&self.warn_categories) {
            Severity::Warn
        } else {
            severity
        }
    }

    /// One plugin's answer as spec §7.5 violations, severities adjusted. A violation counts as
    /// redacted only when its plugin actually redacted (spec §6.10).
    fn violations(&self, plugin: &str, phase: Phase, answer: &PluginAnswer, redacting: bool) -> Vec<Violation> {
        answer
            .violations
            .iter()
            .map(|v| {
                let severity = match v.severity {
                    plugin_host::PluginSeverity::Block => Severity::Block,
                    plugin_host::PluginSeverity::Warn => Severity::Warn,
                };
                Violation {
                    code: v.code.clone(),
                    phase,
                    category: v.category.clone(),
                    severity: self.adjust(v.category.as_deref(), severity),
                    message: v.message.clone().unwrap_or_else(|| v.code.clone()),
                    policy_ids: Vec::new(),
                    plugin: Some(plugin.to_owned()),
                    span: v.span.map(|(start, end)| [start, end]),
                    redacted: redacting && v.redacted,
                }
            })
            .collect()
    }
}

/// The plugin-side phase of a content stage, with the hook it belongs to (spec §6.1); `None` for
/// gate stages that have no content hook.
fn plugin_phase(phase: Phase) -> Option<(plugin_host::Phase, Hook)> {
    Some(match phase {
        Phase::ToolInput => (plugin_host::Phase::ToolInput, Hook::ToolCall),
        Phase::ToolOutput => (plugin_host::Phase::ToolOutput, Hook::Content),
        Phase::FinalOutput => (plugin_host::Phase::FinalOutput, Hook::Content),
        Phase::Stage => (plugin_host::Phase::Stage, Hook::Stage),
        Phase::Release => (plugin_host::Phase::Release, Hook::Release),
        _ => return None,
    })
}

fn plugin_error(phase: Phase, plugin: Option<&str>, message: String) -> Violation {
    let mut violation = Violation::block(plugin_host::PluginError::CODE, phase, message, Vec::new());
    violation.plugin = plugin.map(str::to_owned);
    violation
}

fn add_labels(labels: &mut Vec<String>, found: &[String]) {
    for label in found {
        if !labels.contains(label) {
            labels.push(label.clone());
        }
    }
}

impl ContentGate for WasmGate {
    fn evaluate(&self, request: &ContentRequest<'_>) -> ContentVerdict {
        let denied = |violations: Vec<Violation>, labels: Vec<String>| ContentVerdict {
            action: ContentAction::Deny,
            violations,
            labels,
        };
        let Some((phase, _)) = plugin_phase(request.phase).filter(|(_, hook)| *hook == request.hook) else {
            let message = format!(
                "plugin_error: phase `{:?}` is not a phase of hook `{}`",
                request.phase,
                request.hook.as_str()
            );
            return denied(vec![plugin_error(request.phase, None, message)], Vec::new());
        };
        let subject = &request.subject;
        let mut input = PluginInput {
            phase,
            preset: self.preset_key.clone(),
            profile: json!({
                "task_class": request.profile.task_class.as_str(),
                "stage_role": request.profile.stage_role.as_str(),
            }),
            subject: json!({
                "tool": subject.tool,
                "params": subject.params,
                "capabilities": subject.capabilities,
                "destination": subject.destination,
                "stage": subject.stage,
                "release": subject.release,
            }),
            content: Some(request.text.to_owned()),
        };
        let mut encoded = EncodedInput::new(&input);
        let mut violations = Vec::new();
        let mut labels = Vec::new();
        let mut redacted = false;
        // A plugin that denies without saying why still denies (fail closed).
        let mut silent_deny = false;
        for entry in self.plugins.iter().filter(|p| p.hooks.contains(&request.hook)) {
            let name = entry.plugin.name();
            let answer = match entry.plugin.evaluate_encoded(&encoded) {
                Ok(answer) => answer,
                Err(error) => {
                    violations.push(plugin_error(
                        request.phase,
                        Some(name),
                        format!("plugin_error: {error}"),
                    ));
                    return denied(violations, labels);
                }
            };
            let action = answer.effective_action();
            let redacting = action == PluginAction::Redact;
            violations.extend(self.violations(name, request.phase, &answer, redacting));
            add_labels(&mut labels, &answer.labels);
            silent_deny |= action == PluginAction::Deny && answer.violations.is_empty();
            if redacting {
                // Each redaction feeds its text to the next plugin (spec §6.2).
                input.content = answer.redacted;
                encoded = EncodedInput::new(&input);
                redacted = true;
            }
        }
        let blocking = violations.iter().any(|v| v.severity == Severity::Block && !v.redacted);
        let action = if blocking || silent_deny {
            ContentAction::Deny
        } else if redacted {
            ContentAction::Redact {
                text: input.content.unwrap_or_default(),
            }
        } else {
            ContentAction::Allow
        };
        ContentVerdict {
            action,
            violations,
            labels,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::*;
    use crate::content::ContentSubject;
    use crate::preset::{load_bundle, Preset, PresetSource};
    use crate::profile::{build_profile, ProfileRequest};

    /// A module that answers `answer` whatever it is asked.
    fn answering(answer: &str) -> Vec<u8> {
        let escaped = answer.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        wat::parse_str(format!(
            r#"(module (memory (export "memory") 1) (data (i32.const 1024) "{escaped}")
                 (func (export "certior_abi_version") (result i32) i32.const 1)
                 (func (export "certior_alloc") (param i32) (result i32) i32.const 4096)
                 (func (export "certior_evaluate") (param i32 i32) (result i64) i64.const {}))"#,
            (1024u64 << 32) | answer.len() as u64
        ))
        .unwrap()
    }

    /// An uploaded preset with `[content]` `content` and one plugin per answer, on both hooks.
    fn preset(content: &str, answers: &[&str]) -> Preset {
        let mut toml = format!(
            "schema_version = 1\nkey = \"gate\"\nname = \"Gate\"\nretention_days = 1\n\
             [permissions]\ndefault = [\"filesystem:read\"]\n[content]\n{content}\n"
        );
        let mut files = BTreeMap::from([("policy.cedar".to_owned(), Vec::new())]);
        for (i, answer) in answers.iter().enumerate() {
            let module = answering(answer);
            toml.push_str(&format!(
                "[[plugins]]\nname = \"p{i}\"\nfile = \"p{i}.wasm\"\nsha256 = \"{}\"\nhooks = [\"tool_call\", \"content\"]\n",
                crate::canonical::sha256_hex(&module)
            ));
            files.insert(format!("p{i}.wasm"), module);
        }
        files.insert("preset.toml".to_owned(), toml.into_bytes());
        load_bundle(&files, "gate", PresetSource::Uploaded).unwrap()
    }

    #[test]
    fn release_plugins_answer_on_the_release_subject() {
        let answer = r#"{"action": "deny", "violations": [{"code": "sbom_missing", "severity": "block",
            "message": "No SBOM artifact is recorded for this commit", "owner_subsystem": "supply_chain",
            "remediation_steps": ["Attach sbom.spdx.json to the evidence"]}]}"#;
        let module = answering(answer);
        let toml = format!(
            "schema_version = 1\nkey = \"gate\"\nname = \"Gate\"\nretention_days = 1\n\
             [permissions]\ndefault = [\"filesystem:read\"]\n\
             [[plugins]]\nname = \"sbom\"\nfile = \"sbom.wasm\"\nsha256 = \"{}\"\nhooks = [\"release\"]\n",
            crate::canonical::sha256_hex(&module)
        );
        let files = BTreeMap::from([
            ("policy.cedar".to_owned(), Vec::new()),
            ("preset.toml".to_owned(), toml.into_bytes()),
            ("sbom.wasm".to_owned(), module),
        ]);
        let preset = load_bundle(&files, "gate", PresetSource::Uploaded).unwrap();
        let results = preset
            .content_gate()
            .unwrap()
            .evaluate_release(&serde_json::json!({"repo": "acme/widget"}));
        assert_eq!(results.len(), 1);
        let (name, answer) = &results[0];
        assert_eq!(name, "sbom");
        let answer = answer.as_ref().unwrap();
        assert_eq!(answer.action, PluginAction::Deny);
        assert_eq!(answer.violations[0].code, "sbom_missing");
        assert_eq!(answer.violations[0].owner_subsystem.as_deref(), Some("supply_chain"));
        assert_eq!(
            answer.violations[0].remediation_steps,
            ["Attach sbom.spdx.json to the evidence"]
        );
    }

    fn judge(preset: &Preset, phase: Phase, text: &str) -> ContentVerdict {
        let profile = build_profile(&ProfileRequest::default());
        let hook = match phase {
            Phase::ToolInput => Hook::ToolCall,
            _ => Hook::Content,
        };
        preset.content_gate().unwrap().evaluate(&ContentRequest {
            hook,
            phase,
            preset,
            profile: &profile,
            subject: ContentSubject {
                tool: Some("file_read"),
                params: &Value::Null,
                capabilities: &[],
                destination: None,
                stage: None,
                release: None,
            },
            text,
        })
    }

    fn severities(verdict: &ContentVerdict) -> Vec<(&str, Severity)> {
        verdict
            .violations
            .iter()
            .map(|v| (v.code.as_str(), v.severity))
            .collect()
    }

    #[test]
    fn host_category_policy_adjusts_severities() {
        let advice = r#"{"action": "deny", "violations": [
            {"code": "advice", "category": "unauthorized_advice", "severity": "block", "message": "m"},
            {"code": "rude", "category": "profanity", "severity": "warn"}]}"#;
        let warned = preset(r#"warn_categories = ["unauthorized_advice"]"#, &[advice]);
        let verdict = judge(&warned, Phase::ToolOutput, "text");
        assert_eq!(verdict.action, ContentAction::Allow, "only warnings remain");
        assert_eq!(
            severities(&verdict),
            [("advice", Severity::Warn), ("rude", Severity::Warn)]
        );
        assert_eq!(
            verdict.violations[1].message, "rude",
            "the code stands in for a missing message"
        );

        let weapons = r#"{"action": "allow", "violations": [
            {"code": "arms", "category": "weapons", "severity": "warn", "message": "m"},
            {"code": "rude", "category": "profanity", "severity": "warn", "message": "m"}]}"#;
        let blocked = preset(r#"blocked_categories = ["profanity"]"#, &[weapons]);
        let verdict = judge(&blocked, Phase::ToolOutput, "text");
        assert_eq!(verdict.action, ContentAction::Deny);
        assert_eq!(
            severities(&verdict),
            [("arms", Severity::Block), ("rude", Severity::Block)]
        );
        assert_eq!(verdict.violations[0].plugin.as_deref(), Some("p0"));
    }

    #[test]
    fn only_a_redacting_plugin_neutralises_its_violations() {
        let redacting = r#"{"action": "redact", "redacted": "[REDACTED-SSN]", "labels": ["PHI"], "violations": [
            {"code": "pii_detected", "category": "hate_bias_pii", "severity": "block", "span": [0, 4], "redacted": true}]}"#;
        let claims = r#"{"action": "deny", "violations": [
            {"code": "k", "category": "hate_bias_pii", "severity": "block", "redacted": true}]}"#;
        let verdict = judge(&preset("", &[redacting]), Phase::FinalOutput, "1234");
        assert_eq!(
            verdict.action,
            ContentAction::Redact {
                text: "[REDACTED-SSN]".into()
            }
        );
        assert_eq!(
            (verdict.violations[0].redacted, verdict.violations[0].span),
            (true, Some([0, 4]))
        );
        assert_eq!(verdict.labels, ["PHI"]);

        let verdict = judge(&preset("", &[redacting, claims]), Phase::FinalOutput, "1234");
        assert_eq!(
            verdict.action,
            ContentAction::Deny,
            "a denying plugin cannot claim a redaction"
        );
        assert_eq!(
            verdict.violations.iter().map(|v| v.redacted).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[test]
    fn a_deny_without_violations_still_denies() {
        let verdict = judge(&preset("", &[r#"{"action": "deny"}"#]), Phase::ToolOutput, "x");
        assert_eq!((verdict.action, verdict.violations.len()), (ContentAction::Deny, 0));
        let verdict = judge(&preset("", &[r#"{"action": "allow"}"#]), Phase::ToolOutput, "x");
        assert_eq!(verdict.action, ContentAction::Allow);
    }

    #[test]
    fn failures_are_plugin_errors() {
        let gate = preset("", &[r#"{"action": "redact", "redacted": "x"}"#]);
        let verdict = judge(&gate, Phase::ToolInput, "x");
        assert_eq!(verdict.action, ContentAction::Deny);
        assert_eq!(
            verdict.violations[0].message,
            "plugin_error: plugin `p0`: `redact` is not allowed in phase `tool_input`"
        );
        let verdict = judge(&gate, Phase::Budget, "x");
        assert_eq!(
            (
                verdict.violations[0].code.as_str(),
                verdict.violations[0].plugin.as_deref()
            ),
            ("plugin_error", None)
        );
    }
}
