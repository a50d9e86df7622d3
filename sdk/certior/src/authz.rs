//! Cedar requests against a preset's policy set, answering with the ids of the policies that
//! decided (spec §7.2, §7.5, §10.4).
//!
//! Cedar skips a policy whose evaluation errors; Certior fails closed instead: an evaluation
//! error is a denial naming the policy that failed.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request,
    RestrictedExpression,
};

use crate::preset::Preset;

/// The outcome of one Cedar request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzAnswer {
    pub allowed: bool,
    /// On a denial: the satisfied forbids (and policies that failed to evaluate). On an allow:
    /// the satisfied permits.
    pub policy_ids: Vec<String>,
}

impl AuthzAnswer {
    /// Whether `id` is among the deciding policies.
    pub fn decided_by(&self, id: &str) -> bool {
        self.policy_ids.iter().any(|p| p == id)
    }
}

/// The principal: a user and its lower-case role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub role: String,
}

/// The tool a call targets, as the prepare stage computed it (spec §7.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResource<'a> {
    pub name: &'a str,
    pub capabilities: &'a [String],
    pub destination: Option<&'a str>,
    pub approval_categories: &'a [String],
}

/// The context of an `invoke` request (spec §7.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeContext<'a> {
    pub task_class: &'a str,
    pub stage_role: &'a str,
    pub permissions: &'a [String],
    pub required_approvals: &'a [String],
    pub cost_cents: i64,
    pub budget_remaining_cents: i64,
}

fn type_name(name: &'static str) -> &'static EntityTypeName {
    static NAMES: OnceLock<HashMap<&'static str, EntityTypeName>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        ["User", "Tool", "Permission", "Stage", "Action"]
            .into_iter()
            .map(|n| {
                (
                    n,
                    EntityTypeName::from_str(n).unwrap_or_else(|e| panic!("type name {n}: {e}")),
                )
            })
            .collect()
    });
    &names[name]
}

fn uid(ty: &'static str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name(ty).clone(), EntityId::new(id))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn string_set(items: &[String]) -> RestrictedExpression {
    RestrictedExpression::new_set(items.iter().map(|s| string(s)))
}

fn user_entity(p: &Principal) -> Result<Entity, String> {
    Entity::new(
        uid("User", &p.user_id),
        HashMap::from([("role".to_owned(), string(&p.role))]),
        HashSet::new(),
    )
    .map_err(|e| e.to_string())
}

fn tool_entity(t: &ToolResource<'_>) -> Result<Entity, String> {
    let mut attrs = HashMap::from([
        ("capabilities".to_owned(), string_set(t.capabilities)),
        ("approval_categories".to_owned(), string_set(t.approval_categories)),
    ]);
    if let Some(d) = t.destination {
        attrs.insert("destination".to_owned(), string(d));
    }
    Entity::new(uid("Tool", t.name), attrs, HashSet::new()).map_err(|e| e.to_string())
}

/// Runs one request; any construction failure is a denial (fail closed).
fn decide(
    preset: &Preset,
    principal: EntityUid,
    action: &str,
    resource: EntityUid,
    context: Vec<(String, RestrictedExpression)>,
    entities: Result<Vec<Entity>, String>,
) -> AuthzAnswer {
    let built = Context::from_pairs(context)
        .map_err(|e| e.to_string())
        .and_then(|ctx| Request::new(principal, uid("Action", action), resource, ctx, None).map_err(|e| e.to_string()))
        .and_then(|req| {
            entities
                .and_then(|es| Entities::from_entities(es, None).map_err(|e| e.to_string()))
                .map(|es| (req, es))
        });
    let (request, entities) = match built {
        Ok(x) => x,
        Err(e) => {
            return AuthzAnswer {
                allowed: false,
                policy_ids: vec![format!("request_error: {e}")],
            }
        }
    };
    static AUTHORIZER: OnceLock<Authorizer> = OnceLock::new();
    let response =
        AUTHORIZER
            .get_or_init(Authorizer::new)
            .is_authorized(&request, preset.policies_for(action), &entities);
    let diagnostics = response.diagnostics();
    let failed: Vec<String> = diagnostics
        .errors()
        .map(|e| match e {
            AuthorizationError::PolicyEvaluationError(e) => e.policy_id().to_string(),
        })
        .collect();
    let deciding: Vec<String> = diagnostics.reason().map(|id| id.to_string()).collect();
    if !failed.is_empty() {
        let mut ids = if response.decision() == Decision::Deny {
            deciding
        } else {
            Vec::new()
        };
        ids.extend(failed);
        return AuthzAnswer {
            allowed: false,
            policy_ids: sorted(ids),
        };
    }
    AuthzAnswer {
        allowed: response.decision() == Decision::Allow,
        policy_ids: sorted(deciding),
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids.dedup();
    ids
}

/// `invoke` for one required capability (`None` for a tool that requires none).
pub fn invoke(
    preset: &Preset,
    principal: &Principal,
    tool: &ToolResource<'_>,
    ctx: &InvokeContext<'_>,
    capability: Option<&str>,
) -> AuthzAnswer {
    let entities = [user_entity(principal), tool_entity(tool)].into_iter().collect();
    let mut context = vec![
        ("preset".to_owned(), string(preset.key())),
        ("preset_digest".to_owned(), string(preset.digest())),
        ("task_class".to_owned(), string(ctx.task_class)),
        ("stage_role".to_owned(), string(ctx.stage_role)),
        ("permissions".to_owned(), string_set(ctx.permissions)),
        ("required_approvals".to_owned(), string_set(ctx.required_approvals)),
        ("cost_cents".to_owned(), RestrictedExpression::new_long(ctx.cost_cents)),
        (
            "budget_remaining_cents".to_owned(),
            RestrictedExpression::new_long(ctx.budget_remaining_cents),
        ),
    ];
    if let Some(c) = capability {
        context.push(("capability".to_owned(), string(c)));
    }
    decide(
        preset,
        uid("User", &principal.user_id),
        "invoke",
        uid("Tool", tool.name),
        context,
        entities,
    )
}

/// `request_permission` for one permission string (spec §7.2).
pub fn request_permission(preset: &Preset, principal: &Principal, permission: &str) -> AuthzAnswer {
    preset.permission_answers().answer(principal, permission, || {
        let context = vec![
            ("preset".to_owned(), string(preset.key())),
            ("capability".to_owned(), string(permission)),
        ];
        decide(
            preset,
            uid("User", &principal.user_id),
            "request_permission",
            uid("Permission", permission),
            context,
            user_entity(principal).map(|user| vec![user]),
        )
    })
}

/// `flow` for one (label, destination) pair (spec §7.5). Labels match case-insensitively.
pub fn flow(
    preset: &Preset,
    principal: &Principal,
    tool: &ToolResource<'_>,
    label: &str,
    destination: &str,
) -> AuthzAnswer {
    let entities = [user_entity(principal), tool_entity(tool)].into_iter().collect();
    let context = vec![
        ("preset".to_owned(), string(preset.key())),
        ("label".to_owned(), string(&label.to_lowercase())),
        ("destination".to_owned(), string(destination)),
    ];
    decide(
        preset,
        uid("User", &principal.user_id),
        "flow",
        uid("Tool", tool.name),
        context,
        entities,
    )
}

/// The stage admission facts of spec §10.4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRequest<'a> {
    pub stage_id: &'a str,
    pub stage_role: &'a str,
    pub upstream_count: i64,
    pub invalid_upstream: &'a [String],
}

/// `run_stage` (spec §10.4): the built-in `stage.review_before_release` plus the preset's rules.
pub fn run_stage(preset: &Preset, owner: &Principal, stage: &StageRequest<'_>) -> AuthzAnswer {
    let stage_entity = Entity::new(
        uid("Stage", stage.stage_id),
        HashMap::from([
            ("stage_role".to_owned(), string(stage.stage_role)),
            ("preset".to_owned(), string(preset.key())),
        ]),
        HashSet::new(),
    );
    let entities = [user_entity(owner), stage_entity.map_err(|e| e.to_string())]
        .into_iter()
        .collect();
    let context = vec![
        (
            "upstream_count".to_owned(),
            RestrictedExpression::new_long(stage.upstream_count),
        ),
        ("invalid_upstream".to_owned(), string_set(stage.invalid_upstream)),
    ];
    decide(
        preset,
        uid("User", &owner.user_id),
        "run_stage",
        uid("Stage", stage.stage_id),
        context,
        entities,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::PresetRegistry;

    fn owner() -> Principal {
        Principal {
            user_id: "u".into(),
            role: "writer".into(),
        }
    }

    #[test]
    fn release_stage_needs_valid_upstream() {
        let preset = PresetRegistry::builtin().get("hipaa").unwrap();
        fn stage<'a>(role: &'a str, upstream_count: i64, invalid: &'a [String]) -> StageRequest<'a> {
            StageRequest {
                stage_id: "s1",
                stage_role: role,
                upstream_count,
                invalid_upstream: invalid,
            }
        }
        let none = run_stage(&preset, &owner(), &stage("release", 0, &[]));
        assert_eq!(
            (none.allowed, none.policy_ids.as_slice()),
            (false, &["stage.review_before_release".to_owned()][..])
        );
        let bad = run_stage(
            &preset,
            &owner(),
            &stage("release", 1, &["not_completed:e1".to_owned()]),
        );
        assert!(!bad.allowed);
        assert!(run_stage(&preset, &owner(), &stage("release", 1, &[])).allowed);
        assert!(run_stage(&preset, &owner(), &stage("intake", 0, &[])).allowed);
    }

    #[test]
    fn flow_labels_match_case_insensitively() {
        let preset = PresetRegistry::builtin().get("sox").unwrap();
        let tool = ToolResource {
            name: "http_get",
            capabilities: &[],
            destination: Some("external"),
            approval_categories: &[],
        };
        let denied = flow(&preset, &owner(), &tool, "mnpi", "general_internal");
        assert_eq!(
            (denied.allowed, denied.policy_ids.as_slice()),
            (false, &["sox.flow.0".to_owned()][..])
        );
        assert!(flow(&preset, &owner(), &tool, "MNPI", "internal_finance").allowed);
        assert!(
            flow(&preset, &owner(), &tool, "PHI", "public").allowed,
            "sox has no PHI rule"
        );
    }
}
