//! The Cedar release gates of one preset (spec/RELEASES.md §3.3): the `ship` request over the
//! facts, evaluated against the preset's blocking and advisory policy sets, each satisfied
//! `forbid` turned into remediation items through its annotations.
//!
//! Cedar skips a policy that errors; here such a policy is a blocking `policy_error`, so no
//! evaluation failure can let a release through.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy,
    PolicySet, Request, RestrictedExpression,
};

use super::catalogue;
use super::facts::{ItemContext, ReleaseFacts, EACH_PATHS};
use super::item::{render, ItemSeverity, RemediationItem, Vars};
use crate::cedar::schema;
use crate::preset::Preset;

/// Id of the permit-all that carries the advisory set (never part of a preset's policies).
const ADVISORY_BASE: &str = "release.advisory_base";

/// What a release policy's annotations say, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateAnnotations {
    pub id: String,
    pub code: String,
    pub severity: ItemSeverity,
    pub owner: Option<String>,
    pub message: Option<String>,
    pub steps: Option<Vec<String>>,
    pub each: Option<String>,
}

/// Why a `ship` policy's annotations are unusable (checked when a preset loads).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    #[error("policy `{id}`: @code(\"{code}\") does not match ^[a-z][a-z0-9_]{{0,63}}$")]
    Code { id: String, code: String },
    #[error("policy `{id}`: @severity(\"{severity}\") is not blocking, degraded or info")]
    Severity { id: String, severity: String },
    #[error("policy `{id}`: @each(\"{path}\") is not one of {}", EACH_PATHS.join(", "))]
    Each { id: String, path: String },
}

/// Whether `code` is a valid item code.
pub fn valid_code(code: &str) -> bool {
    let mut chars = code.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && code.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Reads and checks the annotations of a `ship` policy.
pub fn annotations(policy: &Policy) -> Result<GateAnnotations, AnnotationError> {
    let id = policy.id().to_string();
    let code = policy.annotation("code").unwrap_or("release_forbidden").to_owned();
    if !valid_code(&code) {
        return Err(AnnotationError::Code { id, code });
    }
    let severity = match policy.annotation("severity") {
        Some(word) => ItemSeverity::parse(word).ok_or_else(|| AnnotationError::Severity {
            id: id.clone(),
            severity: word.to_owned(),
        })?,
        None => catalogue::lookup(&code).map_or(ItemSeverity::Blocking, |e| e.severity),
    };
    let each = policy.annotation("each").map(str::to_owned);
    if let Some(path) = &each {
        if !EACH_PATHS.contains(&path.as_str()) {
            return Err(AnnotationError::Each { id, path: path.clone() });
        }
    }
    Ok(GateAnnotations {
        id,
        code,
        severity,
        owner: policy.annotation("owner").map(str::to_owned),
        message: policy.annotation("message").map(str::to_owned),
        steps: policy
            .annotation("remediation")
            .map(|text| text.split('\n').map(str::to_owned).collect()),
        each,
    })
}

/// Checks every `ship` forbid of `set` (what a preset load runs).
pub fn check_annotations(set: &PolicySet) -> Result<(), AnnotationError> {
    for policy in ship_policies(set) {
        annotations(policy)?;
    }
    Ok(())
}

fn ship_policies(set: &PolicySet) -> impl Iterator<Item = &Policy> {
    set.policies().filter(|p| match p.action_constraint() {
        cedar_policy::ActionConstraint::Any => true,
        cedar_policy::ActionConstraint::Eq(uid) => uid.id().unescaped() == "ship",
        cedar_policy::ActionConstraint::In(uids) => uids.iter().any(|uid| uid.id().unescaped() == "ship"),
    })
}

fn uid(ty: &str, id: &str) -> Result<EntityUid, String> {
    let ty = EntityTypeName::from_str(ty).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(id)))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

/// The request and entities of spec §3.2.
fn request(repo: &str, commit_sha: &str, facts: &ReleaseFacts) -> Result<(Request, Entities), String> {
    let repo_uid = uid("Repo", repo)?;
    let release_uid = uid("Release", &format!("{repo}@{commit_sha}"))?;
    let action = uid("Action", "ship")?;
    let entities = vec![
        Entity::new(
            repo_uid.clone(),
            HashMap::from([("key".to_owned(), string(repo))]),
            HashSet::new(),
        )
        .map_err(|e| e.to_string())?,
        Entity::new(
            release_uid.clone(),
            HashMap::from([
                ("repo".to_owned(), string(repo)),
                ("commit_sha".to_owned(), string(commit_sha)),
            ]),
            HashSet::from([repo_uid.clone()]),
        )
        .map_err(|e| e.to_string())?,
    ];
    let entities = Entities::from_entities(entities, Some(schema())).map_err(|e| e.to_string())?;
    let facts = serde_json::to_value(facts).map_err(|e| e.to_string())?;
    let context = Context::from_json_value(facts, Some((schema(), &action))).map_err(|e| e.to_string())?;
    let request = Request::new(repo_uid, action, release_uid, context, Some(schema())).map_err(|e| e.to_string())?;
    Ok((request, entities))
}

/// The blocking and advisory sets of spec §3.3, with each forbid's annotations.
struct Partition {
    blocking: PolicySet,
    advisory: PolicySet,
    gates: HashMap<String, GateAnnotations>,
}

fn partition(preset: &Preset) -> Result<Partition, String> {
    let mut blocking = PolicySet::new();
    let mut advisory = PolicySet::new();
    let base = Policy::parse(
        Some(cedar_policy::PolicyId::new(ADVISORY_BASE)),
        r#"permit (principal, action == Action::"ship", resource);"#,
    )
    .map_err(|e| e.to_string())?;
    advisory.add(base).map_err(|e| e.to_string())?;
    let mut gates = HashMap::new();
    for policy in ship_policies(preset.policies_for("ship")) {
        if policy.effect() == Effect::Permit {
            if policy.id().to_string() == "release.base" {
                blocking.add(policy.clone()).map_err(|e| e.to_string())?;
            }
            continue;
        }
        let gate = annotations(policy).map_err(|e| e.to_string())?;
        let set = if gate.severity == ItemSeverity::Blocking {
            &mut blocking
        } else {
            &mut advisory
        };
        set.add(policy.clone()).map_err(|e| e.to_string())?;
        gates.insert(gate.id.clone(), gate);
    }
    Ok(Partition {
        blocking,
        advisory,
        gates,
    })
}

/// A blocking `policy_error` for `policy_id` of `preset`.
fn policy_error(base: &Vars, policy_id: &str) -> RemediationItem {
    let mut vars = base.clone();
    vars.insert("policy_id", policy_id.to_owned());
    RemediationItem::catalogue("policy_error", &vars, None)
}

/// The items of one satisfied forbid.
fn gate_items(
    gate: &GateAnnotations,
    facts: &ReleaseFacts,
    context: &ItemContext,
    base: &Vars,
) -> Vec<RemediationItem> {
    let entry = catalogue::lookup(&gate.code);
    let owner = gate
        .owner
        .clone()
        .or_else(|| entry.map(|e| e.owner.to_owned()))
        .unwrap_or_else(|| format!("preset:{}", facts.preset));
    let message = gate
        .message
        .clone()
        .or_else(|| entry.map(|e| e.message.to_owned()))
        .unwrap_or_else(|| "Release policy {policy_id} of preset {preset} is not satisfied".to_owned());
    let steps: Vec<String> = gate
        .steps
        .clone()
        .or_else(|| entry.map(|e| e.steps.iter().map(|s| (*s).to_owned()).collect()))
        .unwrap_or_default();
    let mut vars = base.clone();
    vars.insert("policy_id", gate.id.clone());
    let make = |vars: &Vars, evidence_id: Option<String>| RemediationItem {
        code: gate.code.clone(),
        severity: gate.severity,
        owner_subsystem: render(&owner, vars),
        message: render(&message, vars),
        remediation_steps: steps.iter().map(|s| render(s, vars)).collect(),
        evidence_id,
    };
    let Some(path) = &gate.each else {
        return vec![make(&vars, context.code_evidence.get(&gate.code).cloned())];
    };
    let elements = facts.set(path).cloned().unwrap_or_default();
    if elements.is_empty() {
        vars.insert("item", "(none)".to_owned());
        return vec![make(&vars, None)];
    }
    elements
        .into_iter()
        .map(|element| {
            let mut vars = vars.clone();
            let detail = context.elements.get(&(path.clone(), element.clone()));
            if let Some(detail) = detail {
                vars.extend(detail.vars.clone());
            }
            vars.insert("item", element);
            make(&vars, detail.and_then(|d| d.evidence_id.clone()))
        })
        .collect()
}

/// The items of one preset's Cedar gates, and the causes of any `policy_error` among them (for
/// the server's log; the items themselves carry the catalogue text).
#[derive(Debug, Clone, Default)]
pub struct GateOutcome {
    pub items: Vec<RemediationItem>,
    pub errors: Vec<String>,
}

/// Evaluates the Cedar release gates of `preset` for `repo@commit_sha` over `facts`.
/// Every failure to build or evaluate is a blocking item.
pub fn evaluate(
    preset: &Preset,
    repo: &str,
    commit_sha: &str,
    facts: &ReleaseFacts,
    context: &ItemContext,
) -> GateOutcome {
    let mut base = context.vars.clone();
    base.insert("preset", preset.key().to_owned());
    let prepared = partition(preset).and_then(|p| request(repo, commit_sha, facts).map(|r| (p, r)));
    let (partition, (request, entities)) = match prepared {
        Ok(ready) => ready,
        Err(error) => {
            return GateOutcome {
                items: vec![policy_error(&base, "release.base")],
                errors: vec![error],
            }
        }
    };
    static AUTHORIZER: OnceLock<Authorizer> = OnceLock::new();
    let authorizer = AUTHORIZER.get_or_init(Authorizer::new);
    let mut outcome = GateOutcome::default();
    for set in [&partition.blocking, &partition.advisory] {
        let response = authorizer.is_authorized(&request, set, &entities);
        for error in response.diagnostics().errors() {
            let AuthorizationError::PolicyEvaluationError(error) = error;
            outcome.errors.push(error.to_string());
            outcome.items.push(policy_error(&base, error.policy_id().as_ref()));
        }
        let mut satisfied: Vec<String> = response.diagnostics().reason().map(|id| id.to_string()).collect();
        satisfied.sort();
        for id in satisfied {
            if let Some(gate) = partition.gates.get(&id) {
                outcome.items.extend(gate_items(gate, facts, context, &base));
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::{load_bundle, PresetRegistry, PresetSource};
    use crate::release::facts::ElementDetail;
    use std::collections::BTreeMap;

    fn facts(preset: &str) -> ReleaseFacts {
        let mut facts = ReleaseFacts {
            preset: preset.into(),
            ..ReleaseFacts::default()
        };
        facts.policy.require_attestation = true;
        facts.policy.max_evidence_age_days = 7;
        facts.attestation.state = "none".into();
        facts.attestation.digest_matches = true;
        facts
    }

    fn codes(outcome: &GateOutcome) -> Vec<(&str, ItemSeverity)> {
        outcome.items.iter().map(|i| (i.code.as_str(), i.severity)).collect()
    }

    #[test]
    fn built_in_gates_produce_catalogue_items() {
        let registry = PresetRegistry::builtin();
        let preset = registry.get("default").unwrap();
        let mut f = facts("default");
        let context = ItemContext {
            vars: Vars::from([("repo", "acme/widget".to_owned()), ("commit", "c".repeat(40))]),
            elements: BTreeMap::from([(
                ("checks.failed".to_owned(), "test".to_owned()),
                ElementDetail {
                    vars: Vars::from([("conclusion", "failure".to_owned())]),
                    evidence_id: Some("ev_1".into()),
                },
            )]),
            code_evidence: BTreeMap::new(),
        };
        let ready = evaluate(&preset, "acme/widget", &"c".repeat(40), &f, &context);
        assert_eq!(codes(&ready), [("attestation_required", ItemSeverity::Blocking)]);
        assert_eq!(ready.items[0].owner_subsystem, "release_governance");
        f.checks.failed.insert("test".into());
        f.checks.missing.insert("build".into());
        f.checks.other_failed.insert("lint".into());
        let blocked = evaluate(&preset, "acme/widget", &"c".repeat(40), &f, &context);
        let mut got = codes(&blocked);
        got.sort();
        assert_eq!(
            got,
            [
                ("attestation_required", ItemSeverity::Blocking),
                ("optional_check_failed", ItemSeverity::Degraded),
                ("required_check_failed", ItemSeverity::Blocking),
                ("required_check_missing", ItemSeverity::Blocking),
            ]
        );
        let failed = blocked
            .items
            .iter()
            .find(|i| i.code == "required_check_failed")
            .unwrap();
        assert_eq!(failed.message, "Required check test concluded failure");
        assert_eq!(failed.evidence_id.as_deref(), Some("ev_1"));
        assert!(blocked.errors.is_empty());
    }

    fn custom(policy: &str) -> Result<crate::Preset, crate::PresetError> {
        let toml = "schema_version = 1\nkey = \"acme\"\nname = \"Acme\"\nretention_days = 1\n[permissions]\ndefault = [\"filesystem:read\"]\n";
        let files = BTreeMap::from([
            ("preset.toml".to_owned(), toml.as_bytes().to_vec()),
            ("policy.cedar".to_owned(), policy.as_bytes().to_vec()),
        ]);
        load_bundle(&files, "acme", PresetSource::Uploaded)
    }

    #[test]
    fn preset_gates_follow_their_annotations() {
        let preset = custom(
            r#"@id("acme.release.component_inventory") @code("component_inventory_missing")
               @severity("degraded") @owner("supply_chain") @message("No component inventory was recorded for {commit}")
               forbid (principal, action == Action::"ship", resource) when { context.components.isEmpty() };
               @id("acme.release.phi") @each("properties.unverified")
               forbid (principal, action == Action::"ship", resource) unless { context.properties.verified.contains("no_phi") };"#,
        )
        .unwrap();
        let mut f = facts("acme");
        f.attestation.state = "attested".into();
        let context = ItemContext {
            vars: Vars::from([("commit", "abc".to_owned())]),
            ..ItemContext::default()
        };
        let outcome = evaluate(&preset, "acme/widget", "abc", &f, &context);
        let inventory = outcome
            .items
            .iter()
            .find(|i| i.code == "component_inventory_missing")
            .unwrap();
        assert_eq!(inventory.severity, ItemSeverity::Degraded);
        assert_eq!(inventory.owner_subsystem, "supply_chain");
        assert_eq!(inventory.message, "No component inventory was recorded for abc");
        let phi = outcome.items.iter().find(|i| i.code == "release_forbidden").unwrap();
        assert_eq!(
            phi.owner_subsystem, "policy_engine",
            "release_forbidden is a catalogue code"
        );
        assert_eq!(
            phi.message,
            "Release policy acme.release.phi of preset acme forbids shipping"
        );
    }

    #[test]
    fn a_policy_that_errors_blocks_with_policy_error() {
        // Validates strictly, but overflows at evaluation once a workflow is bound.
        let preset = custom(
            r#"@id("acme.release.overflow") @severity("info")
               forbid (principal, action == Action::"ship", resource)
               when { context.workflows.bound + 9223372036854775807 > 0 };"#,
        )
        .unwrap();
        let mut f = facts("acme");
        f.attestation.state = "attested".into();
        f.workflows.bound = 1;
        let outcome = evaluate(&preset, "acme/widget", "abc", &f, &ItemContext::default());
        assert_eq!(codes(&outcome), [("policy_error", ItemSeverity::Blocking)]);
        assert_eq!(
            outcome.items[0].message,
            "Release policy acme.release.overflow of preset acme could not be evaluated"
        );
        assert_eq!(outcome.errors.len(), 1);
    }

    #[test]
    fn malformed_annotations_stop_the_load() {
        for (policy, needle) in [
            (
                r#"@id("acme.r") @code("Bad-Code") forbid (principal, action == Action::"ship", resource);"#,
                "@code",
            ),
            (
                r#"@id("acme.r") @severity("fatal") forbid (principal, action == Action::"ship", resource);"#,
                "@severity",
            ),
            (
                r#"@id("acme.r") @each("checks.nope") forbid (principal, action == Action::"ship", resource);"#,
                "@each",
            ),
            (
                r#"@id("release.mine") forbid (principal, action == Action::"ship", resource);"#,
                "reserved",
            ),
        ] {
            let err = custom(policy).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
