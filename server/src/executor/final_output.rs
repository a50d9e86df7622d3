//! The final checks of spec §9.4, in order: content, the reviewer's approved artifact, the
//! release hold, the release binding, the final-output certificate, then `completed`.

use std::time::Instant;

use certior::content::ContentAction;
use certior::{Phase, Severity, StageRole, Violation};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::admission::upstreams_completed_before;
use super::gate::{self, blocking_codes};
use super::proofs::{holding, FinalScan, ProofFacts};
use super::run::{certificate_json, Run};
use crate::clock::now;
use crate::store::{EventDraft, ExecStatus, StoreResult, Transition};

const HOLD_NOT_PUBLIC: &str = "[RELEASE HOLD] This stage is not authorised to disclose results to a public caller. Route the artifact to the next approved workflow stage.";
const HOLD_UNBOUND: &str = "[RELEASE HOLD] No approved upstream artifact is bound to this release stage.";
const HOLD_MISMATCH: &str = "[RELEASE HOLD] Final output does not match an approved upstream artifact.";

/// Texts that keep a reviewer's artifact from being approved (matched lower-cased).
const NOT_APPROVED_MARKERS: [&str; 4] = ["no-go", "[release hold]", "[ifc blocked]", "[lean4 proven block]"];

/// CRLF to LF, each line right-trimmed, the whole trimmed (spec §9.4 step 2).
pub fn canonical_text(text: &str) -> String {
    let lf = text.replace("\r\n", "\n");
    let lines: Vec<&str> = lf.split('\n').map(str::trim_end).collect();
    lines.join("\n").trim().to_owned()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The `release_binding_summary` and the output it leaves (spec §9.4 step 4).
fn bind_release(output: &str, binding: Option<&Value>) -> (String, Value) {
    let artifacts: Vec<&Value> = binding
        .and_then(|b| b["approved_artifacts"].as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if artifacts.is_empty() {
        let summary = json!({"bound": false, "reason": "missing_binding", "approved_hashes": []});
        return (HOLD_UNBOUND.to_owned(), summary);
    }
    let submitted = sha256_hex(&canonical_text(output));
    let mut approved: Vec<String> = artifacts
        .iter()
        .filter_map(|a| a["sha256"].as_str().map(str::to_owned))
        .collect();
    approved.sort();
    if let Some(hit) = artifacts.iter().find(|a| a["sha256"] == submitted.as_str()) {
        let summary = json!({"bound": true, "rebound": false, "artifact_hash": submitted, "submitted_hash": submitted,
                             "upstream_execution_id": hit["execution_id"], "approved_hashes": approved});
        return (output.to_owned(), summary);
    }
    if let [only] = artifacts[..] {
        let summary = json!({"bound": true, "rebound": true, "artifact_hash": only["sha256"], "submitted_hash": submitted,
                             "upstream_execution_id": only["execution_id"], "approved_hashes": [only["sha256"]]});
        return (only["text"].as_str().unwrap_or_default().to_owned(), summary);
    }
    let summary = json!({"bound": false, "reason": "hash_mismatch", "submitted_hash": submitted,
                         "approved_hashes": approved});
    (HOLD_MISMATCH.to_owned(), summary)
}

pub async fn finish(run: &mut Run<'_>, text: String) -> StoreResult<()> {
    // 1. Content.
    let scanned = Instant::now();
    let verdict = run.guard.check_final_output(&text);
    let scan_ms = gate::elapsed_ms(scanned);
    let mut output = text;
    let (violations, final_scan) = match &verdict {
        None => (Vec::new(), None),
        Some(verdict) => {
            let blocked = verdict.action == ContentAction::Deny
                || (verdict.action == ContentAction::Allow
                    && verdict.violations.iter().any(|v| v.severity == Severity::Block));
            let redacted = matches!(verdict.action, ContentAction::Redact { .. });
            let action = match (&verdict.action, blocked) {
                (_, true) => "block",
                (ContentAction::Redact { .. }, _) => "redact",
                _ if !verdict.violations.is_empty() => "warn",
                _ => "pass",
            };
            let scan = gate::scan("final_output", action, &verdict.violations, redacted, scan_ms);
            if blocked {
                let codes = blocking_codes(&verdict.violations).join(", ");
                let error = format!("Final output blocked by content policy: {codes}");
                return run
                    .fail_scanned(error, Some(verdict.violations.clone()), Some(scan))
                    .await;
            }
            if let ContentAction::Redact { text } = &verdict.action {
                output = text.clone();
            }
            (verdict.violations.clone(), Some(scan))
        }
    };
    // Block violations a redaction neutralised still count as found (spec §9.4 step 2, §11.3).
    let found_block = violations.iter().any(|v| v.severity == Severity::Block);
    let mut notes = violations.clone();
    let profile = run.profile.clone();

    // 2. The reviewer's approved artifact.
    let canonical = canonical_text(&output);
    let artifact = (profile.stage_role == StageRole::Reviewer && !canonical.is_empty()).then(|| {
        let lower = canonical.to_lowercase();
        let approved = !found_block && !NOT_APPROVED_MARKERS.iter().any(|m| lower.contains(m));
        json!({
            "text": canonical,
            "sha256": sha256_hex(&canonical),
            "approved_for_release": approved,
            "stage_role": profile.stage_role.as_str(),
            "task_class": profile.task_class.as_str(),
        })
    });

    // 3. Release hold.
    let targets = &profile.release_targets;
    if !targets.is_empty() && !targets.iter().any(|t| t == "public") {
        output = HOLD_NOT_PUBLIC.to_owned();
        notes.push(Violation {
            severity: Severity::Warn,
            ..Violation::block("release_hold", Phase::FinalOutput, HOLD_NOT_PUBLIC, vec![])
        });
    }

    // 4. Release binding.
    let binding = (profile.stage_role == StageRole::Release).then(|| {
        let (bound_output, summary) = bind_release(&output, profile.metadata.get("release_binding"));
        output = bound_output;
        summary
    });

    // 5. The final-output certificate, listing the proofs that hold.
    let user_active = run
        .state
        .store
        .user_by_id(&run.user.id)
        .await?
        .is_some_and(|u| u.user.is_active);
    let started_at = run.execution.started_at.unwrap_or(run.execution.created_at);
    let execution = &run.execution;
    let token_valid = user_active && !execution.token_revoked && execution.token_expires_at.is_none_or(|t| t > now());
    let admitted = profile
        .metadata
        .get("release_binding")
        .is_some_and(|b| b["approved_artifacts"].as_array().is_some_and(|a| !a.is_empty()));
    let properties = holding(&ProofFacts {
        preset: &run.preset,
        profile: &profile,
        permissions: &execution.permissions,
        budget_cents: execution.budget_cents,
        tally: &run.tally,
        token_valid,
        submitter_read_only: !run.user.role.is_writer(),
        final_scan: FinalScan {
            ran: verdict.is_some(),
            violations: &violations,
            found_block,
        },
        artifact_approved: artifact.as_ref().is_some_and(|a| a["approved_for_release"] == true),
        release_admitted: admitted,
        upstreams_completed_before_start: admitted
            && upstreams_completed_before(run.state, &profile, started_at).await?,
        output_bound: binding.as_ref().is_some_and(|b| b["bound"] == true),
    });
    let certificate = match run.guard.final_certificate(&execution.task, &output, properties, now()) {
        Ok(certificate) => certificate,
        Err(error) => {
            return run
                .fail(format!("Final-output certificate could not be issued: {error}"), None)
                .await
        }
    };
    run.tally.certificate_ids.push(certificate.id.clone());
    run.tally.add_properties(&certificate.verified_properties);

    // 6. Completed.
    let mut change = Transition::to(
        ExecStatus::Completed,
        EventDraft {
            kind: "execution.completed".into(),
            data: json!({"status": "completed", "task": execution.task, "cost_cents": run.tally.cost_cents,
                         "certificate_count": run.tally.certificate_ids.len()}),
            timestamp: now(),
        },
    );
    change.output = Some(output);
    change.verification_summary = Some(run.summary());
    change.final_violations = (!notes.is_empty()).then(|| json!(notes));
    change.final_scan = final_scan;
    change.artifact = artifact;
    change.release_binding = binding;
    change.certificate = Some((certificate.id.clone(), certificate_json(&certificate)));
    change.certificate_ids = Some(run.tally.certificate_ids.clone());
    change.proof_properties = Some(run.tally.proof_properties.clone());
    change.input_tokens = Some(run.tally.input_tokens);
    change.output_tokens = Some(run.tally.output_tokens);
    if run
        .state
        .store
        .transition(&execution.id, &[ExecStatus::Verifying], &change)
        .await?
    {
        super::finished(run.state, execution, "execution.completed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_normalises_line_ends_and_trailing_space() {
        assert_eq!(canonical_text("  a  \r\nb\t\n\n"), "a\nb");
    }

    #[test]
    fn release_binding_follows_the_table() {
        let artifact = |id: &str, text: &str| json!({"execution_id": id, "sha256": sha256_hex(text), "text": text});
        let (out, summary) = bind_release("anything", None);
        assert_eq!(
            (out.as_str(), &summary["reason"]),
            (HOLD_UNBOUND, &json!("missing_binding"))
        );

        let one = json!({"approved_artifacts": [artifact("up-1", "Approved text")]});
        let (out, summary) = bind_release("Approved text  \r\n", Some(&one));
        assert_eq!(out, "Approved text  \r\n", "a matching output is kept as it was");
        assert_eq!(
            (summary["bound"].clone(), summary["rebound"].clone()),
            (json!(true), json!(false))
        );

        let (out, summary) = bind_release("Something else", Some(&one));
        assert_eq!(out, "Approved text");
        assert_eq!(summary["rebound"], true);
        assert_eq!(summary["upstream_execution_id"], "up-1");

        let two = json!({"approved_artifacts": [artifact("up-1", "A"), artifact("up-2", "B")]});
        let (out, summary) = bind_release("C", Some(&two));
        assert_eq!(
            (out.as_str(), &summary["reason"]),
            (HOLD_MISMATCH, &json!("hash_mismatch"))
        );
        assert_eq!(summary["approved_hashes"].as_array().unwrap().len(), 2);
    }
}
