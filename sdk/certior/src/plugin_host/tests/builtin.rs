//! The built-in plugins as committed in `presets/`, loaded and pre-initialized by the host.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::{host, host_with};
use crate::plugin_host::{Phase, PluginAction, PluginInput, PluginLimits, PluginSeverity};

fn preset_module(preset: &str, plugin: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../presets")
        .join(preset)
        .join(format!("{plugin}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-plugins.sh)", path.display()))
}

fn messages(answer: &crate::plugin_host::PluginAnswer) -> Vec<String> {
    answer
        .violations
        .iter()
        .map(|v| v.message.clone().unwrap_or_default())
        .collect()
}

#[test]
fn pii_redacts_outputs_and_denies_inputs_in_hipaa() {
    let host = host();
    let pii = host
        .load("pii", &preset_module("hipaa", "pii"), &json!({"mode": "redact"}))
        .unwrap();
    let content = "SSN 123-45-6789 and email a@b.com";
    let answer = pii
        .evaluate(&PluginInput::new(Phase::ToolOutput, "hipaa", content))
        .unwrap();
    assert_eq!(answer.action, PluginAction::Redact);
    assert_eq!(
        answer.redacted.as_deref(),
        Some("SSN [REDACTED-SSN] and email [REDACTED-EMAIL]")
    );
    assert_eq!(messages(&answer), ["PII detected: SSN", "PII detected: EMAIL"]);
    assert_eq!(answer.violations[0].span, Some((4, 15)));
    assert!(answer
        .violations
        .iter()
        .all(|v| v.redacted && v.category.as_deref() == Some("hate_bias_pii")));
    assert_eq!(answer.labels, ["PHI"]);

    let input = pii
        .evaluate(&PluginInput::new(
            Phase::ToolInput,
            "hipaa",
            "tool:file_write\ncontent=555-123-4567",
        ))
        .unwrap();
    assert_eq!(input.action, PluginAction::Deny);
    assert_eq!(input.redacted, None);
    assert_eq!(pii.sha256().len(), 64);
}

#[test]
fn pii_blocks_in_default_and_passes_clean_text() {
    let host = host();
    let pii = host
        .load("pii", &preset_module("default", "pii"), &json!({"mode": "block"}))
        .unwrap();
    let answer = pii
        .evaluate(&PluginInput::new(
            Phase::FinalOutput,
            "default",
            "card 4111 1111 1111 1111",
        ))
        .unwrap();
    assert_eq!(answer.action, PluginAction::Deny);
    assert_eq!(answer.violations[0].entity.as_deref(), Some("CREDIT_CARD"));
    let clean = pii
        .evaluate(&PluginInput::new(
            Phase::FinalOutput,
            "default",
            "nothing personal here",
        ))
        .unwrap();
    assert_eq!((clean.action, clean.violations.len()), (PluginAction::Allow, 0));
}

#[test]
fn keywords_with_each_preset_configuration() {
    let host = host();
    let sox = host
        .load(
            "keywords",
            &preset_module("sox", "keywords"),
            &json!({"category": "mnpi_leak", "label": "MNPI", "keyword_code": "mnpi_keyword",
                    "keywords": ["material non-public", "insider", "unreleased earnings", "confidential projections",
                                 "executive compensation", "insider information"],
                    "pattern_code": "mnpi_pattern",
                    "patterns": ["\\bunreleased\\s+earnings\\b", "\\bMNPI\\b", "\\binsider\\s+(?:information|trading)\\b"]}),
        )
        .unwrap();
    let answer = sox
        .evaluate(&PluginInput::new(
            Phase::FinalOutput,
            "sox",
            "This is insider information about unreleased earnings; MNPI",
        ))
        .unwrap();
    assert_eq!(answer.action, PluginAction::Deny);
    assert_eq!(
        messages(&answer),
        [
            "Blocked keyword: insider",
            "Blocked keyword: unreleased earnings",
            "Blocked keyword: insider information",
            "Pattern match: unreleased earnings",
            "Pattern match: MNPI",
            "Pattern match: insider information"
        ]
    );
    assert_eq!(answer.labels, ["MNPI"]);

    let hipaa = host
        .load(
            "keywords",
            &preset_module("hipaa", "keywords"),
            &json!({"category": "phi_exposure", "label": "PHI", "keyword_code": "phi_keyword",
                    "keywords": ["patient name", "medical record", "diagnosis", "prescription", "treatment plan"],
                    "exempt_for_task_class": {"public_safe_summary": ["diagnosis", "treatment plan", "prescription"]}}),
        )
        .unwrap();
    let mut summary = PluginInput::new(
        Phase::FinalOutput,
        "hipaa",
        "The diagnosis and treatment plan are attached.",
    );
    assert_eq!(hipaa.evaluate(&summary).unwrap().violations.len(), 2);
    summary.profile = json!({"task_class": "public_safe_summary", "stage_role": null});
    assert_eq!(hipaa.evaluate(&summary).unwrap().action, PluginAction::Allow);
}

#[test]
fn secrets_deny_without_echoing() {
    let host = host();
    let secrets = host
        .load("secrets", &preset_module("sox", "secrets"), &Value::Null)
        .unwrap();
    let answer = secrets
        .evaluate(&PluginInput::new(
            Phase::ToolInput,
            "sox",
            "tool:http_get\nheaders=AKIAIOSFODNN7EXAMPLE",
        ))
        .unwrap();
    assert_eq!(answer.action, PluginAction::Deny);
    assert_eq!(answer.violations[0].severity, PluginSeverity::Block);
    assert_eq!(messages(&answer), ["Secret detected: AWS_ACCESS_KEY"]);
    assert!(!format!("{answer:?}").contains("IOSFODNN"));
}

#[test]
fn a_bad_configuration_denies_with_the_plugins_reason() {
    let host = host();
    let pii = host
        .load("pii", &preset_module("hipaa", "pii"), &json!({"mode": "mask"}))
        .unwrap();
    let answer = pii
        .evaluate(&PluginInput::new(Phase::ToolOutput, "hipaa", "x"))
        .unwrap();
    assert_eq!(answer.action, PluginAction::Deny);
    assert_eq!(answer.violations[0].code, "plugin_error");
    assert!(messages(&answer)[0].contains("unknown variant `mask`"), "{answer:?}");
}

#[test]
fn concurrent_evaluations_each_get_a_fresh_instance() {
    let host = host();
    let pii = host
        .load("pii", &preset_module("hipaa", "pii"), &json!({"mode": "redact"}))
        .unwrap();
    std::thread::scope(|scope| {
        for thread in 0..2 {
            let pii = &pii;
            scope.spawn(move || {
                for i in 0..20 {
                    let content = format!("call {thread}{i:02}-555-0100 now");
                    let answer = pii
                        .evaluate(&PluginInput::new(Phase::ToolOutput, "hipaa", &content))
                        .unwrap();
                    assert_eq!(
                        answer.redacted.as_deref(),
                        Some("call [REDACTED-PHONE] now"),
                        "{content}"
                    );
                }
            });
        }
    });
}

#[test]
fn compiled_modules_are_cached_on_disk_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let limits = PluginLimits {
        max_instances: 4,
        cache_dir: Some(dir.path().to_path_buf()),
        ..PluginLimits::default()
    };
    let wasm = preset_module("default", "secrets");
    let first = host_with(limits.clone()).load("secrets", &wasm, &json!({})).unwrap();
    let entries = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(entries().len(), 1);
    assert!(entries()[0].ends_with(".cwasm"));
    let second = host_with(limits.clone()).load("secrets", &wasm, &json!({})).unwrap();
    assert_eq!(entries().len(), 1, "a second load reuses the entry");
    for plugin in [&first, &second] {
        let answer = plugin
            .evaluate(&PluginInput::new(
                Phase::ToolOutput,
                "default",
                "password=hunter2hunter2",
            ))
            .unwrap();
        assert_eq!(answer.action, PluginAction::Deny);
    }
    // Another configuration is another pre-initialization, hence another entry.
    host_with(limits).load("secrets", &wasm, &Value::Null).unwrap();
    assert_eq!(entries().len(), 2);
}
