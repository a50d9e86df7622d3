//! What the store keeps of uploaded presets (spec §4.6.3, §5.3): every version of every key as
//! uploaded, so the server rebuilds its registry at start-up and executions pinned to an old
//! version still find it. Versions are never modified; deprecation only sets a flag.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::StoreResult;

/// The subject announced on the event feed ([`super::ExecutionStore::subscribe_events`]) when a
/// version is stored or a key deprecated, through any replica: catalogues re-read the store.
pub const PRESETS_CHANGED: &str = "presets";

/// A validated upload about to become the next version of its key.
#[derive(Debug, Clone)]
pub struct NewPresetVersion {
    pub key: String,
    /// `preset.toml` as uploaded.
    pub manifest: String,
    /// `policy.cedar` as uploaded, `""` when the bundle had none.
    pub policy: String,
    /// The Wasm modules by file name.
    pub modules: BTreeMap<String, Vec<u8>>,
    pub digest: String,
    pub created_by: String,
    pub created_at: f64,
}

/// A stored version, as the registry is rebuilt from it.
#[derive(Debug, Clone)]
pub struct StoredPresetVersion {
    pub key: String,
    pub version: u32,
    pub manifest: String,
    pub policy: String,
    pub modules: BTreeMap<String, Vec<u8>>,
    pub digest: String,
    pub created_at: f64,
    /// Null once the uploader's account is gone.
    pub created_by: Option<String>,
    pub deprecated: bool,
}

#[async_trait]
pub trait PresetStore: Send + Sync {
    /// Stores `preset` as the next version of its key (1 for a new key), announces
    /// [`PRESETS_CHANGED`] and returns that number.
    async fn insert_preset_version(&self, preset: &NewPresetVersion) -> StoreResult<u32>;
    /// Every stored version, ordered by key, then version.
    async fn preset_versions(&self) -> StoreResult<Vec<StoredPresetVersion>>;
    /// Marks every version of `key` deprecated (idempotent) and announces [`PRESETS_CHANGED`].
    async fn deprecate_preset(&self, key: &str) -> StoreResult<()>;
}
