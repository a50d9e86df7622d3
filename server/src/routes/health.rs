use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
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
    llm_configured: bool,
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
    Ok(Json(HealthResponse {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        // Only the deterministic `plan` provider exists in this build, and no tools yet.
        mode: "legacy",
        tools: Vec::new(),
        llm_configured: false,
        llm_provider: None,
        llm_model: None,
        providers_available: BTreeMap::from([("plan", true)]),
        database: state.store.backend().as_str(),
    }))
}
