//! Broken and hostile modules: each failure is refused at load or denied at evaluation with its
//! own cause, and the host keeps serving.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{answering, host, host_with, module};
use crate::plugin_host::{Phase, PluginAction, PluginErrorCause, PluginInput, PluginLimits, PluginLoadCause};

fn input(phase: Phase) -> PluginInput {
    PluginInput::new(phase, "test", "content")
}

fn eval_cause(wasm: &[u8], phase: Phase) -> PluginErrorCause {
    let host = host();
    let plugin = host.load("hostile", wasm, &Value::Null).unwrap();
    let error = plugin.evaluate(&input(phase)).unwrap_err();
    assert_eq!(error.plugin, "hostile");
    assert!(error.to_string().starts_with("plugin `hostile`: "), "{error}");
    error.cause
}

fn load_cause(wasm: &[u8]) -> PluginLoadCause {
    match host().load("broken", wasm, &Value::Null) {
        Err(error) => {
            assert_eq!(error.plugin, "broken");
            error.cause
        }
        Ok(_) => panic!("module loaded"),
    }
}

#[test]
fn a_well_formed_answer_passes() {
    let host = host();
    let plugin = host
        .load(
            "ok",
            &answering(r#"{"action": "allow", "violations": []}"#),
            &Value::Null,
        )
        .unwrap();
    assert_eq!(
        plugin.evaluate(&input(Phase::ToolOutput)).unwrap().action,
        PluginAction::Allow
    );
}

#[test]
fn an_infinite_loop_times_out_while_other_plugins_keep_answering() {
    let host = host();
    let looping = host
        .load("loop", &module("(loop $l (br $l)) i64.const 0", ""), &Value::Null)
        .unwrap();
    let good = host
        .load("ok", &answering(r#"{"action": "allow"}"#), &Value::Null)
        .unwrap();
    std::thread::scope(|scope| {
        let started = Instant::now();
        let stuck = scope.spawn(|| looping.evaluate(&input(Phase::ToolOutput)));
        for _ in 0..10 {
            assert_eq!(
                good.evaluate(&input(Phase::ToolOutput)).unwrap().action,
                PluginAction::Allow
            );
        }
        let error = stuck.join().unwrap().unwrap_err();
        assert_eq!(error.cause, PluginErrorCause::Timeout(200));
        assert!(error.to_string().contains("deadline of 200 ms exceeded"));
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(1500),
            "{elapsed:?}"
        );
    });
}

#[test]
fn a_memory_bomb_hits_the_cap() {
    let bomb = module(
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable",
        "",
    );
    let host = host_with(PluginLimits {
        memory_mib: 4,
        max_instances: 4,
        ..PluginLimits::default()
    });
    let plugin = host.load("bomb", &bomb, &Value::Null).unwrap();
    assert_eq!(
        plugin.evaluate(&input(Phase::ToolOutput)).unwrap_err().cause,
        PluginErrorCause::MemoryExhausted(4)
    );
}

#[test]
fn a_trap_is_reported() {
    match eval_cause(&module("unreachable", ""), Phase::ToolOutput) {
        PluginErrorCause::Trap(message) => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_and_invalid_answers_are_malformed() {
    for (json, expected) in [
        ("not json at all", "expected"),
        (r#"{"action": "maybe"}"#, "unknown variant `maybe`"),
        (
            r#"{"action": "deny", "violations": [{"code": "c", "category": "secrets", "severity": "block"}]}"#,
            "unknown category",
        ),
    ] {
        match eval_cause(&answering(json), Phase::ToolOutput) {
            PluginErrorCause::MalformedAnswer(message) => assert!(message.contains(expected), "{json}: {message}"),
            other => panic!("{json}: {other:?}"),
        }
    }
    let outside = module(&format!("i64.const {}", (60_000u64 << 32) | 10_000), "");
    assert!(
        matches!(eval_cause(&outside, Phase::ToolOutput), PluginErrorCause::MalformedAnswer(m) if m.contains("outside memory"))
    );
}

#[test]
fn an_oversized_answer_is_refused_before_it_is_read() {
    let huge = module(&format!("i64.const {}", (1024u64 << 32) | (2 << 20)), "");
    assert_eq!(
        eval_cause(&huge, Phase::ToolOutput),
        PluginErrorCause::OutputTooLarge {
            len: 2 << 20,
            limit: 1 << 20
        }
    );
}

#[test]
fn redaction_is_checked_against_the_phase() {
    let redact = answering(r#"{"action": "redact", "violations": [], "redacted": "x"}"#);
    assert_eq!(
        eval_cause(&redact, Phase::ToolInput),
        PluginErrorCause::RedactNotAllowed("tool_input")
    );
    assert_eq!(
        eval_cause(&answering(r#"{"action": "redact"}"#), Phase::FinalOutput),
        PluginErrorCause::RedactWithoutText
    );
}

#[test]
fn configuration_imports_trap_at_evaluation() {
    let wasm = module(
        "call $len drop i64.const 0",
        r#"(import "certior" "config_len" (func $len (result i32)))"#,
    );
    match eval_cause(&wasm, Phase::ToolOutput) {
        PluginErrorCause::Trap(message) => assert!(
            message.contains("only available during pre-initialization"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_wrong_abi_version_is_refused_at_load() {
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "certior_abi_version") (result i32) i32.const 2)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 0)
             (func (export "certior_evaluate") (param i32 i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    assert_eq!(load_cause(&wasm), PluginLoadCause::AbiVersion(2));
}

#[test]
fn missing_or_mistyped_exports_are_refused_with_their_name() {
    let no_evaluate = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 0))"#,
    )
    .unwrap();
    let cause = load_cause(&no_evaluate);
    assert_eq!(cause, PluginLoadCause::MissingExport("certior_evaluate"));
    assert_eq!(cause.to_string(), "missing export `certior_evaluate`");
    assert_eq!(
        load_cause(&wat::parse_str("(module)").unwrap()),
        PluginLoadCause::MissingExport("memory")
    );
    let mistyped = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 0)
             (func (export "certior_evaluate") (param i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    assert_eq!(
        load_cause(&mistyped),
        PluginLoadCause::ExportType {
            export: "certior_evaluate",
            expected: "func (i32 i32) -> (i64)".into()
        }
    );
}

#[test]
fn other_imports_are_refused() {
    let wasm = module(
        "i64.const 0",
        r#"(import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))"#,
    );
    assert_eq!(
        load_cause(&wasm),
        PluginLoadCause::ForbiddenImport {
            module: "wasi_snapshot_preview1".into(),
            name: "clock_time_get".into()
        }
    );
    let mistyped = module("i64.const 0", r#"(import "certior" "config_len" (func (result i64)))"#);
    assert!(matches!(load_cause(&mistyped), PluginLoadCause::ForbiddenImport { .. }));
}

#[test]
fn invalid_bytes_are_refused() {
    assert!(matches!(load_cause(b"\0asm garbage"), PluginLoadCause::Compile(_)));
}
