//! `/api/v1/releases`: the decision, health, the release policy and promotions
//! (spec/RELEASES.md §2). Evidence ingest is in `release_evidence`, the webhook in
//! `github_webhook`, the badge in `badge`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use certior::release::DecisionStatus;
use serde_json::{json, Map, Value};
use utoipa::IntoParams;

use crate::auth::{Caller, PresetAuthors, ReleaseApprovers, Role};
use crate::clock::now;
use crate::error::ApiError;
use crate::releases::decision;
use crate::releases::policy::EffectivePolicy;
use crate::releases::{attestation, fields, health, repo_key};
use crate::state::AppState;
use crate::store::{NewPromotion, PolicyPut, PolicyWrite, PromotionRecord};
use crate::validate::{Fields, FromBody, FromQuery, Loc, ValidJson, ValidQuery};

/// 404 `snapshot_not_found`.
fn snapshot_not_found() -> ApiError {
    ApiError::coded(
        StatusCode::NOT_FOUND,
        "snapshot_not_found",
        "No release snapshot was found for this repository and commit.",
    )
}

/// The query of the decision (§2.1).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionQuery {
    /// A repo key or URL (§1.1); echoed as given.
    repo_root: String,
    /// 40 or 64 hex; absent, empty or `HEAD` evaluates the latest snapshot.
    commit_sha: Option<String>,
    /// `sha256:<hex>` or 64 hex; empty is absent.
    release_artifact_digest: Option<String>,
    #[param(ignore)]
    key: String,
    #[param(ignore)]
    commit: Option<String>,
    #[param(ignore)]
    digest: Option<String>,
}

impl FromQuery for DecisionQuery {
    fn from_query(f: &mut Fields<'_>) -> Option<Self> {
        let repo_root = f.optional::<String>("repo_root");
        let key = fields::repo(f, "repo_root");
        let commit_sha = f.optional::<String>("commit_sha");
        let commit = fields::commit(f, "commit_sha");
        let release_artifact_digest = f.optional::<String>("release_artifact_digest");
        let digest = fields::digest(f, "release_artifact_digest", true);
        Some(DecisionQuery {
            repo_root: repo_root?,
            commit_sha,
            release_artifact_digest,
            key: key?,
            commit: commit?,
            digest: digest?,
        })
    }
}

/// Whether `repo@commit` may ship: SHIP iff the snapshot is attested and nothing blocks. An
/// unknown repo or commit is 200 `NO_SHIP` with the blocker `snapshot_missing`.
#[utoipa::path(get, path = "/api/v1/releases/decision", tag = "releases", security(("bearer" = [])),
    params(DecisionQuery),
    responses((status = 200, body = Object, description = "The v1 decision with additive fields"),
        (status = 401, description = "Missing or invalid API key"), (status = 422, description = "Validation error")))]
pub async fn decision(
    State(state): State<AppState>,
    _caller: Caller,
    ValidQuery(q): ValidQuery<DecisionQuery>,
) -> Result<Json<Value>, ApiError> {
    let evaluation = decision::evaluate(&state, &q.key, q.commit.as_deref(), q.digest.as_deref(), now()).await?;
    Ok(Json(evaluation.to_v1(
        &q.repo_root,
        q.commit_sha.as_deref(),
        q.release_artifact_digest.as_deref(),
    )))
}

/// `repo_root` and an optional `commit_sha` (health).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    repo_root: String,
    commit_sha: Option<String>,
}

impl FromQuery for SnapshotQuery {
    fn from_query(f: &mut Fields<'_>) -> Option<Self> {
        let key = fields::repo(f, "repo_root");
        let commit = fields::commit(f, "commit_sha");
        Some(SnapshotQuery {
            repo_root: key?,
            commit_sha: commit?,
        })
    }
}

/// Evidence health of a snapshot: freshness of every row, missing required items, ingest issues.
#[utoipa::path(get, path = "/api/v1/releases/health", tag = "releases", security(("bearer" = [])),
    params(SnapshotQuery),
    responses((status = 200, body = Object), (status = 404, description = "snapshot_not_found"),
        (status = 422, description = "Validation error")))]
pub async fn health(
    State(state): State<AppState>,
    _caller: Caller,
    ValidQuery(q): ValidQuery<SnapshotQuery>,
) -> Result<Json<Value>, ApiError> {
    let (repo, snapshot) = decision::resolve(&state, &q.repo_root, q.commit_sha.as_deref())
        .await?
        .ok_or_else(snapshot_not_found)?;
    let issues = state.store.ingest_issues(&snapshot.id).await?;
    let loaded = decision::load(&state, repo, snapshot, now(), false).await?;
    Ok(Json(health::report(&loaded, &issues, &state.presets)))
}

/// `repo_root`, optional `commit_sha` and `limit` (promotions).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PromotionsQuery {
    repo_root: String,
    commit_sha: Option<String>,
    /// 1–100, default 50.
    limit: Option<i64>,
}

impl FromQuery for PromotionsQuery {
    fn from_query(f: &mut Fields<'_>) -> Option<Self> {
        let key = fields::repo(f, "repo_root");
        let commit = fields::commit(f, "commit_sha");
        let limit = f.optional::<i64>("limit");
        f.range("limit", limit, 1, Some(100));
        Some(PromotionsQuery {
            repo_root: key?,
            commit_sha: commit?,
            limit: Some(limit.unwrap_or(50)),
        })
    }
}

fn promotion_metadata(p: &PromotionRecord) -> Value {
    json!({"operator_identity": p.operator_identity, "operator_user_id": p.operator_user_id,
           "operator_role": p.operator_role, "claimed_operator_identity": p.claimed_operator_identity,
           "reason": p.reason, "bound_artifact_digest": p.bound_artifact_digest,
           "requested_commit_sha": p.requested_commit_sha, "source": "api"})
}

/// A repo's promotion history, newest first.
#[utoipa::path(get, path = "/api/v1/releases/promotions", tag = "releases", security(("bearer" = [])),
    params(PromotionsQuery), responses((status = 200, body = Object), (status = 422, description = "Validation error")))]
pub async fn promotions(
    State(state): State<AppState>,
    _caller: Caller,
    ValidQuery(q): ValidQuery<PromotionsQuery>,
) -> Result<Json<Value>, ApiError> {
    let Some(repo) = state.store.find_repo(&q.repo_root).await? else {
        return Ok(Json(json!({"promotions": []})));
    };
    let rows = state
        .store
        .list_promotions(&repo.id, q.commit_sha.as_deref(), q.limit.unwrap_or(50))
        .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|p| {
            json!({"id": p.id, "snapshot_id": p.snapshot_id, "status": p.status, "release_label": p.release_label,
                   "created_at": p.created_at, "metadata": promotion_metadata(p), "commit_sha": p.commit_sha})
        })
        .collect();
    Ok(Json(json!({"promotions": list})))
}

/// The body of a promotion (§2.3).
pub struct PromoteRequest {
    repo_root: String,
    /// Normalised; `None` targets the latest snapshot (and is stored as the requested commit).
    commit_sha: Option<String>,
    status: String,
    reason: String,
    digest: Option<String>,
    release_label: Option<String>,
    claimed_identity: Option<String>,
}

impl FromBody for PromoteRequest {
    fn from_body(f: &mut Fields<'_>) -> Option<Self> {
        let repo_root = fields::repo(f, "repo_root");
        let commit_sha = fields::commit(f, "commit_sha");
        let status = f.optional::<String>("status").unwrap_or_else(|| "attested".into());
        let status = f.one_of(
            "status",
            Some(status),
            |s| attestation::STATUSES.contains(&s).then(|| s.to_owned()),
            &attestation::STATUSES,
        );
        let reason = f.required::<String>("reason").map(|r| r.trim().to_owned());
        f.length("reason", reason.as_deref(), 1, 4000);
        let raw_digest = f.optional::<String>("bound_artifact_digest");
        let absent = raw_digest
            .as_deref()
            .is_none_or(|d| d.is_empty() || d.trim().eq_ignore_ascii_case("unknown"));
        let digest = match (status.as_deref(), absent) {
            (Some("attested"), true) => {
                f.error(
                    Some("bound_artifact_digest"),
                    "value_error",
                    "a valid artifact digest is required to attest",
                );
                None
            }
            (_, true) => Some(None),
            (_, false) => fields::digest(f, "bound_artifact_digest", false),
        };
        let release_label = fields::bounded(f, "release_label", false, 0, 200);
        let claimed_identity = f.optional::<String>("operator_identity");
        Some(PromoteRequest {
            repo_root: repo_root?,
            commit_sha: commit_sha?,
            status: status?,
            reason: reason?,
            digest: digest?,
            release_label,
            claimed_identity,
        })
    }
}

/// Whether a preset of the policy, or one a bound workflow's release stage ran under, asks for
/// segregation of duties.
fn segregation_applies(state: &AppState, loaded: &decision::Loaded) -> bool {
    let registry = state.presets.registry();
    loaded
        .policy
        .presets
        .iter()
        .chain(loaded.workflows.iter().flat_map(|w| w.release_presets.iter()))
        .filter_map(|key| registry.get(key))
        .any(|p| p.manifest().audit.segregation_of_duties)
}

/// Attest, reject or revoke a snapshot. The operator is the caller; promotions are append-only
/// and the last one is the snapshot's effective human state.
#[utoipa::path(post, path = "/api/v1/releases/promote", tag = "releases", security(("bearer" = [])),
    request_body = Object,
    responses((status = 200, body = Object), (status = 403, description = "Requires one of: ['admin', 'approver'] / segregation_of_duties_violation"),
        (status = 404, description = "snapshot_not_found"), (status = 409, description = "snapshot_not_ready / nothing_to_revoke"),
        (status = 422, description = "Validation error")))]
pub async fn promote(
    State(state): State<AppState>,
    caller: Caller<ReleaseApprovers>,
    ValidJson(body): ValidJson<PromoteRequest>,
) -> Result<Json<Value>, ApiError> {
    let (repo, snapshot) = decision::resolve(&state, &body.repo_root, body.commit_sha.as_deref())
        .await?
        .ok_or_else(snapshot_not_found)?;
    // Checks and insert take turns, so concurrent promotions of a snapshot serialise: within
    // this process, and across the replicas sharing the store.
    let _turn = state.releases.promotions.lock().await;
    let _replicas_turn = state.store.promotion_turn(&snapshot.id).await?;
    let at = now();
    match body.status.as_str() {
        "attested" => {
            let loaded = decision::load(&state, repo.clone(), snapshot.clone(), at, true).await?;
            let items = decision::gate_items(&state, &loaded, "");
            let status = certior::release::classify(&items);
            if !matches!(status, DecisionStatus::Ready | DecisionStatus::Attested) {
                let codes: Vec<Value> = items
                    .iter()
                    .filter(|i| i.severity == certior::release::ItemSeverity::Blocking)
                    .map(|i| json!(i.code))
                    .collect();
                let mut extra = Map::new();
                extra.insert("blockers".into(), Value::Array(codes));
                return Err(ApiError::Coded {
                    status: StatusCode::CONFLICT,
                    code: "snapshot_not_ready",
                    detail: "The snapshot's release gates block; it cannot be attested.".into(),
                    extra,
                });
            }
            let creator = loaded
                .workflows
                .iter()
                .any(|w| w.created_by.as_deref() == Some(caller.user.id.as_str()));
            if creator && segregation_applies(&state, &loaded) {
                return Err(ApiError::coded(
                    StatusCode::FORBIDDEN,
                    "segregation_of_duties_violation",
                    "The creator of a bound release workflow cannot attest this release.",
                ));
            }
        }
        "revoked" => {
            let events = state.store.snapshot_promotions(&snapshot.id).await?;
            if attestation::state(&events) != "attested" {
                return Err(ApiError::coded(
                    StatusCode::CONFLICT,
                    "nothing_to_revoke",
                    "The snapshot has no effective attestation to revoke.",
                ));
            }
        }
        _ => {}
    }
    let identity = if caller.user.email.is_empty() {
        caller.user.id.clone()
    } else {
        caller.user.email.clone()
    };
    let record = state
        .store
        .insert_promotion(&NewPromotion {
            id: uuid::Uuid::new_v4().to_string(),
            snapshot_id: snapshot.id.clone(),
            repo_id: repo.id.clone(),
            status: body.status,
            release_label: body.release_label,
            reason: body.reason,
            bound_artifact_digest: body.digest,
            operator_identity: identity,
            operator_user_id: caller.user.id.clone(),
            operator_role: caller.user.role.as_str().to_owned(),
            claimed_operator_identity: body.claimed_identity,
            requested_commit_sha: body.commit_sha,
            created_at: at,
        })
        .await?;
    Ok(Json(json!({
        "tool": "promote_snapshot",
        "snapshot": {"id": snapshot.id, "repo_root": repo.key, "commit_sha": snapshot.commit_sha},
        "promotion": {"promotion_id": record.id, "status": record.status, "release_label": record.release_label,
                      "created_at": record.created_at, "metadata": promotion_metadata(&record)},
    })))
}

/// `repo_root` alone (policy).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PolicyQuery {
    repo_root: String,
}

impl FromQuery for PolicyQuery {
    fn from_query(f: &mut Fields<'_>) -> Option<Self> {
        Some(PolicyQuery {
            repo_root: fields::repo(f, "repo_root")?,
        })
    }
}

/// A repo's release policy, or the default (`is_default: true`) until one is stored.
#[utoipa::path(get, path = "/api/v1/releases/policy", tag = "releases", security(("bearer" = [])),
    params(PolicyQuery), responses((status = 200, body = Object), (status = 422, description = "Validation error")))]
pub async fn get_policy(
    State(state): State<AppState>,
    _caller: Caller,
    ValidQuery(q): ValidQuery<PolicyQuery>,
) -> Result<Json<Value>, ApiError> {
    let repo = state.store.find_repo(&q.repo_root).await?;
    let stored = match &repo {
        Some(repo) => state.store.release_policy(&repo.id).await?,
        None => None,
    };
    let default_age = state.settings.releases.release_max_evidence_age_days;
    Ok(Json(EffectivePolicy::of(stored).to_json(
        &q.repo_root,
        repo.as_ref(),
        default_age,
    )))
}

/// The body of a policy `PUT` (§1.5); absent fields take their defaults.
pub struct PolicyBody {
    presets: Vec<String>,
    required_checks: Vec<String>,
    required_properties: Vec<String>,
    require_attestation: bool,
    require_reviewed_workflow: bool,
    max_evidence_age_days: Option<i64>,
    aliases: Vec<String>,
}

/// A list of 1–200-character strings of at most `max` entries, duplicates refused.
fn distinct_strings(f: &mut Fields<'_>, name: &str, max: usize) -> Option<Vec<String>> {
    if !f.has(name) {
        return Some(Vec::new());
    }
    let list = f.string_list(name, |s| match s.chars().count() {
        1..=200 => Ok(()),
        _ => Err(("string_too_long", "String should have 1 to 200 characters".into())),
    })?;
    if list.len() > max {
        f.error(
            Some(name),
            "too_long",
            format!(
                "List should have at most {max} items after validation, not {}",
                list.len()
            ),
        );
        return None;
    }
    for (i, item) in list.iter().enumerate() {
        if list[..i].contains(item) {
            f.error_at(
                vec![Loc::Field(name.into()), Loc::Index(i)],
                "value_error",
                "duplicate entry",
            );
            return None;
        }
    }
    Some(list)
}

impl FromBody for PolicyBody {
    fn from_body(f: &mut Fields<'_>) -> Option<Self> {
        let presets = if f.has("presets") {
            f.string_list("presets", |_| Ok(()))
        } else {
            Some(vec!["default".to_owned()])
        };
        if let Some(list) = &presets {
            if list.is_empty() || list.len() > 16 {
                f.error(Some("presets"), "value_error", "presets must list 1 to 16 preset keys");
            }
        }
        let required_checks = distinct_strings(f, "required_checks", 100);
        let required_properties = distinct_strings(f, "required_properties", 100);
        let require_attestation = f.optional::<bool>("require_attestation").unwrap_or(true);
        let require_reviewed_workflow = f.optional::<bool>("require_reviewed_workflow").unwrap_or(false);
        let max_age = f.optional::<i64>("max_evidence_age_days");
        f.range("max_evidence_age_days", max_age, 1, Some(365));
        let aliases = if f.has("aliases") {
            f.string_list("aliases", |s| {
                repo_key::normalise(s)
                    .map(|_| ())
                    .map_err(|e| ("value_error", e.to_string()))
            })
        } else {
            Some(Vec::new())
        };
        if aliases.as_ref().is_some_and(|a| a.len() > 20) {
            f.error(Some("aliases"), "too_long", "List should have at most 20 items");
        }
        Some(PolicyBody {
            presets: presets?,
            required_checks: required_checks?,
            required_properties: required_properties?,
            require_attestation,
            require_reviewed_workflow,
            max_evidence_age_days: max_age,
            aliases: aliases?.iter().filter_map(|a| repo_key::normalise(a).ok()).collect(),
        })
    }
}

/// Replaces a repo's release policy (registering the repo) and its aliases.
#[utoipa::path(put, path = "/api/v1/releases/policy", tag = "releases", security(("bearer" = [])),
    params(PolicyQuery), request_body = Object,
    responses((status = 200, body = Object), (status = 400, description = "Unknown compliance preset"),
        (status = 403, description = "Requires one of: ['admin', 'policy_author'] / Only admin may set require_attestation to false"),
        (status = 409, description = "alias_conflict"), (status = 422, description = "Validation error")))]
pub async fn put_policy(
    State(state): State<AppState>,
    caller: Caller<PresetAuthors>,
    ValidQuery(q): ValidQuery<PolicyQuery>,
    ValidJson(body): ValidJson<PolicyBody>,
) -> Result<Json<Value>, ApiError> {
    let key = q.repo_root;
    let mut aliases: Vec<String> = Vec::new();
    for (i, alias) in body.aliases.iter().enumerate() {
        if *alias == key {
            return Err(ApiError::Validation(vec![crate::validate::FieldError {
                loc: vec![Loc::Field("body".into()), Loc::Field("aliases".into()), Loc::Index(i)],
                msg: "an alias cannot be the repo's own key".into(),
                kind: "value_error",
            }]));
        }
        if !aliases.contains(alias) {
            aliases.push(alias.clone());
        }
    }
    let mut presets: Vec<String> = Vec::new();
    for name in &body.presets {
        let preset = super::tasks::submittable_preset(&state, name)?;
        if !presets.iter().any(|p| p == preset.key()) {
            presets.push(preset.key().to_owned());
        }
    }
    if !body.require_attestation && caller.user.role != Role::Admin {
        return Err(ApiError::forbidden("Only admin may set require_attestation to false"));
    }
    let write = PolicyWrite {
        presets,
        required_checks: body.required_checks,
        required_properties: body.required_properties,
        require_attestation: body.require_attestation,
        require_reviewed_workflow: body.require_reviewed_workflow,
        max_evidence_age_days: body.max_evidence_age_days,
        aliases,
        updated_by: caller.user.email.clone(),
        now: now(),
    };
    match state.store.put_release_policy(&key, &write).await? {
        PolicyPut::AliasConflict => Err(ApiError::coded(
            StatusCode::CONFLICT,
            "alias_conflict",
            "An alias is already another repository's key or alias.",
        )),
        PolicyPut::Stored(stored) => {
            let (repo, stored) = *stored;
            let default_age = state.settings.releases.release_max_evidence_age_days;
            Ok(Json(EffectivePolicy::of(Some(stored)).to_json(
                &key,
                Some(&repo),
                default_age,
            )))
        }
    }
}
