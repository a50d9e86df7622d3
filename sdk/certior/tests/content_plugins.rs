//! The content stages of the Guard with the real built-in plugins (spec §6, §7.5 stages 5 and 8):
//! each built-in preset's modules from `presets/`, loaded once per preset, judging tool inputs
//! and outputs; and a broken plugin failing closed without disturbing other calls.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use certior::guard::{GuardDecision, OutputDecision, ToolCall};
use certior::preset::{load_bundle, Preset, PresetRegistry, PresetSource};
use certior::tools::BuiltinTool;
use certior::{Phase, Severity, Violation};
use serde_json::json;

fn builtin(key: &str) -> Arc<Preset> {
    PresetRegistry::builtin().get(key).unwrap()
}

fn read(path: &str) -> ToolCall {
    support::call(BuiltinTool::FileRead, "filesystem:read", json!({ "path": path }))
}

fn denied(decision: GuardDecision) -> Vec<Violation> {
    match decision {
        GuardDecision::Deny { violations } => violations,
        GuardDecision::Allow { .. } => panic!("allowed"),
    }
}

fn blocked(decision: OutputDecision) -> (Vec<Violation>, Vec<String>) {
    match decision {
        OutputDecision::Blocked { violations, labels } => (violations, labels),
        other => panic!("not blocked: {other:?}"),
    }
}

fn codes(violations: &[Violation]) -> Vec<&str> {
    violations.iter().map(|v| v.code.as_str()).collect()
}

#[test]
fn hipaa_denies_an_ssn_in_a_tool_input_and_redacts_it_in_an_output() {
    let guard = support::guard(
        builtin("hipaa"),
        &["filesystem:read", "filesystem:write:reports"],
        1_000,
    );
    let write = support::call(
        BuiltinTool::FileWrite,
        "filesystem:write:reports",
        json!({"path": "reports/a.txt", "content": "SSN 123-45-6789"}),
    );
    let violations = denied(guard.check(&write));
    assert_eq!(codes(&violations), ["pii_detected"], "tool inputs are never redacted");
    let v = &violations[0];
    assert_eq!(
        (v.phase, v.severity, v.redacted),
        (Phase::ToolInput, Severity::Block, false)
    );
    assert_eq!(
        (v.plugin.as_deref(), v.category.as_deref(), v.message.as_str()),
        (Some("pii"), Some("hate_bias_pii"), "PII detected: SSN")
    );
    assert_eq!(guard.ledger().remaining_cents(), 1_000, "a denied call costs nothing");

    let output = guard.check_output(&read("notes/a.txt"), "SSN 123-45-6789 and email a@b.com");
    let OutputDecision::Redacted {
        text,
        labels,
        violations,
    } = output
    else {
        panic!("not redacted: {output:?}")
    };
    assert_eq!(text, "SSN [REDACTED-SSN] and email [REDACTED-EMAIL]");
    assert_eq!(labels, ["PHI"], "labels stay although the data was redacted");
    assert_eq!(codes(&violations), ["pii_detected", "pii_detected"]);
    assert!(violations.iter().all(|v| v.redacted && v.phase == Phase::ToolOutput));
}

#[test]
fn hipaa_phi_keywords_block_and_redaction_does_not_neutralise_them() {
    let guard = support::guard(builtin("hipaa"), &["filesystem:read"], 1_000);
    let violations = denied(guard.check(&read("notes/diagnosis.txt")));
    assert_eq!(codes(&violations), ["phi_keyword"]);
    assert_eq!(violations[0].message, "Blocked keyword: diagnosis");
    assert_eq!(violations[0].category.as_deref(), Some("phi_exposure"));

    let (violations, labels) = blocked(guard.check_output(&read("notes/a.txt"), "Medical record for SSN 123-45-6789"));
    assert_eq!(codes(&violations), ["pii_detected", "phi_keyword", "output_blocked"]);
    assert!(violations[0].redacted, "the SSN itself was redacted");
    assert!(!violations[1].redacted);
    assert_eq!(labels, ["PHI"]);
}

#[test]
fn sox_blocks_mnpi_keywords_and_patterns() {
    let guard = support::guard(builtin("sox"), &["filesystem:read"], 1_000);
    let (violations, labels) = blocked(guard.check_output(
        &read("q3.txt"),
        "This is insider information about unreleased earnings; MNPI",
    ));
    let messages: Vec<&str> = violations.iter().map(|v| v.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Blocked keyword: insider",
            "Blocked keyword: unreleased earnings",
            "Blocked keyword: insider information",
            "Pattern match: unreleased earnings",
            "Pattern match: MNPI",
            "Pattern match: insider information",
            "output_blocked: the tool output was withheld",
        ]
    );
    assert!(violations[..6]
        .iter()
        .all(|v| v.category.as_deref() == Some("mnpi_leak") && v.severity == Severity::Block));
    assert_eq!(labels, ["MNPI"]);
    let violations = denied(guard.check(&read("board/executive compensation.xlsx")));
    assert_eq!(codes(&violations), ["mnpi_keyword"]);
}

#[test]
fn legal_privilege_blocks_privilege_markers() {
    let guard = support::guard(builtin("legal"), &["filesystem:read"], 1_000);
    let (violations, labels) =
        blocked(guard.check_output(&read("case/memo.txt"), "Attorney-client memo on case strategy"));
    assert_eq!(
        codes(&violations),
        ["privilege_marker", "privilege_marker", "output_blocked"]
    );
    assert_eq!(violations[0].category.as_deref(), Some("privilege_waiver"));
    assert_eq!(labels, ["PRIVILEGED"]);
    let violations = denied(guard.check(&read("case/settlement terms.txt")));
    assert_eq!(violations[0].message, "Blocked keyword: settlement terms");
}

#[test]
fn default_blocks_pii_and_secrets_without_redacting() {
    let guard = support::guard(builtin("default"), &["*"], 1_000);
    let violations = denied(guard.check(&read("people/555-123-4567.txt")));
    assert_eq!(codes(&violations), ["pii_detected"]);
    let (violations, _) = blocked(guard.check_output(&read("a.txt"), "mail a@b.com, key AKIAIOSFODNN7EXAMPLE"));
    assert_eq!(
        codes(&violations),
        ["pii_detected", "secret_detected", "output_blocked"]
    );
    assert!(violations.iter().all(|v| !v.redacted));
    assert!(
        violations.iter().all(|v| !v.message.contains("IOSFODNN")),
        "no part of a secret is echoed"
    );
}

#[test]
fn clean_text_passes_every_builtin() {
    for (key, permission) in [
        ("hipaa", "filesystem:read"),
        ("sox", "filesystem:read"),
        ("legal_privilege", "filesystem:read"),
        ("default", "*"),
    ] {
        let guard = support::guard(builtin(key), &[permission], 1_000);
        let c = read("notes/weekly.txt");
        let GuardDecision::Allow { labels, warnings, .. } = guard.check(&c) else {
            panic!("{key}: clean input denied")
        };
        assert!(labels.is_empty() && warnings.is_empty(), "{key}");
        assert_eq!(
            guard.check_output(&c, "The weekly status meeting moved to Thursday."),
            OutputDecision::Pass {
                labels: Vec::new(),
                warnings: Vec::new()
            },
            "{key}"
        );
    }
}

/// An uploaded preset with one plugin, `fragile`, that traps on inputs longer than 700 bytes and
/// allows shorter ones.
fn fragile_preset() -> Arc<Preset> {
    let module = wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (data (i32.const 1024) "{{\"action\":\"allow\"}}")
             (func (export "certior_abi_version") (result i32) i32.const 1)
             (func (export "certior_alloc") (param i32) (result i32) i32.const 4096)
             (func (export "certior_evaluate") (param i32 i32) (result i64)
               (if (i32.gt_u (local.get 1) (i32.const {limit})) (then unreachable))
               i64.const {answer}))"#,
        // The wire input of a short call is about 300 bytes of JSON around the content.
        limit = 700,
        answer = (1024u64 << 32) | 18
    ))
    .unwrap();
    let toml = format!(
        "schema_version = 1\nkey = \"fragile\"\nname = \"Fragile\"\nretention_days = 1\n\
         [permissions]\ndefault = [\"filesystem:read\"]\n\
         [[plugins]]\nname = \"fragile\"\nfile = \"fragile.wasm\"\nsha256 = \"{}\"\nhooks = [\"tool_call\"]\n",
        certior::canonical::sha256_hex(&module)
    );
    let files = BTreeMap::from([
        ("preset.toml".to_owned(), toml.into_bytes()),
        ("policy.cedar".to_owned(), Vec::new()),
        ("fragile.wasm".to_owned(), module),
    ]);
    Arc::new(load_bundle(&files, "fragile", PresetSource::Uploaded).unwrap())
}

#[test]
fn a_broken_plugin_denies_its_call_and_other_calls_keep_working() {
    let guard = support::guard(fragile_preset(), &["filesystem:read"], 1_000);
    assert!(matches!(guard.check(&read("a.txt")), GuardDecision::Allow { .. }));
    let violations = denied(guard.check(&read(&"long/".repeat(100))));
    assert_eq!(codes(&violations), ["plugin_error"]);
    let v = &violations[0];
    assert_eq!((v.plugin.as_deref(), v.category.as_deref()), (Some("fragile"), None));
    assert!(
        v.message.starts_with("plugin_error: plugin `fragile`: trapped:"),
        "{}",
        v.message
    );
    assert!(matches!(guard.check(&read("b.txt")), GuardDecision::Allow { .. }));
    let hipaa = support::guard(builtin("hipaa"), &["filesystem:read"], 1_000);
    assert!(matches!(hipaa.check(&read("b.txt")), GuardDecision::Allow { .. }));
}
