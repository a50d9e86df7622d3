//! Tests of the plugin host: the built-in modules from `presets/`, and hostile or broken modules
//! written in WAT, each failure with its own cause.

mod builtin;
mod faults;
mod preinit;

use std::time::Duration;

use super::{PluginHost, PluginLimits};

/// A host with a small pool (tests create many hosts) and a short deadline.
fn host() -> PluginHost {
    host_with(PluginLimits {
        timeout: Duration::from_millis(200),
        max_instances: 8,
        ..PluginLimits::default()
    })
}

fn host_with(limits: PluginLimits) -> PluginHost {
    PluginHost::new(limits).expect("plugin host")
}

/// A module in WAT with the ABI exports; `evaluate` is the body of `certior_evaluate` and
/// `extra` is spliced into the module (imports, data, more functions).
fn module(evaluate: &str, extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
             {extra}
             (memory (export "memory") 1)
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 4096)
             (func (export "certior_evaluate") (param i32 i32) (result i64) {evaluate}))"#
    ))
    .expect("valid WAT")
}

/// A module that answers `json` whatever it is asked.
fn answering(json: &str) -> Vec<u8> {
    let escaped = json.replace('\\', "\\\\").replace('"', "\\\"");
    module(
        &format!("i64.const {}", (1024u64 << 32) | json.len() as u64),
        &format!(r#"(data (i32.const 1024) "{escaped}")"#),
    )
}
