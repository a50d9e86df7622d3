//! `certior serve`: open the store, bootstrap, listen, and shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use certior::plugin_host::{self, PluginLimits};
use certior::preset::PresetRegistry;
use certior::signing::SigningKeyring;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::auth::bootstrap_admin;
use crate::preset_catalog::PresetCatalog;
use crate::settings::Settings;
use crate::state::AppState;
use crate::tools::Tools;
use crate::{app, executor, store, webhooks, workflows};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // The plugin host must be configured before any preset loads its modules; compiled modules
    // are cached under the data dir so a restart does not compile them again.
    plugin_host::init_shared(PluginLimits {
        timeout: Duration::from_millis(settings.plugin_timeout_ms),
        memory_mib: settings.plugin_memory_mib as usize,
        cache_dir: Some(settings.store.data_dir.join("plugin-cache")),
        ..PluginLimits::default()
    })
    .map_err(|err| anyhow::anyhow!("starting the Wasm plugin host: {err}"))?;
    let mut presets = PresetRegistry::builtin();
    if let Some(dir) = &settings.presets_dir {
        presets = presets
            .with_directory(dir)
            .map_err(|err| anyhow::anyhow!("CERTIOR_PRESETS_DIR: {err}"))?;
    }
    let keyring = SigningKeyring::load(&settings.store.data_dir, settings.signing_key.as_deref())?;
    let store = store::open(settings.store.database_url.as_deref(), &settings.store.data_dir).await?;
    if let (Some(email), Some(password)) = (&settings.bootstrap_admin_email, &settings.bootstrap_admin_password) {
        bootstrap_admin(store.as_ref(), email, password).await?;
    }
    // Uploaded presets come back from the store, every version, so pinned executions resume;
    // later uploads through other replicas arrive on the feed.
    let preset_changes = store.subscribe_events();
    let presets = Arc::new(PresetCatalog::open(presets, store.as_ref()).await?);
    tokio::spawn(presets.clone().follow(store.clone(), preset_changes));
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}:{}: {err}", settings.host, settings.port))?;
    let address = listener.local_addr()?;
    let tools = Tools::new(&settings.tools, &settings.store.data_dir)?;
    webhooks::check_settings(&settings.runs)?;
    let state = AppState {
        store,
        settings: Arc::new(settings),
        presets,
        keyring: Arc::new(keyring),
        http: reqwest::Client::new(),
        tools: Arc::new(tools),
        jobs: Arc::new(Notify::new()),
        releases: Default::default(),
        websockets: Default::default(),
    };
    executor::spawn_workers(&state);
    workflows::spawn_sweeper(&state);
    let app = app::router(state)?;

    // The one line on stdout: scripts and tests that ask for port 0 read the port from it.
    println!("certior listening on http://{address}");
    tracing::info!(%address, "serving");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before the process exits.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
