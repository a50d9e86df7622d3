use std::sync::Arc;

use certior::preset::PresetRegistry;
use certior::signing::SigningKeyring;

use crate::settings::Settings;
use crate::store::Store;

/// What every handler may reach, passed explicitly through axum's `State`.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    pub presets: Arc<PresetRegistry>,
    /// The server's Ed25519 keys: the active one signs, retired ones stay listed.
    pub keyring: Arc<SigningKeyring>,
    /// Outbound HTTP (provider probes); one connection pool per process.
    pub http: reqwest::Client,
}
