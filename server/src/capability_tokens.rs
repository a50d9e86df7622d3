//! Issuing signed capability tokens (spec §11.4) for executions, `POST /tokens`, `verify-plan`
//! and `delegate`: one place builds the claims, so every token verifies the same way offline.

use std::sync::Arc;

use certior::signing::SigningKeyring;
use certior::token::TokenClaims;
use certior::Preset;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::preset_catalog::PresetCatalog;
use crate::store::NewToken;

/// What a new token grants.
pub struct Grant {
    pub user_id: String,
    pub agent_id: String,
    pub permissions: Vec<String>,
    pub budget_cents: i64,
    pub parent_id: Option<String>,
    pub compliance_policy: String,
    pub expires_at: Option<f64>,
    /// Server-side notes (not signed), e.g. the execution a token belongs to.
    pub metadata: Value,
}

/// A token row with a fresh id and its compact JWS, signed with the active key at `now`.
pub fn sign(keyring: &SigningKeyring, grant: Grant, now: f64) -> NewToken {
    let id = Uuid::new_v4().to_string();
    // Whole seconds, as the signed `exp` is, so the stored and the signed expiry agree.
    let expires_at = grant.expires_at.map(f64::floor);
    let claims = TokenClaims {
        iss: "certior".into(),
        jti: id.clone(),
        sub: grant.user_id.clone(),
        agent_id: grant.agent_id.clone(),
        permissions: grant.permissions.clone(),
        budget_cents: grant.budget_cents,
        parent_id: grant.parent_id.clone(),
        compliance_policy: grant.compliance_policy.clone(),
        iat: now as i64,
        exp: expires_at.map(|t| t as i64),
    };
    NewToken {
        id,
        user_id: grant.user_id,
        agent_id: grant.agent_id,
        parent_id: grant.parent_id,
        permissions: grant.permissions,
        budget_cents: grant.budget_cents,
        compliance_policy: grant.compliance_policy,
        metadata: grant.metadata,
        jws: keyring.sign_token(&claims),
        created_at: now,
        expires_at,
    }
}

/// The token metadata that pins it to the preset version current at issue (spec §5.3).
pub fn preset_pin(preset: &Preset) -> Value {
    json!({
        "preset_key": preset.key(),
        "preset_version": preset.version(),
        "preset_digest": preset.digest(),
    })
}

/// The preset version a token was pinned to (tokens issued before pinning: the current one).
pub fn pinned_preset(presets: &PresetCatalog, compliance_policy: &str, metadata: &Value) -> Option<Arc<Preset>> {
    let key = metadata["preset_key"].as_str().unwrap_or(compliance_policy);
    match metadata["preset_version"].as_u64().and_then(|v| u32::try_from(v).ok()) {
        Some(version) => presets.pinned(key, version),
        None => presets.get(key),
    }
}
