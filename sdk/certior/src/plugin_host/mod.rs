//! The Wasm plugin host: loads modules that speak Plugin ABI v1 (ARCHITECTURE.md, spec/API.md
//! §6.1, §16.2) and runs every evaluation in a fresh, sandboxed instance.
//!
//! Loading pays for everything that can be paid once: the ABI is checked, the module is
//! pre-initialized by running its `certior_init` with the configuration and snapshotting the
//! result (wasmtime-wizer), compiled (or fetched from the on-disk cache by digest) and pre-linked
//! (`InstancePre`). An evaluation then only instantiates from the pooling allocator's
//! copy-on-write image, copies the input in and the answer out, under an epoch deadline and a
//! memory cap. Every failure is a [`PluginError`] naming the plugin and the cause, which callers
//! turn into a `plugin_error` denial; nothing a module does can take the process down.
//!
//! ```no_run
//! use certior::plugin_host::{Phase, PluginHost, PluginInput, PluginLimits};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let host = PluginHost::new(PluginLimits::default())?;
//! let wasm = std::fs::read("presets/hipaa/pii.wasm")?;
//! let pii = host.load("pii", &wasm, &serde_json::json!({"mode": "redact"}))?;
//! let answer = pii.evaluate(&PluginInput::new(Phase::ToolOutput, "hipaa", "SSN 123-45-6789"))?;
//! assert_eq!(answer.redacted.as_deref(), Some("SSN [REDACTED-SSN]"));
//! # Ok(())
//! # }
//! ```

mod abi;
mod answer;
mod cache;
mod engine;
mod error;
mod input;
mod limiter;
mod limits;
mod loaded;
mod preinit;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

pub use answer::{PluginAction, PluginAnswer, PluginSeverity, PluginViolation, CATEGORIES};
pub use error::{PluginError, PluginErrorCause, PluginHostError, PluginLoadCause, PluginLoadError};
pub use input::{EncodedInput, Hook, Phase, PluginInput};
pub use limits::PluginLimits;
pub use loaded::LoadedPlugin;

use cache::CompileCache;
use engine::Ticker;

/// Shared by every plugin it loads: one engine (one instance pool, one epoch clock) and the
/// limits every evaluation runs under.
pub struct PluginHost {
    engine: Engine,
    ticker: Arc<Ticker>,
    limits: PluginLimits,
    cache: Option<CompileCache>,
}

/// The process-wide host: one instance pool and one epoch clock for every preset's plugins.
static SHARED: OnceLock<Result<PluginHost, PluginHostError>> = OnceLock::new();

/// The process-wide host presets load their plugins through; built on first use with
/// [`PluginLimits::from_env`] unless [`init_shared`] configured it. A host that cannot be built
/// is reported to every caller (their presets then cannot run plugins: fail closed).
pub fn shared() -> Result<&'static PluginHost, PluginHostError> {
    SHARED
        .get_or_init(|| {
            PluginLimits::from_env()
                .map_err(PluginHostError)
                .and_then(PluginHost::new)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Builds the process-wide host with `limits`, e.g. with a `cache_dir` under the server's data
/// directory so that a restart does not pre-initialize and compile the modules again. It must
/// run before any preset with plugins is loaded or used; afterwards the host exists already and
/// this fails rather than silently keeping other limits.
pub fn init_shared(limits: PluginLimits) -> Result<&'static PluginHost, PluginHostError> {
    let mut built_here = false;
    let host = SHARED.get_or_init(|| {
        built_here = true;
        PluginHost::new(limits)
    });
    if !built_here {
        return Err(PluginHostError(
            "the shared plugin host is already running; configure it before loading presets".into(),
        ));
    }
    host.as_ref().map_err(Clone::clone)
}

impl PluginHost {
    /// Reserve the instance pool and start the epoch clock.
    pub fn new(limits: PluginLimits) -> Result<PluginHost, PluginHostError> {
        let engine = engine::build(&limits).map_err(|e| PluginHostError(format!("{e:#}")))?;
        let cache = match &limits.cache_dir {
            Some(dir) => Some(
                CompileCache::open(dir)
                    .map_err(|e| PluginHostError(format!("compile cache {}: {e}", dir.display())))?,
            ),
            None => None,
        };
        let ticker =
            Arc::new(Ticker::start(engine.clone()).map_err(|e| PluginHostError(format!("epoch thread: {e}")))?);
        Ok(PluginHost {
            engine,
            ticker,
            limits,
            cache,
        })
    }

    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// Check, pre-initialize with `config` (the `[plugins.config]` table; it is also sent with
    /// every input), compile and pre-link the module `wasm` under the plugin name `name`.
    pub fn load(&self, name: &str, wasm: &[u8], config: &serde_json::Value) -> Result<LoadedPlugin, PluginLoadError> {
        let fail = |cause| PluginLoadError {
            plugin: name.to_string(),
            cause,
        };
        let config_json = serde_json::to_vec(config).map_err(|e| fail(PluginLoadCause::Config(e.to_string())))?;
        let sha256 = hex::encode(Sha256::digest(wasm));
        let key = self
            .cache
            .as_ref()
            .map(|cache| cache.key(&self.engine, wasm, &config_json));
        let cached = match (&self.cache, &key) {
            (Some(cache), Some(key)) => cache.get(&self.engine, key),
            _ => None,
        };
        let module = match cached {
            Some(module) => module,
            None => {
                let module = self.compile(wasm, &config_json).map_err(fail)?;
                if let (Some(cache), Some(key)) = (&self.cache, &key) {
                    cache.put(key, &module);
                }
                module
            }
        };
        loaded::LoadedPlugin::new(name, sha256, module, config_json, self).map_err(fail)
    }

    /// Compile the module, pre-initialized first if it exports `certior_init`. A module is
    /// compiled at most twice: instrumented for the initialization run, then its snapshot.
    fn compile(&self, wasm: &[u8], config_json: &[u8]) -> Result<Module, PluginLoadCause> {
        let compile =
            |bytes: &[u8]| Module::new(&self.engine, bytes).map_err(|e| PluginLoadCause::Compile(format!("{e:#}")));
        if !abi::exports_init(wasm)? {
            return compile(wasm);
        }
        let snapshot = preinit::preinitialize(&self.engine, &self.limits, wasm, config_json)?;
        compile(&snapshot)
    }
}
