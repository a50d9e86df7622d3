//! `/api/v1/workflows`: create, list, view and cancel ordered multi-stage runs (spec §4.5, §10).
//! Stages run on the same durable queue as tasks; [`crate::workflows`] advances them.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use certior::profile::StageRole;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::executions::ExecutionView;
use super::ownership::{may_change, may_read, StatusListQuery};
use super::tasks::{any_string, capability_entry, read_run_fields, submittable_preset, PlanStep, RunFields};
use crate::auth::{Caller, WorkflowCreators, Writers};
use crate::clock::now;
use crate::error::ApiError;
use crate::providers::Provider;
use crate::state::AppState;
use crate::store::{EventDraft, ExecStatus, NewStage, NewWorkflow, StageRecord, User, WorkflowRecord, WorkflowStatus};
use crate::validate::{Fields, FromBody, Loc, ValidJson, ValidQuery};
use crate::{compliance_package, workflows};

const MAX_STAGES: usize = 12;

/// `WorkflowStageRequest` (spec §4.5).
#[derive(ToSchema)]
pub struct WorkflowStageRequest {
    /// Client-chosen stable id (1..64 of `[A-Za-z0-9_.-]`); empty: a generated UUID.
    id: String,
    /// 1..120 chars.
    name: String,
    task: String,
    /// Preset key or alias; default `default`.
    compliance_policy: String,
    /// 100..=1 000 000, default 1500.
    budget_cents: i64,
    /// `intake`, `reviewer`, `release`, `worker` (default) or `single_agent`.
    #[schema(value_type = String)]
    stage_role: StageRole,
    #[schema(value_type = Option<String>)]
    provider: Option<Provider>,
    model: Option<String>,
    /// A provider key for this stage, kept with the workflow until it is terminal; never echoed.
    api_key: Option<String>,
    /// Empty means the preset defaults.
    permissions: Vec<String>,
    /// Ids of earlier stages whose executions are this stage's upstream.
    upstream_stage_ids: Vec<String>,
    plan: Option<Vec<PlanStep>>,
}

/// `WorkflowRequest` (spec §4.5).
#[derive(ToSchema)]
pub struct WorkflowRequest {
    /// 1..160 chars.
    name: String,
    /// ≤ 400 chars.
    description: String,
    /// 1..12 stages, run strictly in order.
    stages: Vec<WorkflowStageRequest>,
}

fn stage_id_ok(id: &str) -> bool {
    (1..=64).contains(&id.chars().count())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn read_stage(fields: &mut Fields<'_>) -> Option<WorkflowStageRequest> {
    let id = fields.optional::<String>("id").unwrap_or_default();
    if !id.is_empty() && !stage_id_ok(&id) {
        fields.error(
            Some("id"),
            "string_pattern_mismatch",
            "String should match pattern '^[A-Za-z0-9_.-]{1,64}$'",
        );
    }
    let name = fields.required::<String>("name");
    fields.length("name", name.as_deref(), 1, 120);
    let task = fields.required::<String>("task");
    fields.length("task", task.as_deref(), 1, usize::MAX);
    let compliance_policy = fields.optional::<String>("compliance_policy");
    let budget_cents = fields.optional::<i64>("budget_cents");
    fields.range("budget_cents", budget_cents, 100, Some(1_000_000));
    let stage_role = fields.optional::<String>("stage_role");
    let stage_role = fields.one_of(
        "stage_role",
        stage_role,
        |s| StageRole::parse(s).ok(),
        &["intake", "reviewer", "release", "worker", "single_agent"],
    );
    let permissions = fields.string_list("permissions", capability_entry);
    let upstream = fields.string_list("upstream_stage_ids", any_string);
    let RunFields {
        provider,
        model,
        api_key,
        plan,
    } = read_run_fields(fields);
    Some(WorkflowStageRequest {
        id,
        name: name?,
        task: task?,
        compliance_policy: compliance_policy.unwrap_or_else(|| "default".into()),
        budget_cents: budget_cents.unwrap_or(1500),
        stage_role: stage_role.unwrap_or(StageRole::Worker),
        provider,
        model,
        api_key,
        permissions: permissions.unwrap_or_default(),
        upstream_stage_ids: upstream.unwrap_or_default(),
        plan,
    })
}

impl FromBody for WorkflowRequest {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let name = fields.required::<String>("name");
        fields.length("name", name.as_deref(), 1, 160);
        let description = fields.optional::<String>("description").unwrap_or_default();
        fields.length("description", Some(&description), 0, 400);
        if !fields.has("stages") {
            fields.error(Some("stages"), "missing", "Field required");
            return None;
        }
        let mut stages = fields.object_list("stages", 1, MAX_STAGES, read_stage)?;
        check_stage_references(fields, &mut stages);
        Some(WorkflowRequest {
            name: name?,
            description,
            stages,
        })
    }
}

/// Gives empty ids a UUID, then requires unique ids and upstream ids that name earlier stages.
fn check_stage_references(fields: &mut Fields<'_>, stages: &mut [WorkflowStageRequest]) {
    for stage in stages.iter_mut().filter(|s| s.id.is_empty()) {
        stage.id = Uuid::new_v4().to_string();
    }
    for i in 0..stages.len() {
        if stages[..i].iter().any(|s| s.id == stages[i].id) {
            fields.error_at(
                vec![Loc::Field("stages".into()), Loc::Index(i), Loc::Field("id".into())],
                "value_error",
                format!("duplicate stage id '{}'", stages[i].id),
            );
        }
        for (j, upstream) in stages[i].upstream_stage_ids.iter().enumerate() {
            if !stages[..i].iter().any(|s| &s.id == upstream) {
                let reason = if stages[i..].iter().any(|s| &s.id == upstream) {
                    "is not an earlier stage"
                } else {
                    "is not a stage of this workflow"
                };
                fields.error_at(
                    vec![
                        Loc::Field("stages".into()),
                        Loc::Index(i),
                        Loc::Field("upstream_stage_ids".into()),
                        Loc::Index(j),
                    ],
                    "value_error",
                    format!("upstream stage '{upstream}' {reason}"),
                );
            }
        }
    }
}

/// `WorkflowStageResponse` (spec §4.5).
#[derive(Serialize, ToSchema)]
pub struct WorkflowStageResponse {
    id: String,
    name: String,
    task: String,
    compliance_policy: String,
    budget_cents: i64,
    stage_role: String,
    provider: Option<String>,
    model: Option<String>,
    permissions: Vec<String>,
    upstream_stage_ids: Vec<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    plan: Option<Value>,
    /// `pending`, `running`, `completed`, `failed`, `blocked` or `cancelled`.
    status: String,
    execution_id: Option<String>,
    started_at: Option<f64>,
    completed_at: Option<f64>,
    error: String,
    output_summary: Option<String>,
}

impl From<StageRecord> for WorkflowStageResponse {
    fn from(s: StageRecord) -> Self {
        WorkflowStageResponse {
            id: s.id,
            name: s.name,
            task: s.task,
            compliance_policy: s.compliance_policy,
            budget_cents: s.budget_cents,
            stage_role: s.stage_role,
            provider: s.provider,
            model: s.model,
            permissions: s.permissions,
            upstream_stage_ids: s.upstream_stage_ids,
            plan: s.plan,
            status: s.status.as_str().to_owned(),
            execution_id: s.execution_id,
            started_at: s.started_at,
            completed_at: s.completed_at,
            error: s.error,
            output_summary: s.output_summary,
        }
    }
}

/// `WorkflowResponse` (spec §4.5).
#[derive(Serialize, ToSchema)]
pub struct WorkflowResponse {
    id: String,
    user_id: String,
    /// The owner's role when the workflow was created; stages resolve permissions with it.
    user_role: String,
    name: String,
    description: String,
    /// Always `sequential`.
    mode: &'static str,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    status: &'static str,
    created_at: f64,
    updated_at: f64,
    completed_at: Option<f64>,
    current_stage_index: i64,
    error: String,
    stage_count: usize,
    completed_stage_count: usize,
    stages: Vec<WorkflowStageResponse>,
}

impl From<WorkflowRecord> for WorkflowResponse {
    fn from(w: WorkflowRecord) -> Self {
        WorkflowResponse {
            stage_count: w.stages.len(),
            completed_stage_count: w
                .stages
                .iter()
                .filter(|s| s.status == crate::store::StageStatus::Completed)
                .count(),
            id: w.id,
            user_id: w.user_id,
            user_role: w.user_role,
            name: w.name,
            description: w.description,
            mode: "sequential",
            status: w.status.as_str(),
            created_at: w.created_at,
            updated_at: w.updated_at,
            completed_at: w.completed_at,
            current_stage_index: w.current_stage_index,
            error: w.error,
            stages: w.stages.into_iter().map(WorkflowStageResponse::from).collect(),
        }
    }
}

/// Create a workflow. Writers only. Every stage preset is resolved and pinned now (unknown or
/// deprecated: 400); stage admission, permissions and executions happen when each stage starts,
/// in order, under the pinned preset version.
#[utoipa::path(post, path = "/api/v1/workflows", tag = "workflows", security(("bearer" = [])),
    request_body = WorkflowRequest,
    responses((status = 201, body = WorkflowResponse),
        (status = 400, description = "Unknown or deprecated compliance preset"),
        (status = 403, description = "Viewer role cannot create workflows / Auditor role cannot create workflows"),
        (status = 422, description = "Validation error")))]
pub async fn create_workflow(
    State(state): State<AppState>,
    caller: Caller<WorkflowCreators>,
    ValidJson(request): ValidJson<WorkflowRequest>,
) -> Result<(StatusCode, Json<WorkflowResponse>), ApiError> {
    let presets = request
        .stages
        .iter()
        .map(|stage| submittable_preset(&state, &stage.compliance_policy))
        .collect::<Result<Vec<_>, _>>()?;
    let now = now();
    let id = Uuid::new_v4().to_string();
    let stages: Vec<NewStage> = request
        .stages
        .into_iter()
        .zip(presets)
        .map(|(s, preset)| NewStage {
            id: s.id,
            name: s.name,
            task: s.task,
            compliance_policy: s.compliance_policy,
            preset_key: preset.key().to_owned(),
            preset_version: preset.version(),
            budget_cents: s.budget_cents,
            stage_role: s.stage_role.as_str().to_owned(),
            provider: s.provider.map(|p| p.id().to_owned()),
            model: s.model,
            api_key: s.api_key,
            permissions: s.permissions,
            upstream_stage_ids: s.upstream_stage_ids,
            plan: s.plan.map(|p| serde_json::to_value(p).expect("plans serialise")),
        })
        .collect();
    let workflow = NewWorkflow {
        id: id.clone(),
        user_id: caller.user.id.clone(),
        user_role: caller.user.role.as_str().to_owned(),
        name: request.name.clone(),
        description: request.description,
        created_at: now,
    };
    let mut data = Map::new();
    data.insert("name".into(), request.name.into());
    data.insert("stage_count".into(), stages.len().into());
    let created = EventDraft {
        kind: "workflow.created".into(),
        data: Value::Object(data),
        timestamp: now,
    };
    state.store.create_workflow(&workflow, &stages, &created).await?;
    workflows::kick(&state, &id);
    let record = state
        .store
        .workflow(&id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("workflow {id} vanished after creation"))?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// The workflow if `user` may read it; unknown and foreign ids are both 404.
pub async fn readable_workflow(state: &AppState, user: &User, id: &str) -> Result<WorkflowRecord, ApiError> {
    state
        .store
        .workflow(id)
        .await?
        .filter(|w| may_read(user, &w.user_id))
        .ok_or_else(|| ApiError::not_found("Workflow not found"))
}

/// List workflows, newest first.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows", security(("bearer" = [])),
    params(StatusListQuery),
    responses((status = 200, body = [WorkflowResponse]), (status = 400, description = "Invalid workflow status"),
        (status = 403, description = "Requires one of: ['admin', 'auditor']")))]
pub async fn list_workflows(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<StatusListQuery>,
) -> Result<Json<Vec<WorkflowResponse>>, ApiError> {
    let status = match &query.status {
        None => None,
        Some(text) => Some(
            WorkflowStatus::parse(text)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid workflow status: {text}")))?,
        ),
    };
    let owner = query.scope.owner(&caller.user)?;
    let page = query.page();
    let rows = state.store.list_workflows(owner, status, page).await?;
    Ok(Json(rows.into_iter().map(WorkflowResponse::from).collect()))
}

/// One workflow with its stages.
#[utoipa::path(get, path = "/api/v1/workflows/{workflow_id}", tag = "workflows", security(("bearer" = [])),
    params(("workflow_id" = String, Path)),
    responses((status = 200, body = WorkflowResponse), (status = 404, description = "Workflow not found")))]
pub async fn get_workflow(
    State(state): State<AppState>,
    caller: Caller,
    Path(workflow_id): Path<String>,
) -> Result<Json<WorkflowResponse>, ApiError> {
    Ok(Json(
        readable_workflow(&state, &caller.user, &workflow_id).await?.into(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct WorkflowCancelResponse {
    workflow_id: String,
    /// `cancelled`, or the final status the workflow already had.
    status: &'static str,
}

/// Cancel a workflow: the running stage's execution is cancelled and the rest never start.
/// Idempotent. Owners and administrators only.
#[utoipa::path(delete, path = "/api/v1/workflows/{workflow_id}", tag = "workflows", security(("bearer" = [])),
    params(("workflow_id" = String, Path)),
    responses((status = 200, body = WorkflowCancelResponse),
        (status = 403, description = "Requires one of: ['admin', 'operator', 'approver', 'policy_author']"),
        (status = 404, description = "Workflow not found")))]
pub async fn cancel_workflow(
    State(state): State<AppState>,
    caller: Caller<Writers>,
    Path(workflow_id): Path<String>,
) -> Result<Json<WorkflowCancelResponse>, ApiError> {
    let workflow = state
        .store
        .workflow(&workflow_id)
        .await?
        .filter(|w| may_change(&caller.user, &w.user_id))
        .ok_or_else(|| ApiError::not_found("Workflow not found"))?;
    let status = workflows::cancel(&state, &workflow).await?;
    Ok(Json(WorkflowCancelResponse {
        workflow_id,
        status: status.as_str(),
    }))
}

/// Export a workflow (spec §10.6): the workflow, and per stage its execution and, when that
/// execution completed, its compliance package under the stage's pinned preset.
#[utoipa::path(get, path = "/api/v1/workflows/{workflow_id}/export", tag = "workflows", security(("bearer" = [])),
    params(("workflow_id" = String, Path)),
    responses((status = 200, description = "`{workflow, exported_at, stages}` as an attachment", body = Object),
        (status = 404, description = "Workflow not found")))]
pub async fn export_workflow(
    State(state): State<AppState>,
    caller: Caller,
    Path(workflow_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let workflow = readable_workflow(&state, &caller.user, &workflow_id).await?;
    let mut stages = Vec::with_capacity(workflow.stages.len());
    for stage in &workflow.stages {
        let execution = match &stage.execution_id {
            Some(id) => state.store.execution(id).await?,
            None => None,
        };
        let package = match &execution {
            Some(e) if e.status == ExecStatus::Completed => match state.presets.pinned(&e.preset_key, e.preset_version)
            {
                Some(preset) => Some(compliance_package::build(&state, e, &preset, None).await?),
                None => None,
            },
            _ => None,
        };
        stages.push(json!({
            "stage": WorkflowStageResponse::from(stage.clone()),
            "execution": execution.map(ExecutionView::from),
            "compliance_package": package,
        }));
    }
    let body = json!({"workflow": WorkflowResponse::from(workflow), "exported_at": now(), "stages": stages});
    let filename = format!(
        "attachment; filename=\"workflow-{}.json\"",
        &workflow_id[..workflow_id.len().min(8)]
    );
    Ok(([(header::CONTENT_DISPOSITION, filename)], Json(body)))
}
