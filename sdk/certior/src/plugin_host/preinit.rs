//! Pre-initialization: run `certior_init` once with the configuration and snapshot the
//! instance into a new module (wasmtime-wizer), so set-up is never paid per evaluation.

use std::future::{ready, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wasmtime::{Caller, Engine, Instance, Linker, Module, Store, Val};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::abi;
use super::engine::deadline_ticks;
use super::error::PluginLoadCause;
use super::limiter::Limiter;
use super::limits::PluginLimits;

struct InitState {
    config: Vec<u8>,
    limiter: Limiter,
}

/// The pre-initialized module's bytes. Initialization runs under the evaluation limits (memory
/// cap, deadline), and the module's ABI is checked before any of its code runs.
pub(crate) fn preinitialize(
    engine: &Engine,
    limits: &PluginLimits,
    wasm: &[u8],
    config_json: &[u8],
) -> Result<Vec<u8>, PluginLoadCause> {
    let init_error = |e: wasmtime::Error| PluginLoadCause::Init(format!("{e:#}"));
    let mut wizer = Wizer::new();
    wizer.init_func(abi::INIT);
    let (context, instrumented) = wizer
        .instrument(wasm)
        .map_err(|e| PluginLoadCause::Compile(format!("{e:#}")))?;
    let module = Module::new(engine, &instrumented).map_err(|e| PluginLoadCause::Compile(format!("{e:#}")))?;
    abi::check(&module)?;

    let mut store = Store::new(
        engine,
        InitState {
            config: config_json.to_vec(),
            limiter: Limiter::new(limits.memory_bytes()),
        },
    );
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(deadline_ticks(limits.timeout));
    store.epoch_deadline_trap();
    let instance = configuration_linker(engine)
        .and_then(|linker| linker.instantiate(&mut store, &module))
        .map_err(init_error)?;
    let init = instance
        .get_typed_func::<(), ()>(&mut store, abi::INIT)
        .map_err(init_error)?;
    init.call(&mut store, ())
        .map_err(|e| PluginLoadCause::Init(format!("`{}` failed: {e:#}", abi::INIT)))?;
    let mut state = Snapshot {
        store: &mut store,
        instance,
    };
    block_on(wizer.snapshot(&context, &mut state)).map_err(init_error)
}

/// The two imports of spec/API.md §16.2, live: they hand over the configuration JSON.
fn configuration_linker(engine: &Engine) -> wasmtime::Result<Linker<InitState>> {
    let mut linker = Linker::new(engine);
    linker.func_wrap(
        abi::IMPORT_MODULE,
        abi::CONFIG_LEN,
        |caller: Caller<'_, InitState>| -> i32 { caller.data().config.len() as i32 },
    )?;
    linker.func_wrap(
        abi::IMPORT_MODULE,
        abi::CONFIG_READ,
        |mut caller: Caller<'_, InitState>, ptr: i32| -> wasmtime::Result<()> {
            let memory = caller
                .get_export(abi::MEMORY)
                .and_then(|export| export.into_memory())
                .ok_or_else(|| wasmtime::Error::msg("module has no `memory` export"))?;
            let config = std::mem::take(&mut caller.data_mut().config);
            let written = memory.write(&mut caller, ptr as u32 as usize, &config);
            caller.data_mut().config = config;
            written.map_err(|e| wasmtime::Error::msg(format!("`config_read` target out of bounds: {e}")))
        },
    )?;
    Ok(linker)
}

/// Wizer reads the instance through this view after `certior_init` has run.
struct Snapshot<'a> {
    store: &'a mut Store<InitState>,
    instance: Instance,
}

impl InstanceState for Snapshot<'_> {
    fn global_get(&mut self, name: &str, _type_hint: ValType) -> impl Future<Output = SnapshotVal> + Send {
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("wizer instrumentation exports every global");
        ready(match global.get(&mut *self.store) {
            Val::I32(x) => SnapshotVal::I32(x),
            Val::I64(x) => SnapshotVal::I64(x),
            Val::F32(x) => SnapshotVal::F32(x),
            Val::F64(x) => SnapshotVal::F64(x),
            Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            _ => unreachable!("wizer instruments only numeric globals"),
        })
    }

    fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) -> impl Future<Output = ()> + Send {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("wizer instrumentation exports every memory");
        contents(memory.data(&*self.store));
        ready(())
    }
}

/// Drive a future that never waits: wizer's snapshot is `async` only so it can also serve
/// async embedders, and our `InstanceState` answers immediately.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}
