//! Verification profiles (spec §8): the task's class and pipeline role, inferred from its text,
//! tightened (never loosened) by client overrides, then composed with the preset.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::capability::covered;
use crate::preset::Preset;

/// The seven task classes (spec §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskClass {
    ProtectedRelease,
    PublicSafeSummary,
    ClinicalIntake,
    PrivacyReview,
    ReleaseDecision,
    FinancialAudit,
    GeneralAnalysis,
}

/// Stage roles (spec §8.2). `Worker` is never inferred; it comes from an override or a workflow
/// stage and, like `single_agent`, takes its base profile from the task class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageRole {
    Release,
    SingleAgent,
    Reviewer,
    Intake,
    Worker,
}

/// An override value that is not one of the accepted enum strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {field} `{value}`; use one of: {allowed}")]
pub struct UnknownProfileValue {
    pub field: &'static str,
    pub value: String,
    pub allowed: &'static str,
}

impl TaskClass {
    pub const ALL: [TaskClass; 7] = [
        Self::ProtectedRelease,
        Self::PublicSafeSummary,
        Self::ClinicalIntake,
        Self::PrivacyReview,
        Self::ReleaseDecision,
        Self::FinancialAudit,
        Self::GeneralAnalysis,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProtectedRelease => "protected_release",
            Self::PublicSafeSummary => "public_safe_summary",
            Self::ClinicalIntake => "clinical_intake",
            Self::PrivacyReview => "privacy_review",
            Self::ReleaseDecision => "release_decision",
            Self::FinancialAudit => "financial_audit",
            Self::GeneralAnalysis => "general_analysis",
        }
    }

    /// Parses an override (exact, lower-case wire value).
    pub fn parse(s: &str) -> Result<Self, UnknownProfileValue> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownProfileValue {
            field: "task_class",
            value: s.to_owned(),
            allowed: "protected_release, public_safe_summary, clinical_intake, privacy_review, release_decision, financial_audit, general_analysis",
        })
    }
}

impl StageRole {
    pub const ALL: [StageRole; 5] = [
        Self::Release,
        Self::SingleAgent,
        Self::Reviewer,
        Self::Intake,
        Self::Worker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::SingleAgent => "single_agent",
            Self::Reviewer => "reviewer",
            Self::Intake => "intake",
            Self::Worker => "worker",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownProfileValue> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownProfileValue {
                field: "stage_role",
                value: s.to_owned(),
                allowed: "release, single_agent, reviewer, intake, worker",
            })
    }
}

/// Whether `keyword` occurs in `text` at the start of a word (spec §8.1).
fn has_word(text: &str, keyword: &str) -> bool {
    text.match_indices(keyword)
        .any(|(i, _)| text[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric()))
}

fn any_word(text: &str, keywords: &[&str]) -> bool {
    keywords.iter().any(|k| has_word(text, k))
}

/// Task-class inference (spec §8.1).
pub fn infer_task_class(text: &str) -> TaskClass {
    let t = text.to_lowercase();
    const RELEASE_VERBS: &[&str] = &[
        "publish",
        "share externally",
        "send externally",
        "email",
        "upload",
        "release publicly",
        "public website",
        "publicly",
        "external",
    ];
    const SENSITIVE: &[&str] = &[
        "patient",
        "encounter",
        "clinical",
        "phi",
        "ssn",
        "mrn",
        "medical",
        "privileged",
        "earnings",
        "mnpi",
        "raw note",
        "full note",
    ];
    if any_word(&t, RELEASE_VERBS) && any_word(&t, SENSITIVE) {
        return TaskClass::ProtectedRelease;
    }
    if any_word(&t, &["summary", "discharge", "follow-up"])
        && any_word(&t, &["redact", "de-ident", "deidentify"])
        && any_word(&t, &["patient", "encounter", "clinical"])
    {
        return TaskClass::PublicSafeSummary;
    }
    const TABLE: [(TaskClass, &[&str]); 4] = [
        (
            TaskClass::ClinicalIntake,
            &["intake", "encounter", "discharge", "patient", "clinical"],
        ),
        (
            TaskClass::PrivacyReview,
            &["review", "privilege", "phi", "privacy", "go/no-go", "go no-go"],
        ),
        (
            TaskClass::ReleaseDecision,
            &["release", "attestation", "publish", "export", "hold notice"],
        ),
        (
            TaskClass::FinancialAudit,
            &["expense", "quarterly", "sox", "budget", "financial", "audit"],
        ),
    ];
    TABLE
        .iter()
        .find(|(_, words)| any_word(&t, words))
        .map_or(TaskClass::GeneralAnalysis, |(class, _)| *class)
}

/// Stage-role inference (spec §8.2). Rules 3 and 4 test plain containment.
pub fn infer_stage_role(text: &str, class: TaskClass) -> StageRole {
    let t = text.to_lowercase();
    let contains = |words: &[&str]| words.iter().any(|w| t.contains(w));
    match class {
        TaskClass::ProtectedRelease => StageRole::Release,
        TaskClass::PublicSafeSummary => StageRole::SingleAgent,
        TaskClass::PrivacyReview => StageRole::Reviewer,
        _ if contains(&["go/no-go", "go no-go", "privilege leakage"]) => StageRole::Reviewer,
        _ if contains(&["release", "publish", "attestation", "hold notice"]) => StageRole::Release,
        TaskClass::ClinicalIntake | TaskClass::FinancialAudit => StageRole::Intake,
        _ => StageRole::SingleAgent,
    }
}

/// A verification profile (before composition: spec §8.3; after: §8.5, in its key order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationProfile {
    pub profile_name: String,
    pub task_class: TaskClass,
    pub stage_role: StageRole,
    pub stage_id: Option<String>,
    pub required_proofs: Vec<String>,
    pub required_approvals: Vec<String>,
    pub permission_ceiling: Vec<String>,
    pub release_targets: Vec<String>,
    pub sandbox_profile: String,
    pub temporal_requirements: Vec<String>,
    pub evidence_requirements: Vec<String>,
    pub upstream_execution_ids: Vec<String>,
    pub metadata: Map<String, Value>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

const CLINICAL_CEILING: &[&str] = &[
    "database:read:patient_data",
    "database:read:clinical_data",
    "document:write:reports",
    "filesystem:read",
    "filesystem:write:reports",
    "compute:python:eval",
];

/// The base profile table of spec §8.3 (first matching row), without stage fields.
pub fn base_profile(class: TaskClass, role: StageRole) -> VerificationProfile {
    let delivery = |mode: &str| Map::from_iter([("delivery_mode".to_owned(), Value::from(mode))]);
    #[allow(clippy::type_complexity)]
    let (proofs, approvals, ceiling, targets, sandbox, temporal, evidence, metadata): (
        &[&str],
        &[&str],
        &[&str],
        &[&str],
        &str,
        &[&str],
        &[&str],
        Map<String, Value>,
    ) = match (class, role) {
        (TaskClass::ProtectedRelease, _) => (
            &[
                "release_gate_satisfied",
                "review_completed_before_release",
                "no_phi_external_flow",
                "output_deidentification_verified",
                "release_output_bound_to_review_artifact",
            ],
            &["send_external_communication", "export_patient_data", "data_export"],
            &[
                "document:read:reports",
                "document:write:reports",
                "database:read:patient_data",
                "database:read:clinical_data",
                "filesystem:read",
                "filesystem:write:reports",
            ],
            &["public"],
            "phi_release_attested",
            &[
                "review_must_occur_before_release",
                "deidentification_must_precede_release",
            ],
            &[
                "approval_summary",
                "content_safety_summary",
                "lean_certificate",
                "z3_certificate",
            ],
            delivery("reviewed_protected_release"),
        ),
        (_, StageRole::Reviewer) => (
            &["review_chain_integrity", "privilege_boundary_reviewed"],
            &["send_external_communication"],
            &[
                "document:read:legal_docs",
                "document:read:reports",
                "document:write:reports",
                "database:read:patient_data",
                "database:read:financial_data",
            ],
            &["internal"],
            "reviewer_restricted",
            &["review_artifact_must_reference_prior_stage"],
            &["approval_summary", "ifc_summary"],
            Map::new(),
        ),
        (_, StageRole::Release) => (
            &["release_gate_satisfied", "review_completed_before_release"],
            &["data_export", "send_external_communication"],
            &[
                "document:read:reports",
                "document:write:reports",
                "document:read:legal_docs",
                "filesystem:write:reports",
            ],
            &["public"],
            "release_attested",
            &["review_must_occur_before_release"],
            &["approval_summary", "lean_certificate", "z3_certificate"],
            Map::new(),
        ),
        (TaskClass::ClinicalIntake, _) => (
            &["phi_stage_contained", "minimum_necessary_access"],
            &["export_patient_data"],
            CLINICAL_CEILING,
            &["internal"],
            "phi_internal_only",
            &[],
            &["content_safety_summary", "lean_certificate"],
            Map::new(),
        ),
        (TaskClass::PublicSafeSummary, _) => (
            &[
                "no_phi_external_flow",
                "minimum_necessary_access",
                "authorized_user_only",
                "output_deidentification_verified",
            ],
            &["data_export"],
            CLINICAL_CEILING,
            &["public"],
            "phi_public_summary",
            &[],
            &["content_safety_summary", "lean_certificate", "z3_certificate"],
            delivery("redacted_public_summary"),
        ),
        (TaskClass::FinancialAudit, _) => (
            &["segregation_of_duties", "budget_sufficient"],
            &["modify_financial_records"],
            &[
                "database:read:financial_data",
                "database:read:audit_logs",
                "document:write:reports",
                "document:read:reports",
            ],
            &["internal_finance"],
            "sox_audit",
            &[],
            &["audit_trail", "lean_certificate"],
            Map::new(),
        ),
        _ => (
            &["capability_coverage"],
            &[],
            &["*"],
            &["public"],
            "standard",
            &[],
            &[],
            Map::new(),
        ),
    };
    VerificationProfile {
        profile_name: format!("{}:{}", class.as_str(), role.as_str()),
        task_class: class,
        stage_role: role,
        stage_id: None,
        required_proofs: strings(proofs),
        required_approvals: strings(approvals),
        permission_ceiling: strings(ceiling),
        release_targets: strings(targets),
        sandbox_profile: sandbox.to_owned(),
        temporal_requirements: strings(temporal),
        evidence_requirements: strings(evidence),
        upstream_execution_ids: Vec::new(),
        metadata,
    }
}

/// Sandbox profiles under which `http_get` is disabled (spec §7.6).
pub fn sandbox_disables_network(sandbox: &str) -> bool {
    matches!(
        sandbox,
        "phi_release_attested" | "release_attested" | "reviewer_restricted"
    )
}

/// Ordered union: `first`, then the entries of `second` not yet present.
fn union(first: &[String], second: &[String]) -> Vec<String> {
    let mut out = first.to_vec();
    for s in second {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Client input of the profile (spec §8.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileRequest<'a> {
    pub text: &'a str,
    pub task_class: Option<TaskClass>,
    pub stage_role: Option<StageRole>,
    pub stage_id: Option<String>,
    pub upstream_execution_ids: Vec<String>,
}

/// Infers the profile from the text and merges overrides so they can only tighten (spec §8.4).
pub fn build_profile(req: &ProfileRequest<'_>) -> VerificationProfile {
    let class_i = infer_task_class(req.text);
    let role_i = infer_stage_role(req.text, class_i);
    let p_i = base_profile(class_i, role_i);
    let mut profile = if req.task_class.is_none() && req.stage_role.is_none() {
        p_i
    } else {
        let class_o = req.task_class.unwrap_or(class_i);
        let role_o = req.stage_role.unwrap_or(role_i);
        let p_o = base_profile(class_o, role_o);
        let stage_role = if role_i == StageRole::Release || role_o == StageRole::Release {
            StageRole::Release
        } else {
            role_o
        };
        let has_star = |c: &[String]| c.iter().any(|p| p == "*");
        let permission_ceiling = if has_star(&p_o.permission_ceiling) {
            p_i.permission_ceiling.clone()
        } else if has_star(&p_i.permission_ceiling) {
            p_o.permission_ceiling.clone()
        } else {
            p_o.permission_ceiling
                .iter()
                .filter(|p| covered(p, &p_i.permission_ceiling))
                .cloned()
                .collect()
        };
        let mut release_targets: Vec<String> = p_o
            .release_targets
            .iter()
            .filter(|t| p_i.release_targets.contains(t))
            .cloned()
            .collect();
        if release_targets.is_empty() {
            release_targets = vec!["internal".to_owned()];
        }
        let sandbox_profile =
            if sandbox_disables_network(&p_i.sandbox_profile) && !sandbox_disables_network(&p_o.sandbox_profile) {
                p_i.sandbox_profile.clone()
            } else {
                p_o.sandbox_profile.clone()
            };
        let mut metadata = p_i.metadata.clone();
        metadata.extend(p_o.metadata.clone());
        VerificationProfile {
            profile_name: format!("{}:{}", class_o.as_str(), stage_role.as_str()),
            task_class: class_o,
            stage_role,
            stage_id: None,
            required_proofs: union(&p_o.required_proofs, &p_i.required_proofs),
            required_approvals: union(&p_o.required_approvals, &p_i.required_approvals),
            permission_ceiling,
            release_targets,
            sandbox_profile,
            temporal_requirements: union(&p_o.temporal_requirements, &p_i.temporal_requirements),
            evidence_requirements: union(&p_o.evidence_requirements, &p_i.evidence_requirements),
            upstream_execution_ids: Vec::new(),
            metadata,
        }
    };
    profile.stage_id = req.stage_id.clone();
    profile.upstream_execution_ids = req.upstream_execution_ids.clone();
    if profile.stage_role == StageRole::Release && profile.upstream_execution_ids.is_empty() {
        profile
            .temporal_requirements
            .push("review_must_occur_before_release".to_owned());
    }
    profile
}

/// Composes a profile with a preset (spec §8.5).
pub fn compose_with_preset(profile: &VerificationProfile, preset: &Preset) -> VerificationProfile {
    let m = preset.manifest();
    let max = m.max_or_default();
    let mut ceiling = if profile.permission_ceiling.is_empty() {
        max.to_vec()
    } else {
        profile.permission_ceiling.clone()
    };
    if !max.is_empty() && !max.iter().any(|p| p.contains('*')) {
        ceiling = if ceiling.iter().any(|p| p.contains('*')) {
            max.to_vec()
        } else {
            ceiling.into_iter().filter(|p| max.contains(p)).collect()
        };
    }
    let base_evidence = strings(&["z3_certificate", "lean_certificate", "audit_trail"]);
    VerificationProfile {
        required_proofs: union(&m.required_proofs, &profile.required_proofs),
        required_approvals: union(&m.human_approvals, &profile.required_approvals),
        permission_ceiling: ceiling,
        evidence_requirements: union(&base_evidence, &profile.evidence_requirements),
        ..profile.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::PresetRegistry;

    fn profile(text: &str) -> VerificationProfile {
        build_profile(&ProfileRequest {
            text,
            ..Default::default()
        })
    }

    #[test]
    fn task_classes_follow_the_rule_order() {
        assert_eq!(
            infer_task_class("Email the patient records"),
            TaskClass::ProtectedRelease
        );
        assert_eq!(
            infer_task_class("Summarize patient encounter discharge summary, redact identifiers"),
            TaskClass::PublicSafeSummary
        );
        assert_eq!(infer_task_class("Patient intake notes"), TaskClass::ClinicalIntake);
        assert_eq!(infer_task_class("Privilege review of memo"), TaskClass::PrivacyReview);
        assert_eq!(infer_task_class("Prepare the attestation"), TaskClass::ReleaseDecision);
        assert_eq!(infer_task_class("Quarterly expense audit"), TaskClass::FinancialAudit);
        assert_eq!(infer_task_class("Tell me about llamas"), TaskClass::GeneralAnalysis);
        // Keywords match at the start of a word only: "graphic" does not contain the word "phi".
        assert_eq!(infer_task_class("Draw a graphic"), TaskClass::GeneralAnalysis);
        assert_eq!(infer_task_class("prereview"), TaskClass::GeneralAnalysis);
    }

    #[test]
    fn stage_roles_follow_the_rule_order() {
        assert_eq!(
            profile("Email the patient records").profile_name,
            "protected_release:release"
        );
        assert_eq!(profile("Privilege review of memo").stage_role, StageRole::Reviewer);
        assert_eq!(profile("Quarterly go/no-go on budget").stage_role, StageRole::Reviewer);
        assert_eq!(profile("Prepare the attestation").stage_role, StageRole::Release);
        assert_eq!(
            profile("Quarterly expense audit").profile_name,
            "financial_audit:intake"
        );
        assert_eq!(
            profile("Tell me about llamas").profile_name,
            "general_analysis:single_agent"
        );
    }

    #[test]
    fn release_without_upstream_gets_the_temporal_requirement_again() {
        let p = profile("Email the patient records");
        assert_eq!(
            p.temporal_requirements,
            [
                "review_must_occur_before_release",
                "deidentification_must_precede_release",
                "review_must_occur_before_release"
            ]
        );
        let with_upstream = build_profile(&ProfileRequest {
            text: "Email the patient records",
            upstream_execution_ids: vec!["e1".into()],
            ..Default::default()
        });
        assert_eq!(with_upstream.temporal_requirements.len(), 2);
    }

    #[test]
    fn overrides_only_tighten() {
        // A release text overridden to a harmless class stays a release stage with all its proofs.
        let p = build_profile(&ProfileRequest {
            text: "Email the patient records",
            task_class: Some(TaskClass::GeneralAnalysis),
            stage_role: Some(StageRole::SingleAgent),
            ..Default::default()
        });
        let inferred = profile("Email the patient records");
        assert_eq!(p.stage_role, StageRole::Release);
        for proof in &inferred.required_proofs {
            assert!(p.required_proofs.contains(proof), "{proof} dropped");
        }
        for c in &p.permission_ceiling {
            assert!(inferred.permission_ceiling.contains(c), "{c} widened");
        }
        assert_eq!(p.sandbox_profile, "phi_release_attested");
        // Narrowing a general task to financial audit takes the audit ceiling and targets.
        let q = build_profile(&ProfileRequest {
            text: "Tell me about llamas",
            task_class: Some(TaskClass::FinancialAudit),
            ..Default::default()
        });
        assert_eq!(q.profile_name, "financial_audit:single_agent");
        assert_eq!(q.permission_ceiling.len(), 4);
        assert_eq!(q.release_targets, ["internal"]);
        assert_eq!(
            q.required_proofs,
            ["segregation_of_duties", "budget_sufficient", "capability_coverage"]
        );
    }

    #[test]
    fn override_values_are_validated() {
        assert_eq!(TaskClass::parse("financial_audit"), Ok(TaskClass::FinancialAudit));
        assert!(TaskClass::parse("anything").is_err());
        assert_eq!(StageRole::parse("reviewer"), Ok(StageRole::Reviewer));
        assert!(StageRole::parse("boss").is_err());
    }

    #[test]
    fn hipaa_composition_example() {
        let registry = PresetRegistry::builtin();
        let hipaa = registry.get("hipaa").unwrap();
        let p = compose_with_preset(
            &profile("Summarize patient encounter discharge summary, redact identifiers"),
            &hipaa,
        );
        assert_eq!(p.profile_name, "public_safe_summary:single_agent");
        assert_eq!(
            p.required_proofs,
            [
                "no_phi_external_flow",
                "minimum_necessary_access",
                "authorized_user_only",
                "output_deidentification_verified"
            ]
        );
        assert_eq!(
            p.required_approvals,
            ["send_external_communication", "export_patient_data", "data_export"]
        );
        assert_eq!(p.permission_ceiling, CLINICAL_CEILING);
        assert_eq!(
            p.evidence_requirements,
            [
                "z3_certificate",
                "lean_certificate",
                "audit_trail",
                "content_safety_summary"
            ]
        );
        let keys: Vec<String> = serde_json::to_value(&p)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys.len(), 13);
    }

    #[test]
    fn open_presets_pass_the_profile_ceiling_and_closed_ones_cap_it() {
        let registry = PresetRegistry::builtin();
        let general = profile("Tell me about llamas");
        assert_eq!(
            compose_with_preset(&general, &registry.get("default").unwrap()).permission_ceiling,
            ["*"]
        );
        let sox = compose_with_preset(&general, &registry.get("sox").unwrap());
        assert_eq!(
            sox.permission_ceiling,
            registry.get("sox").unwrap().manifest().permissions.max
        );
    }
}
