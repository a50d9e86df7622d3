//! Engine benchmarks: `cargo bench -p certior` (results in docs/benchmarks.md).

#[path = "../tests/support/mod.rs"]
mod support;

use certior::certificate::{verify_document, CertificateContent, TrustedKeys};
use std::collections::BTreeMap;
use std::sync::Arc;

use certior::guard::{GuardDecision, ToolCall};
use certior::preset::{load_bundle, Preset, PresetRegistry, PresetSource};
use certior::resolve::{resolve_permissions, ResolutionRequest};
use certior::signing::SigningKeyring;
use certior::tools::BuiltinTool;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::json;

/// `hipaa` as shipped, minus its `[[plugins]]`: the same permissions, Cedar policies, flow rules
/// and budget, with no content stage. It isolates what the Guard itself costs; the content stage
/// is measured in `benches/plugins.rs`.
fn hipaa_rules_only() -> Arc<Preset> {
    let manifest = include_str!("../../../presets/hipaa/preset.toml");
    let without_plugins = &manifest[..manifest.find("[[plugins]]").expect("hipaa has plugins")];
    let files = BTreeMap::from([
        ("preset.toml".to_owned(), without_plugins.as_bytes().to_vec()),
        (
            "policy.cedar".to_owned(),
            include_bytes!("../../../presets/hipaa/policy.cedar").to_vec(),
        ),
    ]);
    Arc::new(load_bundle(&files, "hipaa-rules-only", PresetSource::Uploaded).unwrap())
}

fn file_read() -> ToolCall {
    support::call(BuiltinTool::FileRead, "filesystem:read", json!({"path": "notes/a.txt"}))
}

const HIPAA_TOKEN: [&str; 3] = [
    "database:read:patient_data",
    "document:write:reports",
    "filesystem:read",
];

fn guard_check(c: &mut Criterion) {
    let call = file_read();
    let rules = hipaa_rules_only();
    c.bench_function(
        "guard_admit_hipaa_rules_file_read_first_call (token + capability + cedar + flow + budget)",
        |b| {
            b.iter_batched(
                || support::guard(rules.clone(), &HIPAA_TOKEN, i64::MAX / 2),
                |guard| guard.admit(black_box(&call)).unwrap(),
                BatchSize::SmallInput,
            )
        },
    );
    let rules_only = support::guard(rules, &HIPAA_TOKEN, i64::MAX / 2);
    c.bench_function(
        "guard_admit_hipaa_rules_file_read_repeat (same, the Cedar answer reused)",
        |b| b.iter(|| rules_only.admit(black_box(&call)).unwrap()),
    );
    c.bench_function("guard_check_hipaa_rules_file_read (admit + certificate)", |b| {
        b.iter(|| {
            assert!(matches!(
                rules_only.check(black_box(&call)),
                GuardDecision::Allow { .. }
            ))
        })
    });
    let hipaa = support::guard(
        PresetRegistry::builtin().get("hipaa").unwrap(),
        &HIPAA_TOKEN,
        i64::MAX / 2,
    );
    c.bench_function(
        "guard_check_hipaa_file_read (admit with the hipaa plugins on the tool input + certificate)",
        |b| b.iter(|| assert!(matches!(hipaa.check(black_box(&call)), GuardDecision::Allow { .. }))),
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
