//! The Guard and tool calls the integration tests and benchmarks build: a fixed execution,
//! principal (an `admin`) and signing key, a token that never expires, and the preset's own
//! content gate, so that only what a test is about varies.

use std::sync::Arc;

use certior::authz::Principal;
use certior::budget::BudgetLedger;
use certior::guard::{Guard, GuardConfig, TokenGrant, ToolCall};
use certior::preset::Preset;
use certior::profile::{build_profile, compose_with_preset, ProfileRequest};
use certior::signing::SigningKeyring;
use certior::tools::BuiltinTool;
use serde_json::Value;

pub fn guard(preset: Arc<Preset>, permissions: &[&str], budget_cents: i64) -> Guard {
    let profile = compose_with_preset(
        &build_profile(&ProfileRequest {
            text: "Patient intake notes",
            ..Default::default()
        }),
        &preset,
    );
    Guard::new(GuardConfig {
        preset,
        profile,
        execution_id: "exec-1".into(),
        principal: Principal {
            user_id: "user-1".into(),
            role: "admin".into(),
        },
        token: TokenGrant {
            token_id: "tok-1".into(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            expires_at: None,
        },
        ledger: Arc::new(BudgetLedger::new(budget_cents, 0)),
        signer: Arc::new(SigningKeyring::from_seed([7u8; 32], 0.0)),
        content: None,
    })
}

/// A call of the built-in `tool` needing `capability`, with the tool's own cost, destination
/// and approval categories.
pub fn call(tool: BuiltinTool, capability: &str, args: Value) -> ToolCall {
    ToolCall::builtin(tool, vec![capability.to_owned()], args, 1_000.0)
}
