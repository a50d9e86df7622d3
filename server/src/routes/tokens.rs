//! `/api/v1/tokens`: signed capability tokens (spec §4.8, §11.4). A child token attenuates its
//! parent and reserves part of the parent's budget; revoking a token revokes its descendants.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use certior::capability::is_subset;
use certior::resolve::{resolve_permissions, ResolutionRequest};
use serde::Serialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::ownership::{may_change, may_read, Scope};
use super::tasks::{capability_entry, no_effective_permissions, submittable_preset};
use crate::auth::{Caller, Writers};
use crate::capability_tokens::{self, pinned_preset, preset_pin, Grant};
use crate::clock::now;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Page, TokenRecord, User};
use crate::validate::{page, Fields, FromBody, FromQuery, ValidJson, ValidQuery};

/// A stored token as clients see it (spec §4.8).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// UUID.
    id: String,
    agent_id: String,
    /// Owner.
    user_id: String,
    permissions: Vec<String>,
    /// Initial budget.
    budget_cents: i64,
    /// Budget minus spend and minus budgets reserved by child tokens.
    budget_remaining_cents: i64,
    /// Not revoked, not expired, `budget_remaining_cents > 0`.
    valid: bool,
    revoked: bool,
    parent_id: Option<String>,
    /// Preset key the permissions were resolved under.
    compliance_policy: String,
    created_at: f64,
    expires_at: Option<f64>,
    /// The signed compact token (EdDSA JWT).
    token: String,
}

impl From<TokenRecord> for TokenResponse {
    fn from(t: TokenRecord) -> Self {
        TokenResponse {
            budget_remaining_cents: t.remaining_cents(),
            valid: t.valid(now()),
            revoked: t.revoked_at.is_some(),
            id: t.id,
            agent_id: t.agent_id,
            user_id: t.user_id,
            permissions: t.permissions,
            budget_cents: t.budget_cents,
            parent_id: t.parent_id,
            compliance_policy: t.compliance_policy,
            created_at: t.created_at,
            expires_at: t.expires_at,
            token: t.jws,
        }
    }
}

/// The token if `user` may read it; unknown and foreign ids are both 404.
pub async fn readable_token(state: &AppState, user: &User, id: &str) -> Result<TokenRecord, ApiError> {
    state
        .store
        .token(id)
        .await?
        .filter(|t| may_read(user, &t.user_id))
        .ok_or_else(|| ApiError::not_found("Token not found"))
}

/// The body of `POST /tokens`.
#[derive(ToSchema)]
pub struct TokenRequest {
    /// 1..200 characters, default `default`.
    #[schema(default = "default")]
    agent_id: String,
    /// Default `["*"]`.
    permissions: Vec<String>,
    /// ≥ 0, default 10000.
    #[schema(default = 10000, minimum = 0)]
    budget_cents: i64,
    /// 1..=31536000 when present; null means no expiry (a child then expires with its parent).
    #[schema(minimum = 1, maximum = 31536000)]
    expires_in_seconds: Option<i64>,
    /// Preset key or alias, default `default`.
    #[schema(default = "default")]
    compliance_policy: String,
    /// A token the caller can read; the new token attenuates it.
    parent_id: Option<String>,
}

impl FromBody for TokenRequest {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let agent_id = fields.optional::<String>("agent_id");
        fields.length("agent_id", agent_id.as_deref(), 1, 200);
        let permissions = fields.string_list("permissions", capability_entry);
        let budget_cents = fields.optional::<i64>("budget_cents");
        fields.range("budget_cents", budget_cents, 0, None);
        let expires_in_seconds = fields.optional::<i64>("expires_in_seconds");
        fields.range("expires_in_seconds", expires_in_seconds, 1, Some(31_536_000));
        let compliance_policy = fields.optional::<String>("compliance_policy");
        let parent_id = fields.optional::<String>("parent_id");
        Some(TokenRequest {
            agent_id: agent_id.unwrap_or_else(|| "default".into()),
            permissions: permissions.unwrap_or_else(|| vec!["*".into()]),
            budget_cents: budget_cents.unwrap_or(10_000),
            expires_in_seconds,
            compliance_policy: compliance_policy.unwrap_or_else(|| "default".into()),
            parent_id,
        })
    }
}

/// Why a child token does not attenuate its parent, in the order of spec §4.8.1.
fn attenuation_failure(
    request: &TokenRequest,
    parent: &TokenRecord,
    expires_at: Option<f64>,
    now: f64,
) -> Option<&'static str> {
    if !is_subset(&request.permissions, &parent.permissions) {
        Some("permissions_not_subset")
    } else if request.budget_cents > parent.remaining_cents() {
        Some("budget_exceeds_parent")
    } else if !parent.valid(now) {
        Some("parent_invalid")
    } else if parent
        .expires_at
        .is_some_and(|limit| expires_at.is_none_or(|t| t > limit))
    {
        Some("expiry_exceeds_parent")
    } else {
        None
    }
}

fn not_attenuating(code: &str) -> ApiError {
    ApiError::forbidden(format!("Child token must attenuate its parent: {code}"))
}

/// Issue a signed capability token.
///
/// Choices where the contract leaves one open: a child's `expires_in_seconds: null` inherits the
/// parent's expiry; the child's permissions are taken as requested (they are checked against the
/// parent, not resolved again) and it inherits the parent's preset (its `compliance_policy` is
/// still checked to name a preset); `compliance_policy` is stored as the preset's canonical key,
/// and every token is pinned to the preset version current at issue.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    request_body = TokenRequest,
    responses((status = 201, body = TokenResponse),
        (status = 400, description = "Unknown or deprecated preset"),
        (status = 403, description = "Read-only role; no effective permissions (structured detail); or `Child token must attenuate its parent: <code>`"),
        (status = 404, description = "Token not found (parent)"),
        (status = 422, description = "Validation error")))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller<Writers>,
    ValidJson(request): ValidJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let user = caller.user;
    let preset = submittable_preset(&state, &request.compliance_policy)?;
    let now = now();
    let requested_expiry = request.expires_in_seconds.map(|s| now + s as f64);
    let (permissions, expires_at, preset) = match &request.parent_id {
        Some(parent_id) => {
            let parent = readable_token(&state, &user, parent_id).await?;
            let expires_at = requested_expiry.or(parent.expires_at);
            if let Some(code) = attenuation_failure(&request, &parent, expires_at, now) {
                return Err(not_attenuating(code));
            }
            let pinned = pinned_preset(&state.presets, &parent.compliance_policy, &parent.metadata);
            (request.permissions.clone(), expires_at, pinned.unwrap_or(preset))
        }
        None => {
            let resolution = resolve_permissions(ResolutionRequest {
                requested: Some(&request.permissions),
                preset: &preset,
                user_id: &user.id,
                role: user.role.as_str(),
                profile_ceiling: None,
            })
            .map_err(|denied| ApiError::forbidden(denied.to_string()))?;
            if resolution.effective_permissions.is_empty() {
                return Err(no_effective_permissions(&request.compliance_policy, &resolution.denied));
            }
            (resolution.effective_permissions, requested_expiry, preset)
        }
    };
    let mut metadata = preset_pin(&preset);
    metadata["issued_by"] = json!("api");
    let token = capability_tokens::sign(
        &state.keyring,
        Grant {
            user_id: user.id.clone(),
            agent_id: request.agent_id.clone(),
            permissions,
            budget_cents: request.budget_cents,
            parent_id: request.parent_id.clone(),
            compliance_policy: preset.key().to_owned(),
            expires_at,
            metadata,
        },
        now,
    );
    if !state.store.issue_token(&token).await? {
        // The parent was revoked or spent between the check and the reservation.
        let parent = readable_token(&state, &user, request.parent_id.as_deref().unwrap_or_default()).await?;
        let code = attenuation_failure(&request, &parent, token.expires_at, now).unwrap_or("parent_invalid");
        return Err(not_attenuating(code));
    }
    let stored = state
        .store
        .token(&token.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("token {} vanished after issue", token.id))?;
    Ok((StatusCode::CREATED, Json(stored.into())))
}

/// The query of `GET /tokens`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenListQuery {
    /// `own` (default) or `all` (admin and auditor only).
    #[param(value_type = Option<String>)]
    scope: Scope,
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: i64,
    /// ≥ 0, default 0.
    #[param(minimum = 0, default = 0)]
    offset: i64,
}

impl FromQuery for TokenListQuery {
    fn from_query(fields: &mut Fields<'_>) -> Option<Self> {
        let scope = Scope::read(fields);
        let Page { limit, offset } = page(fields)?;
        Some(TokenListQuery { scope, limit, offset })
    }
}

/// List tokens, newest first (execution tokens included).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    params(TokenListQuery),
    responses((status = 200, body = [TokenResponse]),
        (status = 403, description = "Requires one of: ['admin', 'auditor']"),
        (status = 422, description = "Validation error")))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<TokenListQuery>,
) -> Result<Json<Vec<TokenResponse>>, ApiError> {
    let owner = query.scope.owner(&caller.user)?;
    let page = Page {
        limit: query.limit,
        offset: query.offset,
    };
    let rows = state.store.list_tokens(owner, page).await?;
    Ok(Json(rows.into_iter().map(TokenResponse::from).collect()))
}

/// One token, `valid` recomputed now.
#[utoipa::path(get, path = "/api/v1/tokens/{token_id}", tag = "tokens", security(("bearer" = [])),
    params(("token_id" = String, Path)),
    responses((status = 200, body = TokenResponse), (status = 404, description = "Token not found")))]
pub async fn get_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(token_id): Path<String>,
) -> Result<Json<TokenResponse>, ApiError> {
    Ok(Json(readable_token(&state, &caller.user, &token_id).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct RevokeResponse {
    id: String,
    revoked: bool,
}

/// Revoke a token and every descendant (idempotent). The parent's reserved budget is not
/// refunded; an execution whose token is revoked fails its remaining tool calls.
#[utoipa::path(delete, path = "/api/v1/tokens/{token_id}", tag = "tokens", security(("bearer" = [])),
    params(("token_id" = String, Path)),
    responses((status = 200, body = RevokeResponse),
        (status = 403, description = "Read-only role"),
        (status = 404, description = "Token not found")))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller<Writers>,
    Path(token_id): Path<String>,
) -> Result<Json<RevokeResponse>, ApiError> {
    let token = state
        .store
        .token(&token_id)
        .await?
        .filter(|t| may_change(&caller.user, &t.user_id))
        .ok_or_else(|| ApiError::not_found("Token not found"))?;
    state.store.revoke_token(&token.id, now()).await?;
    Ok(Json(RevokeResponse {
        id: token.id,
        revoked: true,
    }))
}
