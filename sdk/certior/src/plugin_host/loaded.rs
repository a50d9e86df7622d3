//! A loaded plugin: a pre-linked module that evaluates each input in a fresh instance.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Engine, InstancePre, Linker, Module, Store, Trap};

use super::abi;
use super::answer::{self, PluginAnswer};
use super::engine::{deadline_ticks, Ticker};
use super::error::{PluginError, PluginErrorCause, PluginLoadCause};
use super::input::{EncodedInput, PluginInput};
use super::limiter::{Limiter, MemoryCapReached};
use super::PluginHost;

/// Raised when a module calls a configuration import outside pre-initialization.
#[derive(Debug)]
struct ImportUnavailable(&'static str);

impl std::fmt::Display for ImportUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`certior.{}` is only available during pre-initialization", self.0)
    }
}

impl std::error::Error for ImportUnavailable {}

struct EvalState {
    limiter: Limiter,
}

/// A plugin ready to evaluate. Cheap to share across threads (`&self` evaluation); each call
/// gets its own instance and store, so calls never see each other's state.
pub struct LoadedPlugin {
    name: String,
    sha256: String,
    /// The `[plugins.config]` table as JSON, sent with every input.
    config_json: Vec<u8>,
    pre: InstancePre<EvalState>,
    engine: Engine,
    memory_bytes: usize,
    timeout: Duration,
    max_answer_bytes: usize,
    /// Keeps the epoch clock running while this plugin can still be evaluated.
    _ticker: Arc<Ticker>,
}

impl LoadedPlugin {
    pub(crate) fn new(
        name: &str,
        sha256: String,
        module: Module,
        config_json: Vec<u8>,
        host: &PluginHost,
    ) -> Result<LoadedPlugin, PluginLoadCause> {
        abi::check(&module)?;
        let pre = evaluation_linker(&host.engine)
            .and_then(|linker| linker.instantiate_pre(&module))
            .map_err(|e| PluginLoadCause::Instantiate(format!("{e:#}")))?;
        let plugin = LoadedPlugin {
            name: name.to_string(),
            sha256,
            config_json,
            pre,
            engine: host.engine.clone(),
            memory_bytes: host.limits.memory_bytes(),
            timeout: host.limits.timeout,
            max_answer_bytes: host.limits.max_answer_bytes,
            _ticker: host.ticker.clone(),
        };
        plugin.check_abi_version()?;
        Ok(plugin)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bare hex SHA-256 of the module as loaded (before pre-initialization): the digest
    /// `preset.toml` pins and certificates cite.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Run the plugin on `input` in a fresh instance and validate its answer.
    pub fn evaluate(&self, input: &PluginInput) -> Result<PluginAnswer, PluginError> {
        self.evaluate_encoded(&EncodedInput::new(input))
    }

    /// [`evaluate`](Self::evaluate) for an input already encoded, as a stage does once for
    /// all its plugins.
    pub fn evaluate_encoded(&self, input: &EncodedInput) -> Result<PluginAnswer, PluginError> {
        self.run(&input.pieces(&self.config_json), |bytes| {
            answer::parse(bytes, input.phase(), input.content_len())
        })
        .map_err(|cause| PluginError {
            plugin: self.name.clone(),
            cause,
        })
    }

    /// Instantiate, hand over the input (the concatenation of `pieces`), call
    /// `certior_evaluate`, and read the answer with `read` where it lies in the instance's
    /// memory (no copy: it is parsed, then dropped).
    fn run<T>(
        &self,
        pieces: &[&[u8]],
        read: impl FnOnce(&[u8]) -> Result<T, PluginErrorCause>,
    ) -> Result<T, PluginErrorCause> {
        let mut store = self.store();
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.cause(e, PluginErrorCause::Instantiate))?;
        let trap = |e| self.cause(e, PluginErrorCause::Trap);
        let memory = instance
            .get_memory(&mut store, abi::MEMORY)
            .ok_or_else(|| PluginErrorCause::Trap("no memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, abi::ALLOC)
            .map_err(trap)?;
        let evaluate = instance
            .get_typed_func::<(i32, i32), i64>(&mut store, abi::EVALUATE)
            .map_err(trap)?;

        let total: usize = pieces.iter().map(|piece| piece.len()).sum();
        let len = i32::try_from(total).map_err(|_| PluginErrorCause::Alloc(total))?;
        let ptr = alloc.call(&mut store, len).map_err(trap)?;
        if ptr == 0 && len > 0 {
            return Err(PluginErrorCause::Alloc(total));
        }
        let mut at = ptr as u32 as usize;
        for piece in pieces {
            memory
                .write(&mut store, at, piece)
                .map_err(|_| PluginErrorCause::Alloc(total))?;
            at += piece.len();
        }
        let packed = evaluate.call(&mut store, (ptr, len)).map_err(trap)? as u64;
        let (out_ptr, out_len) = ((packed >> 32) as usize, (packed & 0xFFFF_FFFF) as usize);
        if out_len > self.max_answer_bytes {
            return Err(PluginErrorCause::OutputTooLarge {
                len: out_len,
                limit: self.max_answer_bytes,
            });
        }
        let answer = memory.data(&store).get(out_ptr..out_ptr + out_len).ok_or_else(|| {
            PluginErrorCause::MalformedAnswer(format!("answer [{out_ptr}, +{out_len}) lies outside memory"))
        })?;
        read(answer)
    }

    /// A store with the memory cap and the deadline armed.
    fn store(&self) -> Store<EvalState> {
        let mut store = Store::new(
            &self.engine,
            EvalState {
                limiter: Limiter::new(self.memory_bytes),
            },
        );
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(deadline_ticks(self.timeout));
        store.epoch_deadline_trap();
        store
    }

    /// Name the failure: deadline and memory cap have their own causes; everything else
    /// becomes `otherwise` with wasmtime's description.
    fn cause(&self, error: wasmtime::Error, otherwise: fn(String) -> PluginErrorCause) -> PluginErrorCause {
        if error.downcast_ref::<MemoryCapReached>().is_some() {
            return PluginErrorCause::MemoryExhausted(self.memory_bytes >> 20);
        }
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return PluginErrorCause::Timeout(self.timeout.as_millis() as u64);
        }
        otherwise(format!("{error:#}"))
    }

    /// `certior_abi_version` must return 1 (spec/API.md §5.6 item 4); checked once at load.
    fn check_abi_version(&self) -> Result<(), PluginLoadCause> {
        let mut store = self.store();
        let failed = |e: wasmtime::Error| PluginLoadCause::Instantiate(format!("{e:#}"));
        let instance = self.pre.instantiate(&mut store).map_err(failed)?;
        let version = instance
            .get_typed_func::<(), i32>(&mut store, abi::ABI_VERSION)
            .map_err(failed)?;
        match version.call(&mut store, ()).map_err(failed)? {
            1 => Ok(()),
            other => Err(PluginLoadCause::AbiVersion(other)),
        }
    }
}

/// At evaluation time the configuration imports exist (so modules link) but trap when called
/// (spec/API.md §16.2): a plugin reaches the host only during pre-initialization.
fn evaluation_linker(engine: &Engine) -> wasmtime::Result<Linker<EvalState>> {
    let mut linker = Linker::new(engine);
    linker.func_wrap(abi::IMPORT_MODULE, abi::CONFIG_LEN, || -> wasmtime::Result<i32> {
        Err(wasmtime::Error::new(ImportUnavailable(abi::CONFIG_LEN)))
    })?;
    linker.func_wrap(
        abi::IMPORT_MODULE,
        abi::CONFIG_READ,
        |_ptr: i32| -> wasmtime::Result<()> { Err(wasmtime::Error::new(ImportUnavailable(abi::CONFIG_READ))) },
    )?;
    Ok(linker)
}
