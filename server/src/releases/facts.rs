//! Computing the facts of spec/RELEASES.md §3.2 from a snapshot's evidence, its bound
//! workflows, its promotion events and the clock, with the per-element details item messages
//! need (`{conclusion}`, `{status}`, `{state}`, evidence ids).

use std::collections::{BTreeMap, BTreeSet};

use certior::release::{ElementDetail, ItemContext, ReleaseFacts, Vars};

use super::evidence::{is_failing, SnapshotEvidence};
use super::freshness::{rfc3339, Clock, Freshness};
use super::policy::EffectivePolicy;
use super::workflow_evidence::DerivedWorkflow;
use crate::store::PromotionRecord;

/// The facts shared by every preset of one evaluation (`preset` and `segregation_of_duties`
/// are filled per preset) and what item rendering needs.
#[derive(Debug, Clone)]
pub struct SnapshotFacts {
    pub facts: ReleaseFacts,
    pub context: ItemContext,
}

fn detail(evidence_id: Option<&str>, vars: &[(&'static str, String)]) -> ElementDetail {
    ElementDetail {
        vars: vars.iter().cloned().collect(),
        evidence_id: evidence_id.map(str::to_owned),
    }
}

/// Adds `label` to the stale set with its state and observation time.
fn stale(
    facts: &mut ReleaseFacts,
    elements: &mut BTreeMap<(String, String), ElementDetail>,
    label: String,
    state: Freshness,
    observed_at: f64,
    evidence_id: Option<&str>,
) {
    facts.evidence.stale.insert(label.clone());
    elements.insert(
        ("evidence.stale".into(), label),
        detail(
            evidence_id,
            &[("state", state.as_str().into()), ("observed_at", rfc3339(observed_at))],
        ),
    );
}

pub struct FactInputs<'a> {
    pub repo: &'a str,
    pub commit_sha: &'a str,
    pub snapshot_id: &'a str,
    pub policy: &'a EffectivePolicy,
    pub evidence: &'a SnapshotEvidence,
    pub workflows: &'a [DerivedWorkflow],
    /// The effective promotion event, if any.
    pub attestation: Option<&'a PromotionRecord>,
    /// Normalised, or `""`.
    pub requested_digest: &'a str,
    pub clock: Clock,
}

pub fn compute(input: &FactInputs<'_>) -> SnapshotFacts {
    let mut facts = ReleaseFacts::default();
    let mut elements = BTreeMap::new();
    let clock = input.clock;
    let policy = input.policy;
    facts.policy.require_attestation = policy.require_attestation;
    facts.policy.require_reviewed_workflow = policy.require_reviewed_workflow;
    facts.policy.max_evidence_age_days = clock.max_age_days;

    // Checks.
    let required: BTreeSet<String> = policy.required_checks.iter().cloned().collect();
    facts.checks.required = required.clone();
    let mut by_name: BTreeMap<&str, Vec<&super::evidence::CheckRun>> = BTreeMap::new();
    for run in &input.evidence.check_runs {
        by_name.entry(run.name.as_str()).or_default().push(run);
    }
    let failing_detail = |rows: &[&super::evidence::CheckRun]| {
        rows.iter()
            .find(|r| is_failing(&r.conclusion))
            .map(|r| detail(Some(&r.evidence_id), &[("conclusion", r.conclusion.clone())]))
    };
    for name in &required {
        let rows = by_name.get(name.as_str()).map(Vec::as_slice).unwrap_or_default();
        if rows.is_empty() {
            facts.checks.missing.insert(name.clone());
        } else if let Some(d) = failing_detail(rows) {
            facts.checks.failed.insert(name.clone());
            elements.insert(("checks.failed".into(), name.clone()), d);
        } else if let Some((row, state)) = rows
            .iter()
            .map(|r| (r, clock.judge(r.completed_at)))
            .find(|(_, s)| *s != Freshness::Fresh)
        {
            stale(
                &mut facts,
                &mut elements,
                format!("check:{name}"),
                state,
                row.completed_at,
                Some(&row.evidence_id),
            );
        } else {
            facts.checks.passed.insert(name.clone());
        }
    }
    for (name, rows) in &by_name {
        if required.contains(*name) {
            continue;
        }
        if let Some(d) = failing_detail(rows) {
            facts.checks.other_failed.insert((*name).to_owned());
            elements.insert(("checks.other_failed".into(), (*name).to_owned()), d);
        }
    }

    // Properties: only fresh observations count.
    let required_props: BTreeSet<String> = policy.required_properties.iter().cloned().collect();
    facts.properties.required = required_props.clone();
    let mut props: BTreeMap<&str, Vec<&super::evidence::Property>> = BTreeMap::new();
    for p in &input.evidence.properties {
        props.entry(p.key.as_str()).or_default().push(p);
    }
    let fresh_with = |rows: &[&super::evidence::Property], status: &str| {
        rows.iter()
            .find(|p| p.status == status && clock.judge(p.observed_at) == Freshness::Fresh)
            .map(|p| p.evidence_id.clone())
    };
    for (key, rows) in &props {
        let failed = fresh_with(rows, "failed");
        if let (Some(id), None) = (fresh_with(rows, "verified"), &failed) {
            facts.properties.verified.insert((*key).to_owned());
            elements.insert(
                ("properties.verified".into(), (*key).to_owned()),
                detail(Some(&id), &[]),
            );
        }
        if let (Some(id), false) = (&failed, required_props.contains(*key)) {
            facts.properties.other_failed.insert((*key).to_owned());
            elements.insert(
                ("properties.other_failed".into(), (*key).to_owned()),
                detail(Some(id), &[("status", "failed".into())]),
            );
        }
    }
    for key in &required_props {
        let rows = props.get(key.as_str()).map(Vec::as_slice).unwrap_or_default();
        let unverified = |status: &str, id: Option<String>| (status.to_owned(), id);
        let outcome = if rows.is_empty() {
            Some(unverified("missing", None))
        } else if !rows.iter().any(|p| clock.judge(p.observed_at) == Freshness::Fresh) {
            let row = rows[0];
            let state = clock.judge(row.observed_at);
            stale(
                &mut facts,
                &mut elements,
                format!("property:{key}"),
                state,
                row.observed_at,
                Some(&row.evidence_id),
            );
            None
        } else if let Some(id) = fresh_with(rows, "failed") {
            Some(unverified("failed", Some(id)))
        } else if facts.properties.verified.contains(key) {
            None
        } else {
            Some(unverified("unknown", fresh_with(rows, "unknown")))
        };
        if let Some((status, id)) = outcome {
            facts.properties.unverified.insert(key.clone());
            elements.insert(
                ("properties.unverified".into(), key.clone()),
                detail(id.as_deref(), &[("status", status)]),
            );
        }
    }

    // Components and artifacts.
    facts.components = input.evidence.components.iter().map(|c| c.name.clone()).collect();
    facts.artifacts.names = input.evidence.artifacts.iter().map(|a| a.name.clone()).collect();
    facts.artifacts.digests = input.evidence.artifacts.iter().map(|a| a.digest.clone()).collect();
    facts.artifacts.requested_digest = input.requested_digest.to_owned();
    facts.artifacts.requested_in_evidence =
        !input.requested_digest.is_empty() && facts.artifacts.digests.contains(input.requested_digest);

    // Workflows.
    facts.workflows.bound = input.workflows.len() as i64;
    let reviewed: Vec<&DerivedWorkflow> = input.workflows.iter().filter(|w| w.reviewed).collect();
    facts.workflows.reviewed = reviewed.iter().any(|w| clock.judge(w.time()) == Freshness::Fresh);
    facts.workflows.stale_reviewed = !reviewed.is_empty() && !facts.workflows.reviewed;
    facts.workflows.creators = input.workflows.iter().filter_map(|w| w.created_by.clone()).collect();
    if facts.workflows.stale_reviewed && policy.require_reviewed_workflow {
        let latest = input
            .workflows
            .iter()
            .filter(|w| w.completed_at.is_some())
            .max_by(|a, b| a.time().total_cmp(&b.time()))
            .or(reviewed.first().copied());
        if let Some(w) = latest {
            let label = format!("workflow:{}", w.binding.workflow_id);
            stale(
                &mut facts,
                &mut elements,
                label,
                clock.judge(w.time()),
                w.time(),
                Some(&w.binding.evidence_id),
            );
        }
    }

    // Attestation.
    let mut vars = Vars::new();
    vars.insert("repo", input.repo.to_owned());
    vars.insert("commit", input.commit_sha.to_owned());
    vars.insert("snapshot_id", input.snapshot_id.to_owned());
    vars.insert("max_age_days", clock.max_age_days.to_string());
    vars.insert("requested_digest", input.requested_digest.to_owned());
    let mut code_evidence = BTreeMap::new();
    let a = &mut facts.attestation;
    a.state = "none".into();
    a.digest_matches = true;
    if let Some(event) = input.attestation {
        a.state = event.status.clone();
        a.operator_user_id = event.operator_user_id.clone();
        a.release_label = event.release_label.clone().unwrap_or_default();
        if event.status == "attested" {
            a.digest = event.bound_artifact_digest.clone().unwrap_or_default();
            a.digest_matches = input.requested_digest.is_empty() || input.requested_digest == a.digest;
        }
        a.sod_conflict = facts.workflows.creators.contains(&event.operator_user_id);
        vars.insert("operator", event.operator_identity.clone());
        vars.insert("reason", event.reason.clone());
        vars.insert("attested_digest", a.digest.clone());
        if let Some(w) = input
            .workflows
            .iter()
            .find(|w| w.created_by.as_deref() == Some(event.operator_user_id.as_str()))
        {
            vars.insert("workflow_id", w.binding.workflow_id.clone());
        }
        for code in [
            "attestation_rejected",
            "attestation_revoked",
            "artifact_digest_mismatch",
            "segregation_of_duties_violation",
        ] {
            code_evidence.insert(code.to_owned(), event.id.clone());
        }
    }
    SnapshotFacts {
        facts,
        context: ItemContext {
            vars,
            elements,
            code_evidence,
        },
    }
}
