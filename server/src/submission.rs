//! What a task submission and a workflow stage share once their preset, profile, permissions
//! and provider are resolved: the provider resolution itself, and minting the execution's root
//! capability token (spec §11.4) with its queued execution row and `execution.created` event.

use certior::signing::SigningKeyring;
use certior::{Preset, VerificationProfile};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::capability_tokens::{self, Grant};
use crate::clock::now;
use crate::providers::Provider;
use crate::routes::settings::default_provider;
use crate::state::AppState;
use crate::store::{EventDraft, NewExecution, NewToken, StoreResult};

/// The workflow stage an execution runs for.
pub struct StageLink<'a> {
    pub workflow_id: &'a str,
    pub stage_id: &'a str,
    pub stage_name: &'a str,
}

/// A resolved submission.
pub struct Submission<'a> {
    pub user_id: &'a str,
    pub task: &'a str,
    pub preset: &'a Preset,
    /// The raw requested preset string, or `default`.
    pub compliance_policy: &'a str,
    pub profile: &'a VerificationProfile,
    pub permissions: &'a [String],
    pub budget_cents: i64,
    pub provider: Option<Provider>,
    pub model: Option<String>,
    /// The plan and webhook URL the worker needs.
    pub run_spec: Value,
    pub stage: Option<StageLink<'a>>,
}

/// The rows `ExecutionStore::create_task` writes.
pub struct Minted {
    pub token: NewToken,
    pub execution: NewExecution,
    pub created: EventDraft,
}

/// `plan` for the deterministic provider (and when none resolves), `agentic` for LLMs.
pub fn run_mode(provider: Option<Provider>) -> &'static str {
    match provider {
        Some(p) if p.is_llm() => "agentic",
        _ => "plan",
    }
}

/// The effective provider and model (spec §9.3): the requested provider, `plan` with a plan,
/// else the server default, else none. The model is the requested one, else the default's when
/// the provider is the default, else the provider's own; `plan` has none.
pub async fn resolve_provider(
    state: &AppState,
    requested: Option<Provider>,
    model: Option<&str>,
    has_plan: bool,
) -> StoreResult<(Option<Provider>, Option<String>)> {
    // The stored default is read only when the answer depends on it: not for a plan run.
    let mut default = None;
    let provider = match (requested, has_plan) {
        (Some(provider), _) => provider,
        (None, true) => Provider::Plan,
        (None, false) => {
            default = default_provider(state).await?;
            match &default {
                Some(d) => d.provider,
                None => return Ok((None, None)),
            }
        }
    };
    let model = match (provider, model) {
        (Provider::Plan, _) => None,
        (_, Some(model)) => Some(model.to_owned()),
        (_, None) => {
            if default.is_none() {
                default = default_provider(state).await?;
            }
            Some(match default {
                Some(d) if d.provider == provider => d.model,
                _ => provider.default_model().to_owned(),
            })
        }
    };
    Ok((Some(provider), model))
}

/// The token, execution and first event of a submission, signed with the active key.
pub fn mint(keyring: &SigningKeyring, s: Submission<'_>) -> Minted {
    let now = now();
    let execution_id = Uuid::new_v4().to_string();
    let profile = serde_json::to_value(s.profile).expect("profiles serialise to JSON");
    let mut metadata = capability_tokens::preset_pin(s.preset);
    metadata["verification_profile"] = profile.clone();
    metadata["compliance_policy"] = json!(s.compliance_policy);
    if let Some(stage) = &s.stage {
        metadata["workflow_id"] = json!(stage.workflow_id);
        metadata["workflow_stage_id"] = json!(stage.stage_id);
        metadata["workflow_stage_name"] = json!(stage.stage_name);
    }
    let token = capability_tokens::sign(
        keyring,
        Grant {
            user_id: s.user_id.to_owned(),
            agent_id: s.user_id.to_owned(),
            permissions: s.permissions.to_vec(),
            budget_cents: s.budget_cents,
            parent_id: None,
            compliance_policy: s.compliance_policy.to_owned(),
            expires_at: None,
            metadata,
        },
        now,
    );
    let created = EventDraft {
        kind: "execution.created".into(),
        data: json!({"task": s.task, "mode": run_mode(s.provider), "preset_key": s.preset.key()}),
        timestamp: now,
    };
    let execution = NewExecution {
        id: execution_id,
        user_id: s.user_id.to_owned(),
        task: s.task.to_owned(),
        llm_provider: s.provider.map(|p| p.id().to_owned()),
        llm_model: s.model,
        compliance_policy: s.compliance_policy.to_owned(),
        verification_profile: profile,
        preset_key: s.preset.key().to_owned(),
        preset_version: s.preset.version(),
        preset_digest: s.preset.digest().to_owned(),
        token_id: token.id.clone(),
        run_spec: s.run_spec,
        workflow_id: s.stage.as_ref().map(|l| l.workflow_id.to_owned()),
        workflow_stage_id: s.stage.as_ref().map(|l| l.stage_id.to_owned()),
        created_at: now,
    };
    Minted {
        token,
        execution,
        created,
    }
}
