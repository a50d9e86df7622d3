//! Every secret type of spec/API.md §6.4, positive and negative, through the JSON path the
//! Wasm exports use — including that no part of a secret ever appears in the answer.

use certior_plugin::abi::State;
use secrets::Secrets;
use serde_json::{json, Value};

fn answer_in(phase: &str, content: &str) -> Value {
    let state = State::<Secrets>::new();
    state.init(b"{}");
    let input = json!({"abi": 1, "hook": "content", "phase": phase, "preset": "default", "config": {}, "content": content});
    serde_json::from_slice(&state.evaluate(input.to_string().as_bytes())).unwrap()
}

/// `(type, matched text)` of each violation, checking the fixed fields on the way.
fn found(content: &str) -> Vec<(String, String)> {
    let verdict = answer_in("tool_output", content);
    verdict["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            assert_eq!(v["code"], "secret_detected");
            assert_eq!(v["category"], "hate_bias_pii");
            assert_eq!(v["severity"], "block");
            let kind = v["entity"].as_str().unwrap().to_string();
            assert_eq!(v["message"], format!("Secret detected: {kind}"));
            let span = v["span"].as_array().unwrap();
            let text = content[span[0].as_u64().unwrap() as usize..span[1].as_u64().unwrap() as usize].to_string();
            (kind, text)
        })
        .collect()
}

fn assert_finds(kind: &str, content: &str, expected: &str) {
    let all = found(content);
    assert!(all.iter().any(|(k, t)| k == kind && t == expected), "{kind} `{expected}` not in `{content}`: {all:?}");
}

fn assert_no(kind: &str, content: &str) {
    let all = found(content);
    assert!(all.iter().all(|(k, _)| k != kind), "unexpected {kind} in `{content}`: {all:?}");
}

const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

#[test]
fn aws_access_key() {
    assert_finds("AWS_ACCESS_KEY", "key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE");
    for content in ["AKIAIOSFODNN7EXAMPL", "akiaiosfodnn7example", "XAKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLEX"] {
        assert_no("AWS_ACCESS_KEY", content);
    }
}

#[test]
fn aws_secret_key_but_not_sha1() {
    assert_finds("AWS_SECRET_KEY", &format!("secret: {AWS_SECRET} end"), AWS_SECRET);
    for content in [
        "commit da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYX",
    ] {
        assert_no("AWS_SECRET_KEY", content);
    }
}

#[test]
fn github_token() {
    let token = format!("ghp_{}", "a1B2c3D4e5".repeat(3) + "F6g7H8");
    assert_eq!(token.len(), 40);
    assert_finds("GITHUB_TOKEN", &format!("token {token}"), &token);
    assert_no("GITHUB_TOKEN", &format!("ghp_{}", "a".repeat(35)));
    assert_no("GITHUB_TOKEN", &format!("gho_{}", "a".repeat(36)));
}

#[test]
fn generic_api_key() {
    assert_finds("GENERIC_API_KEY", "API_KEY=abcdefghij0123456789xyz", "API_KEY=abcdefghij0123456789xyz");
    assert_finds("GENERIC_API_KEY", r#"{"apikey": "abcdefghij-0123456789_"}"#, r#"apikey": "abcdefghij-0123456789_""#);
    assert_finds("GENERIC_API_KEY", "api-key : 'ABCDEFGHIJKLMNOPQRSTU'", "api-key : 'ABCDEFGHIJKLMNOPQRSTU'");
    for content in ["api_key=short123", "the api key is documented", "apikey=<redacted>"] {
        assert_no("GENERIC_API_KEY", content);
    }
}

#[test]
fn generic_secret() {
    assert_finds("GENERIC_SECRET", "password=hunter2hunter2", "password=hunter2hunter2");
    assert_finds("GENERIC_SECRET", "PWD: 'p@ssw0rd!' ok", "PWD: 'p@ssw0rd!'");
    assert_finds("GENERIC_SECRET", r#"{"password": "correct-horse"}"#, r#"password": "correct-horse""#);
    assert_finds("GENERIC_SECRET", "client_secret = \"s3cr3t-value\"", "secret = \"s3cr3t-value\"");
    assert_finds("GENERIC_SECRET", "Passwd:Tr0ub4dor&3", "Passwd:Tr0ub4dor&3");
    for content in ["password=short", "reset your password: see the docs", "the secret is out", "passwd= 1234567", "PWD: 'p@ss w0rd'"] {
        assert_no("GENERIC_SECRET", content);
    }
}

#[test]
fn jwt_token() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    assert_finds("JWT_TOKEN", &format!("Bearer {jwt}"), jwt);
    assert_no("JWT_TOKEN", "eyJhbGciOiJIUzI1NiJ9.notajwt.x");
    assert_no("JWT_TOKEN", "eyJhbGciOiJIUzI1NiJ9");
}

#[test]
fn private_key() {
    for header in [
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----",
    ] {
        assert_finds("PRIVATE_KEY", &format!("{header}\nMIIEvQIBADANBg"), header);
    }
    assert_no("PRIVATE_KEY", "-----BEGIN PUBLIC KEY-----");
    assert_no("PRIVATE_KEY", "-----BEGIN CERTIFICATE-----");
}

#[test]
fn slack_token() {
    for token in ["xoxb-1234-5678-abcdEFGH", "xoxp-1-2-3", "xoxa-abc", "xoxr-z", "xoxs-9"] {
        assert_finds("SLACK_TOKEN", &format!("slack {token} ok"), token);
    }
    assert_no("SLACK_TOKEN", "xoxz-1234");
    assert_no("SLACK_TOKEN", "xoxb_1234");
}

#[test]
fn denies_in_every_phase_and_labels_sensitive() {
    for phase in ["tool_input", "tool_output", "final_output", "stage", "release"] {
        let verdict = answer_in(phase, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(verdict["action"], "deny", "{phase}");
        assert_eq!(verdict["labels"], json!(["sensitive"]));
        assert!(verdict.get("redacted").is_none());
    }
}

#[test]
fn no_part_of_a_secret_is_echoed() {
    let secrets = ["AKIAIOSFODNN7EXAMPLE", AWS_SECRET, "hunter2hunter2", "xoxb-1234-5678-abcdEFGH", "abcdefghij0123456789xyz"];
    let content = format!(
        "a {} b {} c password={} d {} e api_key={}",
        secrets[0], secrets[1], secrets[2], secrets[3], secrets[4]
    );
    let answer = answer_in("tool_output", &content).to_string();
    assert_eq!(found(&content).len(), 5);
    for secret in secrets {
        for window in secret.as_bytes().windows(6) {
            let fragment = std::str::from_utf8(window).unwrap();
            assert!(!answer.contains(fragment), "answer echoes `{fragment}` of a secret: {answer}");
        }
    }
}

#[test]
fn order_is_type_then_text_and_clean_text_passes() {
    let content = "xoxb-1 then AKIAIOSFODNN7EXAMPLE then xoxp-2";
    let kinds: Vec<String> = found(content).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, vec!["AWS_ACCESS_KEY", "SLACK_TOKEN", "SLACK_TOKEN"]);
    let clean = "Deploy v2.3.1 from commit da39a3ee5e6b4b0d3255bfef95601890afd80709 to eu-west-1.";
    assert_eq!(answer_in("tool_output", clean), json!({"action": "allow", "violations": []}));
}

#[test]
fn configuration_takes_no_options() {
    let state = State::<Secrets>::new();
    state.init(br#"{"mode": "block"}"#);
    let input = json!({"abi": 1, "hook": "content", "phase": "tool_output", "preset": "p", "content": "x"});
    let verdict: Value = serde_json::from_slice(&state.evaluate(input.to_string().as_bytes())).unwrap();
    assert_eq!(verdict["violations"][0]["code"], "plugin_error");
    assert!(verdict["violations"][0]["message"].as_str().unwrap().contains("unknown field `mode`"));
}
