//! Plugin benchmarks: `cargo bench -p certior --bench plugins` (results in docs/benchmarks.md,
//! "Plugins"). Modules are loaded (pre-initialized, compiled, pre-linked) once before measuring,
//! as a server does per preset load; every evaluation then runs in a fresh instance.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

/// The allocator the server binary ships with (`server/src/main.rs`), so that these figures
/// are the engine's cost inside `certior serve`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use certior::content::{ContentAction, ContentGate, ContentRequest, ContentSubject};
use certior::guard::{GuardDecision, OutputDecision, ToolCall};
use certior::plugin_host::{Phase as PluginPhase, PluginHost, PluginInput, PluginLimits};
use certior::preset::{Hook, PresetRegistry};
use certior::profile::{build_profile, compose_with_preset, ProfileRequest};
use certior::tools::BuiltinTool;
use certior::Phase;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;

/// About 1 KiB of clinical notes with PII the `pii` plugin redacts, but no PHI keyword, so the
/// stage ends in a redaction after all three plugins ran.
fn notes_with_pii(len: usize) -> String {
    repeat_to(
        "Intake 2026-03-04: callback 555-123-4567, email j.doe@example.org, SSN 123-45-6789, \
         lives at 12 Oak Street. Vitals normal; follow-up in two weeks with the clinic.\n",
        len,
    )
}

/// About 1 KiB of notes no `hipaa` plugin objects to: what an allowed tool input looks like.
fn clean_notes_1kib() -> String {
    repeat_to(
        "Vitals normal at the 2026-03-04 visit; follow-up in two weeks, reviewed by the clinic team.\n",
        1024,
    )
}

fn repeat_to(line: &str, len: usize) -> String {
    let mut text = line.repeat(len / line.len() + 1);
    text.truncate(len); // ASCII, so any byte offset is a character boundary
    text
}

fn hipaa_content_gate(c: &mut Criterion) {
    let preset = PresetRegistry::builtin().get("hipaa").unwrap();
    let gate = preset.content_gate().expect("hipaa plugins load");
    let profile = compose_with_preset(
        &build_profile(&ProfileRequest {
            text: "Patient intake notes",
            ..Default::default()
        }),
        &preset,
    );
    let params = json!({"path": "notes/intake.txt"});
    let capabilities = vec!["filesystem:read".to_owned()];
    let text = notes_with_pii(1024);
    let request = ContentRequest {
        hook: Hook::Content,
        phase: Phase::ToolOutput,
        preset: &preset,
        profile: &profile,
        subject: ContentSubject {
            tool: Some("file_read"),
            params: &params,
            capabilities: &capabilities,
            destination: None,
            stage: None,
            release: None,
        },
        text: &text,
    };
    assert!(matches!(gate.evaluate(&request).action, ContentAction::Redact { .. }));
    c.bench_function(
        "content_gate_hipaa_tool_output_1kib_pii (pii + keywords + secrets)",
        |b| b.iter(|| gate.evaluate(black_box(&request))),
    );
}

/// Each `hipaa` plugin alone on the same text, to see where a content stage's time goes, and
/// `pii` on 64 KiB.
fn hipaa_plugins_alone(c: &mut Criterion) {
    let preset = PresetRegistry::builtin().get("hipaa").unwrap();
    let host = PluginHost::new(PluginLimits::default()).unwrap();
    let text = notes_with_pii(1024);
    for entry in &preset.manifest().plugins {
        let wasm = preset.module(&entry.name).unwrap();
        let plugin = host
            .load(&entry.name, wasm, &serde_json::Value::Object(entry.config.clone()))
            .unwrap();
        let input = PluginInput::new(PluginPhase::ToolOutput, "hipaa", &text);
        c.bench_function(&format!("plugin_{}_hipaa_tool_output_1kib_pii", entry.name), |b| {
            b.iter(|| plugin.evaluate(black_box(&input)).unwrap())
        });
        if entry.name == "pii" {
            let large = notes_with_pii(64 * 1024);
            let input = PluginInput::new(PluginPhase::ToolOutput, "hipaa", &large);
            c.bench_function("plugin_pii_hipaa_tool_output_64kib_pii", |b| {
                b.iter(|| plugin.evaluate(black_box(&input)).unwrap())
            });
        }
    }
}

/// A fresh instance and one ABI round trip of a module that does no work: the fixed cost every
/// plugin evaluation pays (instantiation from the pool, input copy, answer parse).
fn fresh_instance(c: &mut Criterion) {
    let answer = r#"{"action":"allow","violations":[]}"#;
    let wasm = wat::parse_str(format!(
        r#"(module
             (memory (export "memory") 1)
             (data (i32.const 1024) "{}")
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 4096)
             (func (export "certior_evaluate") (param i32 i32) (result i64) i64.const {}))"#,
        answer.replace('"', "\\\""),
        (1024u64 << 32) | answer.len() as u64
    ))
    .unwrap();
    let host = PluginHost::new(PluginLimits::default()).unwrap();
    let plugin = host.load("noop", &wasm, &json!({})).unwrap();
    let input = PluginInput::new(PluginPhase::ToolOutput, "hipaa", "hello");
    c.bench_function("plugin_fresh_instance_noop_call", |b| {
        b.iter(|| plugin.evaluate(black_box(&input)).unwrap())
    });
}

/// A `hipaa` tool call whose input is a 1 KiB file write.
fn file_write(content: &str) -> ToolCall {
    support::call(
        BuiltinTool::FileWrite,
        "filesystem:write:reports",
        json!({"path": "reports/visit.txt", "content": content}),
    )
}

/// The whole Guard with the `hipaa` plugins: a 1 KiB tool input through every stage and the
/// certificate; a 1 KiB tool output with PII through the output stage; and allowed decisions
/// per second with two threads sharing one Guard.
fn hipaa_guard(c: &mut Criterion) {
    let preset = PresetRegistry::builtin().get("hipaa").unwrap();
    let guard = support::guard(preset, &["filesystem:write:reports"], i64::MAX / 2);
    let call = file_write(&clean_notes_1kib());
    assert!(matches!(guard.check(&call), GuardDecision::Allow { .. }));
    c.bench_function(
        "guard_check_hipaa_file_write_1kib (all stages, hipaa plugins, certificate)",
        |b| b.iter(|| guard.check(black_box(&call))),
    );
    let output = notes_with_pii(1024);
    assert!(matches!(
        guard.check_output(&call, &output),
        OutputDecision::Redacted { .. }
    ));
    c.bench_function("guard_check_output_hipaa_1kib_pii (redaction)", |b| {
        b.iter(|| guard.check_output(black_box(&call), black_box(&output)))
    });
    let mut group = c.benchmark_group("guard_check_hipaa_file_write_1kib_2_threads");
    group.throughput(criterion::Throughput::Elements(2));
    group.bench_function("two decisions, one per thread", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..2 {
                    scope.spawn(|| {
                        for _ in 0..iterations {
                            assert!(matches!(guard.check(black_box(&call)), GuardDecision::Allow { .. }));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = fresh_instance, hipaa_plugins_alone, hipaa_content_gate, hipaa_guard
}
criterion_main!(benches);
