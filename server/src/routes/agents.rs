//! `/api/v1/agents`: plan verification against the label lattice, delegation between agents
//! with attenuating child tokens, and the delegation graph (spec §4.7, §13.1–§13.3).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use certior::canonical::document_hash;
use certior::certificate::CertificateContent;
use certior::lattice::{check_plan, plan_document, Label, PlanStep, PlanVerdict};
use certior::{attenuate, Certificate, Grant as Bounds, Preset};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::tasks::{any_string, submittable_preset};
use super::tokens::readable_token;
use crate::auth::{Caller, GlassBoxReader, Writers};
use crate::capability_tokens::{self, pinned_preset, preset_pin, Grant};
use crate::clock::now;
use crate::delegation_graph::{self, DelegationGraph};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{DelegationRecord, DelegationStatus, NewToken, User};
use crate::validate::{Fields, FromBody, FromQuery, Loc, ValidJson, ValidQuery};

/// Plan and delegation tokens live this long (spec §13.1, §13.2).
const AGENT_TOKEN_SECONDS: f64 = 300.0;

const LABEL_CHOICES: &str = "Input should be 'Public', 'Internal', 'Sensitive' or 'Restricted'";

fn label_entry(text: &str) -> Result<(), (&'static str, String)> {
    Label::parse(text).map(|_| ()).ok_or(("enum", LABEL_CHOICES.into()))
}

/// Input labels of a step or of the payload; `["Public"]` when absent.
fn read_input_labels(fields: &mut Fields<'_>) -> Vec<Label> {
    fields
        .string_list("input_labels", label_entry)
        .map(|labels| labels.iter().filter_map(|l| Label::parse(l)).collect())
        .unwrap_or_else(|| vec![Label::Public])
}

/// The output label of a step or of the payload; `Internal` when absent.
fn read_output_label(fields: &mut Fields<'_>) -> Label {
    let Some(text) = fields.optional::<String>("output_label") else {
        return Label::Internal;
    };
    Label::parse(&text).unwrap_or_else(|| {
        fields.error(Some("output_label"), "enum", LABEL_CHOICES);
        Label::Internal
    })
}

fn read_cost(fields: &mut Fields<'_>) -> i64 {
    let cost = fields.optional::<i64>("cost");
    fields.range("cost", cost, 0, None);
    cost.unwrap_or(0)
}

/// One step of an `AgentActionIntent`.
#[derive(ToSchema)]
pub struct AgentPlanStep {
    /// 1..200 characters.
    tool: String,
    /// Lattice labels (case-insensitive), default `["Public"]`.
    #[schema(value_type = Vec<String>)]
    input_labels: Vec<Label>,
    /// A lattice label, default `Internal`.
    #[schema(value_type = String)]
    output_label: Label,
    /// ≥ 0, default 0.
    cost: i64,
    data_id: Option<String>,
}

impl From<AgentPlanStep> for PlanStep {
    fn from(step: AgentPlanStep) -> Self {
        PlanStep {
            tool: step.tool,
            input_labels: step.input_labels,
            output_label: step.output_label,
            cost: step.cost,
            data_id: step.data_id,
        }
    }
}

fn read_plan_step(fields: &mut Fields<'_>) -> Option<AgentPlanStep> {
    let tool = fields.required::<String>("tool");
    fields.length("tool", tool.as_deref(), 1, 200);
    let input_labels = read_input_labels(fields);
    let output_label = read_output_label(fields);
    let cost = read_cost(fields);
    let data_id = fields.optional::<String>("data_id");
    Some(AgentPlanStep {
        tool: tool?,
        input_labels,
        output_label,
        cost,
        data_id,
    })
}

/// The body of `verify-plan`.
#[derive(ToSchema)]
pub struct AgentActionIntent {
    /// 1..200 characters.
    framework: String,
    /// 1..200 characters.
    action_type: String,
    /// Optional members used: `agent_id`, `input_labels`, `output_label`, `cost`.
    #[schema(value_type = Object)]
    payload: Map<String, Value>,
    /// ≤ 50 steps; null or empty synthesises one step from the intent.
    #[schema(value_type = Option<Vec<AgentPlanStep>>)]
    steps: Vec<AgentPlanStep>,
    /// 0..=1 000 000 000, default 10000.
    #[schema(default = 10000, minimum = 0, maximum = 1_000_000_000)]
    budget: i64,
    /// Preset key or alias, default `default`.
    #[schema(default = "default")]
    compliance_policy: String,
}

impl FromBody for AgentActionIntent {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let framework = fields.required::<String>("framework");
        fields.length("framework", framework.as_deref(), 1, 200);
        let action_type = fields.required::<String>("action_type");
        fields.length("action_type", action_type.as_deref(), 1, 200);
        let payload = fields.optional::<Map<String, Value>>("payload").unwrap_or_default();
        let steps = fields.object_list("steps", 0, 50, read_plan_step);
        let steps_given = fields.has("steps");
        let budget = fields.optional::<i64>("budget");
        fields.range("budget", budget, 0, Some(1_000_000_000));
        let compliance_policy = fields.optional::<String>("compliance_policy");
        let synthesised = fields.within(vec![Loc::Field("payload".into())], &payload, |payload| {
            // Only type-checked here; the handler reads it from `payload`.
            payload.optional::<String>("agent_id");
            AgentPlanStep {
                tool: String::new(),
                input_labels: read_input_labels(payload),
                output_label: read_output_label(payload),
                cost: read_cost(payload),
                data_id: None,
            }
        });
        let action_type = action_type?;
        let steps = match steps {
            Some(steps) if !steps.is_empty() => steps,
            None if steps_given => return None,
            _ => vec![AgentPlanStep {
                tool: action_type.clone(),
                ..synthesised
            }],
        };
        Some(AgentActionIntent {
            framework: framework?,
            action_type,
            payload,
            steps,
            budget: budget.unwrap_or(10_000),
            compliance_policy: compliance_policy.unwrap_or_else(|| "default".into()),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct FlowViolationView {
    step_index: usize,
    tool: String,
    src: &'static str,
    dst: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct VerificationResponse {
    allowed: bool,
    reason: Option<String>,
    /// `sha256:<hex>` of the plan document when allowed.
    proof_hash: Option<String>,
    /// One signed `plan_certificate` when allowed.
    #[schema(value_type = Vec<Object>)]
    certificates: Vec<Certificate>,
    /// A signed capability token bound to the caller when allowed.
    token: Option<String>,
    token_id: Option<String>,
    violations: Vec<FlowViolationView>,
}

/// Token metadata: the preset pin and the endpoint that issued it.
fn issued_by(preset: &Preset, endpoint: &str) -> Value {
    let mut metadata = preset_pin(preset);
    metadata["issued_by"] = json!(endpoint);
    metadata
}

/// Signs a `lattice` certificate under `preset`.
fn lattice_certificate(
    state: &AppState,
    preset: &Preset,
    kind: &str,
    theorem: &str,
    subject: Value,
    plan_hash: String,
    properties: &[&str],
) -> Result<Certificate, ApiError> {
    let content = CertificateContent {
        kind: kind.into(),
        theorem: theorem.into(),
        subject,
        plan_hash,
        verified_properties: properties.iter().map(|p| (*p).to_owned()).collect(),
        policy_ids: Vec::new(),
        prover: "lattice".into(),
        preset_key: preset.key().to_owned(),
        preset_digest: preset.digest().to_owned(),
        plugin_digests: preset.plugin_digests(),
        issued_at: now(),
        retention_days: preset.manifest().retention_days,
    };
    state
        .keyring
        .issue(content)
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("signing a {kind}: {err}")))
}

/// Check a plan against the label lattice and its budget.
///
/// Allowed plans get a signed `plan_certificate` and a stored root capability token (owned by
/// the caller, permissions = the distinct step tools, expiring after 300 s). The check is native
/// and never answers 503. Plan certificates are returned, not stored.
#[utoipa::path(post, path = "/api/v1/agents/verify-plan", tag = "agents", security(("bearer" = [])),
    request_body = AgentActionIntent,
    responses((status = 200, body = VerificationResponse),
        (status = 400, description = "Unknown or deprecated preset"),
        (status = 403, description = "Read-only role"),
        (status = 422, description = "Validation error, an unknown lattice label or a non-integer payload.cost")))]
pub async fn verify_plan(
    State(state): State<AppState>,
    caller: Caller<Writers>,
    ValidJson(intent): ValidJson<AgentActionIntent>,
) -> Result<Json<VerificationResponse>, ApiError> {
    let preset = submittable_preset(&state, &intent.compliance_policy)?;
    let steps: Vec<PlanStep> = intent.steps.into_iter().map(PlanStep::from).collect();
    let verdict = check_plan(&steps, intent.budget);
    let reason = Some(verdict.reason());
    let PlanVerdict::Safe = verdict else {
        let violations = match verdict {
            PlanVerdict::FlowViolations(found) => found
                .into_iter()
                .map(|v| FlowViolationView {
                    step_index: v.step_index,
                    tool: v.tool,
                    src: v.src.as_str(),
                    dst: v.dst.as_str(),
                })
                .collect(),
            _ => Vec::new(),
        };
        return Ok(Json(VerificationResponse {
            allowed: false,
            reason,
            proof_hash: None,
            certificates: Vec::new(),
            token: None,
            token_id: None,
            violations,
        }));
    };
    let plan = plan_document(&steps, intent.budget, preset.key());
    let proof_hash =
        document_hash(&plan).map_err(|err| ApiError::Internal(anyhow::anyhow!("hashing a plan: {err}")))?;
    // Validated as a string when present.
    let agent_id = match intent.payload.get("agent_id") {
        Some(Value::String(agent)) => agent.clone(),
        _ => intent.framework.clone(),
    };
    let user = caller.user;
    let certificate = lattice_certificate(
        &state,
        &preset,
        "plan_certificate",
        "plan_flow_safe",
        json!({"framework": intent.framework, "action_type": intent.action_type, "agent_id": agent_id, "user_id": user.id}),
        proof_hash.clone(),
        &["information_flow: proven", "budget_sufficient: proven"],
    )?;
    let mut tools: Vec<String> = Vec::new();
    for step in &steps {
        if !tools.contains(&step.tool) {
            tools.push(step.tool.clone());
        }
    }
    let now = now();
    let token = capability_tokens::sign(
        &state.keyring,
        Grant {
            user_id: user.id.clone(),
            agent_id,
            permissions: tools,
            budget_cents: intent.budget,
            parent_id: None,
            compliance_policy: preset.key().to_owned(),
            expires_at: Some(now + AGENT_TOKEN_SECONDS),
            metadata: issued_by(&preset, "verify-plan"),
        },
        now,
    );
    state.store.issue_token(&token).await?;
    Ok(Json(VerificationResponse {
        allowed: true,
        reason,
        proof_hash: Some(proof_hash),
        certificates: vec![certificate],
        token: Some(token.jws),
        token_id: Some(token.id),
        violations: Vec::new(),
    }))
}

/// The body of `delegate`.
#[derive(ToSchema)]
pub struct DelegationRequest {
    /// ≤ 200 characters.
    parent_id: String,
    /// ≤ 200 characters.
    parent_agent_id: String,
    parent_permissions: Vec<String>,
    /// ≥ 0.
    parent_budget: i64,
    /// ≤ 200 characters; empty is denied (`empty_child_id`).
    child_id: String,
    /// ≤ 200 characters; empty is denied (`empty_child_agent`).
    child_agent_id: String,
    child_permissions: Vec<String>,
    /// ≥ 0.
    child_budget: i64,
    /// A stored token the caller can read; its permissions and remaining budget bound the child.
    parent_token_id: Option<String>,
}

/// A required id of at most 200 characters (empty is allowed here and denied by the check).
fn read_id(fields: &mut Fields<'_>, name: &str) -> Option<String> {
    let value = fields.required::<String>(name);
    fields.length(name, value.as_deref(), 0, 200);
    value
}

fn read_permissions(fields: &mut Fields<'_>, name: &str) -> Option<Vec<String>> {
    if !fields.has(name) {
        fields.error(Some(name), "missing", "Field required");
    }
    fields.string_list(name, any_string)
}

fn read_budget(fields: &mut Fields<'_>, name: &str) -> Option<i64> {
    let value = fields.required::<i64>(name);
    fields.range(name, value, 0, None);
    value
}

impl FromBody for DelegationRequest {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let parent_id = read_id(fields, "parent_id");
        let parent_agent_id = read_id(fields, "parent_agent_id");
        let child_id = read_id(fields, "child_id");
        let child_agent_id = read_id(fields, "child_agent_id");
        let parent_permissions = read_permissions(fields, "parent_permissions");
        let child_permissions = read_permissions(fields, "child_permissions");
        let parent_budget = read_budget(fields, "parent_budget");
        let child_budget = read_budget(fields, "child_budget");
        let parent_token_id = fields.optional::<String>("parent_token_id");
        Some(DelegationRequest {
            parent_id: parent_id?,
            parent_agent_id: parent_agent_id?,
            parent_permissions: parent_permissions?,
            parent_budget: parent_budget?,
            child_id: child_id?,
            child_agent_id: child_agent_id?,
            child_permissions: child_permissions?,
            child_budget: child_budget?,
            parent_token_id,
        })
    }
}

impl DelegationRequest {
    /// The request as a JSON object, for the certificate's `plan_hash`.
    fn document(&self) -> Value {
        json!({
            "parent_id": self.parent_id, "parent_agent_id": self.parent_agent_id,
            "parent_permissions": self.parent_permissions, "parent_budget": self.parent_budget,
            "child_id": self.child_id, "child_agent_id": self.child_agent_id,
            "child_permissions": self.child_permissions, "child_budget": self.child_budget,
            "parent_token_id": self.parent_token_id,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct DelegationResponse {
    allowed: bool,
    reason: String,
    /// Denial code, null when allowed.
    code: Option<&'static str>,
    token_id: Option<String>,
    token: Option<String>,
    /// The stored delegation record (allowed or blocked).
    delegation_id: String,
    /// The signed `delegation_certificate` when allowed.
    #[schema(value_type = Option<Object>)]
    certificate: Option<Certificate>,
}

/// What the delegation is checked against: the request's bounds, or a stored parent token's.
struct ParentBounds {
    bounds: Bounds,
    token_id: Option<String>,
    /// The parent token's pinned preset; `default` without a parent token.
    preset: Arc<Preset>,
    expires_at: Option<f64>,
}

async fn parent_bounds(state: &AppState, user: &User, request: &DelegationRequest) -> Result<ParentBounds, ApiError> {
    let Some(token_id) = &request.parent_token_id else {
        return Ok(ParentBounds {
            bounds: Bounds {
                permissions: request.parent_permissions.clone(),
                budget_cents: request.parent_budget,
            },
            token_id: None,
            preset: default_preset(state)?,
            expires_at: None,
        });
    };
    let parent = readable_token(state, user, token_id).await?;
    let now = now();
    if parent.revoked_at.is_some() || parent.expired(now) {
        return Err(ApiError::conflict("Parent token is not valid."));
    }
    let preset = match pinned_preset(&state.presets, &parent.compliance_policy, &parent.metadata) {
        Some(preset) => preset,
        None => default_preset(state)?,
    };
    Ok(ParentBounds {
        bounds: Bounds {
            permissions: parent.permissions.clone(),
            budget_cents: parent.remaining_cents(),
        },
        token_id: Some(parent.id),
        preset,
        expires_at: parent.expires_at,
    })
}

fn default_preset(state: &AppState) -> Result<Arc<Preset>, ApiError> {
    Ok(state
        .presets
        .get("default")
        .ok_or_else(|| anyhow::anyhow!("the built-in preset 'default' is not loaded"))?)
}

/// Check a delegation and record it; an allowed one gets a signed child token and certificate.
///
/// Every request is stored as a delegation record, allowed or blocked. The certificate is
/// issued under the parent token's pinned preset (`default` without a parent token, or when the
/// parent's preset is no longer loaded), its `plan_hash` is
/// the JCS of the request with all nine fields (`parent_token_id` null when absent), and it
/// lists `capability_coverage: proven` and `budget_sufficient: proven`.
#[utoipa::path(post, path = "/api/v1/agents/delegate", tag = "agents", security(("bearer" = [])),
    request_body = DelegationRequest,
    responses((status = 200, body = DelegationResponse),
        (status = 403, description = "Read-only role"),
        (status = 404, description = "Token not found (parent token)"),
        (status = 409, description = "Parent token is not valid."),
        (status = 422, description = "Validation error")))]
pub async fn delegate(
    State(state): State<AppState>,
    caller: Caller<Writers>,
    ValidJson(request): ValidJson<DelegationRequest>,
) -> Result<Json<DelegationResponse>, ApiError> {
    let user = caller.user;
    let parent = parent_bounds(&state, &user, &request).await?;
    let child = Bounds {
        permissions: request.child_permissions.clone(),
        budget_cents: request.child_budget,
    };
    let now = now();
    let mut record = DelegationRecord {
        id: Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        parent_id: request.parent_id.clone(),
        parent_agent_id: request.parent_agent_id.clone(),
        child_id: request.child_id.clone(),
        child_agent_id: request.child_agent_id.clone(),
        permissions: request.child_permissions.clone(),
        budget: request.child_budget,
        status: DelegationStatus::Verified,
        code: None,
        reason: "Token delegation proven safe.".into(),
        token_id: None,
        parent_verified: parent.token_id.is_some(),
        created_at: now,
    };
    if let Err(denial) = attenuate(&parent.bounds, &child, &request.child_id, &request.child_agent_id) {
        return blocked(&state, record, denial.code(), denial.to_string()).await;
    }
    let preset = parent.preset.clone();
    let expiry = now + AGENT_TOKEN_SECONDS;
    let token: NewToken = capability_tokens::sign(
        &state.keyring,
        Grant {
            user_id: user.id.clone(),
            agent_id: request.child_agent_id.clone(),
            permissions: request.child_permissions.clone(),
            budget_cents: request.child_budget,
            parent_id: parent.token_id.clone(),
            compliance_policy: preset.key().to_owned(),
            expires_at: Some(parent.expires_at.map_or(expiry, |p| p.min(expiry))),
            metadata: issued_by(&preset, "delegate"),
        },
        now,
    );
    record.token_id = Some(token.id.clone());
    let plan_hash = document_hash(&request.document())
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("hashing a delegation: {err}")))?;
    let certificate = lattice_certificate(
        &state,
        &preset,
        "delegation_certificate",
        "delegation_attenuates",
        json!({"delegation_id": record.id, "parent_agent_id": record.parent_agent_id,
               "child_agent_id": record.child_agent_id, "user_id": user.id}),
        plan_hash,
        &["capability_coverage: proven", "budget_sufficient: proven"],
    )?;
    if !state.store.record_delegation(&record, Some(&token)).await? {
        // The parent token was revoked or spent between the check and the reservation.
        record.token_id = None;
        let available = match &parent.token_id {
            Some(id) => state.store.token(id).await?.map_or(0, |t| t.remaining_cents()),
            None => parent.bounds.budget_cents,
        };
        let denial = certior::DelegationDenial::BudgetExceedsParent {
            requested: request.child_budget,
            available,
        };
        return blocked(&state, record, denial.code(), denial.to_string()).await;
    }
    Ok(Json(DelegationResponse {
        allowed: true,
        reason: record.reason,
        code: None,
        token_id: Some(token.id),
        token: Some(token.jws),
        delegation_id: record.id,
        certificate: Some(certificate),
    }))
}

/// Stores a blocked delegation and answers it.
async fn blocked(
    state: &AppState,
    mut record: DelegationRecord,
    code: &'static str,
    reason: String,
) -> Result<Json<DelegationResponse>, ApiError> {
    record.status = DelegationStatus::Blocked;
    record.code = Some(code.to_owned());
    record.reason = reason;
    state.store.record_delegation(&record, None).await?;
    Ok(Json(DelegationResponse {
        allowed: false,
        reason: record.reason,
        code: Some(code),
        token_id: None,
        token: None,
        delegation_id: record.id,
        certificate: None,
    }))
}

/// The query of `GET /agents/delegation-graph`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GraphQuery {
    /// The most recent records to draw, 1..=500, default 200.
    #[param(minimum = 1, maximum = 500, default = 200)]
    limit: i64,
}

impl FromQuery for GraphQuery {
    fn from_query(fields: &mut Fields<'_>) -> Option<Self> {
        let limit = fields.optional::<i64>("limit");
        fields.range("limit", limit, 1, Some(500));
        Some(GraphQuery {
            limit: limit.unwrap_or(200),
        })
    }
}

/// Delegation nodes and edges from the stored records: the caller's (all for admin and
/// auditor; everyone's, without a key, when `CERTIOR_PUBLIC_GLASS_BOX=true`).
#[utoipa::path(get, path = "/api/v1/agents/delegation-graph", tag = "agents", security(("bearer" = [])),
    params(GraphQuery),
    responses((status = 200, body = DelegationGraph),
        (status = 401, description = "Missing or invalid API key (unless the glass box is public)"),
        (status = 422, description = "Validation error")))]
pub async fn delegation_graph(
    State(state): State<AppState>,
    reader: GlassBoxReader,
    ValidQuery(query): ValidQuery<GraphQuery>,
) -> Result<Json<DelegationGraph>, ApiError> {
    let records = state.store.recent_delegations(reader.owner(), query.limit).await?;
    Ok(Json(delegation_graph::build(records)))
}
