//! Release gates in Wasm plugins (spec/RELEASES.md §3.4): each `release`-hook plugin of a preset
//! sees the snapshot's facts and evidence and answers with violations, which become items. Every
//! failure is a blocking `plugin_error`: no plugin problem can let a release through.

use certior::plugin_host::{PluginAction, PluginAnswer, PluginErrorCause, PluginSeverity};
use certior::preset::Hook;
use certior::release::{ItemSeverity, ReleaseFacts, RemediationItem, Vars};
use certior::Preset;
use serde_json::{json, Value};

use super::decision::Loaded;

/// At most this many violations per answer.
const MAX_VIOLATIONS: usize = 100;

/// The `{error}` word of a failed evaluation.
fn error_word(cause: &PluginErrorCause) -> &'static str {
    match cause {
        PluginErrorCause::Trap(_) | PluginErrorCause::Instantiate(_) => "trap",
        PluginErrorCause::Timeout(_) => "timeout",
        PluginErrorCause::MemoryExhausted(_) => "memory_exhausted",
        PluginErrorCause::Alloc(_)
        | PluginErrorCause::OutputTooLarge { .. }
        | PluginErrorCause::MalformedAnswer(_)
        | PluginErrorCause::RedactWithoutText
        | PluginErrorCause::RedactNotAllowed(_) => "invalid_answer",
    }
}

fn state_word(loaded: &Loaded, t: f64) -> &'static str {
    loaded.clock.judge(t).as_str()
}

/// The `release` member of the plugin input (§3.4).
fn release_input(loaded: &Loaded, facts: &ReleaseFacts, requested_digest: &str) -> Value {
    let e = &loaded.evidence;
    let attestation = match loaded.attestation() {
        None => json!({"state": "none"}),
        Some(p) => json!({"state": p.status, "promotion_id": p.id, "digest": p.bound_artifact_digest,
                          "operator_identity": p.operator_identity, "release_label": p.release_label,
                          "created_at": p.created_at}),
    };
    let policy = &loaded.policy;
    json!({
        "repo": loaded.repo.key,
        "commit_sha": loaded.snapshot.commit_sha,
        "snapshot_id": loaded.snapshot.id,
        "evaluated_at": loaded.clock.now,
        "requested_digest": (!requested_digest.is_empty()).then_some(requested_digest),
        "policy": {"presets": policy.presets, "required_checks": policy.required_checks,
                   "required_properties": policy.required_properties, "require_attestation": policy.require_attestation,
                   "require_reviewed_workflow": policy.require_reviewed_workflow,
                   "max_evidence_age_days": policy.max_evidence_age_days,
                   "effective_max_evidence_age_days": loaded.clock.max_age_days},
        "facts": facts,
        "attestation": attestation,
        "evidence": {
            "check_runs": e.check_runs.iter().map(|c| json!({"evidence_id": c.evidence_id, "workflow": c.workflow,
                "name": c.name, "conclusion": c.conclusion, "url": c.url, "completed_at": c.completed_at,
                "state": state_word(loaded, c.completed_at)})).collect::<Vec<_>>(),
            "artifacts": e.artifacts.iter().map(|a| json!({"evidence_id": a.evidence_id, "name": a.name,
                "digest": a.digest, "recorded_at": a.recorded_at, "state": state_word(loaded, a.recorded_at)})).collect::<Vec<_>>(),
            "properties": e.properties.iter().map(|p| json!({"evidence_id": p.evidence_id, "key": p.key,
                "status": p.status, "source": p.source, "evidence_ref": p.evidence_ref, "observed_at": p.observed_at,
                "state": state_word(loaded, p.observed_at)})).collect::<Vec<_>>(),
            "components": e.components.iter().map(|c| json!({"evidence_id": c.evidence_id, "name": c.name,
                "version": c.version, "source_commit": c.source_commit, "recorded_at": c.recorded_at,
                "state": state_word(loaded, c.recorded_at)})).collect::<Vec<_>>(),
            "workflows": loaded.workflows.iter().map(|w| {
                let mut entry = w.to_json();
                entry["evidence_id"] = json!(w.binding.evidence_id);
                entry["state"] = json!(loaded.clock.judge(w.time()).as_str());
                entry
            }).collect::<Vec<_>>(),
        },
    })
}

fn known_evidence(loaded: &Loaded, id: &str) -> bool {
    let e = &loaded.evidence;
    e.check_runs.iter().any(|r| r.evidence_id == id)
        || e.artifacts.iter().any(|r| r.evidence_id == id)
        || e.properties.iter().any(|r| r.evidence_id == id)
        || e.components.iter().any(|r| r.evidence_id == id)
        || e.workflows.iter().any(|r| r.evidence_id == id)
}

/// The items of one valid answer.
fn answer_items(
    plugin: &str,
    vars: &Vars,
    answer: &PluginAnswer,
    known: impl Fn(&str) -> bool,
) -> Vec<RemediationItem> {
    let mut items: Vec<RemediationItem> = answer
        .violations
        .iter()
        .map(|v| {
            let mut vars = vars.clone();
            vars.insert("code", v.code.clone());
            RemediationItem {
                code: v.code.clone(),
                severity: match v.severity {
                    PluginSeverity::Block => ItemSeverity::Blocking,
                    PluginSeverity::Warn => ItemSeverity::Degraded,
                },
                owner_subsystem: v.owner_subsystem.clone().unwrap_or_else(|| format!("plugin:{plugin}")),
                message: v
                    .message
                    .clone()
                    .unwrap_or_else(|| certior::release::render("Release plugin {plugin} reported {code}", &vars)),
                remediation_steps: v.remediation_steps.clone(),
                evidence_id: v.evidence_id.clone().filter(|id| known(id)),
            }
        })
        .collect();
    let blocks = answer.violations.iter().any(|v| v.severity == PluginSeverity::Block);
    if answer.action == PluginAction::Deny && !blocks {
        items.push(RemediationItem::catalogue("plugin_denied", vars, None));
    }
    items
}

/// Why an answer that parsed is still unusable here.
fn invalid(answer: &PluginAnswer) -> bool {
    answer.violations.len() > MAX_VIOLATIONS
        || answer.action == PluginAction::Redact
        || answer
            .violations
            .iter()
            .any(|v| !certior::release::gates::valid_code(&v.code))
}

/// The items of `preset`'s release plugins for `loaded`.
pub fn evaluate(
    preset: &Preset,
    loaded: &Loaded,
    facts: &ReleaseFacts,
    requested_digest: &str,
) -> Vec<RemediationItem> {
    let names: Vec<String> = preset.plugins_for(Hook::Release).map(|p| p.name.clone()).collect();
    if names.is_empty() {
        return Vec::new();
    }
    let base = |plugin: &str| {
        Vars::from([
            ("repo", loaded.repo.key.clone()),
            ("commit", loaded.snapshot.commit_sha.clone()),
            ("preset", preset.key().to_owned()),
            ("plugin", plugin.to_owned()),
        ])
    };
    let failed = |plugin: &str, word: &str| {
        let mut vars = base(plugin);
        vars.insert("error", word.to_owned());
        RemediationItem::catalogue("plugin_error", &vars, None)
    };
    let gate = match preset.content_gate() {
        Ok(gate) => gate,
        Err(error) => {
            tracing::error!(preset = %preset.key(), %error, "release plugins could not be loaded");
            return names.iter().map(|n| failed(n, "trap")).collect();
        }
    };
    let input = release_input(loaded, facts, requested_digest);
    let mut items = Vec::new();
    for (plugin, result) in gate.evaluate_release(&input) {
        match result {
            Ok(answer) if !invalid(&answer) => items.extend(answer_items(&plugin, &base(&plugin), &answer, |id| {
                known_evidence(loaded, id)
            })),
            Ok(_) => items.push(failed(&plugin, "invalid_answer")),
            Err(error) => {
                tracing::warn!(%plugin, %error, "release plugin failed");
                items.push(failed(&plugin, error_word(&error.cause)));
            }
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> PluginAnswer {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn answers_become_items_with_their_defaults() {
        let vars = Vars::from([("plugin", "sbom".to_owned()), ("preset", "acme".to_owned())]);
        let items = answer_items(
            "sbom",
            &vars,
            &answer(
                r#"{"action": "deny", "violations": [{"code": "sbom_stale", "severity": "warn", "evidence_id": "ev_x"},
                {"code": "sbom_old", "severity": "warn", "evidence_id": "ev_known", "message": "m", "owner_subsystem": "supply_chain"}]}"#,
            ),
            |id| id == "ev_known",
        );
        let summary: Vec<_> = items
            .iter()
            .map(|i| {
                (
                    i.code.as_str(),
                    i.severity,
                    i.owner_subsystem.as_str(),
                    i.message.as_str(),
                    i.evidence_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "sbom_stale",
                    ItemSeverity::Degraded,
                    "plugin:sbom",
                    "Release plugin sbom reported sbom_stale",
                    None
                ),
                (
                    "sbom_old",
                    ItemSeverity::Degraded,
                    "supply_chain",
                    "m",
                    Some("ev_known")
                ),
                (
                    "plugin_denied",
                    ItemSeverity::Blocking,
                    "plugin:sbom",
                    "Release plugin sbom of preset acme denied the release",
                    None
                ),
            ]
        );
        let blocked = answer_items(
            "sbom",
            &vars,
            &answer(r#"{"action": "allow", "violations": [{"code": "x", "severity": "block"}]}"#),
            |_| false,
        );
        assert_eq!(
            blocked.len(),
            1,
            "a block violation blocks even under allow; no plugin_denied beside it"
        );
        assert_eq!(blocked[0].severity, ItemSeverity::Blocking);
        let many = format!(
            r#"{{"action": "allow", "violations": [{}]}}"#,
            vec![r#"{"code": "x", "severity": "warn"}"#; 101].join(",")
        );
        assert!(invalid(&answer(&many)));
        assert!(invalid(&answer(
            r#"{"action": "allow", "violations": [{"code": "Bad", "severity": "warn"}]}"#
        )));
        assert!(!invalid(&answer(r#"{"action": "allow"}"#)));
    }

    #[test]
    fn failures_map_to_the_spec_words() {
        assert_eq!(error_word(&PluginErrorCause::Timeout(250)), "timeout");
        assert_eq!(error_word(&PluginErrorCause::MemoryExhausted(64)), "memory_exhausted");
        assert_eq!(
            error_word(&PluginErrorCause::MalformedAnswer("x".into())),
            "invalid_answer"
        );
    }
}
