//! Review before release (spec §10.4): before a release-stage execution runs, each upstream
//! execution is checked, then Cedar `run_stage` decides; on success the approved artifacts are
//! bound into the profile's `metadata.release_binding` for the final checks (§9.4).

use certior::authz::{run_stage, StageRequest};
use certior::Principal;
use serde_json::{json, Value};

use super::run::Run;
use crate::clock::now;
use crate::routes::executions::verify_stored_chain;
use crate::store::{ExecStatus, ExecutionRecord, StoreResult};

/// Why the admission refused, as the `error` of the failed execution.
pub struct Refused(pub String);

/// An upstream's approved artifact, if it has a usable one.
fn approved_artifact(upstream: &ExecutionRecord) -> Option<&Value> {
    upstream.artifact.as_ref().filter(|a| {
        a["approved_for_release"] == true
            && a["text"].as_str().is_some_and(|t| !t.is_empty())
            && a["sha256"].as_str().is_some_and(|h| !h.is_empty())
    })
}

/// Compliant under its own preset (spec §12.3): completed, every required proof among its
/// certificates' properties, and an intact event chain.
async fn compliant(run: &Run<'_>, upstream: &ExecutionRecord) -> StoreResult<bool> {
    if upstream.status != ExecStatus::Completed {
        return Ok(false);
    }
    let Some(preset) = run.state.presets.get(&upstream.preset_key) else {
        return Ok(false);
    };
    let profile_proofs = upstream.verification_profile["required_proofs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let required = preset
        .manifest()
        .required_proofs
        .iter()
        .cloned()
        .chain(profile_proofs.iter().filter_map(|p| p.as_str().map(str::to_owned)));
    let proven = required.into_iter().all(|p| upstream.proof_properties.contains(&p));
    let events = run.state.store.events(&upstream.id).await?;
    Ok(proven && verify_stored_chain(&upstream.id, &events).verified)
}

/// The admission of a release-stage execution. `Ok(Err(_))` is a refusal to record.
pub async fn admit(run: &mut Run<'_>) -> StoreResult<Result<(), Refused>> {
    let upstream_ids = run.profile.upstream_execution_ids.clone();
    if upstream_ids.is_empty() {
        return Ok(Err(Refused(
            "Release-stage execution is missing upstream reviewer executions".into(),
        )));
    }
    let mut invalid: Vec<String> = Vec::new();
    let mut artifacts: Vec<Value> = Vec::new();
    for id in &upstream_ids {
        let upstream = run
            .state
            .store
            .execution(id)
            .await?
            .filter(|u| u.user_id == run.execution.user_id);
        let Some(upstream) = upstream else {
            invalid.push(format!("missing:{id}"));
            continue;
        };
        let code = if upstream.status != ExecStatus::Completed {
            Some("not_completed")
        } else if upstream.verification_profile["stage_role"] != "reviewer" {
            Some("not_reviewer")
        } else if !compliant(run, &upstream).await? {
            Some("non_compliant")
        } else if approved_artifact(&upstream).is_none() {
            Some("missing_approved_artifact")
        } else {
            None
        };
        match (code, approved_artifact(&upstream)) {
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
    let owner = Principal {
        user_id: run.user.id.clone(),
        role: run.user.role.as_str().to_owned(),
    };
    let answer = run_stage(
        &run.preset,
        &owner,
        &StageRequest {
            stage_id: &run.execution.id,
            stage_role: run.profile.stage_role.as_str(),
            upstream_count: upstream_ids.len() as i64,
            invalid_upstream: &invalid,
        },
    );
    if !answer.allowed {
        let reasons = if invalid.is_empty() { answer.policy_ids } else { invalid };
        return Ok(Err(Refused(format!(
            "Release-stage temporal validation failed: {}",
            reasons.join(", ")
        ))));
    }
    run.profile.metadata.insert(
        "release_binding".into(),
        json!({"approved_artifacts": artifacts, "bound_at": now()}),
    );
    Ok(Ok(()))
}

/// Whether every bound upstream completed before `started_at` (spec §11.3
/// `review_completed_before_release`).
pub async fn upstreams_completed_before(run: &Run<'_>, started_at: f64) -> StoreResult<bool> {
    let bound = run
        .profile
        .metadata
        .get("release_binding")
        .cloned()
        .unwrap_or(Value::Null);
    for artifact in bound["approved_artifacts"].as_array().into_iter().flatten() {
        let id = artifact["execution_id"].as_str().unwrap_or_default();
        let upstream = run.state.store.execution(id).await?;
        if !upstream.and_then(|u| u.completed_at).is_some_and(|t| t <= started_at) {
            return Ok(false);
        }
    }
    Ok(true)
}
