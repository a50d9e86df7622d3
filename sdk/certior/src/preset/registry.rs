//! Preset lookup (spec §5.3): built-ins, then directory presets overriding them by key, then
//! uploads, all found by key or alias, trimmed and case-insensitively.
//!
//! Uploaded keys keep every version: new submissions take the current one, while executions
//! pinned to an earlier version still find theirs (spec §5.3: a version in use is never mutated
//! or deleted). A registry is a value: the server swaps in an updated copy after an upload or a
//! deprecation, so readers never wait for a writer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use super::{builtin_presets, load_presets_dir, Preset, PresetDescriptor, PresetError, PresetSource};

/// Why an uploaded preset cannot join the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("preset key or alias `{name}` belongs to the built-in preset `{builtin}`; choose another key")]
    BuiltinName { name: String, builtin: String },
    #[error("preset key or alias `{name}` belongs to the directory preset `{other}`; choose another key")]
    DirectoryName { name: String, other: String },
    #[error("preset alias `{name}` is already used by preset `{other}`; choose another alias")]
    AliasTaken { name: String, other: String },
}

/// The presets a server knows, in listing order.
#[derive(Debug, Clone)]
pub struct PresetRegistry {
    /// The current version of every key, in listing order.
    presets: Vec<Arc<Preset>>,
    /// Every version of each uploaded key, oldest first; the last one is current.
    uploads: BTreeMap<String, Vec<Arc<Preset>>>,
    /// Uploaded keys that new submissions may no longer name (spec §4.6.3a).
    deprecated: BTreeSet<String>,
}

impl PresetRegistry {
    /// The four built-in presets.
    pub fn builtin() -> Self {
        Self {
            presets: builtin_presets().into_iter().map(Arc::new).collect(),
            uploads: BTreeMap::new(),
            deprecated: BTreeSet::new(),
        }
    }

    /// Adds the presets under `root` (`CERTIOR_PRESETS_DIR`); one with a built-in's key replaces
    /// it. Any invalid preset fails the whole load, so the server does not start half-configured.
    pub fn with_directory(mut self, root: &Path) -> Result<Self, PresetError> {
        for preset in load_presets_dir(root)? {
            let file = format!("{}/{}/preset.toml", root.display(), preset.key());
            let replaced = self.presets.iter().position(|p| p.key() == preset.key());
            let names = std::iter::once(preset.key()).chain(preset.manifest().aliases.iter().map(String::as_str));
            for name in names {
                if let Some(other) = self.find(name).filter(|o| o.key() != preset.key()) {
                    return Err(PresetError::NameConflict {
                        file,
                        name: name.to_owned(),
                        other: other.key().to_owned(),
                    });
                }
            }
            match replaced {
                Some(i) => self.presets[i] = Arc::new(preset),
                None => self.presets.push(Arc::new(preset)),
            }
        }
        Ok(self)
    }

    /// Adds an uploaded preset as the current version of its key; earlier versions stay
    /// resolvable through [`PresetRegistry::version`]. A new version of a deprecated key makes
    /// it current again. Fails as [`PresetRegistry::admits`] does.
    pub fn insert_uploaded(&mut self, preset: Preset) -> Result<Arc<Preset>, RegistryError> {
        self.admits(&preset)?;
        let key = preset.key().to_owned();
        let preset = Arc::new(preset);
        match self.presets.iter().position(|p| p.key() == key) {
            Some(i) => self.presets[i] = preset.clone(),
            None => self.presets.push(preset.clone()),
        }
        self.uploads.entry(key.clone()).or_default().push(preset.clone());
        self.deprecated.remove(&key);
        Ok(preset)
    }

    /// Whether `preset` may join as an upload: built-in keys and aliases stay reserved even
    /// when a directory preset overrides them, directory presets keep their names, and an alias
    /// belongs to one key.
    pub fn admits(&self, preset: &Preset) -> Result<(), RegistryError> {
        let builtins = builtin_presets();
        let names: Vec<&str> = std::iter::once(preset.key())
            .chain(preset.manifest().aliases.iter().map(String::as_str))
            .collect();
        for name in &names {
            if let Some(b) = builtins.iter().find(|b| b.answers_to(name)) {
                return Err(RegistryError::BuiltinName {
                    name: (*name).to_owned(),
                    builtin: b.key().to_owned(),
                });
            }
            match self.find(name) {
                Some(other) if other.source() != PresetSource::Uploaded => {
                    return Err(RegistryError::DirectoryName {
                        name: (*name).to_owned(),
                        other: other.key().to_owned(),
                    })
                }
                Some(other) if other.key() != preset.key() => {
                    return Err(RegistryError::AliasTaken {
                        name: (*name).to_owned(),
                        other: other.key().to_owned(),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Marks the uploaded preset `key` deprecated: lookups still find it (running executions,
    /// exports, history), but [`PresetRegistry::is_deprecated`] tells submissions to refuse it.
    /// Returns whether `key` is an uploaded preset.
    pub fn deprecate(&mut self, key: &str) -> bool {
        if !self.uploads.contains_key(key) {
            return false;
        }
        self.deprecated.insert(key.to_owned());
        true
    }

    /// Whether the preset with canonical key `key` is deprecated.
    pub fn is_deprecated(&self, key: &str) -> bool {
        self.deprecated.contains(key)
    }

    /// Looks `name` up by key or alias, trimmed and case-insensitively: the current version.
    pub fn get(&self, name: &str) -> Option<Arc<Preset>> {
        self.find(name).cloned()
    }

    /// Version `version` of the preset `name` (key or alias). Built-in and directory presets
    /// have only version 1.
    pub fn version(&self, name: &str, version: u32) -> Option<Arc<Preset>> {
        self.versions(name).into_iter().find(|p| p.version() == version)
    }

    /// Every version of the preset `name` (key or alias), oldest first.
    pub fn versions(&self, name: &str) -> Vec<Arc<Preset>> {
        let Some(current) = self.find(name) else {
            return Vec::new();
        };
        match self.uploads.get(current.key()) {
            Some(versions) => versions.clone(),
            None => vec![current.clone()],
        }
    }

    fn find(&self, name: &str) -> Option<&Arc<Preset>> {
        self.presets.iter().find(|p| p.answers_to(name))
    }

    /// Every preset in listing order (aliases are not separate entries), current versions.
    pub fn list(&self) -> &[Arc<Preset>] {
        &self.presets
    }

    /// The listing descriptor of `preset` (spec §5.5), marked `deprecated` when its key is.
    pub fn descriptor(&self, preset: &Preset) -> PresetDescriptor {
        let mut descriptor = preset.descriptor();
        descriptor.deprecated = self.is_deprecated(preset.key());
        descriptor
    }
}
