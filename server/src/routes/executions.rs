//! `/api/v1/executions`: list, view, cancel, steps and events of task runs (spec §4.4). An
//! execution is readable by its owner, administrators and auditors; anyone else gets 404.

use axum::extract::{Path, State};
use axum::Json;
use certior::audit::{verify_chain, ChainEvent, ChainVerification};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::ownership::{may_change, may_read, StatusListQuery};
use crate::auth::{Caller, Writers};
use crate::clock::now;
use crate::error::ApiError;
use crate::executor;
use crate::state::AppState;
use crate::store::{EventDraft, ExecStatus, ExecutionRecord, StoredEvent, StoredJson, User};
use crate::validate::ValidQuery;

/// The execution view (spec §9.1), keys in contract order.
#[derive(Serialize, ToSchema)]
pub struct ExecutionView {
    id: String,
    /// Owner.
    user_id: String,
    task: String,
    /// `queued`, `planning`, `executing`, `verifying`, `completed`, `failed` or `cancelled`.
    status: &'static str,
    /// Tool-call attempts so far (allowed or denied).
    current_step: i64,
    /// `""` unless failed.
    error: String,
    created_at: f64,
    updated_at: f64,
    /// Set on every terminal status.
    completed_at: Option<f64>,
    cost_cents: i64,
    certificate_count: usize,
    llm_provider: Option<String>,
    llm_model: Option<String>,
    compliance_policy: String,
    proof_properties: Vec<String>,
    certificate_ids: Vec<String>,
    /// Final output (after redaction and holds); null unless completed.
    output: Option<String>,
    /// `{steps, duration_ms, total_input_tokens, total_output_tokens}`; null before the run ends.
    #[schema(value_type = Option<Object>)]
    verification_summary: Option<Box<RawValue>>,
    #[schema(value_type = Object)]
    verification_profile: Box<RawValue>,
    preset_key: String,
    preset_digest: String,
    permissions: Vec<String>,
    budget_cents: i64,
    budget_remaining_cents: i64,
    token_id: String,
    workflow_id: Option<String>,
    workflow_stage_id: Option<String>,
}

impl From<ExecutionRecord> for ExecutionView {
    fn from(e: ExecutionRecord) -> Self {
        ExecutionView {
            status: e.status.as_str(),
            certificate_count: e.certificate_ids.len(),
            output: e.output.filter(|_| e.status == ExecStatus::Completed),
            budget_remaining_cents: e.budget_cents - e.spent_cents,
            id: e.id,
            user_id: e.user_id,
            task: e.task,
            current_step: e.current_step,
            error: e.error,
            created_at: e.created_at,
            updated_at: e.updated_at,
            completed_at: e.completed_at,
            cost_cents: e.cost_cents,
            llm_provider: e.llm_provider,
            llm_model: e.llm_model,
            compliance_policy: e.compliance_policy,
            proof_properties: e.proof_properties,
            certificate_ids: e.certificate_ids,
            verification_summary: e.verification_summary.map(StoredJson::into_raw),
            verification_profile: e.verification_profile.into_raw(),
            preset_key: e.preset_key,
            preset_digest: e.preset_digest,
            permissions: e.permissions,
            budget_cents: e.budget_cents,
            token_id: e.token_id,
            workflow_id: e.workflow_id,
            workflow_stage_id: e.workflow_stage_id,
        }
    }
}

/// The execution if `user` may read it; unknown and foreign ids are both 404.
pub async fn readable_execution(state: &AppState, user: &User, id: &str) -> Result<ExecutionRecord, ApiError> {
    state
        .store
        .execution(id)
        .await?
        .filter(|e| may_read(user, &e.user_id))
        .ok_or_else(|| ApiError::not_found("Execution not found"))
}

/// List executions, newest first. `scope=all` lists everyone's (admin and auditor only).
#[utoipa::path(get, path = "/api/v1/executions", tag = "executions", security(("bearer" = [])),
    params(StatusListQuery),
    responses((status = 200, body = [ExecutionView]),
        (status = 400, description = "Invalid status"),
        (status = 403, description = "Requires one of: ['admin', 'auditor']"),
        (status = 422, description = "Validation error")))]
pub async fn list_executions(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<StatusListQuery>,
) -> Result<Json<Vec<ExecutionView>>, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(ExecStatus::parse(text).ok_or_else(|| {
            let valid: Vec<String> = ExecStatus::ALL.iter().map(|s| format!("'{}'", s.as_str())).collect();
            ApiError::bad_request(format!("Invalid status: {text}. Valid: [{}]", valid.join(", ")))
        })?),
    };
    let owner = query.scope.owner(&caller.user)?;
    let page = query.page();
    let rows = state.store.list_executions(owner, status, page).await?;
    Ok(Json(rows.into_iter().map(ExecutionView::from).collect()))
}

/// One execution.
#[utoipa::path(get, path = "/api/v1/executions/{execution_id}", tag = "executions", security(("bearer" = [])),
    params(("execution_id" = String, Path)),
    responses((status = 200, body = ExecutionView), (status = 404, description = "Execution not found")))]
pub async fn get_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(execution_id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let execution = readable_execution(&state, &caller.user, &execution_id).await?;
    Ok(Json(execution.into()))
}

#[derive(Serialize, ToSchema)]
pub struct CancelResponse {
    execution_id: String,
    /// `cancelled`, or the terminal status the execution already had.
    status: &'static str,
}

/// Cancel a queued or running execution. Idempotent: a finished execution answers its final
/// status. Owners and administrators only.
#[utoipa::path(delete, path = "/api/v1/executions/{execution_id}", tag = "executions", security(("bearer" = [])),
    params(("execution_id" = String, Path)),
    responses((status = 200, body = CancelResponse),
        (status = 403, description = "Requires one of: ['admin', 'operator', 'approver', 'policy_author']"),
        (status = 404, description = "Execution not found")))]
pub async fn cancel_execution(
    State(state): State<AppState>,
    caller: Caller<Writers>,
    Path(execution_id): Path<String>,
) -> Result<Json<CancelResponse>, ApiError> {
    let not_found = || ApiError::not_found("Execution not found");
    let execution = state
        .store
        .execution(&execution_id)
        .await?
        .filter(|e| may_change(&caller.user, &e.user_id))
        .ok_or_else(not_found)?;
    let event = EventDraft {
        kind: "execution.cancelled".into(),
        data: json!({"status": "cancelled", "task": execution.task}),
        timestamp: now(),
    };
    let status = state
        .store
        .cancel_execution(&execution_id, &event)
        .await?
        .ok_or_else(not_found)?;
    if !execution.status.is_terminal() && status == ExecStatus::Cancelled {
        executor::finished(&state, &execution, "execution.cancelled");
    }
    Ok(Json(CancelResponse {
        execution_id,
        status: status.as_str(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct StepsResponse {
    execution_id: String,
    /// `ToolCallRecord`s in `step_index` order (spec §9.5).
    #[schema(value_type = Vec<Object>)]
    steps: Vec<Value>,
}

/// The tool-call records of an execution.
#[utoipa::path(get, path = "/api/v1/executions/{execution_id}/steps", tag = "executions", security(("bearer" = [])),
    params(("execution_id" = String, Path)),
    responses((status = 200, body = StepsResponse), (status = 404, description = "Execution not found")))]
pub async fn execution_steps(
    State(state): State<AppState>,
    caller: Caller,
    Path(execution_id): Path<String>,
) -> Result<Json<StepsResponse>, ApiError> {
    readable_execution(&state, &caller.user, &execution_id).await?;
    let steps = state.store.steps(&execution_id).await?;
    Ok(Json(StepsResponse {
        execution_id,
        steps: steps.into_iter().map(|s| s.record).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct EventView {
    seq: i64,
    #[serde(rename = "type")]
    kind: String,
    #[schema(value_type = Object)]
    data: Value,
    timestamp: f64,
    prev_hash: String,
    hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct EventsResponse {
    execution_id: String,
    events: Vec<EventView>,
    /// `{algorithm, length, head_hash, verified, first_invalid_seq}` (spec §11.5).
    #[schema(value_type = Object)]
    chain: ChainVerification,
}

/// Verifies a stored chain by recomputing every hash.
pub fn verify_stored_chain(subject_id: &str, events: &[StoredEvent]) -> ChainVerification {
    let chained: Vec<(ChainEvent, String)> = events
        .iter()
        .map(|e| {
            (
                ChainEvent {
                    seq: e.seq as u64,
                    subject_id: subject_id.to_owned(),
                    kind: e.kind.clone(),
                    data: e.data.clone(),
                    timestamp: e.timestamp,
                },
                e.hash.clone(),
            )
        })
        .collect();
    verify_chain(&chained)
}

/// The hash-chained events of an execution and whether the chain verifies.
#[utoipa::path(get, path = "/api/v1/executions/{execution_id}/events", tag = "executions", security(("bearer" = [])),
    params(("execution_id" = String, Path)),
    responses((status = 200, body = EventsResponse), (status = 404, description = "Execution not found")))]
pub async fn execution_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(execution_id): Path<String>,
) -> Result<Json<EventsResponse>, ApiError> {
    readable_execution(&state, &caller.user, &execution_id).await?;
    let events = state.store.events(&execution_id).await?;
    let chain = verify_stored_chain(&execution_id, &events);
    Ok(Json(EventsResponse {
        execution_id,
        events: events
            .into_iter()
            .map(|e| EventView {
                seq: e.seq,
                kind: e.kind,
                data: e.data,
                timestamp: e.timestamp,
                prev_hash: e.prev_hash,
                hash: e.hash,
            })
            .collect(),
        chain,
    }))
}
