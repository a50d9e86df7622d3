//! The on-disk cache of compiled (pre-initialized) modules, so a restart does not pay for
//! pre-initialization and Cranelift again.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

pub(crate) struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    pub(crate) fn open(dir: &Path) -> std::io::Result<CompileCache> {
        std::fs::create_dir_all(dir)?;
        Ok(CompileCache { dir: dir.to_path_buf() })
    }

    /// The entry for `wasm` pre-initialized with `config_json` by this engine: both inputs of
    /// pre-initialization, plus the engine's compatibility hash (wasmtime version and settings,
    /// which the compiled code depends on).
    pub(crate) fn key(&self, engine: &Engine, wasm: &[u8], config_json: &[u8]) -> String {
        let mut compat = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut compat);
        let mut digest = Sha256::new();
        digest.update(b"certior-plugin-cache-v1\n");
        digest.update(compat.finish().to_le_bytes());
        digest.update(Sha256::digest(wasm));
        digest.update(Sha256::digest(config_json));
        hex::encode(digest.finalize())
    }

    /// The cached module, or `None` when absent or unusable (then it is simply rebuilt).
    pub(crate) fn get(&self, engine: &Engine, key: &str) -> Option<Module> {
        let path = self.path(key);
        if !path.is_file() {
            return None;
        }
        // SAFETY: the cache directory belongs to this server (under CERTIOR_DATA_DIR) and
        // entries are only ever written whole by `put` from `Module::serialize`; wasmtime
        // still checks the header and engine compatibility when deserializing.
        unsafe { Module::deserialize_file(engine, &path) }.ok()
    }

    /// Store a compiled module. Best effort: a cache that cannot be written only costs speed.
    pub(crate) fn put(&self, key: &str, module: &Module) {
        let Ok(bytes) = module.serialize() else { return };
        let temporary = self.dir.join(format!("{key}.{}.tmp", std::process::id()));
        // Write then rename, so a reader never sees a partial entry.
        if std::fs::write(&temporary, bytes).is_err() || std::fs::rename(&temporary, self.path(key)).is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }
}
