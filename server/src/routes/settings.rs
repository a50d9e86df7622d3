//! `/api/v1/settings`: the LLM providers, the server's default and provider probes (spec §4.9).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{AdminOnly, Caller, RateLimiter, VALIDATE_PER_USER};
use crate::clock::now;
use crate::error::ApiError;
use crate::provider_probe::{probe, ProbeStatus, ProbeTarget};
use crate::providers::{current_default, DefaultProvider, Provider, DEFAULT_PROVIDER_SETTING};
use crate::state::AppState;
use crate::store::StoreResult;
use crate::validate::{Fields, FromBody, ValidJson};

/// One row of the provider table, as this server sees it.
#[derive(Serialize, ToSchema)]
pub struct ProviderInfo {
    id: &'static str,
    name: &'static str,
    /// Whether this server can use it (a key, or for `openai` a base URL; `plan` always).
    available: bool,
    /// Whether it is the current default.
    active: bool,
    /// The default model when active, else the provider's own default model.
    model: String,
    models: Vec<&'static str>,
}

#[derive(Serialize, ToSchema)]
pub struct ProvidersResponse {
    /// In table order: `anthropic`, `openai`, `plan`.
    providers: Vec<ProviderInfo>,
    active_provider: Option<&'static str>,
    /// `agentic` when the default is an available LLM provider, else `legacy` (as `/health`).
    mode: &'static str,
}

/// The stored default, if any. A stored value this build cannot read counts as none (the next
/// rule of the resolution applies), with a warning.
async fn stored_default(state: &AppState) -> StoreResult<Option<DefaultProvider>> {
    let Some(json) = state.store.setting(DEFAULT_PROVIDER_SETTING).await? else {
        return Ok(None);
    };
    match serde_json::from_str(&json) {
        Ok(choice) => Ok(Some(choice)),
        Err(error) => {
            tracing::warn!(%error, "ignoring an unreadable stored default provider");
            Ok(None)
        }
    }
}

/// The current default provider and model (spec §9.3).
pub async fn default_provider(state: &AppState) -> StoreResult<Option<DefaultProvider>> {
    Ok(current_default(stored_default(state).await?, &state.settings.providers))
}

/// `agentic` with an LLM default, else `legacy`.
pub fn mode(default: Option<&DefaultProvider>) -> &'static str {
    match default {
        Some(choice) if choice.provider.is_llm() => "agentic",
        _ => "legacy",
    }
}

/// The provider table with availability and the current default. The default is the one stored
/// by `POST /settings/provider`, else `CERTIOR_LLM_PROVIDER`, else `anthropic` or `openai` when
/// available; a stored default whose provider is no longer available (its key was removed) is
/// skipped, so `active_provider` always names a usable provider or is null.
#[utoipa::path(get, path = "/api/v1/settings/providers", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = ProvidersResponse), (status = 401, description = "Missing or invalid API key")))]
pub async fn list_providers(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<ProvidersResponse>, ApiError> {
    let default = default_provider(&state).await?;
    let providers = Provider::ALL
        .into_iter()
        .map(|provider| {
            let active = default.as_ref().filter(|d| d.provider == provider);
            ProviderInfo {
                id: provider.id(),
                name: provider.name(),
                available: provider.available(&state.settings.providers),
                active: active.is_some(),
                model: active.map_or_else(|| provider.default_model().to_owned(), |d| d.model.clone()),
                models: provider.models().to_vec(),
            }
        })
        .collect();
    Ok(Json(ProvidersResponse {
        providers,
        active_provider: default.as_ref().map(|d| d.provider.id()),
        mode: mode(default.as_ref()),
    }))
}

/// `POST /settings/provider` body.
#[derive(ToSchema)]
pub struct ProviderSwitch {
    /// `anthropic`, `openai` or `plan`.
    #[schema(value_type = String, pattern = "^(anthropic|openai|plan)$")]
    provider: Provider,
    /// Null means the provider's default model. A model outside the list is accepted (and logged).
    model: Option<String>,
}

impl FromBody for ProviderSwitch {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let provider = fields.required::<String>("provider");
        let model = fields.optional::<String>("model");
        let provider = fields.one_of("provider", provider, Provider::parse, &["anthropic", "openai", "plan"])?;
        Some(ProviderSwitch { provider, model })
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProviderSwitched {
    provider: &'static str,
    model: String,
    /// `Switched to <Name> (<model>)`.
    message: String,
}

/// Switch the server's default provider and model for executions submitted from now on, on
/// every replica (stored in the database). Running executions keep theirs.
#[utoipa::path(post, path = "/api/v1/settings/provider", tag = "settings", security(("bearer" = [])),
    request_body = ProviderSwitch,
    responses((status = 200, body = ProviderSwitched),
        (status = 400, description = "<Name> API key not configured. Set <KEY_VARIABLE> environment variable and restart."),
        (status = 403, description = "Requires one of: ['admin']"), (status = 422, description = "Validation error")))]
pub async fn switch_provider(
    State(state): State<AppState>,
    _admin: Caller<AdminOnly>,
    ValidJson(switch): ValidJson<ProviderSwitch>,
) -> Result<Json<ProviderSwitched>, ApiError> {
    let provider = switch.provider;
    if !provider.available(&state.settings.providers) {
        return Err(ApiError::bad_request(provider.not_configured()));
    }
    let model = switch.model.unwrap_or_else(|| provider.default_model().to_owned());
    if !provider.models().contains(&model.as_str()) {
        tracing::info!(provider = provider.id(), model = %model, "default model outside the provider's list");
    }
    let choice = DefaultProvider { provider, model };
    let json = serde_json::to_string(&choice).map_err(|e| ApiError::Internal(e.into()))?;
    state.store.put_setting(DEFAULT_PROVIDER_SETTING, &json, now()).await?;
    Ok(Json(ProviderSwitched {
        provider: provider.id(),
        message: format!("Switched to {} ({})", provider.name(), choice.model),
        model: choice.model,
    }))
}

/// `POST /settings/provider/validate` body.
#[derive(ToSchema)]
pub struct ProviderProbe {
    /// `anthropic`, `openai` or `plan`.
    #[schema(value_type = String, pattern = "^(anthropic|openai|plan)$")]
    provider: Provider,
    /// Null means the provider's default model.
    model: Option<String>,
    /// Used for this probe only; absent means the server's configured key.
    #[schema(min_length = 8)]
    api_key: Option<String>,
}

impl FromBody for ProviderProbe {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let provider = fields.required::<String>("provider");
        let model = fields.optional::<String>("model");
        let api_key = fields.optional::<String>("api_key");
        fields.length("api_key", api_key.as_deref(), 8, usize::MAX);
        let provider = fields.one_of("provider", provider, Provider::parse, &["anthropic", "openai", "plan"])?;
        Some(ProviderProbe {
            provider,
            model,
            api_key,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProbeResult {
    provider: &'static str,
    model: String,
    valid: bool,
    status: ProbeStatus,
    message: String,
}

/// Probe a provider with one tiny request ("Reply with OK.", 10 s limit). Always 200: the
/// outcome is in `status` (`ready`, `billing_issue`, `invalid_key` or `error`). For an HTTP error
/// the classified text, and `message`, is `Error code: <status> - <provider's error message>`. The key is used
/// for this probe only, never stored or logged. 10 probes per user per minute.
#[utoipa::path(post, path = "/api/v1/settings/provider/validate", tag = "settings", security(("bearer" = [])),
    request_body = ProviderProbe,
    responses((status = 200, body = ProbeResult), (status = 401, description = "Missing or invalid API key"),
        (status = 422, description = "Validation error"),
        (status = 429, description = "Too many validation requests. Try again later.")))]
pub async fn validate_provider(
    State(state): State<AppState>,
    caller: Caller,
    ValidJson(request): ValidJson<ProviderProbe>,
) -> Result<Json<ProbeResult>, ApiError> {
    let limiter = RateLimiter::new(state.store.as_ref(), now());
    limiter.check(&VALIDATE_PER_USER, &caller.user.id).await?;
    limiter.record(&VALIDATE_PER_USER, &caller.user.id).await?;
    let provider = request.provider;
    let settings = &state.settings.providers;
    let model = request.model.unwrap_or_else(|| provider.default_model().to_owned());
    let target = ProbeTarget {
        provider,
        model: &model,
        base_url: provider.base_url(settings),
        api_key: request.api_key.as_deref().or(provider.server_key(settings)),
    };
    let outcome = probe(&state.http, &target).await;
    Ok(Json(ProbeResult {
        provider: provider.id(),
        valid: outcome.status == ProbeStatus::Ready,
        status: outcome.status,
        message: outcome.message,
        model,
    }))
}
