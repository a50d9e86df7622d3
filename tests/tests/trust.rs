//! Presets listing, signing keys, and certificate verification online and offline.

use std::collections::BTreeMap;

use certior::certificate::CertificateContent;
use certior::signing::SigningKeyring;
use certior::TokenClaims;
use certior_e2e::{now, Server};
use serde_json::{json, Value};

const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn seed() -> [u8; 32] {
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&SEED_HEX[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

/// A certificate signed offline with the same seed the server is given.
fn certificate(issued_at: f64, retention_days: i64) -> Value {
    let keyring = SigningKeyring::from_seed(seed(), 1.0);
    let content = CertificateContent {
        kind: "tool_call".into(),
        theorem: "call is within policy".into(),
        subject: json!({"tool": "file_read", "params": {"path": "notes.txt"}}),
        plan_hash: format!("sha256:{}", "ab".repeat(32)),
        verified_properties: vec!["capability_subset".into()],
        policy_ids: vec!["hipaa.ceiling".into()],
        prover: "certior-guard".into(),
        preset_key: "hipaa".into(),
        preset_digest: format!("sha256:{}", "cd".repeat(32)),
        plugin_digests: BTreeMap::new(),
        issued_at,
        retention_days,
    };
    serde_json::to_value(keyring.issue(content).unwrap()).unwrap()
}

#[tokio::test]
async fn presets_are_listed_with_their_descriptors() {
    let server = Server::start().await;
    let reply = server.client().get("/api/v1/compliance/presets", None).await;
    assert_eq!(reply.status, 200);
    let presets = reply.body.as_array().unwrap();
    let keys: Vec<_> = presets.iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys[..4], ["hipaa", "sox", "legal_privilege", "default"]);
    let names: Vec<_> = presets.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names[..4], ["HIPAA", "SOX", "Legal Privilege", "Default"]);

    let hipaa = &presets[0];
    assert_eq!(hipaa["retention_days"], 2190);
    assert_eq!(hipaa["source"], "builtin");
    assert_eq!(hipaa["version"], 1);
    assert_eq!(hipaa["created_at"], Value::Null);
    assert_eq!(hipaa["forbidden_permissions"], json!(["network:smtp:send:external"]));
    assert_eq!(
        hipaa["required_proofs"],
        json!([
            "no_phi_external_flow",
            "minimum_necessary_access",
            "authorized_user_only"
        ])
    );
    assert_eq!(hipaa["flow_rules"][0]["source"], "PHI");
    let digest = hipaa["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    assert_eq!(presets[2]["aliases"], json!(["legal"]));
    assert_eq!(presets[3]["max_permissions"], json!(["*"]));
    for field in ["description", "permissions", "human_approvals", "plugins"] {
        assert!(presets.iter().all(|p| !p[field].is_null()), "{field} always present");
    }
}

#[tokio::test]
async fn an_invalid_directory_preset_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let preset = dir.path().join("broken");
    std::fs::create_dir(&preset).unwrap();
    std::fs::write(
        preset.join("preset.toml"),
        "schema_version = 1\nkey = \"broken\"\nname = [",
    )
    .unwrap();
    std::fs::write(preset.join("policy.cedar"), "").unwrap();
    let data = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(certior_e2e::certior_bin())
        .arg("serve")
        .env_clear()
        .env("CERTIOR_PORT", "0")
        .env("CERTIOR_DATA_DIR", data.path())
        .env("CERTIOR_PRESETS_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("preset.toml"), "names the file: {stderr}");
}

#[tokio::test]
async fn the_generated_signing_key_is_kept_across_restarts() {
    let server = Server::start().await;
    let keys = server.client().get("/api/v1/trust/keys", None).await;
    assert_eq!(keys.status, 200);
    let list = keys.body["keys"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let key = &list[0];
    assert_eq!(key["status"], "active");
    assert_eq!(key["algorithm"], "Ed25519");
    let key_id = key["key_id"].as_str().unwrap().to_string();
    assert!(key_id.len() == 16 && key_id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(key["jwk"]["kid"], key_id.as_str());
    assert_eq!(key["jwk"]["kty"], "OKP");
    assert_eq!(key["jwk"]["alg"], "EdDSA");
    assert_eq!(
        key["public_key"].as_str().unwrap().len(),
        43,
        "unpadded base64url of 32 bytes"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::read_dir(&server.data_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name().unwrap().to_string_lossy().contains("signing") && !p.to_string_lossy().ends_with(".json")
            })
            .expect("generated key file in the data dir");
        assert_eq!(std::fs::metadata(private).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let server = server.restart().await;
    let again = server.client().get("/api/v1/trust/keys", None).await;
    assert_eq!(again.body["keys"][0]["key_id"], key_id.as_str());
}

#[tokio::test]
async fn certificates_verify_online_and_offline() {
    let server = Server::start_with(&[("CERTIOR_SIGNING_KEY", SEED_HEX)]).await;
    let api = server.client();
    let cert = certificate(now(), 30);

    let verified = api
        .post("/api/v1/trust/verify", &json!({"certificate": cert}), None)
        .await;
    assert_eq!(verified.status, 200, "{}", verified.text);
    assert_eq!(verified.body["valid"], true);
    assert_eq!(verified.body["kind"], "certificate");
    assert_eq!(verified.body["reason"], Value::Null);
    assert_eq!(verified.body["revoked"], false);

    let mut tampered = cert.clone();
    tampered["subject"]["params"]["path"] = json!("secrets.txt");
    let bad = api
        .post("/api/v1/trust/verify", &json!({"certificate": tampered}), None)
        .await;
    assert_eq!(
        (bad.body["valid"].as_bool(), bad.body["reason"].as_str()),
        (Some(false), Some("bad_signature"))
    );

    let mut unknown = cert.clone();
    unknown["key_id"] = json!("0000000000000000");
    let unknown = api
        .post("/api/v1/trust/verify", &json!({"certificate": unknown}), None)
        .await;
    assert_eq!(unknown.body["reason"], "unknown_key");

    let expired = certificate(now() - 3.0 * 86_400.0, 1);
    let expired = api
        .post("/api/v1/trust/verify", &json!({"certificate": expired}), None)
        .await;
    assert_eq!(
        (
            expired.body["signature_valid"].as_bool(),
            expired.body["reason"].as_str()
        ),
        (Some(true), Some("expired"))
    );

    let malformed = api
        .post("/api/v1/trust/verify", &json!({"certificate": {"hello": 1}}), None)
        .await;
    assert_eq!(malformed.body["reason"], "malformed");

    let keyring = SigningKeyring::from_seed(seed(), 1.0);
    let claims = |exp: i64| TokenClaims {
        iss: "certior".into(),
        jti: "6f1c2a9e-1111-4222-8333-444455556666".into(),
        sub: "user".into(),
        agent_id: "agent-1".into(),
        permissions: vec!["filesystem:read".into()],
        budget_cents: 500,
        parent_id: None,
        compliance_policy: "hipaa".into(),
        iat: now() as i64,
        exp: Some(exp),
    };
    let token = keyring.sign_token(&claims(now() as i64 + 600));
    let good = api.post("/api/v1/trust/verify", &json!({"token": token}), None).await;
    assert_eq!(
        (good.body["kind"].as_str(), good.body["valid"].as_bool()),
        (Some("token"), Some(true)),
        "{}",
        good.text
    );
    let (head, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", "A".repeat(86));
    let forged = api.post("/api/v1/trust/verify", &json!({"token": forged}), None).await;
    assert_eq!(forged.body["reason"], "bad_signature");
    let stale = keyring.sign_token(&claims(now() as i64 - 10));
    let stale = api.post("/api/v1/trust/verify", &json!({"token": stale}), None).await;
    assert_eq!(stale.body["reason"], "expired");
    let junk = api
        .post("/api/v1/trust/verify", &json!({"token": "not-a-jwt"}), None)
        .await;
    assert_eq!(junk.body["reason"], "malformed");

    for body in [json!({}), json!({"certificate": cert, "package": {}})] {
        let refused = api.post("/api/v1/trust/verify", &body, None).await;
        assert_eq!(
            (refused.status, refused.body["errors"][0]["type"].as_str()),
            (422, Some("value_error"))
        );
    }

    // Offline: the keys as served, the certificate as a file, no server involved.
    let keys = api.get("/api/v1/trust/keys", None).await;
    let dir = tempfile::tempdir().unwrap();
    let keys_file = dir.path().join("keys.json");
    std::fs::write(&keys_file, keys.text).unwrap();
    let cert_file = dir.path().join("cert.json");
    std::fs::write(&cert_file, serde_json::to_vec(&cert).unwrap()).unwrap();
    let run = |file: &std::path::Path| {
        std::process::Command::new(certior_e2e::certior_bin())
            .args(["cert", "verify"])
            .arg(file)
            .arg("--keys")
            .arg(&keys_file)
            .output()
            .unwrap()
    };
    let ok = run(&cert_file);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("\"valid\": true"));
    let tampered_file = dir.path().join("tampered.json");
    let mut tampered = cert.clone();
    tampered["preset_key"] = json!("default");
    std::fs::write(&tampered_file, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let refused = run(&tampered_file);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stdout).contains("bad_signature"));
}
