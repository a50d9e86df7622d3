//! The facts record of spec/RELEASES.md §3.2: the Cedar context of a `ship` request and the
//! `facts` given to release plugins. Sets are `BTreeSet`s, so they serialise as sorted arrays.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::item::Vars;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReleaseFacts {
    pub preset: String,
    pub segregation_of_duties: bool,
    pub policy: PolicyFacts,
    pub checks: CheckFacts,
    pub properties: PropertyFacts,
    pub evidence: EvidenceFacts,
    pub components: BTreeSet<String>,
    pub artifacts: ArtifactFacts,
    pub workflows: WorkflowFacts,
    pub attestation: AttestationFacts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PolicyFacts {
    pub require_attestation: bool,
    pub require_reviewed_workflow: bool,
    /// The effective age limit, never null.
    pub max_evidence_age_days: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckFacts {
    pub required: BTreeSet<String>,
    pub passed: BTreeSet<String>,
    pub failed: BTreeSet<String>,
    pub missing: BTreeSet<String>,
    pub other_failed: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PropertyFacts {
    pub required: BTreeSet<String>,
    pub verified: BTreeSet<String>,
    pub unverified: BTreeSet<String>,
    pub other_failed: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvidenceFacts {
    pub stale: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArtifactFacts {
    pub names: BTreeSet<String>,
    pub digests: BTreeSet<String>,
    pub requested_digest: String,
    pub requested_in_evidence: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkflowFacts {
    pub bound: i64,
    pub reviewed: bool,
    pub stale_reviewed: bool,
    pub creators: BTreeSet<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AttestationFacts {
    /// `none`, `attested`, `rejected` or `revoked`.
    pub state: String,
    pub digest: String,
    pub digest_matches: bool,
    pub operator_user_id: String,
    pub sod_conflict: bool,
    pub release_label: String,
}

/// The fact sets an `@each` annotation may name (spec §3.3).
pub const EACH_PATHS: [&str; 10] = [
    "checks.passed",
    "checks.failed",
    "checks.missing",
    "checks.other_failed",
    "properties.verified",
    "properties.unverified",
    "properties.other_failed",
    "evidence.stale",
    "components",
    "artifacts.names",
];

impl ReleaseFacts {
    /// The elements of the `@each` set `path` (one of [`EACH_PATHS`]).
    pub fn set(&self, path: &str) -> Option<&BTreeSet<String>> {
        Some(match path {
            "checks.passed" => &self.checks.passed,
            "checks.failed" => &self.checks.failed,
            "checks.missing" => &self.checks.missing,
            "checks.other_failed" => &self.checks.other_failed,
            "properties.verified" => &self.properties.verified,
            "properties.unverified" => &self.properties.unverified,
            "properties.other_failed" => &self.properties.other_failed,
            "evidence.stale" => &self.evidence.stale,
            "components" => &self.components,
            "artifacts.names" => &self.artifacts.names,
            _ => return None,
        })
    }
}

/// Placeholder values and evidence ids for one element of a fact set (`{conclusion}` of a
/// failed check, `{state}` of a stale label, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ElementDetail {
    pub vars: Vars,
    pub evidence_id: Option<String>,
}

/// What item rendering needs beyond the facts: the snapshot-wide placeholders, per-element
/// details keyed by `(fact path, element)`, and the evidence id of single items by code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemContext {
    pub vars: Vars,
    pub elements: BTreeMap<(String, String), ElementDetail>,
    pub code_evidence: BTreeMap<String, String>,
}
