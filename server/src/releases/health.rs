//! Evidence health of a snapshot (spec/RELEASES.md §5.2): every row with its freshness, the
//! required items still missing, and the ingest issues, recorded and computed.

use serde_json::{json, Value};

use super::decision::Loaded;
use super::freshness::rfc3339;
use crate::preset_catalog::PresetCatalog;
use crate::store::IngestIssue;

/// One `evidence[]` entry before serialisation.
struct Entry {
    evidence_id: Option<String>,
    kind: &'static str,
    key: String,
    observed_at: Option<f64>,
    required: bool,
    component_name: Option<String>,
    property_key: Option<String>,
}

/// One `ingest_issues[]` row.
struct Issue {
    health_state: &'static str,
    severity: &'static str,
    code: String,
    detail: String,
    component_name: Option<String>,
    property_key: Option<String>,
}

fn state_rank(state: &str) -> u8 {
    match state {
        "blocking" => 0,
        "warning" => 1,
        "stale" => 2,
        "future" => 3,
        _ => 4,
    }
}

fn entries(loaded: &Loaded) -> Vec<Entry> {
    let policy = &loaded.policy;
    let e = &loaded.evidence;
    let mut out = Vec::new();
    let row = |evidence_id: &str, kind, key: String, t: f64, required: bool| Entry {
        evidence_id: Some(evidence_id.to_owned()),
        kind,
        key,
        observed_at: Some(t),
        required,
        component_name: None,
        property_key: None,
    };
    for c in &e.check_runs {
        out.push(row(
            &c.evidence_id,
            "check_run",
            format!("check:{}", c.name),
            c.completed_at,
            policy.required_checks.contains(&c.name),
        ));
    }
    for a in &e.artifacts {
        out.push(row(
            &a.evidence_id,
            "artifact",
            format!("artifact:{}", a.name),
            a.recorded_at,
            false,
        ));
    }
    for p in &e.properties {
        let mut entry = row(
            &p.evidence_id,
            "property",
            format!("property:{}", p.key),
            p.observed_at,
            policy.required_properties.contains(&p.key),
        );
        entry.property_key = Some(p.key.clone());
        out.push(entry);
    }
    for c in &e.components {
        let mut entry = row(
            &c.evidence_id,
            "component",
            format!("component:{}", c.name),
            c.recorded_at,
            false,
        );
        entry.component_name = Some(c.name.clone());
        out.push(entry);
    }
    for w in &loaded.workflows {
        out.push(row(
            &w.binding.evidence_id,
            "workflow",
            format!("workflow:{}", w.binding.workflow_id),
            w.time(),
            policy.require_reviewed_workflow,
        ));
    }
    let missing = |kind, key: String, property_key: Option<String>| Entry {
        evidence_id: None,
        kind,
        key,
        observed_at: None,
        required: true,
        component_name: None,
        property_key,
    };
    for name in &policy.required_checks {
        if !e.check_runs.iter().any(|c| &c.name == name) {
            out.push(missing("check_run", format!("check:{name}"), None));
        }
    }
    for key in &policy.required_properties {
        if !e.properties.iter().any(|p| &p.key == key) {
            out.push(missing("property", format!("property:{key}"), Some(key.clone())));
        }
    }
    if policy.require_reviewed_workflow && loaded.workflows.is_empty() {
        out.push(missing("workflow", "workflow:required".into(), None));
    }
    out.sort_by(|a, b| {
        (a.kind, &a.key, a.evidence_id.as_deref().unwrap_or("")).cmp(&(
            b.kind,
            &b.key,
            b.evidence_id.as_deref().unwrap_or(""),
        ))
    });
    out
}

/// The §2.2 response for a loaded snapshot.
pub fn report(loaded: &Loaded, recorded: &[IngestIssue], presets: &PresetCatalog) -> Value {
    let clock = loaded.clock;
    let mut summary = [0usize; 4];
    let mut issues = Vec::new();
    let mut evidence = Vec::new();
    for entry in entries(loaded) {
        let state = match entry.observed_at {
            None => "missing",
            Some(t) => clock.judge(t).as_str(),
        };
        summary[["fresh", "stale", "future", "missing"]
            .iter()
            .position(|s| *s == state)
            .unwrap_or(3)] += 1;
        let observed = entry.observed_at.map(rfc3339).unwrap_or_default();
        let issue = match state {
            "stale" => Some((
                format!(
                    "Evidence {} was observed at {observed}, older than the {}-day limit",
                    entry.key, clock.max_age_days
                ),
                "stale_evidence",
            )),
            "future" => Some((
                format!(
                    "Evidence {} is dated {observed}, after the evaluation time beyond the allowed clock skew",
                    entry.key
                ),
                "future_evidence",
            )),
            "missing" => Some((
                format!("Required evidence {} has not been received", entry.key),
                "missing_evidence",
            )),
            _ => None,
        };
        if let Some((detail, code)) = issue {
            issues.push(Issue {
                health_state: if state == "missing" {
                    "missing"
                } else if state == "stale" {
                    "stale"
                } else {
                    "future"
                },
                severity: if entry.required || state == "missing" {
                    "error"
                } else {
                    "warning"
                },
                code: code.into(),
                detail,
                component_name: entry.component_name.clone(),
                property_key: entry.property_key.clone(),
            });
        }
        evidence.push(json!({
            "evidence_id": entry.evidence_id,
            "kind": entry.kind,
            "key": entry.key,
            "observed_at": entry.observed_at,
            "age_seconds": entry.observed_at.map(|t| clock.now - t),
            "state": state,
            "required": entry.required,
        }));
    }
    for issue in recorded {
        let error = issue.severity == "error";
        issues.push(Issue {
            health_state: if error { "blocking" } else { "warning" },
            severity: if error { "error" } else { "warning" },
            code: issue.code.clone(),
            detail: issue.detail.clone(),
            component_name: None,
            property_key: None,
        });
    }
    let registry = presets.registry();
    for key in &loaded.policy.presets {
        if registry.get(key).is_none() {
            issues.push(Issue {
                health_state: "blocking",
                severity: "error",
                code: "preset_unavailable".into(),
                detail: format!("Preset {key} named by the release policy is not available"),
                component_name: None,
                property_key: None,
            });
        }
    }
    issues.sort_by(|a, b| {
        (
            state_rank(a.health_state),
            a.severity != "error",
            &a.code,
            &a.component_name,
            &a.property_key,
            &a.detail,
        )
            .cmp(&(
                state_rank(b.health_state),
                b.severity != "error",
                &b.code,
                &b.component_name,
                &b.property_key,
                &b.detail,
            ))
    });
    let status = if issues.iter().any(|i| i.health_state == "blocking") {
        "failed"
    } else if issues.is_empty() {
        "healthy"
    } else {
        "degraded"
    };
    let issues: Vec<Value> = issues
        .into_iter()
        .map(|i| {
            json!({"health_state": i.health_state, "severity": i.severity, "code": i.code, "detail": i.detail,
                        "component_name": i.component_name, "property_key": i.property_key})
        })
        .collect();
    json!({
        "repo_root": loaded.repo.key,
        "commit_sha": loaded.snapshot.commit_sha,
        "snapshot_id": loaded.snapshot.id,
        "evaluated_at": clock.now,
        "ingest_status": status,
        "ingest_issues": issues,
        "freshness_summary": {"fresh": summary[0], "stale": summary[1], "future": summary[2], "missing": summary[3]},
        "max_evidence_age_days": clock.max_age_days,
        "evidence": evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_states_rank_in_the_documented_order() {
        let ranks: Vec<u8> = ["blocking", "warning", "stale", "future", "missing"]
            .iter()
            .map(|s| state_rank(s))
            .collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4]);
    }
}
