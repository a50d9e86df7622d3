//! Administrator views of users: `GET /api/v1/auth/users`, `PATCH /api/v1/auth/users/{user_id}`.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::{invalid_role, UserResponse};
use crate::auth::{AdminOnly, Caller, Role};
use crate::clock::now;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Page, UserChange, UserFilter, UserUpdate, UserWithKeys};
use crate::validate::{page, Fields, FromBody, FromQuery, ValidJson, ValidQuery};

#[derive(Serialize, ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    user: UserResponse,
    organization: String,
    active_key_count: i64,
    last_login_at: Option<f64>,
}

impl From<UserWithKeys> for AdminUserView {
    fn from(found: UserWithKeys) -> Self {
        AdminUserView {
            user: UserResponse::from(&found.user),
            organization: found.user.organization,
            active_key_count: found.active_key_count,
            last_login_at: found.user.last_login_at,
        }
    }
}

/// The query of `GET /auth/users`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Only users with this role.
    #[param(inline)]
    role: Option<Role>,
    /// Only active (`true`) or deactivated (`false`) users.
    is_active: Option<bool>,
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: i64,
    /// ≥ 0, default 0.
    #[param(minimum = 0, default = 0)]
    offset: i64,
}

impl FromQuery for UserListQuery {
    fn from_query(fields: &mut Fields<'_>) -> Option<Self> {
        let role = fields.optional::<String>("role");
        let role = fields.one_of("role", role, Role::parse, &Role::ALL.map(Role::as_str));
        let is_active = fields.optional::<bool>("is_active");
        let Page { limit, offset } = page(fields)?;
        Some(UserListQuery {
            role,
            is_active,
            limit,
            offset,
        })
    }
}

/// List users, newest first.
#[utoipa::path(get, path = "/api/v1/auth/users", tag = "auth", security(("bearer" = [])), params(UserListQuery),
    responses((status = 200, body = Vec<AdminUserView>), (status = 403, description = "Requires one of: ['admin']"),
        (status = 422, description = "Invalid query")))]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: Caller<AdminOnly>,
    ValidQuery(query): ValidQuery<UserListQuery>,
) -> Result<Json<Vec<AdminUserView>>, ApiError> {
    let filter = UserFilter {
        role: query.role,
        is_active: query.is_active,
    };
    let users = state
        .store
        .list_users(
            &filter,
            Page {
                limit: query.limit,
                offset: query.offset,
            },
        )
        .await?;
    Ok(Json(users.into_iter().map(AdminUserView::from).collect()))
}

#[derive(ToSchema)]
pub struct UserPatch {
    /// One of the six roles.
    role: Option<String>,
    /// `false` revokes every key of the user.
    is_active: Option<bool>,
}

impl FromBody for UserPatch {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let role = fields.optional::<String>("role");
        let is_active = fields.optional::<bool>("is_active");
        if !fields.has("role") && !fields.has("is_active") {
            fields.error(None, "value_error", "at least one of 'role' or 'is_active' is required");
        }
        Some(UserPatch { role, is_active })
    }
}

/// Change a user's role or active flag. Deactivation revokes all of the user's keys.
#[utoipa::path(patch, path = "/api/v1/auth/users/{user_id}", tag = "auth", security(("bearer" = [])),
    params(("user_id" = String, Path, description = "User id")), request_body = UserPatch,
    responses((status = 200, body = AdminUserView), (status = 400, description = "Invalid role"),
        (status = 403, description = "Requires one of: ['admin']"), (status = 404, description = "User not found"),
        (status = 409, description = "Cannot remove the last active administrator."), (status = 422, description = "Validation error")))]
pub async fn update_user(
    State(state): State<AppState>,
    _admin: Caller<AdminOnly>,
    Path(user_id): Path<String>,
    ValidJson(patch): ValidJson<UserPatch>,
) -> Result<Json<AdminUserView>, ApiError> {
    let not_found = || ApiError::not_found("User not found");
    if state.store.user_by_id(&user_id).await?.is_none() {
        return Err(not_found());
    }
    let role = patch
        .role
        .as_deref()
        .map(|text| Role::parse(text).ok_or_else(invalid_role))
        .transpose()?;
    match state
        .store
        .update_user(
            &user_id,
            &UserChange {
                role,
                is_active: patch.is_active,
            },
            now(),
        )
        .await?
    {
        UserUpdate::Updated(user) => Ok(Json(AdminUserView::from(user))),
        UserUpdate::NotFound => Err(not_found()),
        UserUpdate::LastAdmin => Err(ApiError::conflict("Cannot remove the last active administrator.")),
    }
}
