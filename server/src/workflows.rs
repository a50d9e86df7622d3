//! The workflow runner (spec §10.2), driven by events instead of a waiting worker: a workflow is
//! advanced when it is created, whenever one of its stage executions reaches a terminal status,
//! and by a periodic sweep (which also picks up work left by a crashed replica). Advancing is
//! idempotent: every step is a conditional update, so two replicas advancing the same workflow
//! start each stage once.
//!
//! Stage executions run on the ordinary job queue; no worker is held while a stage runs.

use std::time::Duration;

use certior::profile::{build_profile, compose_with_preset, ProfileRequest, StageRole};
use certior::resolve::{resolve_permissions, ResolutionRequest};
use serde_json::json;

use crate::clock::now;
use crate::executor::{admit_stage, Refused};
use crate::providers::Provider;
use crate::state::AppState;
use crate::store::{
    EventDraft, ExecStatus, StageExecution, StageOutcome, StageRecord, StageStatus, StoreResult, WorkflowRecord,
    WorkflowStatus,
};
use crate::submission::{mint, resolve_provider, StageLink, Submission};

/// How often live workflows are re-examined without a trigger.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// Output summaries keep this many characters (spec §10.2 step 9).
const SUMMARY_CHARS: usize = 180;

fn event(kind: &str, data: serde_json::Value) -> EventDraft {
    EventDraft {
        kind: kind.into(),
        data,
        timestamp: now(),
    }
}

/// Advances a workflow in the background.
pub fn kick(state: &AppState, workflow_id: &str) {
    let state = state.clone();
    let id = workflow_id.to_owned();
    tokio::spawn(async move {
        if let Err(error) = advance(&state, &id).await {
            tracing::warn!(%error, workflow_id = id, "advancing a workflow failed; the sweep will retry");
        }
    });
}

/// Re-examines every live workflow now and then, for the lifetime of the process.
pub fn spawn_sweeper(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            match state.store.live_workflow_ids().await {
                Ok(ids) => {
                    for id in ids {
                        if let Err(error) = advance(&state, &id).await {
                            tracing::warn!(%error, workflow_id = id, "advancing a workflow failed");
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "listing live workflows failed"),
            }
            tokio::time::sleep(SWEEP_EVERY).await;
        }
    });
}

/// The output with whitespace runs collapsed, cut to 180 characters plus `…`.
pub fn output_summary(output: Option<&str>) -> Option<String> {
    let collapsed = output?.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match collapsed.char_indices().nth(SUMMARY_CHARS) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None => collapsed,
    })
}

/// Moves the workflow as far as it can go now: settles a stage whose execution finished, then
/// starts the next pending stage, or completes the workflow.
pub async fn advance(state: &AppState, workflow_id: &str) -> StoreResult<()> {
    loop {
        let Some(workflow) = state.store.workflow(workflow_id).await? else {
            return Ok(());
        };
        if workflow.status.is_terminal() {
            return Ok(());
        }
        let Some(stage) = workflow.stages.iter().find(|s| s.status != StageStatus::Completed) else {
            // Every stage completed: the last settle completed the workflow; nothing to do.
            return Ok(());
        };
        match stage.status {
            StageStatus::Running => {
                let Some(execution_id) = &stage.execution_id else {
                    return Ok(());
                };
                let Some(execution) = state.store.execution(execution_id).await? else {
                    return Ok(());
                };
                if !execution.status.is_terminal() {
                    return Ok(());
                }
                let outcome = if execution.status == ExecStatus::Completed {
                    StageOutcome::Completed {
                        output_summary: output_summary(execution.output.as_deref()),
                    }
                } else if execution.error.is_empty() {
                    StageOutcome::Failed {
                        error: format!("Stage '{}' failed", stage.name),
                    }
                } else {
                    StageOutcome::Failed {
                        error: execution.error.clone(),
                    }
                };
                state
                    .store
                    .finish_stage(workflow_id, stage.index, &outcome, now())
                    .await?;
            }
            StageStatus::Pending => {
                if !start_stage(state, &workflow, stage).await? {
                    return Ok(());
                }
            }
            // Failed, blocked or cancelled stages only exist in terminal workflows.
            _ => return Ok(()),
        }
    }
}

/// Steps 3–6 of spec §10.2 for one stage. Returns whether the workflow moved (the stage was
/// started or failed); `false` when another advance got there first.
async fn start_stage(state: &AppState, workflow: &WorkflowRecord, stage: &StageRecord) -> StoreResult<bool> {
    let fail = |error: String| StageOutcome::Failed { error };
    // The version pinned at creation; stages stored before pinning resolve their policy now.
    let preset = match &stage.preset {
        Some((key, version)) => state.presets.pinned(key, *version),
        None => state.presets.get(&stage.compliance_policy),
    };
    let Some(preset) = preset else {
        let error = format!("Unknown compliance preset: {}", stage.compliance_policy);
        return state
            .store
            .finish_stage(&workflow.id, stage.index, &fail(error), now())
            .await;
    };
    let upstream = upstream_executions(workflow, stage);
    let role = StageRole::parse(&stage.stage_role).ok();
    let mut profile = compose_with_preset(
        &build_profile(&ProfileRequest {
            text: &stage.task,
            task_class: None,
            stage_role: role,
            stage_id: Some(stage.id.clone()),
            upstream_execution_ids: upstream.clone(),
        }),
        &preset,
    );
    let Some(owner) = state.store.user_by_id(&workflow.user_id).await? else {
        let error = "The workflow's owner no longer exists".to_owned();
        return state
            .store
            .finish_stage(&workflow.id, stage.index, &fail(error), now())
            .await;
    };
    match admit_stage(state, &owner.user, &preset, &mut profile, &stage.task, &stage.id).await? {
        Ok(()) => {}
        Err(Refused::NoUpstream) => {
            let error = "Release-stage workflow steps require an upstream execution so Certior can enforce review-before-release constraints".to_owned();
            return state
                .store
                .finish_stage(&workflow.id, stage.index, &fail(error), now())
                .await;
        }
        Err(Refused::Denied(error)) => {
            return state
                .store
                .finish_stage(&workflow.id, stage.index, &fail(error), now())
                .await;
        }
    }
    let resolution = resolve_permissions(ResolutionRequest {
        requested: Some(&stage.permissions),
        preset: &preset,
        user_id: &workflow.user_id,
        role: &workflow.user_role,
        profile_ceiling: Some(&profile.permission_ceiling),
    });
    let permissions = match resolution {
        Ok(r) if !r.effective_permissions.is_empty() => r.effective_permissions,
        _ => {
            let error = format!(
                "No effective permissions remain for stage '{}' after applying '{}'",
                stage.name, stage.compliance_policy
            );
            return state
                .store
                .finish_stage(&workflow.id, stage.index, &fail(error), now())
                .await;
        }
    };
    let requested = stage.provider.as_deref().and_then(Provider::parse);
    let (provider, model) = resolve_provider(state, requested, stage.model.as_deref(), stage.plan.is_some()).await?;
    let minted = mint(
        &state.keyring,
        Submission {
            user_id: &workflow.user_id,
            task: &stage.task,
            preset: &preset,
            compliance_policy: &stage.compliance_policy,
            profile: &profile,
            permissions: &permissions,
            budget_cents: stage.budget_cents,
            provider,
            model,
            run_spec: json!({"plan": stage.plan, "webhook_url": null}),
            stage: Some(StageLink {
                workflow_id: &workflow.id,
                stage_id: &stage.id,
                stage_name: &stage.name,
            }),
        },
    );
    let started =
        (workflow.status == WorkflowStatus::Queued).then(|| event("workflow.started", json!({"name": workflow.name})));
    let stage_started = event(
        "workflow.stage.started",
        json!({"stage_id": stage.id, "stage_name": stage.name, "index": stage.index,
               "execution_id": minted.execution.id}),
    );
    let execution = StageExecution {
        token: &minted.token,
        execution: &minted.execution,
        created: &minted.created,
        api_key: stage.api_key.as_deref(),
    };
    let moved = state
        .store
        .start_stage(&workflow.id, stage.index, &execution, started.as_ref(), &stage_started)
        .await?;
    if moved {
        state.jobs.notify_one();
    }
    Ok(moved)
}

/// Spec §10.3: the named earlier stages' executions, in the order given (stages without one are
/// skipped); otherwise the previous stage's.
fn upstream_executions(workflow: &WorkflowRecord, stage: &StageRecord) -> Vec<String> {
    let execution_of = |id: &str| {
        workflow
            .stages
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.execution_id.clone())
    };
    if !stage.upstream_stage_ids.is_empty() {
        return stage
            .upstream_stage_ids
            .iter()
            .filter_map(|id| execution_of(id))
            .collect();
    }
    match stage.index {
        0 => Vec::new(),
        i => workflow.stages[(i - 1) as usize].execution_id.iter().cloned().collect(),
    }
}

/// `DELETE /workflows/{id}` (spec §10.5): the workflow and its open stages are cancelled, and
/// so is the running stage's execution. Returns the workflow's status after the call.
pub async fn cancel(state: &AppState, workflow: &WorkflowRecord) -> StoreResult<WorkflowStatus> {
    if workflow.status.is_terminal() {
        return Ok(workflow.status);
    }
    let running = workflow.stages.iter().find(|s| s.status == StageStatus::Running);
    let mut events = vec![event("workflow.cancelled", json!({"name": workflow.name}))];
    if let Some(stage) = running {
        events.push(event("workflow.cancelled", json!({"stage_id": stage.id})));
    }
    let Some(status) = state.store.cancel_workflow(&workflow.id, &events).await? else {
        return Ok(workflow.status);
    };
    if let Some(stage) = running {
        if let Some(execution_id) = &stage.execution_id {
            let cancelled = event(
                "execution.cancelled",
                json!({"status": "cancelled", "task": stage.task}),
            );
            state.store.cancel_execution(execution_id, &cancelled).await?;
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_collapse_whitespace_and_cut_at_180_characters() {
        assert_eq!(output_summary(None), None);
        assert_eq!(output_summary(Some("  a \n\t b  ")), Some("a b".into()));
        let long = "é".repeat(200);
        let summary = output_summary(Some(&long)).unwrap();
        assert_eq!(summary.chars().count(), 181);
        assert!(summary.ends_with('…'));
    }
}
