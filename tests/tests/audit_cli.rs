//! `certior audit` and `certior release gate` as CI runs them (spec/RELEASES.md §8): fixture
//! repositories, every output format, the exit codes, and SARIF validated against the SARIF
//! 2.1.0 schema.

use std::path::PathBuf;
use std::process::Output;

use certior_e2e::{certior_bin, server_with_admin_and};
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/audit")
        .join(name);
    root.to_string_lossy().into_owned()
}

fn certior(args: &[&str]) -> Output {
    std::process::Command::new(certior_bin())
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CERTIOR_PRESETS_DIR")
        .env_remove("CERTIOR_API_KEY")
        .output()
        .expect("run certior")
}

fn audit(repo: &str, packages: &str, extra: &[&str]) -> (i32, String) {
    let root = fixture(repo);
    let mut args = vec!["audit", "--packages", packages, "--repo-root", root.as_str()];
    args.extend_from_slice(extra);
    let out = certior(&args);
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap(),
    )
}

fn audit_json(repo: &str, packages: &str) -> (i32, Value) {
    let (code, text) = audit(repo, packages, &["--format", "json"]);
    (
        code,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

fn codes(report: &Value) -> Vec<(String, Option<String>)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_owned(),
                f["capability"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn a_clean_repository_passes() {
    let (code, text) = audit("clean", "hipaa", &[]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(text, "Checked 3 declaration(s) against [hipaa]: 3 pass, 0 fail\n");
    let (code, report) = audit_json("clean", " HIPAA , default,");
    assert_eq!(code, 0);
    assert_eq!(report["packages"], json!(["hipaa", "default"]));
    assert_eq!(report["passed"], true);
    assert_eq!(report["findings"], json!([]));
}

#[test]
fn capabilities_over_the_ceiling_fail_with_findings_in_every_format() {
    let (code, report) = audit_json("over_ceiling", "hipaa");
    assert_eq!(code, 1);
    assert_eq!(
        codes(&report),
        [
            (
                "capability_not_in_policy".to_owned(),
                Some("network:http:read".to_owned())
            ),
            ("forbidden_by_policy".to_owned(), Some("network:*".to_owned())),
            ("wildcard_denied_under_compliance".to_owned(), Some("*".to_owned())),
        ]
    );
    let first = &report["findings"][0];
    assert_eq!(first["file"], "skills/web/SKILL.md");
    assert_eq!(first["kind"], "skill");
    assert_eq!(first["subject"], "web");
    assert_eq!(first["package"], "hipaa");
    assert_eq!(first["level"], "error");
    assert_eq!(report["declarations_failed"], 1);
    let (code, text) = audit("over_ceiling", "hipaa", &["--format", "github"]);
    assert_eq!(code, 1);
    assert!(
        text.starts_with("::error file=skills/web/SKILL.md,line=3,title=capability_not_in_policy::"),
        "{text}"
    );
    assert!(text.ends_with("Checked 1 declaration(s) against [hipaa]: 0 pass, 1 fail\n"));
    let (code, text) = audit("over_ceiling", "default", &[]);
    assert_eq!(code, 0, "everything passes under default: {text}");
}

#[test]
fn an_escalating_delegation_chain_is_refused() {
    let (code, report) = audit_json("escalating", "default");
    assert_eq!(code, 1);
    let found = codes(&report);
    for expected in [
        ("permissions_not_subset", Some("database:read:patient_data")),
        ("budget_exceeds_parent", None),
        ("unknown_skill", None),
        ("unknown_parent", None),
        ("delegation_cycle", None),
    ] {
        assert!(
            found.contains(&(expected.0.to_owned(), expected.1.map(str::to_owned))),
            "{expected:?} in {found:?}"
        );
    }
    let escalation = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "permissions_not_subset")
        .unwrap();
    assert_eq!(escalation["line"], 12, "the offending list item");
    assert_eq!(escalation["package"], Value::Null);
    assert_eq!(report["declarations_checked"], 5);
    assert_eq!(report["declarations_failed"], 4, "triage itself passes");
}

#[test]
fn undeclared_and_invalid_declarations_have_their_exit_codes() {
    assert_eq!(audit("undeclared", "hipaa", &[]).0, 1);
    let (code, text) = audit("undeclared", "hipaa", &["--allow-undeclared"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("skills/notes/SKILL.md: warning: undeclared: "),
        "{text}"
    );
    let (code, text) = audit("invalid", "hipaa", &[]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("invalid_declaration"), "{text}");
    let (code, text) = audit("clean", "owasp-top-10", &[]);
    assert_eq!(code, 2);
    assert!(
        text.contains("unknown policy package: owasp-top-10; available: default, hipaa, legal, legal_privilege, sox"),
        "{text}"
    );
    assert_eq!(audit("clean", " , ", &[]).0, 2);
    assert_eq!(
        certior(&["audit", "--packages", "hipaa", "--repo-root", "/no/such/dir"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        certior(&["audit", "--packages", "hipaa", "--format", "yaml"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    let mut schema: Value =
        serde_json::from_str(include_str!("../fixtures/sarif-schema-2.1.0.json")).expect("vendored schema");
    // The 2.1.0 schema's two `language` patterns (of `run` and `toolComponent`) have a stray `]`
    // that strict checkers refuse as a regex (OASIS errata 01 corrects them to this); certior
    // emits no `language`, and every other rule of the schema applies unchanged.
    for definition in ["run", "toolComponent"] {
        let language = &mut schema["definitions"][definition]["properties"]["language"]["pattern"];
        assert_eq!(language, "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$");
        *language = json!("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let dir = tempfile::tempdir().unwrap();
    for repo in ["over_ceiling", "escalating", "clean", "invalid"] {
        let file = dir.path().join(format!("{repo}.sarif"));
        let (code, text) = audit(repo, "hipaa", &["--sarif", file.to_str().unwrap()]);
        assert_ne!(code, 3, "{text}");
        let sarif: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&sarif)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{repo}: {errors:?}");
        assert_eq!(sarif["$schema"], "https://json.schemastore.org/sarif-2.1.0.json");
        assert_eq!(sarif["runs"][0]["tool"]["driver"]["name"], "certior");
    }
    let (_, text) = audit("over_ceiling", "hipaa", &["--format", "sarif"]);
    let sarif: Value = serde_json::from_str(&text).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "capability_not_in_policy");
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"],
        json!({"artifactLocation": {"uri": "skills/web/SKILL.md", "uriBaseId": "%SRCROOT%"}, "region": {"startLine": 3}})
    );
    let rules: Vec<&str> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "capability_not_in_policy",
            "forbidden_by_policy",
            "wildcard_denied_under_compliance"
        ]
    );
    let unwritable = audit("clean", "hipaa", &["--sarif", "/no/such/dir/out.sarif"]);
    assert_eq!(unwritable.0, 2);
}

#[tokio::test]
async fn release_gate_exits_zero_only_for_ship() {
    let (server, admin) = server_with_admin_and(&[]).await;
    let api = server.client();
    let commit = "a".repeat(40);
    let gate = |extra: &[&str]| {
        let mut args = vec![
            "release",
            "gate",
            "--server",
            server.base_url.as_str(),
            "--repo",
            "acme/widget",
            "--commit",
            commit.as_str(),
        ];
        args.extend_from_slice(extra);
        certior(&args)
    };
    let no_key = gate(&[]);
    assert_eq!(no_key.status.code(), Some(2));
    let unknown = gate(&["--api-key", &admin]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&unknown.stdout).lines().next().unwrap(),
        format!("NO_SHIP acme/widget@{commit} (unknown)")
    );
    let evidence = json!({"repo_root": "acme/widget", "commit_sha": commit, "components": [{"name": "core"}]});
    assert_eq!(
        api.post("/api/v1/releases/evidence", &evidence, Some(&admin))
            .await
            .status,
        200
    );
    let github = gate(&["--api-key", &admin, "--format", "github"]);
    assert_eq!(github.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&github.stdout),
        format!("::error title=release_governance::acme/widget@{commit} has not been attested\n")
    );
    let promote = json!({"repo_root": "acme/widget", "commit_sha": commit, "reason": "ok", "bound_artifact_digest": "b".repeat(64)});
    assert_eq!(
        api.post("/api/v1/releases/promote", &promote, Some(&admin))
            .await
            .status,
        200
    );
    let ship = gate(&["--api-key", &admin, "--format", "json"]);
    assert_eq!(ship.status.code(), Some(0));
    let body: Value = serde_json::from_slice(&ship.stdout).unwrap();
    assert_eq!(body["decision"], "SHIP");
    assert_eq!(
        gate(&["--api-key", "ck-wrong"]).status.code(),
        Some(2),
        "401 is not an answer"
    );
    assert_eq!(
        gate(&["--api-key", &admin, "--digest", "md5:x"]).status.code(),
        Some(2),
        "422 is not an answer"
    );
    let unreachable = certior(&[
        "release",
        "gate",
        "--server",
        "http://127.0.0.1:9",
        "--repo",
        "a/b",
        "--commit",
        &commit,
        "--api-key",
        "k",
    ]);
    assert_eq!(unreachable.status.code(), Some(2));
}

#[test]
fn the_action_passes_inputs_through_the_environment_only() {
    let action = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../action.yml")).unwrap();
    for line in [
        "name: 'Certior Policy Gatekeeper'",
        "author: 'Certior'",
        "  using: 'composite'",
        "      run: command -v certior >/dev/null || cargo install --locked --path \"$GITHUB_ACTION_PATH/server\" --bin certior",
        "        COMMIT: ${{ github.event.pull_request.head.sha || github.sha }}",
        "      run: certior release gate --server \"$SERVER\" --repo \"$GITHUB_REPOSITORY\" --commit \"$COMMIT\" --format github",
    ] {
        assert!(action.lines().any(|l| l == line), "action.yml lacks {line:?}");
    }
    for input in [
        "policy_packages",
        "repo_root",
        "sarif_file",
        "allow_undeclared",
        "release_gate",
        "server_url",
        "api_key",
    ] {
        assert!(
            action.contains(&format!("  {input}:\n    description: ")),
            "input {input} with a description"
        );
    }
    // Script text never interpolates an expression: only `if:` and `env:` values use them.
    for line in action.lines().filter(|l| l.contains("${{")) {
        let key = line.trim_start().split(':').next().unwrap_or_default();
        let env_var = !key.is_empty() && key.chars().all(|c| c.is_ascii_uppercase() || c == '_');
        assert!(key == "if" || env_var, "expression outside if/env: {line}");
    }
    assert_eq!(action.matches("shell: bash").count(), 3);
}
