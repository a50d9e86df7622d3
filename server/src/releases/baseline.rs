//! The baseline (spec/RELEASES.md §4): the repo's last shipped release, and how the current
//! snapshot's inventories differ from it. Informational only: it yields no items.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::attestation;
use super::evidence::SnapshotEvidence;
use crate::store::{PromotionRecord, Store, StoreResult};

/// At most this many names in `added` and `removed`; counts are never cut.
const LIST_CAP: usize = 25;

/// Component names and verified property keys, freshness ignored (a past release must not look
/// empty because it aged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub components: BTreeSet<String>,
    pub verified_properties: BTreeSet<String>,
}

impl Inventory {
    pub fn of(evidence: &SnapshotEvidence) -> Self {
        let failed: BTreeSet<&str> = evidence
            .properties
            .iter()
            .filter(|p| p.status == "failed")
            .map(|p| p.key.as_str())
            .collect();
        Inventory {
            components: evidence.components.iter().map(|c| c.name.clone()).collect(),
            verified_properties: evidence
                .properties
                .iter()
                .filter(|p| p.status == "verified" && !failed.contains(p.key.as_str()))
                .map(|p| p.key.clone())
                .collect(),
        }
    }
}

/// The `InventoryChange` of `current` against `baseline`.
pub fn change(current: &BTreeSet<String>, baseline: &BTreeSet<String>) -> Value {
    let added: Vec<&String> = current.difference(baseline).take(LIST_CAP).collect();
    let removed: Vec<&String> = baseline.difference(current).take(LIST_CAP).collect();
    json!({
        "current_count": current.len(),
        "baseline_count": baseline.len(),
        "delta": current.len() as i64 - baseline.len() as i64,
        "added": added,
        "removed": removed,
    })
}

/// `has_baseline: false` with every other field null.
pub fn none() -> Value {
    json!({"has_baseline": false, "baseline_commit_sha": null, "components": null, "verified_properties": null,
           "baseline_snapshot_id": null, "baseline_release_label": null})
}

/// The other snapshot of the repo whose effective attestation is newest, if any.
fn choose<'a>(promotions: &'a [PromotionRecord], current_snapshot: &str) -> Option<&'a PromotionRecord> {
    let mut snapshots: Vec<&str> = promotions.iter().map(|p| p.snapshot_id.as_str()).collect();
    snapshots.sort();
    snapshots.dedup();
    snapshots
        .into_iter()
        .filter(|id| *id != current_snapshot)
        .filter_map(|id| {
            let events: Vec<PromotionRecord> = promotions.iter().filter(|p| p.snapshot_id == id).cloned().collect();
            attestation::effective(&events)
                .filter(|p| p.status == "attested")
                .map(|p| p.id.clone())
        })
        .filter_map(|id| promotions.iter().find(|p| p.id == id))
        .max_by(|a, b| a.created_at.total_cmp(&b.created_at).then(a.seq.cmp(&b.seq)))
}

/// The baseline object of the decision for `current`.
pub async fn compute(store: &dyn Store, repo_id: &str, snapshot_id: &str, current: &Inventory) -> StoreResult<Value> {
    let promotions = store.repo_promotions(repo_id).await?;
    let Some(event) = choose(&promotions, snapshot_id) else {
        return Ok(none());
    };
    let rows = store.evidence(&event.snapshot_id).await?;
    let Ok(evidence) = SnapshotEvidence::from_rows(&rows) else {
        tracing::error!(snapshot_id = %event.snapshot_id, "baseline evidence unreadable");
        return Ok(none());
    };
    let base = Inventory::of(&evidence);
    Ok(json!({
        "has_baseline": true,
        "baseline_commit_sha": event.commit_sha,
        "components": change(&current.components, &base.components),
        "verified_properties": change(&current.verified_properties, &base.verified_properties),
        "baseline_snapshot_id": event.snapshot_id,
        "baseline_release_label": event.release_label,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_spec_example_diffs() {
        assert_eq!(
            change(&set(&["B", "M", "X"]), &set(&["B", "M"])),
            json!({"current_count": 3, "baseline_count": 2, "delta": 1, "added": ["X"], "removed": []})
        );
    }

    #[test]
    fn lists_are_cut_but_counts_are_not() {
        let many: BTreeSet<String> = (0..30).map(|i| format!("c{i:02}")).collect();
        let diff = change(&BTreeSet::new(), &many);
        assert_eq!(diff["removed"].as_array().unwrap().len(), 25);
        assert_eq!(diff["baseline_count"], 30);
        assert_eq!(diff["delta"], -30);
    }
}
