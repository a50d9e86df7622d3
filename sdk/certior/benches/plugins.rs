//! Content-gate benchmarks: `cargo bench -p certior --bench plugins` (results in
//! docs/benchmarks.md, "Plugins"). The preset's plugins are loaded (pre-initialized, compiled)
//! once before measuring, as a server does per preset load; each iteration is one content stage:
//! every `content`-hook plugin of `hipaa` in a fresh instance, plus the host category policy.

use certior::content::{ContentAction, ContentGate, ContentRequest, ContentSubject};
use certior::plugin_host::{Phase as PluginPhase, PluginHost, PluginInput, PluginLimits};
use certior::preset::{Hook, PresetRegistry};
use certior::profile::{build_profile, compose_with_preset, ProfileRequest};
use certior::Phase;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;

/// About 1 KiB of clinical notes with PII the `pii` plugin redacts, but no PHI keyword, so the
/// stage ends in a redaction after all three plugins ran.
fn notes_1kib() -> String {
    let line = "Intake 2026-03-04: callback 555-123-4567, email j.doe@example.org, SSN 123-45-6789, \
                lives at 12 Oak Street. Vitals normal; follow-up in two weeks with the clinic.\n";
    let mut text = line.repeat(1024 / line.len() + 1);
    text.truncate(1024); // ASCII, so any byte offset is a character boundary
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
    let text = notes_1kib();
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

/// Each `hipaa` plugin alone on the same text, to see where a content stage's time goes.
fn hipaa_plugins_alone(c: &mut Criterion) {
    let preset = PresetRegistry::builtin().get("hipaa").unwrap();
    let host = PluginHost::new(PluginLimits::default()).unwrap();
    let text = notes_1kib();
    for entry in &preset.manifest().plugins {
        let wasm = preset.module(&entry.name).unwrap();
        let plugin = host
            .load(&entry.name, wasm, &serde_json::Value::Object(entry.config.clone()))
            .unwrap();
        let input = PluginInput::new(PluginPhase::ToolOutput, "hipaa", &text);
        c.bench_function(&format!("plugin_{}_hipaa_tool_output_1kib_pii", entry.name), |b| {
            b.iter(|| plugin.evaluate(black_box(&input)).unwrap())
        });
    }
}

criterion_group!(benches, hipaa_content_gate, hipaa_plugins_alone);
criterion_main!(benches);
