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

    let capability_coverage = executed.len() == facts.tally.certificate_ids.len();
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
