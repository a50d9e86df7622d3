//! The server's live preset registry: the built-in and directory presets plus every uploaded
//! version from the store, replaced as a whole when an upload or a deprecation changes it, so
//! new tasks see an accepted preset at once, without a restart.
//!
//! Readers take a snapshot (an `Arc` clone under a briefly held read lock) and keep using it for
//! the whole request; a change builds the next registry beside the current one and swaps it in.
//! Changes take turns, because each reads the registry, writes the store and swaps, and two
//! interleaved changes could otherwise lose one of them. Changes made through another replica
//! arrive as a notice on the store's event feed ([`PresetCatalog::follow`]).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use certior::preset::{load_bundle, PresetRegistry, RegistryError, MANIFEST_FILE, POLICY_FILE};
use certior::{Preset, PresetSource};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::Mutex;

use crate::clock::now;
use crate::store::{notice_concerns, NewPresetVersion, Store, StoreError, StoredPresetVersion, PRESETS_CHANGED};

pub struct PresetCatalog {
    current: RwLock<Arc<PresetRegistry>>,
    changes: Mutex<()>,
}

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadRefused {
    #[error(transparent)]
    Conflict(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a deprecation did nothing.
#[derive(Debug, thiserror::Error)]
pub enum DeprecationRefused {
    #[error("no preset answers to `{0}`")]
    Unknown(String),
    /// A built-in or directory preset (its canonical key).
    #[error("preset `{0}` is not an uploaded preset")]
    NotUploaded(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PresetCatalog {
    /// `base` (built-ins and directory presets) plus every version stored by earlier uploads,
    /// with their deprecation. A stored version that no longer loads, or no longer has the
    /// digest it was accepted with, stops start-up with the reason, as an invalid directory
    /// preset does: executions are pinned to it.
    pub async fn open(mut base: PresetRegistry, store: &dyn Store) -> anyhow::Result<Self> {
        absorb(&mut base, store.preset_versions().await?)?;
        Ok(Self {
            current: RwLock::new(Arc::new(base)),
            changes: Mutex::new(()),
        })
    }

    /// Keeps this catalogue in step with uploads and deprecations made through any replica
    /// sharing the store, as `feed` (subscribed before [`Self::open`] read the store, so nothing
    /// falls between) announces them; runs until the feed closes.
    pub async fn follow(self: Arc<Self>, store: Arc<dyn Store>, mut feed: broadcast::Receiver<Arc<str>>) {
        loop {
            match feed.recv().await {
                Ok(notice) if !notice_concerns(&notice, PRESETS_CHANGED) => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
            if let Err(err) = self.refresh(store.as_ref()).await {
                tracing::warn!(error = %err, "could not refresh the preset catalogue from the store");
            }
        }
    }

    /// Adds the versions and deprecations the store has and this catalogue lacks.
    async fn refresh(&self, store: &dyn Store) -> anyhow::Result<()> {
        let _turn = self.changes.lock().await;
        let mut next = (*self.registry()).clone();
        if absorb(&mut next, store.preset_versions().await?)? {
            self.swap(next);
        }
        Ok(())
    }

    /// The registry as it is now.
    pub fn registry(&self) -> Arc<PresetRegistry> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The current version of the preset `name` (key or alias), deprecated or not.
    pub fn get(&self, name: &str) -> Option<Arc<Preset>> {
        self.registry().get(name)
    }

    /// The version an execution or stage was pinned to at submission (spec §5.3).
    pub fn pinned(&self, key: &str, version: u32) -> Option<Arc<Preset>> {
        self.registry().version(key, version)
    }

    /// Stores a validated upload as the next version of its key and makes it current.
    pub async fn upload(
        &self,
        store: &dyn Store,
        preset: Preset,
        uploader: &str,
    ) -> Result<Arc<Preset>, UploadRefused> {
        let _turn = self.changes.lock().await;
        let mut next = (*self.registry()).clone();
        next.admits(&preset)?;
        let created_at = now();
        let modules = preset
            .manifest()
            .plugins
            .iter()
            .filter_map(|p| preset.module(&p.name).map(|bytes| (p.file.clone(), bytes.to_vec())))
            .collect();
        let version = store
            .insert_preset_version(&NewPresetVersion {
                key: preset.key().to_owned(),
                manifest: preset.manifest_text().to_owned(),
                policy: preset.policy_text().to_owned(),
                modules,
                digest: preset.digest().to_owned(),
                created_by: uploader.to_owned(),
                created_at,
            })
            .await?;
        let preset = next.insert_uploaded(preset.with_version(version, Some(created_at), Some(uploader.to_owned())))?;
        self.swap(next);
        Ok(preset)
    }

    /// Deprecates every version of the uploaded preset `name` (idempotent) and returns its
    /// current version.
    pub async fn deprecate(&self, store: &dyn Store, name: &str) -> Result<Arc<Preset>, DeprecationRefused> {
        let _turn = self.changes.lock().await;
        let mut next = (*self.registry()).clone();
        let preset = next
            .get(name)
            .ok_or_else(|| DeprecationRefused::Unknown(name.to_owned()))?;
        if preset.source() != PresetSource::Uploaded {
            return Err(DeprecationRefused::NotUploaded(preset.key().to_owned()));
        }
        store.deprecate_preset(preset.key()).await?;
        next.deprecate(preset.key());
        self.swap(next);
        Ok(preset)
    }

    fn swap(&self, next: PresetRegistry) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }
}

/// Adds to `registry` each stored version it lacks, and deprecates each key whose newest stored
/// version is deprecated; says whether anything changed. A stored version that no longer loads,
/// or no longer has the digest it was accepted with, is an error naming it: executions are pinned
/// to it.
fn absorb(registry: &mut PresetRegistry, stored: Vec<StoredPresetVersion>) -> anyhow::Result<bool> {
    let mut changed = false;
    let mut newest_deprecated = BTreeMap::new();
    for stored in stored {
        newest_deprecated.insert(stored.key.clone(), stored.deprecated);
        if registry.version(&stored.key, stored.version).is_some() {
            continue;
        }
        let mut files: BTreeMap<String, Vec<u8>> = stored.modules;
        files.insert(MANIFEST_FILE.to_owned(), stored.manifest.into_bytes());
        files.insert(POLICY_FILE.to_owned(), stored.policy.into_bytes());
        let label = format!("uploaded preset '{}' version {}", stored.key, stored.version);
        let preset = load_bundle(&files, &label, PresetSource::Uploaded)
            .map_err(|err| anyhow::anyhow!("{err}"))?
            .with_version(stored.version, Some(stored.created_at), stored.created_by);
        if preset.digest() != stored.digest {
            anyhow::bail!(
                "{label}: its files now give digest {} but it was accepted as {}; executions pinned \
                 to it could not be verified",
                preset.digest(),
                stored.digest
            );
        }
        registry
            .insert_uploaded(preset)
            .map_err(|err| anyhow::anyhow!("{label}: {err}"))?;
        changed = true;
    }
    // Deprecation flags every stored version, and a later upload adds an unflagged one.
    for (key, deprecated) in newest_deprecated {
        if deprecated && !registry.is_deprecated(&key) {
            registry.deprecate(&key);
            changed = true;
        }
    }
    Ok(changed)
}
