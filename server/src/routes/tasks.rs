//! `POST /api/v1/tasks`: validate a task, pin its preset and profile, resolve its permissions,
//! mint its capability token and queue it (spec §4.3).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use certior::profile::{build_profile, compose_with_preset, ProfileRequest, StageRole, TaskClass};
use certior::resolve::{resolve_permissions, PermissionDenial, ResolutionRequest};
use certior::tools::BuiltinTool;
use certior::{PermissionResolution, Preset, VerificationProfile};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::auth::{Caller, TaskCreators};
use crate::error::ApiError;
use crate::providers::Provider;
use crate::state::AppState;
use crate::submission::{mint, resolve_provider, Submission};
use crate::tools::Tools;
use crate::validate::{Fields, FromBody, Loc, ValidJson};
use crate::webhooks;

/// One step of a deterministic plan (spec §4.3 `PlanStep`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlanStep {
    /// A built-in tool (`file_read`, `file_write`, `file_list`, `http_get` or its alias `web_fetch`, `db_query`).
    pub tool: String,
    /// The tool's arguments, checked against its argument schema at submission.
    #[schema(value_type = Object)]
    pub args: Map<String, Value>,
    /// Extra capabilities, added to the tool's own.
    pub required_capabilities: Vec<String>,
    /// The step's cost is `max(tool cost, cost_cents)`.
    pub cost_cents: i64,
    /// Data labels the input carries (e.g. `PHI`), checked by the flow gate.
    pub input_labels: Vec<String>,
    /// A destination class the output is handed to, checked by the flow gate.
    pub output_label: Option<String>,
}

/// The `verification_profile` overrides of a task (stricter only, spec §8.4).
#[derive(Debug, Default, ToSchema)]
pub struct VerificationProfileRequest {
    /// One of the seven task classes.
    #[schema(value_type = Option<String>)]
    task_class: Option<TaskClass>,
    /// `intake`, `reviewer`, `release`, `single_agent` or `worker`.
    #[schema(value_type = Option<String>)]
    stage_role: Option<StageRole>,
    stage_id: String,
    /// Executions that must precede a release stage (≤ 12).
    upstream_execution_ids: Vec<String>,
}

/// `TaskRequest` (spec §4.3).
#[derive(ToSchema)]
pub struct TaskRequest {
    /// What the agent should do (length ≥ 1).
    task: String,
    /// Preset key or alias, case-insensitive; null means `default`.
    compliance_policy: Option<String>,
    /// 100..=1 000 000, default 10 000.
    #[schema(minimum = 100, maximum = 1_000_000, default = 10_000)]
    budget_cents: i64,
    /// Absolute http(s) URL that receives the execution view at its terminal status.
    webhook_url: Option<String>,
    /// Requested capabilities; null or `[]` takes the preset defaults.
    permissions: Option<Vec<String>>,
    /// `anthropic`, `openai` or `plan`.
    #[schema(value_type = Option<String>)]
    provider: Option<Provider>,
    /// Free text ≤ 200 chars.
    model: Option<String>,
    /// A provider key for this run only: kept with the job, erased at the terminal status.
    api_key: Option<String>,
    verification_profile: Option<VerificationProfileRequest>,
    /// 1..=50 steps; only with provider `plan` or no provider.
    plan: Option<Vec<PlanStep>>,
}

const MAX_PLAN_STEPS: usize = 50;
const MAX_UPSTREAM: usize = 12;

pub fn capability_entry(text: &str) -> Result<(), (&'static str, String)> {
    if text.is_empty() {
        Err(("string_too_short", "String should have at least 1 character".into()))
    } else if text.chars().count() > 200 {
        Err(("string_too_long", "String should have at most 200 characters".into()))
    } else if text.chars().any(char::is_whitespace) {
        Err(("string_pattern_mismatch", "String should not contain whitespace".into()))
    } else {
        Ok(())
    }
}

pub fn any_string(_: &str) -> Result<(), (&'static str, String)> {
    Ok(())
}

fn read_plan_step(fields: &mut Fields<'_>) -> Option<PlanStep> {
    let tool = fields.required::<String>("tool");
    let args = fields.optional::<Map<String, Value>>("args").unwrap_or_default();
    let required_capabilities = fields.string_list("required_capabilities", capability_entry);
    let cost_cents = fields.optional::<i64>("cost_cents");
    fields.range("cost_cents", cost_cents, 0, Some(1_000_000));
    let input_labels = fields.string_list("input_labels", any_string);
    let output_label = fields.optional::<String>("output_label");
    let tool = tool?;
    match BuiltinTool::parse(&tool) {
        None => {
            let names: Vec<String> = BuiltinTool::ALL.iter().map(|t| format!("'{}'", t.name())).collect();
            fields.error(
                Some("tool"),
                "value_error",
                format!("Unknown tool '{tool}'. Available: [{}]", names.join(", ")),
            );
        }
        Some(_) => {
            if let Err(message) = Tools::check_arguments(&tool, &Value::Object(args.clone())) {
                fields.error(Some("args"), "value_error", message);
            }
        }
    }
    Some(PlanStep {
        tool,
        args,
        required_capabilities: required_capabilities.unwrap_or_default(),
        cost_cents: cost_cents.unwrap_or(0),
        input_labels: input_labels.unwrap_or_default(),
        output_label,
    })
}

/// The provider fields and the plan of a task or workflow stage (spec §4.3, §4.5), with the
/// rule that ties them together.
pub struct RunFields {
    pub provider: Option<Provider>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub plan: Option<Vec<PlanStep>>,
}

pub fn read_run_fields(fields: &mut Fields<'_>) -> RunFields {
    let provider = fields.optional::<String>("provider");
    let provider = fields.one_of("provider", provider, Provider::parse, &Provider::ALL.map(Provider::id));
    let model = fields.optional::<String>("model");
    fields.length("model", model.as_deref(), 0, 200);
    let api_key = fields.optional::<String>("api_key");
    fields.length("api_key", api_key.as_deref(), 8, usize::MAX);
    let plan = read_plan(fields);
    match (provider, fields.has("plan")) {
        (Some(Provider::Anthropic | Provider::Openai), true) => fields.error(
            Some("plan"),
            "value_error",
            "plan is only accepted with provider 'plan'",
        ),
        (Some(Provider::Plan), false) => {
            fields.error(Some("plan"), "value_error", "provider 'plan' requires a non-empty plan")
        }
        _ => {}
    }
    RunFields {
        provider,
        model,
        api_key,
        plan,
    }
}

pub fn read_plan(fields: &mut Fields<'_>) -> Option<Vec<PlanStep>> {
    fields.object_list("plan", 1, MAX_PLAN_STEPS, read_plan_step)
}

fn read_profile_request(fields: &mut Fields<'_>) -> Option<VerificationProfileRequest> {
    let task_class = fields.optional::<String>("task_class");
    let task_class = fields.one_of(
        "task_class",
        task_class,
        |s| TaskClass::parse(s).ok(),
        &TaskClass::ALL.map(TaskClass::as_str),
    );
    let stage_role = fields.optional::<String>("stage_role");
    let stage_role = fields.one_of(
        "stage_role",
        stage_role,
        |s| StageRole::parse(s).ok(),
        &StageRole::ALL.map(StageRole::as_str),
    );
    let stage_id = fields.optional::<String>("stage_id").unwrap_or_default();
    let upstream = fields
        .string_list("upstream_execution_ids", any_string)
        .unwrap_or_default();
    if upstream.len() > MAX_UPSTREAM {
        fields.error(
            Some("upstream_execution_ids"),
            "too_long",
            format!(
                "List should have at most {MAX_UPSTREAM} items after validation, not {}",
                upstream.len()
            ),
        );
    }
    Some(VerificationProfileRequest {
        task_class,
        stage_role,
        stage_id,
        upstream_execution_ids: upstream,
    })
}

impl FromBody for TaskRequest {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let task = fields.required::<String>("task");
        fields.length("task", task.as_deref(), 1, usize::MAX);
        let compliance_policy = fields.optional::<String>("compliance_policy");
        let budget_cents = fields.optional::<i64>("budget_cents");
        fields.range("budget_cents", budget_cents, 100, Some(1_000_000));
        let webhook_url = fields.optional::<String>("webhook_url");
        let permissions = fields.string_list("permissions", capability_entry);
        let verification_profile = match fields.raw("verification_profile") {
            None => None,
            Some(Value::Object(object)) => fields.within(
                vec![Loc::Field("verification_profile".into())],
                object,
                read_profile_request,
            ),
            Some(_) => {
                fields.error(
                    Some("verification_profile"),
                    "dict_type",
                    "Input should be a valid dictionary or object",
                );
                None
            }
        };
        let RunFields {
            provider,
            model,
            api_key,
            plan,
        } = read_run_fields(fields);
        Some(TaskRequest {
            task: task?,
            compliance_policy,
            budget_cents: budget_cents.unwrap_or(10_000),
            webhook_url,
            permissions,
            provider,
            model,
            api_key,
            verification_profile,
            plan,
        })
    }
}

/// `TaskResponse` (spec §4.3).
#[derive(Serialize, ToSchema)]
pub struct TaskResponse {
    execution_id: String,
    /// Always `queued`.
    status: &'static str,
    /// Where to follow the run: `ws(s)://…/ws/executions/{id}`.
    websocket_url: String,
    /// The composed profile (spec §8.5).
    #[schema(value_type = Object)]
    verification_profile: VerificationProfile,
    /// The full resolution, only when permissions were requested and at least one was denied.
    #[schema(value_type = Option<Object>)]
    permission_resolution: Option<PermissionResolution>,
}

/// `Available: […]`: the built-in five, then custom keys sorted (spec §4.3 step 3). Deprecated
/// presets are not offered.
pub fn unknown_preset(state: &AppState, name: &str) -> ApiError {
    let builtin = ["hipaa", "sox", "legal", "legal_privilege", "default"];
    let registry = state.presets.registry();
    let mut custom: Vec<&str> = registry
        .list()
        .iter()
        .map(|p| p.key())
        .filter(|key| !builtin.contains(key) && !registry.is_deprecated(key))
        .collect();
    custom.sort_unstable();
    let all: Vec<String> = builtin.iter().chain(&custom).map(|k| format!("'{k}'")).collect();
    ApiError::bad_request(format!(
        "Unknown compliance preset: {name}. Available: [{}]",
        all.join(", ")
    ))
}

/// The structured 403 (spec §1.5) when a resolution leaves nothing to grant.
pub fn no_effective_permissions(policy_name: &str, denied: &[PermissionDenial]) -> ApiError {
    ApiError::Structured {
        status: StatusCode::FORBIDDEN,
        detail: json!({
            "message": format!("No effective permissions after applying '{policy_name}' compliance policy"),
            "denied": denied,
        }),
    }
}

/// The current version of the preset `name` for a new task or workflow: unknown and deprecated
/// presets are 400 (spec §4.3 step 3, §4.6.3a). The caller pins the version it gets.
pub fn submittable_preset(state: &AppState, name: &str) -> Result<Arc<Preset>, ApiError> {
    let registry = state.presets.registry();
    let preset = registry.get(name).ok_or_else(|| unknown_preset(state, name))?;
    if registry.is_deprecated(preset.key()) {
        return Err(ApiError::bad_request(format!(
            "Preset '{}' is deprecated.",
            preset.key()
        )));
    }
    Ok(preset)
}

/// `CERTIOR_PUBLIC_URL`, else the request's `Host` over `http` (the server speaks plain HTTP);
/// only the scheme is rewritten to `ws`/`wss`.
fn websocket_url(state: &AppState, headers: &HeaderMap, execution_id: &str) -> String {
    let base = match &state.settings.runs.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base
    };
    format!("{base}/ws/executions/{execution_id}")
}

fn profile_for(request: &TaskRequest, preset: &Preset) -> VerificationProfile {
    let overrides = request.verification_profile.as_ref();
    let profile = build_profile(&ProfileRequest {
        text: &request.task,
        task_class: overrides.and_then(|o| o.task_class),
        stage_role: overrides.and_then(|o| o.stage_role),
        stage_id: overrides.map(|o| o.stage_id.clone()),
        upstream_execution_ids: overrides.map(|o| o.upstream_execution_ids.clone()).unwrap_or_default(),
    });
    compose_with_preset(&profile, preset)
}

/// Submit a task. Writers only (`admin`, `operator`, `approver`, `policy_author`). Choices the
/// contract leaves open: `websocket_url` uses `ws://` and the request's `Host` unless
/// `CERTIOR_PUBLIC_URL` is set; execution tokens do not expire (the execution time limit bounds
/// the run).
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", security(("bearer" = [])),
    request_body = TaskRequest,
    responses((status = 201, body = TaskResponse),
        (status = 400, description = "Unknown or deprecated preset, or a release stage without upstream executions"),
        (status = 401, description = "Missing or invalid API key"),
        (status = 403, description = "Read-only role, or no effective permissions (structured detail)"),
        (status = 422, description = "Validation error")))]
pub async fn create_task(
    State(state): State<AppState>,
    caller: Caller<TaskCreators>,
    headers: HeaderMap,
    ValidJson(request): ValidJson<TaskRequest>,
) -> Result<(StatusCode, Json<TaskResponse>), ApiError> {
    let user = caller.user;
    if let Some(url) = &request.webhook_url {
        webhooks::check_url(&state.settings.runs, url)
            .map_err(|message| ApiError::field_error("webhook_url", message))?;
    }
    let policy_name = request.compliance_policy.clone().unwrap_or_else(|| "default".into());
    let preset = submittable_preset(&state, &policy_name)?;
    let profile = profile_for(&request, &preset);
    if profile.stage_role == StageRole::Release && profile.upstream_execution_ids.is_empty() {
        return Err(ApiError::bad_request(
            "Release-stage tasks require upstream_execution_ids so the runtime can enforce review-before-release temporal constraints",
        ));
    }
    let resolution = resolve_permissions(ResolutionRequest {
        requested: request.permissions.as_deref(),
        preset: &preset,
        user_id: &user.id,
        role: user.role.as_str(),
        profile_ceiling: Some(&profile.permission_ceiling),
    })
    .map_err(|denied| ApiError::forbidden(denied.to_string()))?;
    if resolution.effective_permissions.is_empty() {
        return Err(no_effective_permissions(&policy_name, &resolution.denied));
    }
    if let Some(provider) = request.provider {
        if !provider.available(&state.settings.providers) && request.api_key.is_none() {
            return Err(ApiError::bad_request(provider.not_configured()));
        }
    }
    let (provider, model) = resolve_provider(
        &state,
        request.provider,
        request.model.as_deref(),
        request.plan.is_some(),
    )
    .await?;
    let minted = mint(
        &state.keyring,
        Submission {
            user_id: &user.id,
            task: &request.task,
            preset: &preset,
            compliance_policy: &policy_name,
            profile: &profile,
            permissions: &resolution.effective_permissions,
            budget_cents: request.budget_cents,
            provider,
            model,
            run_spec: json!({ "plan": request.plan, "webhook_url": request.webhook_url }),
            stage: None,
        },
    );
    let execution_id = minted.execution.id.clone();
    state
        .store
        .create_task(
            &minted.token,
            &minted.execution,
            &minted.created,
            request.api_key.as_deref(),
        )
        .await?;
    state.jobs.notify_one();

    let supplied = request.permissions.as_ref().is_some_and(|p| !p.is_empty());
    let permission_resolution = (supplied && !resolution.denied.is_empty()).then_some(resolution);
    Ok((
        StatusCode::CREATED,
        Json(TaskResponse {
            websocket_url: websocket_url(&state, &headers, &execution_id),
            execution_id,
            status: "queued",
            verification_profile: profile,
            permission_resolution,
        }),
    ))
}
