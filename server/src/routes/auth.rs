//! `/api/v1/auth`: registration, login, key rotation, logout and the caller's profile (spec §4.2).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{
    create_account, normalize_email, verify_password, AccountRequest, ApiKey, Caller, MaybeAdmin, RateLimiter, Role,
    LOGIN_PER_EMAIL, LOGIN_PER_IP, REGISTER_PER_IP,
};
use crate::clock::now;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{StoreError, User};
use crate::validate::{Fields, FromBody, ValidJson};

/// A user as every caller may see it.
#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: f64,
    pub is_active: bool,
}

impl From<&User> for UserResponse {
    fn from(user: &User) -> Self {
        UserResponse {
            id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role,
            created_at: user.created_at,
            is_active: user.is_active,
        }
    }
}

pub fn invalid_role() -> ApiError {
    ApiError::bad_request(format!("Invalid role.  Choose from: {}", Role::quoted_list(&Role::ALL)))
}

#[derive(ToSchema)]
pub struct RegisterRequest {
    /// Trimmed, then lower-cased; 3..=320 characters.
    #[schema(min_length = 3, max_length = 320)]
    email: String,
    /// ≤ 200 characters; empty means the email.
    #[schema(max_length = 200)]
    name: Option<String>,
    /// 8..=1024 characters. A user without a password cannot log in and relies on keys.
    #[schema(min_length = 8, max_length = 1024)]
    password: Option<String>,
    #[schema(max_length = 200)]
    organization: Option<String>,
    /// Default `operator`; privileged roles need an administrator's key.
    role: Option<String>,
}

impl FromBody for RegisterRequest {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let email = fields.required::<String>("email").map(|e| normalize_email(&e));
        fields.length("email", email.as_deref(), 3, 320);
        let name = fields.optional::<String>("name");
        fields.length("name", name.as_deref(), 0, 200);
        let password = fields.optional::<String>("password");
        fields.length("password", password.as_deref(), 8, 1024);
        let organization = fields.optional::<String>("organization");
        fields.length("organization", organization.as_deref(), 0, 200);
        let role = fields.optional::<String>("role");
        Some(RegisterRequest {
            email: email?,
            name,
            password,
            organization,
            role,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    id: String,
    email: String,
    name: String,
    role: Role,
    /// The user's first API key, shown once.
    api_key: String,
}

/// Create a user and return its first API key.
///
/// Public; a credential is optional and counts only when it is an active administrator's,
/// which is required for the privileged roles and exempts the caller from the rate limit.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = RegisterResponse), (status = 400, description = "Invalid role"),
        (status = 403, description = "Registration closed or privileged role"), (status = 409, description = "Email already registered"),
        (status = 422, description = "Validation error"), (status = 429, description = "Too many registrations")))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    MaybeAdmin(admin): MaybeAdmin,
    ValidJson(request): ValidJson<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let store = state.store.as_ref();
    let limiter = RateLimiter::new(store, now());
    let client_ip = client.ip().to_string();
    if admin.is_none() {
        limiter.check(&REGISTER_PER_IP, &client_ip).await?;
        limiter.record(&REGISTER_PER_IP, &client_ip).await?;
        if !state.settings.open_registration {
            return Err(ApiError::forbidden("Registration is closed."));
        }
    }
    let already_registered = || ApiError::conflict("Email already registered.");
    if store.user_by_email(&request.email).await?.is_some() {
        return Err(already_registered());
    }
    let role = match request.role.as_deref() {
        None => Role::Operator,
        Some(text) => Role::parse(text).ok_or_else(invalid_role)?,
    };
    if role.is_privileged() && admin.is_none() {
        return Err(ApiError::forbidden(format!(
            "Only an administrator can assign the role '{}'.",
            role.as_str()
        )));
    }
    let account = AccountRequest {
        email: request.email,
        name: request.name.unwrap_or_default(),
        organization: request.organization.unwrap_or_default(),
        role,
        password: request.password,
    };
    let (user, key) = match create_account(store, account).await? {
        Ok(created) => created,
        Err(StoreError::Conflict(_)) => return Err(already_registered()),
        Err(err) => return Err(err.into()),
    };
    let body = RegisterResponse {
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        api_key: key.plain,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(ToSchema)]
pub struct LoginRequest {
    #[schema(min_length = 3)]
    email: String,
    #[schema(min_length = 8)]
    password: String,
}

impl FromBody for LoginRequest {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let email = fields.required::<String>("email").map(|e| normalize_email(&e));
        fields.length("email", email.as_deref(), 3, usize::MAX);
        let password = fields.required::<String>("password");
        fields.length("password", password.as_deref(), 8, usize::MAX);
        Some(LoginRequest {
            email: email?,
            password: password?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// A new key; the user's other keys stay valid.
    api_key: String,
    user: UserResponse,
}

/// Password login: issues a new API key and leaves the user's other keys valid.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "Invalid email or password"),
        (status = 422, description = "Validation error"), (status = 429, description = "Too many login attempts")))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    ValidJson(request): ValidJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let store = state.store.as_ref();
    let limiter = RateLimiter::new(store, now());
    let client_ip = client.ip().to_string();
    limiter.check(&LOGIN_PER_EMAIL, &request.email).await?;
    limiter.check(&LOGIN_PER_IP, &client_ip).await?;

    let user = store.user_by_email(&request.email).await?.filter(|user| user.is_active);
    let stored_hash = user.as_ref().and_then(|user| user.password_hash.clone());
    let verified = verify_password(request.password, stored_hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        limiter.record(&LOGIN_PER_EMAIL, &request.email).await?;
        limiter.record(&LOGIN_PER_IP, &client_ip).await?;
        return Err(ApiError::unauthorized("Invalid email or password."));
    };
    limiter.clear(&LOGIN_PER_EMAIL, &request.email).await?;
    let key = ApiKey::generate();
    store.add_key(&user.id, &key.sha256, now()).await?;
    store.record_login(&user.id, now()).await?;
    Ok(Json(LoginResponse {
        api_key: key.plain,
        user: UserResponse::from(&user),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RotateResponse {
    api_key: String,
}

/// Replace the presenting key: it stops working at once; the user's other keys are unchanged.
/// Any body is accepted and ignored.
#[utoipa::path(post, path = "/api/v1/auth/rotate", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = RotateResponse), (status = 401, description = "Missing or invalid API key")))]
pub async fn rotate(State(state): State<AppState>, caller: Caller) -> Result<Json<RotateResponse>, ApiError> {
    let key = ApiKey::generate();
    state
        .store
        .replace_key(&caller.user.id, &caller.key_id, &key.sha256, now())
        .await?;
    Ok(Json(RotateResponse { api_key: key.plain }))
}

#[derive(Serialize, ToSchema)]
pub struct LogoutResponse {
    /// `logged_out`
    status: &'static str,
}

/// Revoke the presenting key.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = LogoutResponse), (status = 401, description = "Missing or invalid API key")))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Json<LogoutResponse>, ApiError> {
    state.store.revoke_key(&caller.key_id, now()).await?;
    Ok(Json(LogoutResponse { status: "logged_out" }))
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401, description = "Missing or invalid API key")))]
pub async fn me(caller: Caller) -> Json<UserResponse> {
    Json(UserResponse::from(&caller.user))
}
