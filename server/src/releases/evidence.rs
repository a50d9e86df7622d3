//! Evidence kinds (spec/RELEASES.md §1.4): their stored shape, their ids, and the typed view a
//! decision reads. Rows are stored as JSON objects of the kind's fields.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::StoredEvidence;

/// GitHub's conclusions that pass.
pub const PASSING: [&str; 3] = ["success", "neutral", "skipped"];
/// GitHub's nine conclusions; the evidence endpoint accepts only these.
pub const CONCLUSIONS: [&str; 9] = [
    "success",
    "neutral",
    "skipped",
    "failure",
    "cancelled",
    "timed_out",
    "action_required",
    "stale",
    "startup_failure",
];
pub const PROPERTY_STATUSES: [&str; 3] = ["verified", "failed", "unknown"];

pub fn is_failing(conclusion: &str) -> bool {
    !PASSING.contains(&conclusion)
}

/// `ev_` + the first 24 hex of SHA-256 over `kind\nrepo\ncommit\n` + identity parts joined by `\n`.
pub fn evidence_id(kind: &str, repo: &str, commit_sha: &str, identity: &[&str]) -> String {
    let text = format!("{kind}\n{repo}\n{commit_sha}\n{}", identity.join("\n"));
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    format!("ev_{}", &digest[..24])
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    #[serde(skip)]
    pub evidence_id: String,
    pub workflow: String,
    pub name: String,
    pub conclusion: String,
    pub url: Option<String>,
    pub completed_at: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Artifact {
    #[serde(skip)]
    pub evidence_id: String,
    #[serde(skip)]
    pub recorded_at: f64,
    pub name: String,
    pub digest: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Property {
    #[serde(skip)]
    pub evidence_id: String,
    pub key: String,
    pub status: String,
    pub source: String,
    pub evidence_ref: Option<String>,
    pub observed_at: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Component {
    #[serde(skip)]
    pub evidence_id: String,
    #[serde(skip)]
    pub recorded_at: f64,
    pub name: String,
    pub version: String,
    pub source_commit: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowBinding {
    #[serde(skip)]
    pub evidence_id: String,
    #[serde(skip)]
    pub recorded_at: f64,
    pub workflow_id: String,
}

/// A snapshot's rows by kind, each list in the order of spec §3.4.
#[derive(Debug, Clone, Default)]
pub struct SnapshotEvidence {
    pub check_runs: Vec<CheckRun>,
    pub artifacts: Vec<Artifact>,
    pub properties: Vec<Property>,
    pub components: Vec<Component>,
    pub workflows: Vec<WorkflowBinding>,
}

fn parse<T: for<'de> Deserialize<'de>>(row: &StoredEvidence) -> anyhow::Result<T> {
    serde_json::from_value(row.data.clone())
        .map_err(|err| anyhow::anyhow!("evidence row {} ({}) is unreadable: {err}", row.evidence_id, row.kind))
}

impl SnapshotEvidence {
    pub fn from_rows(rows: &[StoredEvidence]) -> anyhow::Result<Self> {
        let mut out = SnapshotEvidence::default();
        for row in rows {
            let id = row.evidence_id.clone();
            match row.kind.as_str() {
                "check_run" => out.check_runs.push(CheckRun {
                    evidence_id: id,
                    ..parse(row)?
                }),
                "artifact" => out.artifacts.push(Artifact {
                    evidence_id: id,
                    recorded_at: row.recorded_at,
                    ..parse(row)?
                }),
                "property" => out.properties.push(Property {
                    evidence_id: id,
                    ..parse(row)?
                }),
                "component" => out.components.push(Component {
                    evidence_id: id,
                    recorded_at: row.recorded_at,
                    ..parse(row)?
                }),
                "workflow" => out.workflows.push(WorkflowBinding {
                    evidence_id: id,
                    recorded_at: row.recorded_at,
                    ..parse(row)?
                }),
                other => anyhow::bail!("evidence row {} has unknown kind {other:?}", row.evidence_id),
            }
        }
        out.check_runs
            .sort_by(|a, b| (&a.workflow, &a.name).cmp(&(&b.workflow, &b.name)));
        out.artifacts.sort_by(|a, b| a.name.cmp(&b.name));
        out.properties
            .sort_by(|a, b| (&a.key, &a.source).cmp(&(&b.key, &b.source)));
        out.components.sort_by(|a, b| a.name.cmp(&b.name));
        out.workflows.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
        Ok(out)
    }
}

/// The stored JSON of a check run.
pub fn check_run_data(workflow: &str, name: &str, conclusion: &str, url: Option<&str>, completed_at: f64) -> Value {
    serde_json::json!({"workflow": workflow, "name": name, "conclusion": conclusion, "url": url, "completed_at": completed_at})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_spec_examples() {
        let commit = "1".repeat(40);
        assert_eq!(
            evidence_id("check_run", "acme/widget", &commit, &["CI", "build"]),
            "ev_b8cb203b741a1464f0c6ffba"
        );
        assert_eq!(
            evidence_id("artifact", "acme/widget", &commit, &["widget-1.2.0.tar.gz"]),
            "ev_c73fc3a21cbba2ee2909b3d3"
        );
    }

    #[test]
    fn unknown_conclusions_fail() {
        assert!(!is_failing("neutral"));
        assert!(is_failing("stale"));
        assert!(is_failing("exploded"));
    }
}
