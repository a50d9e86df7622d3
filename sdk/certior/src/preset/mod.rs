//! Presets: a permission model, flow rules, audit settings, proof obligations, approvals, Cedar
//! rules and Wasm plugins, bundled and pinned by one digest (spec §5).

mod builtin;
mod descriptor;
mod digest;
mod error;
mod loader;
mod manifest;
mod registry;

use std::collections::BTreeMap;
use std::sync::Arc;

use cedar_policy::PolicySet;

pub use builtin::builtin_presets;
pub use descriptor::{PluginDescriptor, PresetDescriptor};
pub use error::PresetError;
pub use loader::{load_bundle, load_dir, load_presets_dir, MANIFEST_FILE, POLICY_FILE};
pub use manifest::{Audit, ContentPolicy, FlowRule, Hook, Manifest, Permissions, PluginEntry, CATEGORIES};
pub use registry::{PresetRegistry, RegistryError};

/// Where a preset came from (the `source` of spec §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PresetSource {
    Builtin,
    Directory,
    Uploaded,
}

/// A loaded, validated preset. Immutable: a new upload is a new `Preset`.
#[derive(Debug, Clone)]
pub struct Preset {
    manifest: Manifest,
    policy_text: String,
    digest: String,
    source: PresetSource,
    version: u32,
    created_at: Option<f64>,
    modules: BTreeMap<String, Arc<[u8]>>,
    policies: PolicySet,
}

impl Preset {
    fn new(
        manifest: Manifest,
        policy_text: String,
        digest: String,
        source: PresetSource,
        modules: BTreeMap<String, Arc<[u8]>>,
        policies: PolicySet,
    ) -> Self {
        Self {
            manifest,
            policy_text,
            digest,
            source,
            version: 1,
            created_at: None,
            modules,
            policies,
        }
    }

    /// Records the store's version number and creation time of an uploaded preset.
    pub fn with_version(mut self, version: u32, created_at: Option<f64>) -> Self {
        self.version = version;
        self.created_at = created_at;
        self
    }

    pub fn key(&self) -> &str {
        &self.manifest.key
    }
    /// Display name (`policy_name`, `compliance_regime`, `regime`).
    pub fn name(&self) -> &str {
        &self.manifest.name
    }
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// The `policy.cedar` text as loaded.
    pub fn policy_text(&self) -> &str {
        &self.policy_text
    }
    /// `sha256:<hex>` of spec §5.4.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    pub fn source(&self) -> PresetSource {
        self.source
    }
    pub fn version(&self) -> u32 {
        self.version
    }
    pub fn created_at(&self) -> Option<f64> {
        self.created_at
    }
    /// The verified bytes of the plugin named `name`.
    pub fn module(&self, name: &str) -> Option<&Arc<[u8]>> {
        self.modules.get(name)
    }
    /// The plugins registered for `hook`, in manifest order.
    pub fn plugins_for(&self, hook: Hook) -> impl Iterator<Item = &PluginEntry> {
        self.manifest.plugins.iter().filter(move |p| p.hooks.contains(&hook))
    }
    /// `{plugin name: bare hex sha256}` for certificates (spec §11.2).
    pub fn plugin_digests(&self) -> BTreeMap<String, String> {
        self.manifest
            .plugins
            .iter()
            .map(|p| (p.name.clone(), p.sha256.clone()))
            .collect()
    }
    /// The full Cedar policy set (built-ins, compiled rules, `policy.cedar`).
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }
    /// Whether `name` (trimmed, case-insensitive) is this preset's key or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        let name = name.trim();
        self.manifest.key.eq_ignore_ascii_case(name)
            || self.manifest.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
    /// The listing descriptor of spec §5.5.
    pub fn descriptor(&self) -> PresetDescriptor {
        PresetDescriptor::of(self)
    }
}

#[cfg(test)]
mod tests;
