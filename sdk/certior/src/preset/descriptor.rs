//! The listing descriptor of spec §5.5 (`GET /compliance/presets`).

use serde::Serialize;

use super::manifest::{FlowRule, Hook};
use super::{Preset, PresetSource};

/// One entry of the preset listing, in the field order of spec §5.5.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresetDescriptor {
    pub name: String,
    pub key: String,
    pub required_proofs: Vec<String>,
    pub human_approvals: Vec<String>,
    pub retention_days: i64,
    pub description: String,
    pub aliases: Vec<String>,
    pub source: PresetSource,
    pub version: u32,
    pub digest: String,
    pub permissions: Vec<String>,
    pub max_permissions: Vec<String>,
    pub forbidden_permissions: Vec<String>,
    pub flow_rules: Vec<FlowRule>,
    pub plugins: Vec<PluginDescriptor>,
    pub created_at: Option<f64>,
    /// Present, and `true`, only for a deprecated uploaded preset (spec §4.6.3a).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

/// A plugin as listed: `{name, sha256, hooks, provides}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginDescriptor {
    pub name: String,
    pub sha256: String,
    pub hooks: Vec<Hook>,
    pub provides: Vec<String>,
}

impl PresetDescriptor {
    pub(super) fn of(preset: &Preset) -> Self {
        let m = preset.manifest();
        Self {
            name: m.name.clone(),
            key: m.key.clone(),
            required_proofs: m.required_proofs.clone(),
            human_approvals: m.human_approvals.clone(),
            retention_days: m.retention_days,
            description: m.description.clone().unwrap_or_default(),
            aliases: m.aliases.clone(),
            source: preset.source(),
            version: preset.version(),
            digest: preset.digest().to_owned(),
            permissions: m.permissions.default.clone(),
            max_permissions: m.permissions.max.clone(),
            forbidden_permissions: m.permissions.forbidden.clone(),
            flow_rules: m.flow_rules.clone(),
            plugins: m
                .plugins
                .iter()
                .map(|p| PluginDescriptor {
                    name: p.name.clone(),
                    sha256: p.sha256.clone(),
                    hooks: p.hooks.clone(),
                    provides: p.provides.clone(),
                })
                .collect(),
            created_at: preset.created_at(),
            deprecated: false,
        }
    }
}
