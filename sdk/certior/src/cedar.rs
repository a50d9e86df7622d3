//! Compiling a preset into one Cedar policy set, validated against the shared schema.
//!
//! The preset's ceiling, forbidden list, approvals and flow rules become Cedar policies with the
//! stable ids of spec §5.2, next to the built-in rules (`base.*`, `role.read_only`,
//! `stage.review_before_release`) and the preset's own `policy.cedar`. Because every decision is
//! a Cedar answer, the ids of the policies that decided are the reasons given to callers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{ActionConstraint, Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};

use crate::preset::Manifest;

/// The shared schema text (`presets/certior.cedarschema`), embedded in the binary.
pub const SCHEMA_TEXT: &str = include_str!("../../../presets/certior.cedarschema");

/// Built-in rules every preset's policy set contains.
const BUILTIN_POLICIES: &str = r#"
@id("base.invoke")
permit (principal, action == Action::"invoke", resource);
@id("base.request_permission")
permit (principal, action == Action::"request_permission", resource);
@id("base.flow")
permit (principal, action == Action::"flow", resource);
@id("base.run_stage")
permit (principal, action == Action::"run_stage", resource);
@id("role.read_only")
forbid (principal, action in [Action::"invoke", Action::"request_permission"], resource)
when { principal.role == "viewer" || principal.role == "auditor" };
@id("stage.review_before_release")
forbid (principal, action == Action::"run_stage", resource)
when { resource.stage_role == "release" && (context.upstream_count == 0 || !context.invalid_upstream.isEmpty()) };
"#;

/// The built-in release gates (spec/RELEASES.md §3.3), embedded with the shared schema.
pub const RELEASE_POLICIES: &str = include_str!("../../../presets/release.cedar");

/// Ids of the built-in permits: they carry no information, so certificates leave them out.
pub(crate) const BASE_PERMIT_PREFIX: &str = "base.";

/// Id of the operator role ceiling compiled from the preset's defaults (spec §7.2 check 4).
pub(crate) const ROLE_OPERATOR_CEILING: &str = "role.operator_ceiling";

/// Id of the read-only role rule (spec §7.5).
pub(crate) const ROLE_READ_ONLY: &str = "role.read_only";

/// The parsed shared schema.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let (schema, _warnings) = Schema::from_cedarschema_str(SCHEMA_TEXT)
            .unwrap_or_else(|e| panic!("embedded presets/certior.cedarschema is invalid: {e}"));
        schema
    })
}

/// Why a preset's Cedar rules were rejected (spec §5.6 rule 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CedarError {
    #[error("Cedar syntax error: {0}")]
    Syntax(String),
    #[error("policy #{index} has no @id(\"…\") annotation")]
    MissingId { index: usize },
    #[error("policy id `{0}` is used twice")]
    DuplicateId(String),
    #[error("policy id `{0}` uses a reserved prefix")]
    ReservedId(String),
    #[error("policy #{index} is a template; only static policies are allowed")]
    Template { index: usize },
    #[error("the policy set does not validate against certior.cedarschema: {0}")]
    Schema(String),
    #[error("{0}")]
    ReleaseAnnotation(#[from] crate::release::gates::AnnotationError),
}

impl CedarError {
    /// What the preset author should do.
    pub fn fix(&self) -> String {
        match self {
            Self::Syntax(_) => "correct the Cedar syntax at the position shown".into(),
            Self::MissingId { .. } => "add @id(\"<unique id>\") before the policy".into(),
            Self::DuplicateId(_) => "give every policy a unique @id".into(),
            Self::ReservedId(_) => {
                "rename it: ids may not start with <key>.ceiling, <key>.forbidden., <key>.approval, <key>.flow., role., stage., release. or base.".into()
            }
            Self::Template { .. } => "replace ?principal/?resource slots with concrete entities".into(),
            Self::Schema(_) => "use only the entities, attributes and actions of presets/certior.cedarschema".into(),
            Self::ReleaseAnnotation(_) => {
                "use a @code of lower-case letters, digits and _, a @severity of blocking, degraded or info, and a known @each fact set".into()
            }
        }
    }
}

/// A Cedar string literal for `s`; with `pattern`, a `like` pattern matching `s` followed by
/// anything (so a literal `*` in `s` is escaped).
fn literal(s: &str, pattern: bool) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '*' if pattern => out.push_str("\\*"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    if pattern {
        out.push('*');
    }
    out.push('"');
    out
}

/// A Cedar condition true iff `expr` (a String) is covered by one entry of `list` (spec §7.1).
fn covered_condition(expr: &str, list: &[String]) -> String {
    if list.is_empty() {
        return "false".into();
    }
    list.iter()
        .map(|entry| match entry.strip_suffix('*') {
            Some(prefix) => format!("{expr} like {}", literal(prefix, true)),
            None => format!("{expr} == {}", literal(entry, false)),
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

/// The Cedar text of the policies compiled from `manifest`.
pub fn compiled_policies(manifest: &Manifest) -> String {
    let key = &manifest.key;
    let both = r#"action in [Action::"invoke", Action::"request_permission"]"#;
    let mut text = String::new();
    if let Some(ceiling) = manifest.ceiling() {
        let _ = writeln!(
            text,
            "@id(\"{key}.ceiling\")\nforbid (principal, {both}, resource)\nwhen {{ context has capability && !({}) }};",
            covered_condition("context.capability", ceiling)
        );
    }
    for (n, entry) in manifest.permissions.forbidden.iter().enumerate() {
        let _ = writeln!(
            text,
            "@id(\"{key}.forbidden.{n}\")\nforbid (principal, {both}, resource)\nwhen {{ context has capability && ({}) }};",
            covered_condition("context.capability", std::slice::from_ref(entry))
        );
    }
    let defaults = &manifest.permissions.default;
    if !defaults.iter().any(|d| d == "*") {
        let _ = writeln!(
            text,
            "@id(\"{ROLE_OPERATOR_CEILING}\")\nforbid (principal, action == Action::\"request_permission\", resource)\nwhen {{ principal.role == \"operator\" && !({}) }};",
            covered_condition("context.capability", defaults)
        );
    }
    let _ = writeln!(
        text,
        "@id(\"{key}.approval\")\nforbid (principal, action == Action::\"invoke\", resource)\nwhen {{ resource has destination && resource.destination == \"external\" && resource.approval_categories.containsAny(context.required_approvals) }};"
    );
    for (n, rule) in manifest.flow_rules.iter().enumerate() {
        let mut clauses = Vec::new();
        if !rule.forbidden_destinations.is_empty() {
            clauses.push(format!(
                "{}.contains(context.destination)",
                set_literal(&rule.forbidden_destinations)
            ));
        }
        if !rule.allowed_destinations.is_empty() {
            clauses.push(format!(
                "!{}.contains(context.destination)",
                set_literal(&rule.allowed_destinations)
            ));
        }
        let _ = writeln!(
            text,
            "@id(\"{key}.flow.{n}\")\nforbid (principal, action == Action::\"flow\", resource)\nwhen {{ context.label == {} && ({}) }};",
            literal(&rule.source.to_lowercase(), false),
            clauses.join(" || ")
        );
    }
    text
}

fn set_literal(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| literal(s, false)).collect();
    format!("[{}]", inner.join(", "))
}

/// Parses `text` into policies named by their `@id` annotation.
fn parse_annotated(text: &str) -> Result<Vec<Policy>, CedarError> {
    let parsed = PolicySet::from_str(text).map_err(|e| CedarError::Syntax(render_errors(&e)))?;
    if let Some((index, _)) = parsed.templates().enumerate().next() {
        return Err(CedarError::Template { index });
    }
    // `PolicySet` does not keep source order; the generated ids `policy<N>` do.
    let mut policies: Vec<(usize, &Policy)> = parsed
        .policies()
        .map(|p| {
            let n = p
                .id()
                .to_string()
                .trim_start_matches("policy")
                .parse()
                .unwrap_or(usize::MAX);
            (n, p)
        })
        .collect();
    policies.sort_by_key(|(n, _)| *n);
    policies
        .into_iter()
        .enumerate()
        .map(|(index, (_, p))| match p.annotation("id") {
            Some(id) if !id.trim().is_empty() => Ok(p.new_id(PolicyId::new(id))),
            _ => Err(CedarError::MissingId { index }),
        })
        .collect()
}

fn render_errors(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(msg, ": {s}");
        source = s.source();
    }
    msg
}

fn is_reserved(key: &str, id: &str) -> bool {
    id.starts_with(&format!("{key}.ceiling"))
        || id.starts_with(&format!("{key}.forbidden."))
        || id.starts_with(&format!("{key}.approval"))
        || id.starts_with(&format!("{key}.flow."))
        || id.starts_with("role.")
        || id.starts_with("stage.")
        || id.starts_with("release.")
        || id.starts_with(BASE_PERMIT_PREFIX)
}

/// A preset's policies, and for each action of the schema the subset that can apply to it.
///
/// Cedar evaluates every policy of the set it is given, including the scope of policies written
/// for other actions; asking with only the policies whose action scope admits the request's
/// action halves the work of a Guard check. The schema declares no action groups, so a policy
/// applies to action `a` exactly when its scope is `action`, `action == a` or `action in [.., a, ..]`.
#[derive(Debug, Clone)]
pub struct ActionPolicies {
    all: PolicySet,
    by_action: BTreeMap<String, PolicySet>,
}

impl ActionPolicies {
    pub fn new(all: PolicySet) -> Result<ActionPolicies, CedarError> {
        let mut by_action: BTreeMap<String, PolicySet> = schema()
            .actions()
            .map(|uid| (uid.id().unescaped().to_owned(), PolicySet::new()))
            .collect();
        for policy in all.policies() {
            for (action, set) in by_action.iter_mut() {
                let applies = match policy.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(uid) => uid.id().unescaped() == action,
                    ActionConstraint::In(uids) => uids.iter().any(|uid| uid.id().unescaped() == action),
                };
                if applies {
                    set.add(policy.clone())
                        .map_err(|e| CedarError::DuplicateId(e.to_string()))?;
                }
            }
        }
        Ok(ActionPolicies { all, by_action })
    }

    /// Every policy.
    pub fn all(&self) -> &PolicySet {
        &self.all
    }

    /// The policies that can apply to `action` (all of them for an action the schema lacks).
    pub fn for_action(&self, action: &str) -> &PolicySet {
        self.by_action.get(action).unwrap_or(&self.all)
    }
}

/// Builds the preset's full policy set: built-ins, compiled rules and `policy_text`, validated
/// strictly against the shared schema.
pub fn build_policy_set(manifest: &Manifest, policy_text: &str) -> Result<ActionPolicies, CedarError> {
    let custom = parse_annotated(policy_text)?;
    let compiled = parse_annotated(&compiled_policies(manifest))
        .map_err(|e| CedarError::Syntax(format!("in the policies compiled from preset.toml: {e}")))?;
    let mut set = PolicySet::new();
    let release = parse_annotated(RELEASE_POLICIES)?;
    for p in parse_annotated(BUILTIN_POLICIES)?
        .into_iter()
        .chain(release)
        .chain(compiled)
    {
        set.add(p).map_err(|e| CedarError::DuplicateId(e.to_string()))?;
    }
    for p in custom {
        let id = p.id().to_string();
        if is_reserved(&manifest.key, &id) {
            return Err(CedarError::ReservedId(id));
        }
        if set.policy(p.id()).is_some() {
            return Err(CedarError::DuplicateId(id));
        }
        set.add(p).map_err(|e| CedarError::DuplicateId(e.to_string()))?;
    }
    let result = Validator::new(schema().clone()).validate(&set, ValidationMode::Strict);
    if !result.validation_passed() {
        let msgs: Vec<String> = result.validation_errors().map(|e| render_errors(e)).collect();
        return Err(CedarError::Schema(msgs.join("; ")));
    }
    crate::release::check_annotations(&set)?;
    ActionPolicies::new(set)
}

#[cfg(test)]
mod tests {
    use crate::preset::PresetRegistry;

    fn ids(set: &cedar_policy::PolicySet) -> Vec<String> {
        let mut ids: Vec<String> = set.policies().map(|p| p.id().to_string()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn each_action_is_decided_on_the_policies_whose_scope_admits_it() {
        // Slicing by scope is exact only while the schema declares no action groups.
        assert_eq!(super::schema().action_groups().count(), 0);
        let hipaa = PresetRegistry::builtin().get("hipaa").unwrap();
        let invoke = ids(hipaa.policies_for("invoke"));
        assert!(invoke.contains(&"hipaa.ceiling".to_owned()) && invoke.contains(&"hipaa.approval".to_owned()));
        assert!(!invoke.iter().any(|id| id.starts_with("hipaa.flow.")));
        assert_eq!(
            ids(hipaa.policies_for("flow"))
                .iter()
                .filter(|id| id.starts_with("hipaa."))
                .collect::<Vec<_>>(),
            ["hipaa.flow.0", "hipaa.flow.1"]
        );
        let every_action: usize = ["invoke", "request_permission", "flow", "run_stage", "ship"]
            .iter()
            .map(|a| hipaa.policies_for(a).policies().count())
            .sum();
        assert!(every_action >= hipaa.policies().policies().count(), "no policy is lost");
        assert_eq!(ids(hipaa.policies_for("no_such_action")), ids(hipaa.policies()));
    }
}
