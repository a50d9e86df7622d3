//! `POST /api/v1/releases/github-webhook` (spec/RELEASES.md §7): GitHub deliveries,
//! authenticated by their HMAC signature, deduplicated by delivery id, recorded with their
//! effect, answered at once. Judging and reporting run as queued work.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::clock::now;
use crate::error::ApiError;
use crate::releases::evidence::{check_run_data, evidence_id, CONCLUSIONS};
use crate::releases::github::events::{dispatch, CheckResult, Dispatch};
use crate::releases::github::{report, signature};
use crate::state::AppState;
use crate::store::{
    Delivery, DeliveryEffect, DeliveryRecorded, EvidenceBatch, EvidenceWrite, IngestIssue, PrHead, RepoRecord,
};

/// How long a `pull_request` delivery waits for its evaluation before answering `queued`.
const PR_WAIT: Duration = Duration::from_secs(5);

fn bad_request(code: &'static str, detail: &str) -> ApiError {
    ApiError::coded(StatusCode::BAD_REQUEST, code, detail)
}

fn valid_delivery_id(id: &str) -> bool {
    (1..=100).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The first registered repo among `names` (keys, then aliases).
async fn registered(state: &AppState, names: &[String]) -> Result<Option<RepoRecord>, ApiError> {
    for name in names {
        if let Some(repo) = state.store.find_repo(name).await? {
            return Ok(Some(repo));
        }
    }
    Ok(None)
}

fn check_batch(repo: &RepoRecord, check: &CheckResult, now: f64) -> (String, EvidenceBatch) {
    let id = evidence_id(
        "check_run",
        &repo.key,
        &check.commit_sha,
        &[&check.workflow, &check.name],
    );
    let mut issues = Vec::new();
    if !CONCLUSIONS.contains(&check.conclusion.as_str()) {
        issues.push(IngestIssue {
            code: "check_conclusion_unrecognised".into(),
            severity: "warning".into(),
            detail: format!(
                "Check {} reported unrecognised conclusion {}",
                check.name, check.conclusion
            ),
            recorded_at: now,
        });
    }
    let row = EvidenceWrite {
        evidence_id: id.clone(),
        kind: "check_run",
        data: check_run_data(
            &check.workflow,
            &check.name,
            &check.conclusion,
            check.url.as_deref(),
            check.completed_at,
        ),
    };
    let batch = EvidenceBatch {
        repo_key: repo.key.clone(),
        commit_sha: check.commit_sha.clone(),
        rows: vec![row],
        issues,
        create_repo: false,
        now,
    };
    (id, batch)
}

/// Where GitHub delivers.
pub const PATH: &str = "/api/v1/releases/github-webhook";

/// The shared secret, when one is set and non-empty.
pub fn secret(state: &AppState) -> Option<&str> {
    state
        .settings
        .releases
        .github_webhook_secret
        .as_deref()
        .filter(|s| !s.is_empty())
}

/// The 503 of an unconfigured webhook: nothing is read or recorded.
pub fn not_configured() -> ApiError {
    ApiError::coded(
        StatusCode::SERVICE_UNAVAILABLE,
        "webhook_secret_not_configured",
        "The GitHub webhook secret is not configured.",
    )
}

/// Receives a GitHub delivery (ping, check_run, check_suite, workflow_run, pull_request).
#[utoipa::path(post, path = "/api/v1/releases/github-webhook", tag = "releases",
    request_body = Object,
    responses((status = 200, body = Object, description = "`status`: pong, recorded, processed, queued, ignored, duplicate or error"),
        (status = 400, description = "missing_event_header / missing_delivery_id / invalid_json"),
        (status = 401, description = "invalid_signature"), (status = 413, description = "payload_too_large"),
        (status = 415, description = "unsupported_content_type"), (status = 503, description = "webhook_secret_not_configured")))]
pub async fn github_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Some(secret) = secret(&state) else {
        return Err(not_configured());
    };
    let signatures = headers.get_all("x-hub-signature-256").iter().map(|v| v.as_bytes());
    if !signature::verify(secret.as_bytes(), &body, signatures) {
        return Err(ApiError::coded(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "The X-Hub-Signature-256 signature is missing or does not match.",
        ));
    }
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad_request("missing_event_header", "The X-GitHub-Event header is missing."))?
        .to_owned();
    let delivery_id = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_delivery_id(v))
        .ok_or_else(|| {
            bad_request(
                "missing_delivery_id",
                "The X-GitHub-Delivery header is missing or malformed.",
            )
        })?
        .to_owned();
    if state.store.github_delivery_seen(&delivery_id).await? {
        return Ok(Json(json!({"status": "duplicate"})));
    }
    if !is_json(&headers) {
        return Err(ApiError::coded(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
            "Deliveries must be sent as application/json.",
        ));
    }
    let payload: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => map,
        _ => return Err(bad_request("invalid_json", "The signed body is not a JSON object.")),
    };
    let received_at = now();
    let action = payload.get("action").and_then(Value::as_str).map(str::to_owned);
    let decided = dispatch(&event, &payload, received_at);
    let mut delivery = Delivery {
        delivery_id,
        event: event.clone(),
        action,
        repo_key: None,
        received_at,
        outcome: decided.outcome().to_owned(),
    };
    let (answer, effect, follow_up) = match decided {
        Dispatch::Pong => (json!({"status": "pong"}), DeliveryEffect::None, None),
        Dispatch::Ignored(reason) => (
            json!({"status": "ignored", "reason": reason}),
            DeliveryEffect::None,
            None,
        ),
        Dispatch::Error(reason) => (json!({"status": "error", "reason": reason}), DeliveryEffect::None, None),
        Dispatch::Check { names, check } => {
            let Some(repo) = registered(&state, &names).await? else {
                return Ok(Json(
                    json!({"status": "ignored", "reason": "repository not registered"}),
                ));
            };
            delivery.repo_key = Some(repo.key.clone());
            let (id, batch) = check_batch(&repo, &check, received_at);
            let answer = json!({"status": "recorded", "evidence_id": id, "commit_sha": check.commit_sha});
            (
                answer,
                DeliveryEffect::Evidence(batch),
                Some((repo, check.commit_sha, false)),
            )
        }
        Dispatch::PullRequest { names, pr } => {
            let Some(repo) = registered(&state, &names).await? else {
                return Ok(Json(
                    json!({"status": "ignored", "reason": "repository not registered"}),
                ));
            };
            delivery.repo_key = Some(repo.key.clone());
            let head = PrHead {
                repo_id: repo.id.clone(),
                number: pr.number,
                head_sha: pr.head_sha.clone(),
                full_name: pr.full_name.clone(),
            };
            let answer = json!({"status": "queued", "commit_sha": pr.head_sha});
            (answer, DeliveryEffect::PrHead(head), Some((repo, pr.head_sha, true)))
        }
    };
    if let DeliveryRecorded::Duplicate = state.store.record_github_delivery(&delivery, &effect).await? {
        return Ok(Json(json!({"status": "duplicate"})));
    }
    let Some((repo, commit, is_pr)) = follow_up else {
        return Ok(Json(answer));
    };
    if !is_pr {
        // A check on a recorded pull-request head changes that PR's decision: report it again.
        if !state.store.pr_heads(&repo.id, &commit).await?.is_empty() {
            report::spawn(&state, repo.id, repo.key, commit, None);
        }
        return Ok(Json(answer));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    report::spawn(&state, repo.id, repo.key, commit.clone(), Some(tx));
    match tokio::time::timeout(PR_WAIT, rx).await {
        Ok(Ok(Some(judged))) => Ok(Json(json!({
            "status": "processed",
            "decision": judged.status.decision(),
            "decision_status": judged.status.as_str(),
            "blockers": judged.blockers.len(),
            "commit_sha": commit,
        }))),
        Ok(Ok(None)) | Ok(Err(_)) => Err(ApiError::Internal(anyhow::anyhow!("the release decision failed"))),
        Err(_) => Ok(Json(answer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_short_words_of_hex_and_dashes() {
        assert!(valid_delivery_id("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        assert!(!valid_delivery_id(""));
        assert!(!valid_delivery_id("a b"));
        assert!(!valid_delivery_id(&"a".repeat(101)));
    }
}
