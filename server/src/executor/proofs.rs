//! The proof catalogue of spec §11.3: which proof names the final-output certificate lists. Each
//! proof is a plain predicate over facts the run recorded; nothing is derived by analogy.

use certior::{Preset, StageRole, VerificationProfile, Violation};

use super::tally::Tally;

/// What the final checks found about the final output.
pub struct FinalScan<'a> {
    /// The content phase ran (the preset has content plugins).
    pub ran: bool,
    pub violations: &'a [Violation],
    /// A `block` violation was found (even one a redaction neutralised).
    pub found_block: bool,
}

/// Everything the catalogue reads.
pub struct ProofFacts<'a> {
    pub preset: &'a Preset,
    pub profile: &'a VerificationProfile,
    pub permissions: &'a [String],
    pub budget_cents: i64,
    pub tally: &'a Tally,
    /// Unrevoked, unexpired, bound to the submitter, whose account is active.
    pub token_valid: bool,
    pub submitter_read_only: bool,
    pub final_scan: FinalScan<'a>,
    pub artifact_approved: bool,
    /// Release admission passed with at least one upstream.
    pub release_admitted: bool,
    pub upstreams_completed_before_start: bool,
    pub output_bound: bool,
}

/// The proofs that hold, in catalogue order.
pub fn holding(facts: &ProofFacts<'_>) -> Vec<String> {
    let wildcard = |perms: &[String]| perms.iter().any(|p| p.contains('*'));
    let token_wild = wildcard(facts.permissions);
    let ceiling = &facts.profile.permission_ceiling;
    let role = facts.profile.stage_role;
    let executed = &facts.tally.executed;

    let carried = |label: &str, outside: &dyn Fn(&str) -> bool| {
        executed.iter().any(|call| {
            call.labels.iter().any(|l| l.eq_ignore_ascii_case(label)) && call.destinations.iter().any(|d| outside(d))
        })
    };
    let phi_out = carried("PHI", &|d| d == "external" || d == "public");
    let has_flow_rule = |label: &str| {
        facts
            .preset
            .manifest()
            .flow_rules
            .iter()
            .any(|r| r.source.eq_ignore_ascii_case(label))
    };
    let plugin_providing = |what: &str| {
        facts
            .preset
            .manifest()
            .plugins
            .iter()
            .find(|p| p.provides.iter().any(|x| x == what) && p.hooks.contains(&certior::preset::Hook::Content))
            .map(|p| p.name.clone())
    };
    let final_ran = |what: &str| facts.final_scan.ran.then(|| plugin_providing(what)).flatten();
    let clean_final = |what: &str| {
        final_ran(what).is_some_and(|name| {
            !facts
                .final_scan
                .violations
                .iter()
                .any(|v| v.plugin.as_deref() == Some(name.as_str()))
        })
    };

    let capability_coverage = executed.iter().all(|call| call.certified);
    let budget_sufficient = facts.tally.cost_cents <= facts.budget_cents;
    let authorized_user_only = facts.token_valid;
    let authorized_access_only = authorized_user_only && !token_wild;
    let client_authorized = authorized_access_only && !facts.submitter_read_only;
    let minimum_necessary_access =
        !wildcard(ceiling) && !token_wild && facts.permissions.iter().all(|p| ceiling.contains(p));
    let segregation_of_duties = !token_wild
        && executed
            .iter()
            .filter_map(|c| c.write_capability.as_ref())
            .all(|cap| facts.permissions.contains(cap));
    let deidentified = final_ran("pii").is_some()
        && !facts
            .final_scan
            .violations
            .iter()
            .any(|v| v.code == "pii_detected" && !v.redacted);
    let no_phi_external_flow = has_flow_rule("PHI")
        && plugin_providing("pii").is_some()
        && executed.iter().all(|c| c.output_scanned)
        && final_ran("pii").is_some()
        && !phi_out;
    let phi_stage_contained =
        !phi_out && (!facts.profile.release_targets.iter().any(|t| t == "public") || deidentified);
    let no_mnpi_leak = has_flow_rule("MNPI") && clean_final("mnpi") && !carried("MNPI", &|d| d != "internal_finance");
    let no_privilege_waiver = has_flow_rule("PRIVILEGED")
        && clean_final("privilege")
        && !carried("PRIVILEGED", &|d| d != "legal_team" && d != "client");
    let reviewer = role == StageRole::Reviewer;
    let release = role == StageRole::Release;

    [
        ("capability_coverage", capability_coverage),
        ("budget_sufficient", budget_sufficient),
        ("authorized_user_only", authorized_user_only),
        ("authorized_access_only", authorized_access_only),
        ("client_authorized", client_authorized),
        ("minimum_necessary_access", minimum_necessary_access),
        ("segregation_of_duties", segregation_of_duties),
        ("output_deidentification_verified", deidentified),
        ("no_phi_external_flow", no_phi_external_flow),
        ("phi_stage_contained", phi_stage_contained),
        ("no_mnpi_leak", no_mnpi_leak),
        ("no_privilege_waiver", no_privilege_waiver),
        ("review_chain_integrity", reviewer && facts.artifact_approved),
        ("privilege_boundary_reviewed", reviewer && !facts.final_scan.found_block),
        ("release_gate_satisfied", release && facts.release_admitted),
        (
            "review_completed_before_release",
            release && facts.release_admitted && facts.upstreams_completed_before_start,
        ),
        ("release_output_bound_to_review_artifact", facts.output_bound),
    ]
    .into_iter()
    .filter(|(_, holds)| *holds)
    .map(|(name, _)| name.to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use certior::profile::{build_profile, compose_with_preset, ProfileRequest};
    use certior::{PresetRegistry, Severity};
    use serde_json::json;

    use super::*;

    /// A tally with one executed call carrying `labels` to `destinations`.
    fn tally_with(tool: &str, path: &str, labels: &[&str], destinations: &[&str]) -> Tally {
        let mut tally = Tally::default();
        tally.add(&json!({
            "tool_name": tool,
            "tool_input": {"path": path},
            "cost_cents": 1,
            "certificate_id": "cert-1",
            "verification_properties": [],
            "ifc": {"labels": labels, "destinations": destinations},
            "content_scan": {"input_scan": null, "output_scan": {"action": "pass"}},
        }));
        tally
    }

    fn pii_violation(redacted: bool) -> Violation {
        Violation {
            code: "pii_detected".into(),
            plugin: Some("pii".into()),
            redacted,
            ..Violation::block("pii_detected", certior::Phase::FinalOutput, "SSN", vec![])
        }
    }

    /// The proofs that hold for a token with `permissions` and a budget of 100 cents, whose
    /// final output was scanned with `violations`.
    fn held(
        preset: &Preset,
        profile: &VerificationProfile,
        permissions: &[String],
        tally: &Tally,
        violations: &[Violation],
    ) -> Vec<String> {
        holding(&ProofFacts {
            preset,
            profile,
            permissions,
            budget_cents: 100,
            tally,
            token_valid: true,
            submitter_read_only: false,
            final_scan: FinalScan {
                ran: true,
                violations,
                found_block: violations.iter().any(|v| v.severity == Severity::Block),
            },
            artifact_approved: false,
            release_admitted: false,
            upstreams_completed_before_start: false,
            output_bound: false,
        })
    }

    #[test]
    fn hipaa_proofs_follow_flows_scans_and_permissions() {
        let preset = PresetRegistry::builtin().get("hipaa").unwrap();
        let profile = compose_with_preset(
            &build_profile(&ProfileRequest {
                text: "Patient intake notes for the clinic",
                ..Default::default()
            }),
            &preset,
        );
        let permissions = ["filesystem:read".to_owned(), "filesystem:write:reports".to_owned()];
        let redacted = [pii_violation(true)];
        let internal = tally_with("file_write", "reports/a.txt", &["PHI"], &["internal"]);
        let proofs = held(&preset, &profile, &permissions, &internal, &redacted);
        for proof in [
            "capability_coverage",
            "budget_sufficient",
            "authorized_user_only",
            "client_authorized",
            "segregation_of_duties",
            "output_deidentification_verified",
            "no_phi_external_flow",
            "phi_stage_contained",
        ] {
            assert!(proofs.contains(&proof.to_owned()), "{proof} should hold: {proofs:?}");
        }
        assert!(
            !proofs.contains(&"no_mnpi_leak".to_owned()),
            "hipaa has no MNPI flow rule"
        );
        assert!(!proofs.contains(&"review_chain_integrity".to_owned()));

        // PHI handed to an external destination breaks both flow proofs.
        let external = tally_with("http_get", "", &["PHI"], &["external"]);
        let proofs = held(&preset, &profile, &permissions, &external, &redacted);
        assert!(!proofs.contains(&"no_phi_external_flow".to_owned()));
        assert!(!proofs.contains(&"phi_stage_contained".to_owned()));

        // A call that ran without a certificate breaks coverage; a call denied before running does not count.
        let mut uncovered = internal.clone();
        uncovered.add(&json!({"tool_name": "file_read", "decision": "allowed", "certificate_id": ""}));
        let proofs = held(&preset, &profile, &permissions, &uncovered, &redacted);
        assert!(!proofs.contains(&"capability_coverage".to_owned()));
        let mut denied = internal.clone();
        denied.add(&json!({"tool_name": "file_read", "decision": "denied", "certificate_id": ""}));
        let proofs = held(&preset, &profile, &permissions, &denied, &redacted);
        assert!(proofs.contains(&"capability_coverage".to_owned()));

        // PII left unredacted in the final output: not de-identified.
        let proofs = held(&preset, &profile, &permissions, &internal, &[pii_violation(false)]);
        assert!(!proofs.contains(&"output_deidentification_verified".to_owned()));
    }

    #[test]
    fn wildcards_and_spending_break_their_proofs() {
        let preset = PresetRegistry::builtin().get("default").unwrap();
        let profile = compose_with_preset(
            &build_profile(&ProfileRequest {
                text: "List files",
                ..Default::default()
            }),
            &preset,
        );
        let tally = tally_with("file_write", "notes/a.txt", &[], &["internal"]);
        let wildcard = vec!["filesystem:*".to_owned()];
        let held = holding(&ProofFacts {
            preset: &preset,
            profile: &profile,
            permissions: &wildcard,
            budget_cents: 0,
            tally: &tally,
            token_valid: true,
            submitter_read_only: false,
            final_scan: FinalScan {
                ran: false,
                violations: &[],
                found_block: false,
            },
            artifact_approved: false,
            release_admitted: false,
            upstreams_completed_before_start: false,
            output_bound: false,
        });
        assert!(held.contains(&"authorized_user_only".to_owned()));
        for broken in [
            "budget_sufficient",
            "authorized_access_only",
            "segregation_of_duties",
            "minimum_necessary_access",
        ] {
            assert!(!held.contains(&broken.to_owned()), "{broken} must not hold: {held:?}");
        }
    }
}
