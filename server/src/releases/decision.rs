//! The decision (spec/RELEASES.md §3.1): resolve the snapshot, load policy and presets, compute
//! the facts, run every preset's release gates, order the items and classify. The engine only
//! produces items; [`Evaluation::to_v1`] maps them to the response contract.

use certior::release::{self, classify, order_and_dedupe, DecisionStatus, RemediationItem, Vars};
use serde_json::{json, Value};

use super::baseline::{self, Inventory};
use super::evidence::SnapshotEvidence;
use super::facts::{self, FactInputs};
use super::freshness::Clock;
use super::policy::EffectivePolicy;
use super::workflow_evidence::{self, DerivedWorkflow};
use super::{attestation, plugins};
use crate::state::AppState;
use crate::store::{PromotionRecord, RepoRecord, SnapshotRecord, StoreResult};

/// Everything read for one snapshot at one instant.
pub struct Loaded {
    pub repo: RepoRecord,
    pub snapshot: SnapshotRecord,
    pub policy: EffectivePolicy,
    pub evidence: SnapshotEvidence,
    pub workflows: Vec<DerivedWorkflow>,
    pub promotions: Vec<PromotionRecord>,
    pub clock: Clock,
}

impl Loaded {
    pub fn attestation(&self) -> Option<&PromotionRecord> {
        attestation::effective(&self.promotions)
    }
}

/// Resolves `repo_key` (key, then alias) and the snapshot of `commit` (or the latest).
pub async fn resolve(
    state: &AppState,
    repo_key: &str,
    commit: Option<&str>,
) -> StoreResult<Option<(RepoRecord, SnapshotRecord)>> {
    let Some(repo) = state.store.find_repo(repo_key).await? else {
        return Ok(None);
    };
    let snapshot = state.store.snapshot(&repo.id, commit).await?;
    Ok(snapshot.map(|s| (repo, s)))
}

/// Loads the snapshot's evidence, bound workflows, promotions and policy. With
/// `without_promotions` the snapshot is read as if it had none (the attestation precondition).
pub async fn load(
    state: &AppState,
    repo: RepoRecord,
    snapshot: SnapshotRecord,
    now: f64,
    without_promotions: bool,
) -> anyhow::Result<Loaded> {
    let store = state.store.as_ref();
    let policy = EffectivePolicy::of(store.release_policy(&repo.id).await?);
    let evidence = SnapshotEvidence::from_rows(&store.evidence(&snapshot.id).await?)?;
    let mut workflows = Vec::with_capacity(evidence.workflows.len());
    for binding in &evidence.workflows {
        workflows.push(workflow_evidence::derive(store, &state.presets, binding).await?);
    }
    let promotions = if without_promotions {
        Vec::new()
    } else {
        store.snapshot_promotions(&snapshot.id).await?
    };
    let anchor = attestation::effective(&promotions)
        .filter(|p| p.status == "attested")
        .map_or(now, |p| p.created_at);
    let settings = &state.settings.releases;
    let clock = Clock {
        now,
        anchor,
        max_age_days: policy.effective_age_days(settings.release_max_evidence_age_days),
        skew_seconds: settings.release_clock_skew_seconds,
    };
    Ok(Loaded {
        repo,
        snapshot,
        policy,
        evidence,
        workflows,
        promotions,
        clock,
    })
}

/// A finished evaluation.
pub struct Evaluation {
    pub status: DecisionStatus,
    pub items: Vec<RemediationItem>,
    pub loaded: Option<Loaded>,
    pub baseline: Value,
    pub evaluated_at: f64,
}

/// The items of every preset's gates over a loaded snapshot.
pub fn gate_items(state: &AppState, loaded: &Loaded, requested_digest: &str) -> Vec<RemediationItem> {
    let shared = facts::compute(&FactInputs {
        repo: &loaded.repo.key,
        commit_sha: &loaded.snapshot.commit_sha,
        snapshot_id: &loaded.snapshot.id,
        policy: &loaded.policy,
        evidence: &loaded.evidence,
        workflows: &loaded.workflows,
        attestation: loaded.attestation(),
        requested_digest,
        clock: loaded.clock,
    });
    let registry = state.presets.registry();
    let workflow_sod = loaded
        .workflows
        .iter()
        .flat_map(|w| w.release_presets.iter())
        .filter_map(|key| registry.get(key))
        .any(|p| p.manifest().audit.segregation_of_duties);
    let mut items = Vec::new();
    for key in &loaded.policy.presets {
        let Some(preset) = registry.get(key) else {
            let mut vars = shared.context.vars.clone();
            vars.insert("preset", key.clone());
            items.push(RemediationItem::catalogue("preset_unavailable", &vars, None));
            continue;
        };
        let mut preset_facts = shared.facts.clone();
        preset_facts.preset = preset.key().to_owned();
        preset_facts.segregation_of_duties = preset.manifest().audit.segregation_of_duties || workflow_sod;
        let outcome = release::evaluate(
            &preset,
            &loaded.repo.key,
            &loaded.snapshot.commit_sha,
            &preset_facts,
            &shared.context,
        );
        for error in &outcome.errors {
            tracing::error!(preset = %preset.key(), %error, "release policy evaluation failed");
        }
        items.extend(outcome.items);
        items.extend(plugins::evaluate(&preset, loaded, &preset_facts, requested_digest));
    }
    order_and_dedupe(items)
}

/// The decision for `repo_key@commit` (latest snapshot when `None`) at `now`.
pub async fn evaluate(
    state: &AppState,
    repo_key: &str,
    commit: Option<&str>,
    requested_digest: Option<&str>,
    now: f64,
) -> anyhow::Result<Evaluation> {
    let Some((repo, snapshot)) = resolve(state, repo_key, commit).await? else {
        let vars = Vars::from([
            ("repo", repo_key.to_owned()),
            ("commit", commit.unwrap_or("latest").to_owned()),
        ]);
        return Ok(Evaluation {
            status: DecisionStatus::Unknown,
            items: vec![RemediationItem::catalogue("snapshot_missing", &vars, None)],
            loaded: None,
            baseline: baseline::none(),
            evaluated_at: now,
        });
    };
    let loaded = load(state, repo, snapshot, now, false).await?;
    let items = gate_items(state, &loaded, requested_digest.unwrap_or(""));
    let baseline = match baseline::compute(
        state.store.as_ref(),
        &loaded.repo.id,
        &loaded.snapshot.id,
        &Inventory::of(&loaded.evidence),
    )
    .await
    {
        Ok(baseline) => baseline,
        Err(err) => {
            tracing::error!(error = %err, "baseline could not be computed");
            baseline::none()
        }
    };
    Ok(Evaluation {
        status: classify(&items),
        items,
        loaded: Some(loaded),
        baseline,
        evaluated_at: now,
    })
}

impl Evaluation {
    pub fn blocking(&self) -> impl Iterator<Item = &RemediationItem> {
        self.items
            .iter()
            .filter(|i| i.severity == release::ItemSeverity::Blocking)
    }

    /// The v1 response (§2.1): `repo_root`, `commit_sha` and `release_artifact_digest` are
    /// echoed exactly as given.
    pub fn to_v1(&self, repo_root: &str, commit_sha: Option<&str>, digest: Option<&str>) -> Value {
        let blockers: Vec<Value> = self
            .blocking()
            .map(|i| {
                json!({"component": i.owner_subsystem, "reason": i.message,
                       "remediation_suggestion": i.remediation_steps.join(", ")})
            })
            .collect();
        let explanation: Vec<Value> = self
            .items
            .iter()
            .map(|i| {
                json!({"policy": i.code, "requirement": i.message,
                       "satisfied": !matches!(i.severity, release::ItemSeverity::Blocking | release::ItemSeverity::Degraded),
                       "evidence_id": i.evidence_id, "remediation": i.remediation_steps.join(", ")})
            })
            .collect();
        let provenance = match &self.loaded {
            None => json!({"components": [], "checks": []}),
            Some(l) => json!({
                "components": l.evidence.components.iter()
                    .map(|c| json!({"name": c.name, "version": c.version, "source_commit": c.source_commit}))
                    .collect::<Vec<_>>(),
                "checks": l.evidence.check_runs.iter()
                    .map(|c| json!({"workflow": c.workflow, "check_run_name": c.name, "conclusion": c.conclusion, "url": c.url}))
                    .collect::<Vec<_>>(),
            }),
        };
        json!({
            "decision": self.status.decision(),
            "repo_root": repo_root,
            "commit_sha": commit_sha,
            "release_artifact_digest": digest.filter(|d| !d.is_empty()),
            "blockers": blockers,
            "explanation": explanation,
            "provenance": provenance,
            "baseline": self.baseline,
            "decision_status": self.status.as_str(),
            "snapshot_id": self.loaded.as_ref().map(|l| l.snapshot.id.clone()),
            "resolved_commit_sha": self.loaded.as_ref().map(|l| l.snapshot.commit_sha.clone()),
            "evaluated_at": self.evaluated_at,
        })
    }
}
