//! The remediation item catalogue of spec/RELEASES.md §3.5: for each built-in code its rank,
//! severity, owner, message template and steps. Policies and plugins that use a catalogue code
//! inherit these defaults; other codes rank 100.

use super::item::ItemSeverity;

/// One catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub code: &'static str,
    pub rank: u32,
    pub severity: ItemSeverity,
    pub owner: &'static str,
    pub message: &'static str,
    pub steps: &'static [&'static str],
}

/// Rank of every code the catalogue does not list.
pub const OTHER_RANK: u32 = 100;

const fn entry(
    code: &'static str,
    rank: u32,
    severity: ItemSeverity,
    owner: &'static str,
    message: &'static str,
    steps: &'static [&'static str],
) -> Entry {
    Entry {
        code,
        rank,
        severity,
        owner,
        message,
        steps,
    }
}

use ItemSeverity::{Blocking as B, Degraded as D};

pub const CATALOGUE: [Entry; 19] = [
    entry(
        "snapshot_missing",
        1,
        B,
        "evidence_ingest",
        "No release evidence for {repo}@{commit}",
        &[
            "Record evidence for this commit with POST /api/v1/releases/evidence or the GitHub webhook",
            "Check repo_root and the repo aliases",
        ],
    ),
    entry(
        "preset_unavailable",
        2,
        B,
        "policy_engine",
        "Preset {preset} named by the release policy is not available",
        &[
            "Restore or upload preset {preset}",
            "Or remove it from the repo release policy",
        ],
    ),
    entry(
        "policy_error",
        3,
        B,
        "policy_engine",
        "Release policy {policy_id} of preset {preset} could not be evaluated",
        &["Fix the policy and upload a new preset version"],
    ),
    entry(
        "plugin_error",
        4,
        B,
        "plugin:{plugin}",
        "Release plugin {plugin} of preset {preset} failed: {error}",
        &[
            "Check the plugin configuration in preset.toml",
            "Upload a fixed plugin version",
        ],
    ),
    entry(
        "plugin_denied",
        5,
        B,
        "plugin:{plugin}",
        "Release plugin {plugin} of preset {preset} denied the release",
        &["See the documentation of plugin {plugin}"],
    ),
    entry(
        "release_forbidden",
        6,
        B,
        "policy_engine",
        "Release policy {policy_id} of preset {preset} forbids shipping",
        &["Read policy {policy_id} in preset {preset}"],
    ),
    entry(
        "required_check_missing",
        7,
        B,
        "ci",
        "Required check {item} has not reported for {commit}",
        &[
            "Run {item} on this commit",
            "Deliver its result through the GitHub webhook or POST /api/v1/releases/evidence",
        ],
    ),
    entry(
        "required_check_failed",
        8,
        B,
        "ci",
        "Required check {item} concluded {conclusion}",
        &["Fix the cause and re-run {item} on this commit"],
    ),
    entry(
        "property_unverified",
        9,
        B,
        "verification",
        "Required property {item} is {status}",
        &[
            "Produce a verified result for {item} on this commit",
            "Record it with POST /api/v1/releases/evidence",
        ],
    ),
    entry(
        "stale_evidence",
        10,
        B,
        "evidence_freshness",
        "Evidence {item} is {state} (observed {observed_at}; limit {max_age_days} days)",
        &[
            "Re-run the producer of {item} on this commit",
            "Check the producer clock when the state is future",
        ],
    ),
    entry(
        "reviewed_workflow_missing",
        11,
        B,
        "workflow",
        "No reviewed Certior release workflow is bound to {commit}",
        &[
            "Run a workflow with reviewer and release stages for this commit",
            "Bind it with POST /api/v1/releases/evidence",
        ],
    ),
    entry(
        "segregation_of_duties_violation",
        12,
        B,
        "release_governance",
        "{operator} created release workflow {workflow_id} and cannot attest {commit}",
        &["Revoke the attestation", "Ask a different approver to attest"],
    ),
    entry(
        "attestation_rejected",
        13,
        B,
        "release_governance",
        "Release of {commit} was rejected by {operator}: {reason}",
        &["Address the rejection reason", "Request a new attestation"],
    ),
    entry(
        "attestation_revoked",
        14,
        B,
        "release_governance",
        "Attestation of {commit} was revoked by {operator}: {reason}",
        &["Address the revocation reason", "Request a new attestation"],
    ),
    entry(
        "artifact_digest_mismatch",
        15,
        B,
        "release_governance",
        "Requested digest {requested_digest} differs from attested digest {attested_digest}",
        &[
            "Release the attested artifact",
            "Or obtain an attestation for the requested digest",
        ],
    ),
    entry(
        "attestation_required",
        16,
        B,
        "release_governance",
        "{repo}@{commit} has not been attested",
        &[
            "An admin or approver attests it with POST /api/v1/releases/promote",
            "Bind the artifact digest in bound_artifact_digest",
        ],
    ),
    entry(
        "artifact_not_in_evidence",
        17,
        D,
        "artifacts",
        "Digest {requested_digest} is not among the artifacts recorded for {commit}",
        &["Record the artifact with POST /api/v1/releases/evidence"],
    ),
    entry(
        "optional_check_failed",
        18,
        D,
        "ci",
        "Check {item} concluded {conclusion}",
        &[
            "Investigate {item}",
            "Add it to required_checks to make it gate releases",
        ],
    ),
    entry(
        "property_failed",
        19,
        D,
        "verification",
        "Property {item} failed",
        &[
            "Investigate {item}",
            "Add it to required_properties to make it gate releases",
        ],
    ),
];

/// The catalogue entry of `code`, if it has one.
pub fn lookup(code: &str) -> Option<&'static Entry> {
    CATALOGUE.iter().find(|e| e.code == code)
}

/// The catalogue rank of `code` (100 for codes outside the catalogue).
pub fn rank(code: &str) -> u32 {
    lookup(code).map_or(OTHER_RANK, |e| e.rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_the_table_and_built_in_steps_have_no_commas() {
        for (i, entry) in CATALOGUE.iter().enumerate() {
            assert_eq!(entry.rank as usize, i + 1, "{}", entry.code);
            assert!(entry.steps.iter().all(|s| !s.contains(',')), "{}", entry.code);
        }
        assert_eq!(rank("sbom_missing"), OTHER_RANK);
    }
}
