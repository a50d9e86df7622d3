//! Workflow evidence (spec/RELEASES.md §1.4, reviewed-release pattern): only the binding of a
//! workflow to a commit is stored; what it proves is re-read from the workflow at every
//! evaluation, so a later failure or cancellation is seen at once.

use serde_json::{json, Value};

use super::evidence::WorkflowBinding;
use crate::preset_catalog::PresetCatalog;
use crate::store::{StageStatus, Store, StoreResult, StoredJson, WorkflowRecord, WorkflowStatus};

/// A bound workflow with its derived fields.
#[derive(Debug, Clone)]
pub struct DerivedWorkflow {
    pub binding: WorkflowBinding,
    pub status: String,
    pub reviewed: bool,
    pub release_execution_id: Option<String>,
    pub reviewer_execution_ids: Vec<String>,
    pub artifact_sha256: Option<String>,
    pub presets: Vec<String>,
    /// The release stage's preset keys (for segregation of duties).
    pub release_presets: Vec<String>,
    pub created_by: Option<String>,
    pub completed_at: Option<f64>,
}

impl DerivedWorkflow {
    /// The freshness time: the workflow's `completed_at`, else when the binding was recorded.
    pub fn time(&self) -> f64 {
        self.completed_at.unwrap_or(self.binding.recorded_at)
    }

    /// The derived fields as JSON (health and plugin input).
    pub fn to_json(&self) -> Value {
        json!({
            "workflow_id": self.binding.workflow_id,
            "status": self.status,
            "reviewed": self.reviewed,
            "release_execution_id": self.release_execution_id,
            "reviewer_execution_ids": self.reviewer_execution_ids,
            "artifact_sha256": self.artifact_sha256,
            "presets": self.presets,
            "created_by": self.created_by,
            "completed_at": self.completed_at,
        })
    }
}

fn stage_preset(presets: &PresetCatalog, stage: &crate::store::StageRecord) -> String {
    match &stage.preset {
        Some((key, _)) => key.clone(),
        None => presets
            .get(&stage.compliance_policy)
            .map_or_else(|| stage.compliance_policy.trim().to_lowercase(), |p| p.key().to_owned()),
    }
}

/// Reads the workflow behind `binding` and derives its fields.
pub async fn derive(
    store: &dyn Store,
    presets: &PresetCatalog,
    binding: &WorkflowBinding,
) -> StoreResult<DerivedWorkflow> {
    let Some(workflow) = store.workflow(&binding.workflow_id).await? else {
        return Ok(DerivedWorkflow {
            binding: binding.clone(),
            status: "missing".into(),
            reviewed: false,
            release_execution_id: None,
            reviewer_execution_ids: Vec::new(),
            artifact_sha256: None,
            presets: Vec::new(),
            release_presets: Vec::new(),
            created_by: None,
            completed_at: None,
        });
    };
    let mut keys: Vec<String> = workflow.stages.iter().map(|s| stage_preset(presets, s)).collect();
    keys.sort();
    keys.dedup();
    let release = release_facts(store, presets, &workflow).await?;
    Ok(DerivedWorkflow {
        binding: binding.clone(),
        status: workflow.status.as_str().to_owned(),
        reviewed: workflow.status == WorkflowStatus::Completed && release.reviewed,
        release_execution_id: release.execution_id,
        reviewer_execution_ids: release.reviewers,
        artifact_sha256: release.artifact,
        presets: keys,
        release_presets: release.presets,
        created_by: Some(workflow.user_id.clone()),
        completed_at: workflow.completed_at,
    })
}

#[derive(Default)]
struct ReleaseStage {
    reviewed: bool,
    execution_id: Option<String>,
    reviewers: Vec<String>,
    artifact: Option<String>,
    presets: Vec<String>,
}

/// The first completed release stage whose binding is bound, and whether every upstream stage
/// it bound is a completed reviewer.
async fn release_facts(
    store: &dyn Store,
    presets: &PresetCatalog,
    workflow: &WorkflowRecord,
) -> StoreResult<ReleaseStage> {
    let mut found = ReleaseStage::default();
    for stage in workflow.stages.iter().filter(|s| s.stage_role == "release") {
        found.presets.push(stage_preset(presets, stage));
        let Some(execution_id) = &stage.execution_id else {
            continue;
        };
        if stage.status != StageStatus::Completed || found.execution_id.is_some() {
            continue;
        }
        let Some(execution) = store.execution(execution_id).await? else {
            continue;
        };
        let Some(binding) = StoredJson::optional_value(&execution.release_binding)? else {
            continue;
        };
        if binding["bound"] != Value::Bool(true) {
            continue;
        }
        let upstream: Vec<_> = workflow
            .stages
            .iter()
            .filter(|s| stage.upstream_stage_ids.contains(&s.id))
            .collect();
        let all_reviewers = upstream.len() == stage.upstream_stage_ids.len()
            && upstream
                .iter()
                .all(|s| s.stage_role == "reviewer" && s.status == StageStatus::Completed && s.execution_id.is_some());
        let mut reviewers: Vec<String> = upstream.iter().filter_map(|s| s.execution_id.clone()).collect();
        reviewers.sort();
        found.reviewed = all_reviewers;
        found.execution_id = Some(execution_id.clone());
        found.reviewers = reviewers;
        found.artifact = binding["artifact_hash"].as_str().map(str::to_owned);
    }
    found.presets.sort();
    found.presets.dedup();
    Ok(found)
}
