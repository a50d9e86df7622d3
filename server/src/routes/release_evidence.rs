//! `POST /api/v1/releases/evidence` (spec/RELEASES.md §2.5): records check runs, artifacts,
//! properties, components and workflow bindings for one `repo@commit`, all or nothing.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::auth::{Caller, EvidenceRecorders};
use crate::clock::now;
use crate::error::ApiError;
use crate::releases::evidence::{check_run_data, evidence_id, CONCLUSIONS, PROPERTY_STATUSES};
use crate::releases::{fields, sha};
use crate::routes::ownership::may_read;
use crate::state::AppState;
use crate::store::{EvidenceBatch, EvidenceWrite};
use crate::validate::{FieldError, Fields, FromBody, Loc, ValidJson};

/// At most this many items per list.
const MAX_ITEMS: usize = 500;
/// The lists of the body.
const LISTS: [&str; 5] = ["check_runs", "artifacts", "properties", "components", "workflows"];

/// One item as validated: its kind, identity parts and fields (times resolved).
struct Item {
    kind: &'static str,
    identity: Vec<String>,
    data: Value,
}

pub struct EvidenceRequest {
    key: String,
    commit: String,
    /// `(list, items)` in body order.
    lists: Vec<(&'static str, Vec<Item>)>,
}

fn url(f: &mut Fields<'_>) -> Option<Option<String>> {
    let Some(value) = f.optional::<String>("url") else {
        return (!f.has("url")).then_some(None);
    };
    let lower = value.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        f.error(Some("url"), "url_scheme", "URL scheme should be 'http' or 'https'");
        return None;
    }
    f.length("url", Some(&value), 1, 2048);
    Some(Some(value))
}

fn word(f: &mut Fields<'_>, name: &str, words: &[&str]) -> Option<String> {
    let value = f.required::<String>(name);
    f.one_of(name, value, |v| words.contains(&v).then(|| v.to_owned()), words)
}

fn check_run(f: &mut Fields<'_>, received: f64) -> Option<Item> {
    let workflow = fields::bounded(f, "workflow", true, 1, 200);
    let name = fields::bounded(f, "name", true, 1, 200);
    let conclusion = word(f, "conclusion", &CONCLUSIONS);
    let url = url(f);
    let completed_at = fields::time(f, "completed_at", received);
    let (workflow, name, conclusion, url) = (workflow?, name?, conclusion?, url?);
    Some(Item {
        kind: "check_run",
        data: check_run_data(&workflow, &name, &conclusion, url.as_deref(), completed_at),
        identity: vec![workflow, name],
    })
}

fn artifact(f: &mut Fields<'_>) -> Option<Item> {
    let name = fields::bounded(f, "name", true, 1, 200);
    let digest = match f.required::<String>("digest") {
        Some(d) => match sha::digest(&d) {
            Ok(d) => Some(d),
            Err(err) => {
                f.error(Some("digest"), "value_error", err.to_string());
                None
            }
        },
        None => None,
    };
    let (name, digest) = (name?, digest?);
    Some(Item {
        kind: "artifact",
        data: json!({"name": name, "digest": digest}),
        identity: vec![name],
    })
}

fn property(f: &mut Fields<'_>, received: f64) -> Option<Item> {
    let key = fields::bounded(f, "key", true, 1, 200);
    let status = word(f, "status", &PROPERTY_STATUSES);
    let source = fields::bounded(f, "source", true, 1, 200);
    let evidence_ref = fields::bounded(f, "evidence_ref", false, 0, 500);
    let observed_at = fields::time(f, "observed_at", received);
    let (key, status, source) = (key?, status?, source?);
    Some(Item {
        kind: "property",
        data: json!({"key": key, "status": status, "source": source, "evidence_ref": evidence_ref,
                     "observed_at": observed_at}),
        identity: vec![key, source],
    })
}

fn component(f: &mut Fields<'_>, commit: Option<&str>) -> Option<Item> {
    let name = fields::bounded(f, "name", true, 1, 200);
    let version = fields::bounded(f, "version", false, 0, 200).unwrap_or_default();
    let source_commit =
        fields::bounded(f, "source_commit", false, 0, 200).unwrap_or_else(|| commit.unwrap_or_default().to_owned());
    let name = name?;
    Some(Item {
        kind: "component",
        data: json!({"name": name, "version": version, "source_commit": source_commit}),
        identity: vec![name],
    })
}

fn workflow(f: &mut Fields<'_>) -> Option<Item> {
    let id = f.required::<String>("workflow_id")?;
    Some(Item {
        kind: "workflow",
        data: json!({"workflow_id": id}),
        identity: vec![id],
    })
}

impl FromBody for EvidenceRequest {
    fn from_body(f: &mut Fields<'_>) -> Option<Self> {
        let received = now();
        let key = fields::repo(f, "repo_root");
        let commit = match fields::commit(f, "commit_sha") {
            Some(Some(commit)) => Some(commit),
            Some(None) => {
                if f.has("commit_sha") {
                    f.error(
                        Some("commit_sha"),
                        "value_error",
                        "commit_sha must name a commit, not HEAD",
                    );
                } else {
                    f.error(Some("commit_sha"), "missing", "Field required");
                }
                None
            }
            None => None,
        };
        let names: Vec<&'static str> = f
            .keys()
            .filter_map(|k| LISTS.iter().find(|l| **l == k).copied())
            .collect();
        let mut lists = Vec::new();
        for name in names {
            let items = f.object_list(name, 0, MAX_ITEMS, |item| match name {
                "check_runs" => check_run(item, received),
                "artifacts" => artifact(item),
                "properties" => property(item, received),
                "components" => component(item, commit.as_deref()),
                _ => workflow(item),
            });
            if let Some(items) = items {
                lists.push((name, items));
            }
        }
        let (key, commit) = (key?, commit?);
        if f.has_errors() {
            return None;
        }
        if lists.iter().all(|(_, items)| items.is_empty()) {
            f.error(None, "value_error", "at least one evidence item is required");
            return None;
        }
        Some(EvidenceRequest { key, commit, lists })
    }
}

/// Records evidence for one commit, registering the repo and snapshot when needed.
#[utoipa::path(post, path = "/api/v1/releases/evidence", tag = "releases", security(("bearer" = [])),
    request_body = Object,
    responses((status = 200, body = Object), (status = 403, description = "Requires one of: ['admin', 'operator']"),
        (status = 413, description = "payload_too_large"), (status = 422, description = "Validation error")))]
pub async fn record_evidence(
    State(state): State<AppState>,
    caller: Caller<EvidenceRecorders>,
    ValidJson(body): ValidJson<EvidenceRequest>,
) -> Result<Json<Value>, ApiError> {
    // Bound workflows must be readable by the caller; missing and foreign read alike.
    for (name, items) in &body.lists {
        if *name != "workflows" {
            continue;
        }
        for (i, item) in items.iter().enumerate() {
            let readable = match state.store.workflow(&item.identity[0]).await? {
                Some(w) => may_read(&caller.user, &w.user_id),
                None => false,
            };
            if !readable {
                return Err(ApiError::Validation(vec![FieldError {
                    loc: vec![
                        Loc::Field("body".into()),
                        Loc::Field("workflows".into()),
                        Loc::Index(i),
                        Loc::Field("workflow_id".into()),
                    ],
                    msg: "workflow not found".into(),
                    kind: "value_error",
                }]));
            }
        }
    }
    // Ids name the repo by its key, also when the request used an alias.
    let repo_key = state
        .store
        .find_repo(&body.key)
        .await?
        .map_or(body.key.clone(), |r| r.key);
    let mut ids = Vec::new();
    let mut rows: Vec<EvidenceWrite> = Vec::new();
    let mut accepted = serde_json::Map::new();
    for list in LISTS {
        accepted.insert(list.into(), json!(0));
    }
    for (name, items) in &body.lists {
        accepted.insert((*name).into(), json!(items.len()));
        for item in items {
            let identity: Vec<&str> = item.identity.iter().map(String::as_str).collect();
            let id = evidence_id(item.kind, &repo_key, &body.commit, &identity);
            ids.push(id.clone());
            // Within one request the last item with an identity wins.
            rows.retain(|r| r.evidence_id != id);
            rows.push(EvidenceWrite {
                evidence_id: id,
                kind: item.kind,
                data: item.data.clone(),
            });
        }
    }
    let recorded = state
        .store
        .record_evidence(&EvidenceBatch {
            repo_key: repo_key.clone(),
            commit_sha: body.commit.clone(),
            rows,
            issues: Vec::new(),
            create_repo: true,
            now: now(),
        })
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("evidence batch refused although create_repo was set")))?;
    Ok(Json(json!({
        "repo_root": repo_key,
        "commit_sha": body.commit,
        "snapshot_id": recorded.snapshot_id,
        "created": recorded.created,
        "accepted": accepted,
        "evidence_ids": ids,
    })))
}
