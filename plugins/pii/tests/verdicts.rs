//! The `pii` plugin's answers in each mode and phase, through the same JSON path the Wasm
//! exports use (`certior_plugin::abi::State`).

use certior_plugin::abi::State;
use pii::Pii;
use serde_json::{json, Value};

fn answer(config: Value, phase: &str, content: &str) -> Value {
    let state = State::<Pii>::new();
    state.init(config.to_string().as_bytes());
    let hook = if phase == "tool_input" { "tool_call" } else { "content" };
    let input = json!({"abi": 1, "hook": hook, "phase": phase, "preset": "hipaa", "config": config,
                       "profile": {"task_class": null, "stage_role": null},
                       "subject": {"tool": "file_read", "params": {}, "capabilities": [], "destination": null,
                                   "stage": null, "release": null},
                       "content": content});
    serde_json::from_slice(&state.evaluate(input.to_string().as_bytes())).unwrap()
}

fn redact_mode() -> Value {
    json!({"mode": "redact"})
}

fn block_mode() -> Value {
    json!({"mode": "block"})
}

#[test]
fn redact_mode_redacts_outputs_with_the_spec_example() {
    for phase in ["tool_output", "final_output"] {
        let verdict = answer(redact_mode(), phase, "SSN 123-45-6789 and email a@b.com");
        assert_eq!(
            verdict,
            json!({"action": "redact",
                   "violations": [
                       {"code": "pii_detected", "category": "hate_bias_pii", "severity": "block",
                        "message": "PII detected: SSN", "span": [4, 15], "entity": "SSN", "redacted": true},
                       {"code": "pii_detected", "category": "hate_bias_pii", "severity": "block",
                        "message": "PII detected: EMAIL", "span": [26, 33], "entity": "EMAIL", "redacted": true}],
                   "redacted": "SSN [REDACTED-SSN] and email [REDACTED-EMAIL]",
                   "labels": ["PHI"]})
        );
    }
}

#[test]
fn redact_mode_denies_where_redaction_is_not_allowed() {
    for phase in ["tool_input", "stage", "release"] {
        let verdict = answer(redact_mode(), phase, "call 555-123-4567");
        assert_eq!(verdict["action"], "deny", "{phase}");
        assert_eq!(verdict["violations"][0]["message"], "PII detected: PHONE");
        assert_eq!(verdict["violations"][0]["span"], json!([5, 17]));
        assert!(verdict["violations"][0].get("redacted").is_none());
        assert!(verdict.get("redacted").is_none());
        assert_eq!(verdict["labels"], json!(["PHI"]));
    }
}

#[test]
fn block_mode_denies_in_every_phase_and_redacts_nothing() {
    for phase in ["tool_input", "tool_output", "final_output", "stage", "release"] {
        let verdict = answer(block_mode(), phase, "card 4111 1111 1111 1111");
        assert_eq!(verdict["action"], "deny", "{phase}");
        assert_eq!(verdict["violations"][0]["entity"], "CREDIT_CARD");
        assert_eq!(verdict["violations"][0]["severity"], "block");
        assert!(verdict.get("redacted").is_none());
    }
}

#[test]
fn overlapping_matches_redact_as_one_token_of_the_earliest() {
    let verdict = answer(redact_mode(), "tool_output", "id MRN 5551234567.");
    assert_eq!(verdict["redacted"], "id [REDACTED-MRN].");
    assert_eq!(verdict["violations"].as_array().unwrap().len(), 2);
}

#[test]
fn redaction_keeps_the_birth_keyword_and_multibyte_text() {
    let verdict = answer(redact_mode(), "final_output", "Né — DOB: 01/02/1990, 12 Elm St.");
    assert_eq!(verdict["redacted"], "Né — DOB: [REDACTED-DATE_OF_BIRTH], [REDACTED-STREET_ADDRESS]");
}

#[test]
fn clean_text_is_allowed_without_labels() {
    for config in [redact_mode(), block_mode()] {
        assert_eq!(answer(config, "tool_output", "Quarterly totals rose 4% in region 12."), json!({"action": "allow", "violations": []}));
    }
}

#[test]
fn mode_is_required_and_checked() {
    for config in [json!({}), json!({"mode": "mask"}), json!({"mode": "redact", "entities": []})] {
        let verdict = answer(config.clone(), "tool_output", "a@b.com");
        assert_eq!(verdict["action"], "deny", "{config}");
        assert_eq!(verdict["violations"][0]["code"], "plugin_error");
        let message = verdict["violations"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("invalid configuration: "), "{message}");
    }
}
