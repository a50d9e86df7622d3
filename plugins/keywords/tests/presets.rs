//! The `keywords` plugin under the three configurations the built-in presets use
//! (spec/API.md §6.5–§6.7), through the JSON path the Wasm exports use.

use certior_plugin::abi::State;
use keywords::Keywords;
use serde_json::{json, Value};

fn phi() -> Value {
    json!({"category": "phi_exposure", "label": "PHI", "keyword_code": "phi_keyword",
           "keywords": ["patient name", "medical record", "diagnosis", "prescription", "treatment plan"],
           "exempt_for_task_class": {"public_safe_summary": ["diagnosis", "treatment plan", "prescription"]}})
}

fn mnpi() -> Value {
    json!({"category": "mnpi_leak", "label": "MNPI", "keyword_code": "mnpi_keyword",
           "keywords": ["material non-public", "insider", "unreleased earnings", "confidential projections",
                        "executive compensation", "insider information"],
           "pattern_code": "mnpi_pattern",
           "patterns": ["\\bunreleased\\s+earnings\\b", "\\bMNPI\\b", "\\binsider\\s+(?:information|trading)\\b"]})
}

fn privilege() -> Value {
    json!({"category": "privilege_waiver", "label": "PRIVILEGED", "keyword_code": "privilege_marker",
           "keywords": ["legal advice", "attorney notes", "case strategy", "settlement terms", "witness prep",
                        "settlement discussion", "attorney-client"]})
}

fn answer_as(config: &Value, phase: &str, task_class: Option<&str>, content: &str) -> Value {
    let state = State::<Keywords>::new();
    state.init(config.to_string().as_bytes());
    let input = json!({"abi": 1, "hook": "content", "phase": phase, "preset": "p", "config": config,
                       "profile": {"task_class": task_class}, "content": content});
    serde_json::from_slice(&state.evaluate(input.to_string().as_bytes())).unwrap()
}

fn answer(config: &Value, content: &str) -> Value {
    answer_as(config, "tool_output", None, content)
}

/// `(code, message, matched text)` of each violation.
fn hits(verdict: &Value, content: &str) -> Vec<(String, String, String)> {
    verdict["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let span = v["span"].as_array().unwrap();
            let (start, end) = (span[0].as_u64().unwrap() as usize, span[1].as_u64().unwrap() as usize);
            (v["code"].as_str().unwrap().into(), v["message"].as_str().unwrap().into(), content[start..end].into())
        })
        .collect()
}

#[test]
fn every_phi_keyword_is_found_case_insensitively() {
    for keyword in ["patient name", "medical record", "diagnosis", "prescription", "treatment plan"] {
        let content = format!("See the {}: here", keyword.to_uppercase());
        let verdict = answer(&phi(), &content);
        assert_eq!(verdict["action"], "deny");
        assert_eq!(verdict["labels"], json!(["PHI"]));
        let violation = &verdict["violations"][0];
        assert_eq!(violation["category"], "phi_exposure");
        assert_eq!(violation["severity"], "block");
        assert_eq!(hits(&verdict, &content), vec![("phi_keyword".into(), format!("Blocked keyword: {keyword}"), keyword.to_uppercase())]);
    }
}

#[test]
fn keywords_are_substrings_and_every_occurrence_counts() {
    let content = "Prescriptions: one prescription, then a PRESCRIPTION.";
    let found = hits(&answer(&phi(), content), content);
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].2, "Prescription");
}

#[test]
fn phi_negatives() {
    for content in ["The diagnostic tool ran", "patient-name field", "medicalrecord", "a treatment  plan", ""] {
        assert_eq!(answer(&phi(), content), json!({"action": "allow", "violations": []}), "{content}");
    }
    // Substring semantics: "medical records" holds "medical record".
    assert_eq!(answer(&phi(), "medical records-keeping")["action"], "deny");
}

#[test]
fn public_safe_summary_checks_only_name_and_record() {
    let content = "diagnosis, prescription and treatment plan for the patient name in the medical record";
    let all = answer_as(&phi(), "final_output", None, content);
    assert_eq!(hits(&all, content).len(), 5);
    let relaxed = answer_as(&phi(), "final_output", Some("public_safe_summary"), content);
    let messages: Vec<String> = hits(&relaxed, content).into_iter().map(|h| h.1).collect();
    assert_eq!(messages, vec!["Blocked keyword: patient name", "Blocked keyword: medical record"]);
    let other = answer_as(&phi(), "final_output", Some("clinical_intake"), content);
    assert_eq!(hits(&other, content).len(), 5);
}

#[test]
fn mnpi_spec_example_yields_six_violations_in_order() {
    let content = "This is insider information about unreleased earnings; MNPI";
    let verdict = answer(&mnpi(), content);
    assert_eq!(verdict["action"], "deny");
    assert_eq!(verdict["labels"], json!(["MNPI"]));
    let expected: Vec<(String, String, String)> = [
        ("mnpi_keyword", "Blocked keyword: insider", "insider"),
        ("mnpi_keyword", "Blocked keyword: unreleased earnings", "unreleased earnings"),
        ("mnpi_keyword", "Blocked keyword: insider information", "insider information"),
        ("mnpi_pattern", "Pattern match: unreleased earnings", "unreleased earnings"),
        ("mnpi_pattern", "Pattern match: MNPI", "MNPI"),
        ("mnpi_pattern", "Pattern match: insider information", "insider information"),
    ]
    .iter()
    .map(|(c, m, t)| (c.to_string(), m.to_string(), t.to_string()))
    .collect();
    assert_eq!(hits(&verdict, content), expected);
    assert!(verdict["violations"].as_array().unwrap().iter().all(|v| v["category"] == "mnpi_leak"));
}

#[test]
fn every_mnpi_keyword_and_pattern() {
    for keyword in ["material non-public", "insider", "unreleased earnings", "confidential projections", "executive compensation", "insider information"] {
        let content = format!("about {keyword} today");
        assert!(hits(&answer(&mnpi(), &content), &content).contains(&("mnpi_keyword".into(), format!("Blocked keyword: {keyword}"), keyword.into())));
    }
    for (content, matched) in [
        ("Unreleased\n  Earnings due", "Unreleased\n  Earnings"),
        ("tagged mnpi.", "mnpi"),
        ("no INSIDER TRADING here", "INSIDER TRADING"),
        ("insider\tinformation", "insider\tinformation"),
    ] {
        let found = hits(&answer(&mnpi(), content), content);
        assert!(found.contains(&("mnpi_pattern".into(), format!("Pattern match: {matched}"), matched.into())), "{content}: {found:?}");
    }
}

#[test]
fn mnpi_negatives() {
    for content in ["released earnings were strong", "MNPIX codes", "the inside track", "public projections", "unreleasedearnings"] {
        assert_eq!(answer(&mnpi(), content), json!({"action": "allow", "violations": []}), "{content}");
    }
    // A keyword hit without its pattern: "insiders" holds "insider" but no `\binsider\s+…`.
    let found = hits(&answer(&mnpi(), "insiders"), "insiders");
    assert_eq!(found, vec![("mnpi_keyword".into(), "Blocked keyword: insider".into(), "insider".into())]);
}

#[test]
fn every_privilege_marker() {
    for marker in ["legal advice", "attorney notes", "case strategy", "settlement terms", "witness prep", "settlement discussion", "attorney-client"] {
        let content = format!("Re: {} (draft)", marker.to_uppercase());
        let verdict = answer(&privilege(), &content);
        assert_eq!(verdict["action"], "deny", "{marker}");
        assert_eq!(verdict["labels"], json!(["PRIVILEGED"]));
        assert_eq!(verdict["violations"][0]["category"], "privilege_waiver");
        assert_eq!(hits(&verdict, &content), vec![("privilege_marker".into(), format!("Blocked keyword: {marker}"), marker.to_uppercase())]);
    }
    for content in ["attorney client", "legal adviser", "settlement", "case strategies", "witness list"] {
        assert_eq!(answer(&privilege(), content), json!({"action": "allow", "violations": []}), "{content}");
    }
}

#[test]
fn keywords_deny_in_every_phase() {
    for phase in ["tool_input", "tool_output", "final_output", "stage", "release"] {
        let verdict = answer_as(&privilege(), phase, None, "legal advice");
        assert_eq!(verdict["action"], "deny", "{phase}");
        assert!(verdict.get("redacted").is_none());
    }
}

#[test]
fn configuration_errors_are_reported() {
    let cases = [
        (json!({"category": "mnpi_leak", "label": "MNPI"}), "configure at least one of `keywords` and `patterns`"),
        (json!({"category": "mnpi_leak", "label": "MNPI", "keywords": ["x"]}), "`keyword_code` is required when `keywords` is set"),
        (json!({"category": "mnpi_leak", "label": "MNPI", "patterns": ["x"]}), "`pattern_code` is required when `patterns` is set"),
        (json!({"category": "mnpi_leak", "label": "", "keyword_code": "k", "keywords": ["x"]}), "`label` must not be empty"),
        (json!({"category": "mnpi_leak", "label": "M", "keyword_code": "k", "keywords": ["x", "X"]}), "keyword `X` is listed twice"),
        (json!({"category": "mnpi_leak", "label": "M", "keyword_code": "k", "keywords": [" "]}), "`keywords` must not contain empty strings"),
        (json!({"category": "mnpi_leak", "label": "M", "pattern_code": "p", "patterns": ["(?=x)"]}), "pattern `(?=x)`"),
        (json!({"category": "mnpi_leak", "label": "M", "keyword_code": "k", "keywords": ["x"],
                "exempt_for_task_class": {"c": ["y"]}}), "`exempt_for_task_class.c` names `y`, which is not a keyword"),
        (json!({"category": "secrets", "label": "M", "keyword_code": "k", "keywords": ["x"]}), "unknown variant `secrets`"),
        (json!({"category": "mnpi_leak", "label": "M", "keyword_code": "k", "keywords": ["x"], "severity": "warn"}), "unknown field `severity`"),
    ];
    for (config, expected) in cases {
        let verdict = answer(&config, "x");
        assert_eq!(verdict["violations"][0]["code"], "plugin_error");
        let message = verdict["violations"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{config}: {message}");
    }
}
