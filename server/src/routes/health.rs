use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::providers::Provider;
use crate::routes::settings::{default_provider, mode};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    /// Always `ok` when the store answers.
    status: &'static str,
    version: &'static str,
    /// `agentic` with a usable LLM default provider, else `legacy`.
    mode: &'static str,
    /// Built-in tools available on this server.
    tools: Vec<String>,
    /// Whether the current default is an LLM (`anthropic` or `openai`).
    llm_configured: bool,
    /// The current default provider, `plan` included; null when none is available.
    llm_provider: Option<String>,
    llm_model: Option<String>,
    providers_available: BTreeMap<&'static str, bool>,
    /// `sqlite` or `postgres`.
    database: &'static str,
}

/// Liveness: answers 200 only when the store does.
#[utoipa::path(get, path = "/health", tag = "platform",
    responses((status = 200, body = HealthResponse), (status = 503, description = "Database unavailable")))]
pub async fn health(State(state): State<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    state.store.ping().await?;
    let default = default_provider(&state).await?;
    Ok(Json(HealthResponse {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        mode: mode(default.as_ref()),
        // No tool runs in this build yet (the execution engine is not built).
        tools: Vec::new(),
        llm_configured: default.as_ref().is_some_and(|d| d.provider.is_llm()),
        llm_provider: default.as_ref().map(|d| d.provider.id().to_owned()),
        llm_model: default.map(|d| d.model),
        providers_available: Provider::ALL
            .into_iter()
            .map(|p| (p.id(), p.available(&state.settings.providers)))
            .collect(),
        database: state.store.backend().as_str(),
    }))
}
