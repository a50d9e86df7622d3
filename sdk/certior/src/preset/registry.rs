//! Preset lookup (spec §5.3): built-ins, then directory presets overriding them by key, then
//! uploads, all found by key or alias, trimmed and case-insensitively.

use std::path::Path;
use std::sync::Arc;

use super::{builtin_presets, load_presets_dir, Preset, PresetError, PresetSource};

/// Why an uploaded preset cannot join the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("preset key or alias `{name}` belongs to the built-in preset `{builtin}`; choose another key")]
    BuiltinName { name: String, builtin: String },
    #[error("preset alias `{name}` is already used by preset `{other}`; choose another alias")]
    AliasTaken { name: String, other: String },
}

/// The presets a server knows, in listing order.
#[derive(Debug, Clone)]
pub struct PresetRegistry {
    presets: Vec<Arc<Preset>>,
}

impl PresetRegistry {
    /// The four built-in presets.
    pub fn builtin() -> Self {
        Self {
            presets: builtin_presets().into_iter().map(Arc::new).collect(),
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

    /// Adds or replaces (by key) an uploaded preset. Built-in keys and aliases stay reserved even
    /// when a directory preset overrides them.
    pub fn insert_uploaded(&mut self, preset: Preset) -> Result<Arc<Preset>, RegistryError> {
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
            if let Some(other) = self.find(name).filter(|o| o.key() != preset.key()) {
                return Err(RegistryError::AliasTaken {
                    name: (*name).to_owned(),
                    other: other.key().to_owned(),
                });
            }
        }
        let preset = Arc::new(preset);
        match self.presets.iter().position(|p| p.key() == preset.key()) {
            Some(i) => self.presets[i] = preset.clone(),
            None => self.presets.push(preset.clone()),
        }
        Ok(preset)
    }

    /// Removes an uploaded preset by key; built-in and directory presets cannot be removed.
    pub fn remove_uploaded(&mut self, key: &str) -> Option<Arc<Preset>> {
        let i = self
            .presets
            .iter()
            .position(|p| p.source() == PresetSource::Uploaded && p.key() == key)?;
        Some(self.presets.remove(i))
    }

    /// Looks `name` up by key or alias, trimmed and case-insensitively.
    pub fn get(&self, name: &str) -> Option<Arc<Preset>> {
        self.find(name).cloned()
    }

    fn find(&self, name: &str) -> Option<&Arc<Preset>> {
        self.presets.iter().find(|p| p.answers_to(name))
    }

    /// Every preset in listing order (aliases are not separate entries).
    pub fn list(&self) -> &[Arc<Preset>] {
        &self.presets
    }
}
