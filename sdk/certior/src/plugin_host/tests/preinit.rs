//! Pre-initialization: `certior_init` runs once, at load, with the configuration, and its
//! effects are in every fresh instance.

use std::time::Duration;

use serde_json::json;

use super::{host, host_with, module};
use crate::plugin_host::{Phase, PluginAction, PluginInput, PluginLimits, PluginLoadCause};

/// `certior_init` copies the configuration to address 2048 and records its length;
/// `certior_evaluate` answers with those bytes. Since the imports trap at evaluation, a
/// working answer proves the snapshot carried the initialized state.
fn echo_config_module(init_extra: &str) -> Vec<u8> {
    module(
        "i64.const 2048 i64.const 32 i64.shl global.get $len i64.extend_i32_u i64.or",
        &format!(
            r#"(import "certior" "config_len" (func $config_len (result i32)))
               (import "certior" "config_read" (func $config_read (param i32)))
               (global $len (mut i32) (i32.const 0))
               (func (export "certior_init")
                 {init_extra}
                 call $config_len global.set $len
                 i32.const 2048 call $config_read)"#
        ),
    )
}

#[test]
fn init_state_is_snapshotted_with_the_configuration() {
    let host = host();
    let config = json!({"action": "allow", "violations": [], "labels": ["from-init"]});
    let plugin = host.load("echo", &echo_config_module(""), &config).unwrap();
    for _ in 0..3 {
        let answer = plugin.evaluate(&PluginInput::new(Phase::ToolOutput, "p", "x")).unwrap();
        assert_eq!(
            (answer.action, answer.labels.as_slice()),
            (PluginAction::Allow, ["from-init".to_string()].as_slice())
        );
    }
}

#[test]
fn a_trapping_init_refuses_the_module() {
    match host().load("echo", &echo_config_module("unreachable"), &json!({})) {
        Err(error) => assert!(
            matches!(&error.cause, PluginLoadCause::Init(m) if m.contains("certior_init")),
            "{error}"
        ),
        Ok(_) => panic!("loaded"),
    }
}

#[test]
fn init_runs_under_the_deadline() {
    let host = host_with(PluginLimits {
        timeout: Duration::from_millis(50),
        max_instances: 4,
        ..PluginLimits::default()
    });
    match host.load("echo", &echo_config_module("(loop $l (br $l))"), &json!({})) {
        Err(error) => assert!(
            matches!(&error.cause, PluginLoadCause::Init(m) if m.contains("interrupt")),
            "{error}"
        ),
        Ok(_) => panic!("loaded"),
    }
}
