//! Presets: a permission model, flow rules, audit settings, proof obligations, approvals, Cedar
//! rules and Wasm plugins, bundled and pinned by one digest (spec §5).

mod builtin;
mod descriptor;
mod digest;
mod error;
mod loader;
mod manifest;
mod registry;
mod upload;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use cedar_policy::PolicySet;

use crate::cedar::ActionPolicies;
use crate::decision_cache::{InvokeCache, InvokeScope, PermissionAnswers, ScopedInvokeCaches};
use crate::wasm_gate::WasmGate;

pub use builtin::builtin_presets;
pub use descriptor::{PluginDescriptor, PresetDescriptor};
pub use error::PresetError;
pub use loader::{bundle_files, load_bundle, load_dir, load_presets_dir, MANIFEST_FILE, POLICY_FILE};
pub use manifest::{
    is_valid_key, Audit, ContentPolicy, FlowRule, Hook, Manifest, Permissions, PluginEntry, CATEGORIES,
};
pub use registry::{PresetRegistry, RegistryError};
pub use upload::load_upload;

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
    manifest_text: String,
    policy_text: String,
    digest: String,
    source: PresetSource,
    version: u32,
    created_at: Option<f64>,
    created_by: Option<String>,
    modules: BTreeMap<String, Arc<[u8]>>,
    policies: ActionPolicies,
    gate: GateCell,
    invoke_caches: ScopedInvokeCaches,
    permission_answers: PermissionAnswers,
}

/// The preset's loaded plugins, built at most once per preset load and shared by its clones.
/// Uploaded and directory presets fill it while loading (that load is their module validation);
/// the built-ins fill it on first use, so a process that never checks content never pays for
/// pre-initializing their modules. A load failure is kept: every content check then denies.
#[derive(Clone, Default)]
struct GateCell(Arc<OnceLock<Result<Arc<WasmGate>, String>>>);

impl std::fmt::Debug for GateCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.get() {
            None => f.write_str("GateCell(not loaded)"),
            Some(Ok(gate)) => write!(f, "GateCell({gate:?})"),
            Some(Err(message)) => write!(f, "GateCell(failed: {message})"),
        }
    }
}

impl Preset {
    fn new(
        manifest: Manifest,
        manifest_text: String,
        policy_text: String,
        digest: String,
        source: PresetSource,
        modules: BTreeMap<String, Arc<[u8]>>,
        policies: ActionPolicies,
        gate: Option<WasmGate>,
    ) -> Self {
        let cell = GateCell::default();
        if let Some(gate) = gate {
            // A fresh cell is empty, so this cannot fail.
            let _ = cell.0.set(Ok(Arc::new(gate)));
        }
        Self {
            manifest,
            manifest_text,
            policy_text,
            digest,
            source,
            version: 1,
            created_at: None,
            created_by: None,
            modules,
            policies,
            gate: cell,
            invoke_caches: ScopedInvokeCaches::default(),
            permission_answers: PermissionAnswers::default(),
        }
    }

    /// Records the store's version number, creation time and uploader (a user id) of an
    /// uploaded preset.
    pub fn with_version(mut self, version: u32, created_at: Option<f64>, created_by: Option<String>) -> Self {
        self.version = version;
        self.created_at = created_at;
        self.created_by = created_by;
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
    /// The `preset.toml` text as loaded (what the digest's manifest was parsed from).
    pub fn manifest_text(&self) -> &str {
        &self.manifest_text
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
    /// The user who uploaded this version; `None` for built-in and directory presets.
    pub fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }
    /// The verified bytes of the plugin named `name`.
    pub fn module(&self, name: &str) -> Option<&Arc<[u8]>> {
        self.modules.get(name)
    }
    /// The content gate running this preset's plugins, loaded through the process-wide
    /// [`crate::plugin_host::shared`] host on first use if the load did not already do it. The
    /// error says which plugin failed and why; callers deny with `plugin_error`.
    pub fn content_gate(&self) -> Result<Arc<WasmGate>, String> {
        self.gate
            .0
            .get_or_init(|| {
                let host = crate::plugin_host::shared().map_err(|e| e.to_string())?;
                WasmGate::load(&self.manifest, &self.modules, host)
                    .map(Arc::new)
                    .map_err(|e| format!("preset `{}`, {e}", self.key()))
            })
            .clone()
    }
    /// The remembered `invoke` answers of the executions in `scope` (see `decision_cache.rs`).
    pub(crate) fn invoke_cache(&self, scope: InvokeScope) -> Arc<InvokeCache> {
        self.invoke_caches.get(self, scope)
    }
    /// The remembered `request_permission` answers (see `decision_cache.rs`).
    pub(crate) fn permission_answers(&self) -> &PermissionAnswers {
        &self.permission_answers
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
        self.policies.all()
    }
    /// The policies that can apply to `action`: what a request for that action is decided on.
    pub fn policies_for(&self, action: &str) -> &PolicySet {
        self.policies.for_action(action)
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
