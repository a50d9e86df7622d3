use std::sync::Arc;

use certior::signing::SigningKeyring;
use tokio::sync::Notify;

use crate::preset_catalog::PresetCatalog;
use crate::routes::ws::SocketCounts;
use crate::settings::Settings;
use crate::store::Store;
use crate::tools::Tools;

/// What every handler may reach, passed explicitly through axum's `State`.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    /// The live preset registry; uploads and deprecations take effect without a restart.
    pub presets: Arc<PresetCatalog>,
    /// The server's Ed25519 keys: the active one signs, retired ones stay listed.
    pub keyring: Arc<SigningKeyring>,
    /// Outbound HTTP (provider probes, webhooks); one connection pool per process.
    pub http: reqwest::Client,
    /// The sandboxed built-in tools.
    pub tools: Arc<Tools>,
    /// Wakes an idle worker when a job is queued.
    pub jobs: Arc<Notify>,
    /// Promotion turn-taking and pending GitHub reports (spec/RELEASES.md).
    pub releases: Arc<crate::releases::runtime::ReleaseRuntime>,
    /// Open execution streams per client address (spec §1.11).
    pub websockets: SocketCounts,
}
