//! Review before release for direct tasks (spec §10.4, §9.4): a reviewer execution produces an
//! approved artifact; a release execution is admitted only with a valid reviewed upstream, and
//! its output is bound to the approved artifact.

use certior_e2e::{Client, Server};
use serde_json::{json, Value};

/// A read-only SQLite file for `db_query` with one reviewed finding.
fn findings_db(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("findings.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch("CREATE TABLE findings (verdict TEXT); INSERT INTO findings VALUES ('ship it');")
        .unwrap();
    path
}

/// A server whose `db_query` reads the findings table (tagged `financial_data`), a client and
/// an operator's key. The temporary directory holding the database lives as long as the result.
async fn server_with_findings() -> (Server, Client, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = findings_db(dir.path());
    let server = Server::start_with(&[
        ("CERTIOR_DB_QUERY_PATH", db.to_str().unwrap()),
        ("CERTIOR_DB_QUERY_TABLES", "findings=financial_data"),
    ])
    .await;
    let api = server.client();
    let key = api
        .register(&json!({"email": "lead@example.com", "password": "password-1"}), None)
        .await;
    (server, api, key, dir)
}

async fn run(api: &Client, key: &str, body: Value) -> Value {
    let created = api.post("/api/v1/tasks", &body, Some(key)).await;
    assert_eq!(created.status, 201, "{body}: {}", created.text);
    let id = created.body["execution_id"].as_str().unwrap().to_owned();
    api.wait_terminal(&id, key).await.body
}

fn reviewer_task() -> Value {
    json!({"task": "Review the findings", "verification_profile": {"stage_role": "reviewer"},
           "permissions": ["database:read:financial_data"],
           "plan": [{"tool": "db_query", "args": {"sql": "SELECT verdict FROM findings"}}]})
}

fn release_task(upstream: &[&str]) -> Value {
    json!({"task": "Publish the approved summary",
           "verification_profile": {"stage_role": "release", "upstream_execution_ids": upstream},
           "permissions": ["filesystem:write:reports"],
           "plan": [{"tool": "file_write", "args": {"path": "reports/release.txt", "content": "draft"}}]})
}

#[tokio::test]
async fn a_release_is_admitted_after_review_and_bound_to_the_approved_artifact() {
    let (_server, api, key, _db) = server_with_findings().await;

    let review = run(&api, &key, reviewer_task()).await;
    assert_eq!(review["status"], "completed", "{review}");
    assert!(
        review["output"]
            .as_str()
            .unwrap()
            .starts_with("[RELEASE HOLD] This stage is not authorised"),
        "a reviewer's targets are internal: {}",
        review["output"]
    );
    let proofs = review["proof_properties"].as_array().unwrap();
    assert!(proofs.contains(&json!("review_chain_integrity")), "{proofs:?}");
    assert!(proofs.contains(&json!("privilege_boundary_reviewed")), "{proofs:?}");
    let review_id = review["id"].as_str().unwrap();

    let release = run(&api, &key, release_task(&[review_id])).await;
    assert_eq!(release["status"], "completed", "{release}");
    assert_eq!(
        release["output"], r#"{"columns":["verdict"],"rows":[["ship it"]],"truncated":false}"#,
        "the release output is rebound to the reviewed artifact"
    );
    let proofs = release["proof_properties"].as_array().unwrap();
    for proof in [
        "release_gate_satisfied",
        "review_completed_before_release",
        "release_output_bound_to_review_artifact",
    ] {
        assert!(proofs.contains(&json!(proof)), "{proof} missing from {proofs:?}");
    }
    let binding = &release["verification_profile"]["metadata"]["release_binding"];
    assert_eq!(binding["approved_artifacts"][0]["execution_id"], review_id);
    assert!(binding["bound_at"].is_number());
}

#[tokio::test]
async fn a_release_without_valid_review_fails_before_anything_runs() {
    let (server, api, key, _db) = server_with_findings().await;
    let other = api
        .register(&json!({"email": "other@example.com", "password": "password-1"}), None)
        .await;

    // An upstream that is not a reviewer stage, one owned by someone else, and an unknown id.
    let plain = run(&api, &key, json!({"task": "List", "plan": [{"tool": "file_list"}]})).await;
    let foreign = run(&api, &other, reviewer_task()).await;
    let plain_id = plain["id"].as_str().unwrap();
    let foreign_id = foreign["id"].as_str().unwrap();
    let missing = "00000000-0000-0000-0000-000000000000";
    let release = run(&api, &key, release_task(&[plain_id, foreign_id, missing])).await;
    assert_eq!(release["status"], "failed");
    assert_eq!(
        release["error"],
        format!("Release-stage temporal validation failed: not_reviewer:{plain_id}, missing:{foreign_id}, missing:{missing}")
    );
    assert_eq!(release["current_step"], 0, "nothing ran");
    assert!(!server.data_dir.join("workspace/reports/release.txt").exists());
}
