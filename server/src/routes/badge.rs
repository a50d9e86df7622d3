//! `GET /api/v1/trust/badge` and `/badge.json` (spec/RELEASES.md §9): the public release state
//! of a repo. Always 200; anything that cannot be judged shows Unknown.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::IntoParams;

use crate::clock::now;
use crate::releases::badge::{self, BadgeState};
use crate::releases::{decision, repo_key, sha};
use crate::state::AppState;

/// The badge's query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BadgeQuery {
    /// A repo key or URL.
    #[allow(dead_code)]
    repo: String,
    /// A commit (40 or 64 hex); absent, empty or `HEAD` shows the latest snapshot.
    #[allow(dead_code)]
    commit: Option<String>,
}

/// The badge state of the query; every failure is Unknown.
async fn state_of(state: &AppState, query: &HashMap<String, String>) -> BadgeState {
    let Some(key) = query.get("repo").and_then(|r| repo_key::normalise(r).ok()) else {
        return BadgeState::Unknown;
    };
    let Ok(commit) = sha::commit(query.get("commit").map_or("", String::as_str)) else {
        return BadgeState::Unknown;
    };
    let public: Vec<String> = state
        .settings
        .releases
        .public_badge_repos
        .split(',')
        .filter_map(|r| repo_key::normalise(r).ok())
        .collect();
    if !public.is_empty() {
        let resolved = match state.store.find_repo(&key).await {
            Ok(repo) => repo.map_or(key.clone(), |r| r.key),
            Err(_) => return BadgeState::Unknown,
        };
        if !public.contains(&resolved) {
            return BadgeState::Unknown;
        }
    }
    match decision::evaluate(state, &key, commit.as_deref(), None, now()).await {
        Ok(evaluation) => BadgeState::of(evaluation.status),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "badge evaluation failed");
            BadgeState::Unknown
        }
    }
}

fn query_map(
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> HashMap<String, String> {
    query.map(|Query(q)| q).unwrap_or_default()
}

/// The SVG badge: Assured, Blocked or Unknown.
#[utoipa::path(get, path = "/api/v1/trust/badge", tag = "trust", params(BadgeQuery),
    responses((status = 200, content_type = "image/svg+xml", body = String)))]
pub async fn badge(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let shown = state_of(&state, &query_map(query)).await;
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        badge::svg(shown),
    )
        .into_response()
}

/// The shields.io endpoint object of the badge.
#[utoipa::path(get, path = "/api/v1/trust/badge.json", tag = "trust", params(BadgeQuery),
    responses((status = 200, body = Object)))]
pub async fn badge_json(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let shown = state_of(&state, &query_map(query)).await;
    let body: Value = badge::endpoint(shown);
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}
