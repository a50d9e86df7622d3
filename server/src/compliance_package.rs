//! The compliance package of spec §12: everything an auditor needs about one execution, under
//! an export preset, signed as a whole. Computed at every call; nothing is stored.

use certior::capability::covered;
use certior::Preset;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::clock::now;
use crate::routes::executions::verify_stored_chain;
use crate::state::AppState;
use crate::store::{ExecStatus, ExecutionRecord, StoredJson};
use crate::strings::string_array;

const RUNTIME_DETAIL: &str =
    "Decisions were taken by the Certior Guard (capability, Cedar, content, flow and budget gates).";

/// Whether preset `c` is at least as strict as `e` (spec §12.4).
pub fn at_least_as_strict(c: &Preset, e: &Preset) -> bool {
    if c.key() == e.key() {
        return true;
    }
    let (cm, em) = (c.manifest(), e.manifest());
    let superset = |a: &[String], b: &[String]| b.iter().all(|x| a.contains(x));
    // Ceilings as spec §7.1 defines them (`None` is open, standing for `*`). An empty closed
    // ceiling allows nothing: it is the strictest, not open.
    let ceiling_within = match (cm.ceiling(), em.ceiling()) {
        (_, None) => true,
        (None, Some(e_ceiling)) => covered("*", e_ceiling),
        (Some(c_ceiling), Some(e_ceiling)) => c_ceiling.iter().all(|p| covered(p, e_ceiling)),
    };
    let flows = em.flow_rules.iter().all(|er| {
        cm.flow_rules.iter().any(|cr| {
            cr.source.eq_ignore_ascii_case(&er.source)
                && superset(&cr.forbidden_destinations, &er.forbidden_destinations)
                && (er.allowed_destinations.is_empty() || superset(&er.allowed_destinations, &cr.allowed_destinations))
        })
    });
    superset(&cm.required_proofs, &em.required_proofs)
        && superset(&cm.human_approvals, &em.human_approvals)
        && cm.retention_days >= em.retention_days
        && superset(&cm.permissions.forbidden, &em.permissions.forbidden)
        && ceiling_within
        && flows
}

fn ordered_union(first: &[String], then: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in first.iter().chain(then) {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// `proofs_required` (spec §12.3): the preset's required proofs, then the profile's missing ones.
pub fn proofs_required(preset: &Preset, profile: &Value) -> Vec<String> {
    ordered_union(
        &preset.manifest().required_proofs,
        &string_array(&profile["required_proofs"]),
    )
}

/// One `safety_scans` entry for a phase scan that was not clean.
fn safety_scan(category: String, scan: &Value, step_index: Value) -> Option<Value> {
    if scan.is_null() || scan["clean"] == true {
        return None;
    }
    Some(json!({
        "category": category,
        "severity": scan["action"],
        "matched_text": format!("violations={} pii={} secrets={}", scan["violation_count"], scan["pii_count"], scan["secrets_count"]),
        "step_index": step_index,
    }))
}

/// `actor`, `resource` and `result` of an audit-trail entry.
fn audit_facts(kind: &str, data: &Value, subject_id: &str) -> (&'static str, Value, &'static str) {
    let resource = data.get("tool").cloned().unwrap_or_else(|| json!(subject_id));
    let (actor, result) = match kind {
        "execution.created" | "execution.cancelled" => ("user", "logged"),
        "execution.thinking" => ("agent", "logged"),
        "execution.tool_denied" => ("guard", "blocked"),
        "execution.tool_completed" if data["decision"] == "redacted" => ("guard", "redacted"),
        "execution.tool_completed" => ("guard", "verified"),
        "execution.completed" => ("server", "verified"),
        "execution.failed" => ("server", "error"),
        _ => ("server", "logged"),
    };
    (actor, resource, result)
}

/// Builds and signs the package of `execution` under `preset` (the export preset).
pub async fn build(
    state: &AppState,
    execution: &ExecutionRecord,
    preset: &Preset,
    notes: Option<Vec<String>>,
) -> anyhow::Result<Value> {
    let steps = state.store.steps(&execution.id).await?;
    let certificates = state.store.certificates(&execution.id).await?;
    let events = state.store.events(&execution.id).await?;
    let chain = verify_stored_chain(&execution.id, &events);
    let manifest = preset.manifest();
    let records: Vec<&Value> = steps.iter().map(|s| &s.record).collect();
    let profile = execution.verification_profile.value()?;
    let artifact = StoredJson::optional_value(&execution.artifact)?;
    let binding = StoredJson::optional_value(&execution.release_binding)?;
    let final_scan = StoredJson::optional_value(&execution.final_scan)?;
    let final_violations = StoredJson::optional_value(&execution.final_violations)?;

    // Execution summary.
    let mut summary = json!({
        "execution_id": execution.id,
        "task": execution.task,
        "user_id": execution.user_id,
        "status": execution.status.as_str(),
        "created_at": execution.created_at,
        "completed_at": execution.completed_at,
        "cost_cents": execution.cost_cents,
        "certificate_count": execution.certificate_ids.len(),
        "verification_profile": profile,
        "preset_key": execution.preset_key,
        "preset_digest": execution.preset_digest,
    });
    if let Some(output) = execution
        .output
        .as_deref()
        .filter(|_| execution.status == ExecStatus::Completed)
    {
        summary["output_preview"] = json!(output.chars().take(2000).collect::<String>());
    }
    if let Some(artifact) = artifact {
        summary["approved_artifact"] = json!({"text": artifact["text"], "sha256": artifact["sha256"],
                                              "approved_for_release": artifact["approved_for_release"]});
    }
    if let Some(binding) = binding {
        summary["release_binding_summary"] = binding.clone();
    }
    let phase_scans: Vec<&Value> = records
        .iter()
        .flat_map(|r| [&r["content_scan"]["input_scan"], &r["content_scan"]["output_scan"]])
        .chain(final_scan)
        .filter(|s| !s.is_null())
        .collect();
    if !phase_scans.is_empty() {
        let mut by_code = Map::new();
        let violations = records
            .iter()
            .flat_map(|r| r["violations"].as_array().cloned().unwrap_or_default())
            .chain(final_violations.and_then(Value::as_array).cloned().unwrap_or_default());
        for v in violations {
            let code = v["code"].as_str().unwrap_or_default().to_owned();
            let n = by_code.get(&code).and_then(Value::as_i64).unwrap_or(0);
            by_code.insert(code, json!(n + 1));
        }
        summary["content_safety_summary"] = json!({
            "phases_scanned": phase_scans.len(),
            "phases_blocked": phase_scans.iter().filter(|s| s["action"] == "block").count(),
            "phases_redacted": phase_scans.iter().filter(|s| s["action"] == "redact").count(),
            "violations_by_code": by_code,
        });
    }
    if let Some(violations) = final_violations {
        summary["final_output_violations"] = violations.clone();
    }

    // Content scans, flows and the Guard's counters.
    let mut scans: Vec<Value> = Vec::new();
    for r in &records {
        let tool = r["tool_name"].as_str().unwrap_or_default();
        for phase in ["input_scan", "output_scan"] {
            let scan = &r["content_scan"][phase];
            let name = scan["phase"].as_str().unwrap_or(phase);
            scans.extend(safety_scan(format!("{tool}:{name}"), scan, r["step_index"].clone()));
        }
    }
    if let Some(scan) = final_scan {
        scans.extend(safety_scan("final_output:final_output".into(), scan, Value::Null));
    }
    let mut flow_details = Vec::new();
    for r in &records {
        for v in r["violations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["code"] == "flow_violation")
        {
            let message = v["message"].as_str().unwrap_or_default();
            let pair = message.trim_start_matches("flow_violation: ");
            let (label, destination) = pair.split_once(" -> ").unwrap_or((pair, ""));
            flow_details.push(
                json!({"step_index": r["step_index"], "tool": r["tool_name"], "label": label,
                                     "destination": destination, "policy_id": v["policy_ids"][0]}),
            );
        }
    }
    let early = ["prepare", "token", "capability", "authorization", "tool_input"];
    let flows_tracked = records
        .iter()
        .filter(|r| !string_array(&r["ifc"]["destinations"]).is_empty())
        .filter(|r| {
            !r["violations"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| early.contains(&v["phase"].as_str().unwrap_or_default()))
        })
        .count();
    let latency: f64 = records.iter().filter_map(|r| r["duration_ms"].as_f64()).sum();
    let avg_latency = if records.is_empty() {
        0.0
    } else {
        ((latency / records.len() as f64) * 100.0).round() / 100.0
    };

    // The policy and the attestation.
    let profile_approvals = string_array(&profile["required_approvals"]);
    let proofs_required = proofs_required(preset, profile);
    let approvals_required = ordered_union(&manifest.human_approvals, &profile_approvals);
    let mut verified: Vec<String> = Vec::new();
    for cert in &certificates {
        for p in string_array(&cert["verified_properties"]) {
            if !verified.contains(&p) {
                verified.push(p);
            }
        }
    }
    verified.sort();
    let completed = execution.status == ExecStatus::Completed;
    let satisfied: Vec<String> = if completed {
        proofs_required
            .iter()
            .filter(|p| verified.contains(p))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let missing: Vec<String> = proofs_required
        .iter()
        .filter(|p| !satisfied.contains(p))
        .cloned()
        .collect();
    let audit_trail: Vec<Value> = events
        .iter()
        .map(|e| {
            let (actor, resource, result) = audit_facts(&e.kind, &e.data, &execution.id);
            json!({"seq": e.seq, "timestamp": e.timestamp, "actor": actor, "action": e.kind, "resource": resource,
                   "result": result, "details": e.data, "hash": e.hash})
        })
        .collect();
    let flow_rules: Vec<Value> = manifest
        .flow_rules
        .iter()
        .map(|r| json!({"source": r.source, "allowed": r.allowed_destinations, "forbidden": r.forbidden_destinations}))
        .collect();

    let mut package = json!({
        "package_id": Uuid::new_v4().to_string(),
        "generated_at": now(),
        "compliance_regime": preset.name(),
        "execution_summary": summary,
        "certificates": certificates,
        "safety_scans": scans,
        "flow_analysis": {
            "rules_enforced": manifest.flow_rules.len(),
            "flows_tracked": flows_tracked,
            "violations_detected": flow_details.len(),
            "violation_details": flow_details,
        },
        "verification_runtime": {
            "lean_status": "unavailable",
            "mode": "guard",
            "detail": RUNTIME_DETAIL,
            "binary": null,
            "steps_checked": records.len(),
            "certificates_issued": execution.certificate_ids.len(),
            "flow_violations": flow_details.len(),
            "total_requests": records.len(),
            "avg_latency_ms": avg_latency,
        },
        "policy_applied": {
            "key": preset.key(),
            "name": preset.name(),
            "digest": preset.digest(),
            "permissions": manifest.permissions.default,
            "max_permissions": manifest.permissions.max,
            "forbidden_permissions": manifest.permissions.forbidden,
            "flow_rules": flow_rules,
            "audit": {
                "log_all_access": manifest.audit.log_all_access,
                "retention_days": manifest.retention_days,
                "tamper_proof": manifest.audit.tamper_proof,
                "segregation_of_duties": manifest.audit.segregation_of_duties,
            },
            "required_proofs": manifest.required_proofs,
            "human_approvals": manifest.human_approvals,
            "blocked_categories": manifest.content.blocked_categories,
            "verification_profile": profile,
        },
        "audit_trail": audit_trail,
        "attestation": {
            "regime": preset.name(),
            "preset_key": preset.key(),
            "preset_digest": preset.digest(),
            "retention_days": manifest.retention_days,
            "proofs_required": proofs_required,
            "proofs_satisfied": satisfied,
            "proofs_missing": missing,
            "human_approvals_required": approvals_required,
            "certificate_count": execution.certificate_ids.len(),
            "verified_properties": verified,
            "compliant": completed && missing.is_empty() && chain.verified,
        },
        "audit_chain": chain,
    });
    if let Some(notes) = notes {
        package["notes"] = json!(notes);
    }
    let document = package.as_object_mut().expect("the package is an object");
    state.keyring.sign_document(document)?;
    Ok(package)
}

#[cfg(test)]
mod tests {
    use certior::preset::PresetRegistry;

    use super::at_least_as_strict;

    /// The consequences spec §12.4 states for the built-in presets.
    #[test]
    fn built_in_strictness_follows_the_contract() {
        let registry = PresetRegistry::builtin();
        let preset = |key: &str| registry.get(key).expect("built-in preset");
        let default = preset("default");
        let regimes = [preset("hipaa"), preset("sox"), preset("legal_privilege")];
        for c in &regimes {
            assert!(at_least_as_strict(c, &default), "{} vs default", c.key());
            assert!(!at_least_as_strict(&default, c), "default vs {}", c.key());
            assert!(at_least_as_strict(c, c));
            for e in regimes.iter().filter(|e| e.key() != c.key()) {
                assert!(!at_least_as_strict(c, e), "{} vs {}", c.key(), e.key());
            }
        }
    }
}
