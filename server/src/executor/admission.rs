//! Review before release (spec §10.4): before a release-stage execution runs, each upstream
//! execution is checked, then Cedar `run_stage` decides; on success the approved artifacts are
//! bound into the profile's `metadata.release_binding` for the final checks (§9.4).

use certior::authz::{run_stage, StageRequest};
use certior::preset::Hook;
use certior::{
    ContentAction, ContentGate, ContentRequest, ContentSubject, Phase, Preset, Principal, Severity, StageRole,
    VerificationProfile,
};
use serde_json::{json, Value};

use super::gate::blocking_codes;
use crate::clock::now;
use crate::compliance_package::proofs_required;
use crate::routes::executions::verify_stored_chain;
use crate::state::AppState;
use crate::store::{ExecStatus, ExecutionRecord, StoreResult, StoredJson, User};

/// Why admission refused.
pub enum Refused {
    /// A release stage without any upstream execution (tasks and workflow stages word this
    /// differently).
    NoUpstream,
    /// The error text: invalid upstream codes, the denying policy ids, or content codes.
    Denied(String),
}

/// An upstream's approved artifact, if it has a usable one.
fn approved_artifact(upstream: &ExecutionRecord) -> StoreResult<Option<&Value>> {
    let artifact = StoredJson::optional_value(&upstream.artifact)?;
    Ok(artifact.filter(|a| {
        a["approved_for_release"] == true
            && a["text"].as_str().is_some_and(|t| !t.is_empty())
            && a["sha256"].as_str().is_some_and(|h| !h.is_empty())
    }))
}

/// Compliant under its own preset (spec §12.3): completed, every required proof among its
/// certificates' properties, and an intact event chain.
async fn compliant(state: &AppState, upstream: &ExecutionRecord) -> StoreResult<bool> {
    if upstream.status != ExecStatus::Completed {
        return Ok(false);
    }
    let Some(preset) = state.presets.pinned(&upstream.preset_key, upstream.preset_version) else {
        return Ok(false);
    };
    let required = proofs_required(&preset, upstream.verification_profile.value()?);
    let proven = required.iter().all(|p| upstream.proof_properties.contains(p));
    let events = state.store.events(&upstream.id).await?;
    Ok(proven && verify_stored_chain(&upstream.id, &events).verified)
}

/// Stage admission (spec §10.4) for a stage owned by `owner`, run as `stage_id` (the workflow
/// stage id, or the execution id of a direct task): the upstream checks, the preset's `stage`
/// plugins over the task text, then Cedar `run_stage`. A release stage's binding is written into
/// the profile's metadata; `Ok(Err(_))` is a refusal to record.
pub async fn admit_stage(
    state: &AppState,
    owner: &User,
    preset: &Preset,
    profile: &mut VerificationProfile,
    task: &str,
    stage_id: &str,
) -> StoreResult<Result<(), Refused>> {
    let release = profile.stage_role == StageRole::Release;
    let upstream_ids = profile.upstream_execution_ids.clone();
    if release && upstream_ids.is_empty() {
        return Ok(Err(Refused::NoUpstream));
    }
    let mut invalid: Vec<String> = Vec::new();
    let mut artifacts: Vec<Value> = Vec::new();
    for id in &upstream_ids {
        let upstream = state.store.execution(id).await?.filter(|u| u.user_id == owner.id);
        let Some(upstream) = upstream else {
            invalid.push(format!("missing:{id}"));
            continue;
        };
        let artifact = approved_artifact(&upstream)?;
        let code = if upstream.status != ExecStatus::Completed {
            Some("not_completed")
        } else if upstream.verification_profile.value()?["stage_role"] != "reviewer" {
            Some("not_reviewer")
        } else if !compliant(state, &upstream).await? {
            Some("non_compliant")
        } else if artifact.is_none() {
            Some("missing_approved_artifact")
        } else {
            None
        };
        match (code, artifact) {
            (Some(code), _) => invalid.push(format!("{code}:{id}")),
            (None, Some(artifact)) => artifacts.push(json!({
                "execution_id": id,
                "sha256": artifact["sha256"],
                "text": artifact["text"],
                "stage_role": artifact["stage_role"],
                "task_class": artifact["task_class"],
            })),
            (None, None) => {}
        }
    }
    if let Some(codes) = stage_plugins_deny(preset, profile, task, stage_id) {
        return Ok(Err(Refused::Denied(format!(
            "Stage admission denied by content policy: {codes}"
        ))));
    }
    let principal = Principal {
        user_id: owner.id.clone(),
        role: owner.role.as_str().to_owned(),
    };
    let answer = run_stage(
        preset,
        &principal,
        &StageRequest {
            stage_id,
            stage_role: profile.stage_role.as_str(),
            upstream_count: upstream_ids.len() as i64,
            invalid_upstream: &invalid,
        },
    );
    if !answer.allowed {
        let error = if release && !invalid.is_empty() {
            format!("Release-stage temporal validation failed: {}", invalid.join(", "))
        } else {
            format!("Stage admission denied by policy: {}", answer.policy_ids.join(", "))
        };
        return Ok(Err(Refused::Denied(error)));
    }
    if release {
        profile.metadata.insert(
            "release_binding".into(),
            json!({"approved_artifacts": artifacts, "bound_at": now()}),
        );
    }
    Ok(Ok(()))
}

/// The preset's `stage` hook plugins over the stage's task text (spec §6.9): the blocking codes
/// when they deny. A plugin failure denies (`plugin_error`).
fn stage_plugins_deny(preset: &Preset, profile: &VerificationProfile, task: &str, stage_id: &str) -> Option<String> {
    preset.plugins_for(Hook::Stage).next()?;
    let stage = json!({"stage_id": stage_id, "stage_role": profile.stage_role.as_str(),
                       "upstream_execution_ids": profile.upstream_execution_ids});
    let params = Value::Null;
    let request = ContentRequest {
        hook: Hook::Stage,
        phase: Phase::Stage,
        preset,
        profile,
        subject: ContentSubject {
            tool: None,
            params: &params,
            capabilities: &[],
            destination: None,
            stage: Some(&stage),
            release: None,
        },
        text: task,
    };
    let verdict = match preset.content_gate() {
        Ok(gate) => gate.evaluate(&request),
        Err(message) => return Some(format!("plugin_error ({message})")),
    };
    let blocked =
        verdict.action == ContentAction::Deny || verdict.violations.iter().any(|v| v.severity == Severity::Block);
    blocked.then(|| {
        let codes = blocking_codes(&verdict.violations);
        if codes.is_empty() {
            "plugin_error".to_owned()
        } else {
            codes.join(", ")
        }
    })
}

/// Whether every bound upstream completed before `started_at` (spec §11.3
/// `review_completed_before_release`).
pub async fn upstreams_completed_before(
    state: &AppState,
    profile: &VerificationProfile,
    started_at: f64,
) -> StoreResult<bool> {
    let bound = profile.metadata.get("release_binding").cloned().unwrap_or(Value::Null);
    for artifact in bound["approved_artifacts"].as_array().into_iter().flatten() {
        let id = artifact["execution_id"].as_str().unwrap_or_default();
        let upstream = state.store.execution(id).await?;
        if !upstream.and_then(|u| u.completed_at).is_some_and(|t| t <= started_at) {
            return Ok(false);
        }
    }
    Ok(true)
}
