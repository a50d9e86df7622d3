//! Engine benchmarks: `cargo bench -p certior` (results in docs/benchmarks.md).

#[path = "../tests/support/mod.rs"]
mod support;

use certior::certificate::{verify_document, CertificateContent, TrustedKeys};
use certior::content::serialize_tool_input;
use certior::guard::{GuardDecision, ToolCall};
use certior::preset::PresetRegistry;
use certior::resolve::{resolve_permissions, ResolutionRequest};
use certior::signing::SigningKeyring;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;

fn guard_check(c: &mut Criterion) {
    let preset = PresetRegistry::builtin().get("hipaa").unwrap();
    let guard = support::guard(
        preset,
        &[
            "database:read:patient_data",
            "document:write:reports",
            "filesystem:read",
        ],
        i64::MAX / 2,
    );
    let args = json!({"path": "notes/a.txt"});
    let call = ToolCall {
        step_index: 0,
        tool: "file_read".into(),
        input_text: serialize_tool_input("file_read", &args),
        args,
        capabilities: vec!["filesystem:read".into()],
        cost_cents: 1,
        destination: None,
        approval_categories: vec![],
        input_labels: vec![],
        output_label: None,
        now: 1_000.0,
    };
    c.bench_function(
        "guard_check_hipaa_file_read (capability + cedar + content plugins + budget + certificate)",
        |b| b.iter(|| assert!(matches!(guard.check(black_box(&call)), GuardDecision::Allow { .. }))),
    );
}

fn permission_resolution(c: &mut Criterion) {
    let preset = PresetRegistry::builtin().get("hipaa").unwrap();
    let requested: Vec<String> = ["database:read:patient_data", "network:admin:root", "*"]
        .map(String::from)
        .to_vec();
    c.bench_function("resolve_permissions_hipaa_3_requested", |b| {
        b.iter(|| {
            resolve_permissions(ResolutionRequest {
                requested: Some(black_box(&requested)),
                preset: &preset,
                user_id: "u",
                role: "admin",
                profile_ceiling: None,
            })
            .unwrap()
        })
    });
}

fn certificate_sign_verify(c: &mut Criterion) {
    let ring = SigningKeyring::from_seed([2u8; 32], 0.0);
    let keys = TrustedKeys::from_entries(ring.public_keys()).unwrap();
    c.bench_function("certificate_sign_and_verify", |b| {
        b.iter(|| {
            let cert = ring
                .issue(CertificateContent {
                    kind: "proof_certificate".into(),
                    theorem: "action_safe".into(),
                    subject: json!({"execution_id": "e", "step_index": 0, "tool": "file_read", "user_id": "u"}),
                    plan_hash: "sha256:00".into(),
                    verified_properties: vec!["capability_coverage: proven".into()],
                    policy_ids: vec![],
                    prover: "guard".into(),
                    preset_key: "hipaa".into(),
                    preset_digest: "sha256:11".into(),
                    plugin_digests: Default::default(),
                    issued_at: 1_000.0,
                    retention_days: 1,
                })
                .unwrap();
            assert!(verify_document(&serde_json::to_value(&cert).unwrap(), &keys, 1_001.0).valid);
        })
    });
}

criterion_group!(benches, guard_check, permission_resolution, certificate_sign_verify);
criterion_main!(benches);
