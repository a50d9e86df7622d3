//! Workflows end to end with the `plan` provider (spec §4.5, §10): stages run in order as
//! ordinary executions, a release stage is admitted only after a compliant review, a failure
//! blocks the rest, cancellation stops the running stage, and a preset's own `run_stage` rule
//! takes part in admission.

use std::time::Duration;

use certior_e2e::{Client, Server};
use serde_json::{json, Value};

fn findings_db(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("findings.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE findings (verdict TEXT); INSERT INTO findings VALUES ('ship it');
         CREATE TABLE salaries (amount INTEGER);",
    )
    .unwrap();
    path
}

/// A server whose `db_query` reads `findings` (tag `financial_data`) and `salaries` (tag
/// `payroll`), extra environment, a client and an operator's key.
async fn start(dir: &tempfile::TempDir, extra: &[(&str, &str)]) -> (Server, Client, String) {
    let db = findings_db(dir.path());
    let mut env = vec![
        ("CERTIOR_DB_QUERY_PATH", db.to_str().unwrap().to_owned()),
        (
            "CERTIOR_DB_QUERY_TABLES",
            "findings=financial_data,salaries=payroll".to_owned(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with(&env).await;
    let api = server.client();
    let key = api
        .register(&json!({"email": "lead@example.com", "password": "password-1"}), None)
        .await;
    (server, api, key)
}

fn review_stage(sql: &str) -> Value {
    json!({"id": "review", "name": "Review", "task": "Review the findings", "stage_role": "reviewer",
           "permissions": ["database:read:financial_data"],
           "plan": [{"tool": "db_query", "args": {"sql": sql}}]})
}

fn release_stage() -> Value {
    json!({"id": "release", "name": "Release", "task": "Publish the approved summary", "stage_role": "release",
           "upstream_stage_ids": ["review"], "permissions": ["filesystem:write:reports"],
           "plan": [{"tool": "file_write", "args": {"path": "reports/out.txt", "content": "draft"}}]})
}

async fn create(api: &Client, key: &str, body: Value) -> Value {
    let reply = api.post("/api/v1/workflows", &body, Some(key)).await;
    assert_eq!(reply.status, 201, "{body}: {}", reply.text);
    reply.body
}

async fn wait_workflow(api: &Client, key: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reply = api.get(&format!("/api/v1/workflows/{id}"), Some(key)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        if matches!(
            reply.body["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            return reply.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "workflow still {}",
            reply.body["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_reviewed_release_runs_stage_by_stage_and_binds_to_the_review() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, api, key) = start(&dir, &[]).await;
    let created = create(
        &api,
        &key,
        json!({"name": "Quarterly release", "description": "review then publish",
               "stages": [review_stage("SELECT verdict FROM findings"), release_stage()]}),
    )
    .await;
    assert_eq!(created["mode"], "sequential");
    assert_eq!(created["stage_count"], 2);
    assert_eq!(created["user_role"], "operator");
    let id = created["id"].as_str().unwrap();

    let done = wait_workflow(&api, &key, id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["completed_stage_count"], 2);
    assert_eq!(done["current_stage_index"], 1);
    assert!(done["completed_at"].is_number());
    let stages = done["stages"].as_array().unwrap();
    assert_eq!(stages[0]["status"], "completed");
    assert!(stages[0]["output_summary"]
        .as_str()
        .unwrap()
        .starts_with("[RELEASE HOLD]"));
    let release_id = stages[1]["execution_id"].as_str().unwrap();
    let release = api
        .get(&format!("/api/v1/executions/{release_id}"), Some(&key))
        .await
        .body;
    assert_eq!(release["workflow_id"], id);
    assert_eq!(release["workflow_stage_id"], "release");
    assert_eq!(
        release["output"], r#"{"columns":["verdict"],"rows":[["ship it"]],"truncated":false}"#,
        "the release output is rebound to the reviewed artifact"
    );
    let binding = &release["verification_profile"]["metadata"]["release_binding"];
    assert_eq!(
        binding["approved_artifacts"][0]["execution_id"],
        stages[0]["execution_id"]
    );
    assert_eq!(release["verification_profile"]["stage_id"], "release");
    assert!(release["proof_properties"]
        .as_array()
        .unwrap()
        .contains(&json!("release_gate_satisfied")));

    // The export proves review-then-release: each stage with its execution and signed package.
    let export = api.get(&format!("/api/v1/workflows/{id}/export"), Some(&key)).await;
    assert_eq!(export.status, 200);
    assert_eq!(
        export.header("content-disposition"),
        Some(format!("attachment; filename=\"workflow-{}.json\"", &id[..8]).as_str())
    );
    let keys: Vec<&String> = export.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["workflow", "exported_at", "stages"]);
    let exported = export.body["stages"].as_array().unwrap();
    assert_eq!(exported[0]["stage"]["id"], "review");
    assert_eq!(exported[1]["execution"]["id"], release_id);
    for stage in exported {
        let package = &stage["compliance_package"];
        assert_eq!(package["attestation"]["compliant"], true, "{}", package["attestation"]);
        assert_eq!(package["audit_chain"]["verified"], true);
        assert!(package["signature"].is_string());
    }
    let review_completed = exported[0]["execution"]["completed_at"].as_f64().unwrap();
    let release_created = exported[1]["execution"]["created_at"].as_f64().unwrap();
    assert!(
        review_completed <= release_created,
        "the review finished before the release began"
    );
}

#[tokio::test]
async fn a_failed_review_refuses_the_release_and_blocks_later_stages() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, api, key) = start(&dir, &[]).await;
    // The review reads a table its permissions do not cover: its plan step is denied.
    let mut stages = vec![review_stage("SELECT amount FROM salaries"), release_stage()];
    stages.push(json!({"id": "notify", "name": "Notify", "task": "List the reports", "plan": [{"tool": "file_list"}]}));
    let created = create(&api, &key, json!({"name": "Doomed", "stages": stages})).await;
    let done = wait_workflow(&api, &key, created["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"], "Plan step 0 (db_query) denied: missing_capability");
    let stages = done["stages"].as_array().unwrap();
    assert_eq!(stages[0]["status"], "failed");
    for later in &stages[1..] {
        assert_eq!(later["status"], "blocked");
        assert_eq!(later["error"], "Blocked by failure of stage 'Review'");
        assert!(later["execution_id"].is_null(), "a blocked stage never runs");
    }

    // A release whose upstream is not a reviewer stage is refused by admission, with the codes.
    let worker = json!({"id": "draft", "name": "Draft", "task": "List the reports", "plan": [{"tool": "file_list"}]});
    let mut release = release_stage();
    release["upstream_stage_ids"] = json!(["draft"]);
    let created = create(&api, &key, json!({"name": "Unreviewed", "stages": [worker, release]})).await;
    let done = wait_workflow(&api, &key, created["id"].as_str().unwrap()).await;
    let draft_execution = done["stages"][0]["execution_id"].as_str().unwrap();
    assert_eq!(done["status"], "failed");
    assert_eq!(
        done["stages"][1]["error"],
        format!("Release-stage temporal validation failed: not_reviewer:{draft_execution}")
    );
    assert!(done["stages"][1]["execution_id"].is_null());

    // A first-stage release has no upstream at all.
    let created = create(
        &api,
        &key,
        json!({"name": "Hasty", "stages": [release_stage_without_upstream()]}),
    )
    .await;
    let done = wait_workflow(&api, &key, created["id"].as_str().unwrap()).await;
    assert_eq!(
        done["error"],
        "Release-stage workflow steps require an upstream execution so Certior can enforce review-before-release constraints"
    );
}

fn release_stage_without_upstream() -> Value {
    let mut stage = release_stage();
    stage["upstream_stage_ids"] = json!([]);
    stage
}

#[tokio::test]
async fn stage_references_are_validated_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, api, key) = start(&dir, &[]).await;
    let stage = |id: &str, upstream: &[&str]| json!({"id": id, "name": id, "task": "List", "upstream_stage_ids": upstream, "plan": [{"tool": "file_list"}]});
    let cases = [
        (
            json!([stage("a", &["b"]), stage("b", &[])]),
            "stages.0.upstream_stage_ids.0",
        ),
        (
            json!([stage("a", &[]), stage("b", &["zzz"])]),
            "stages.1.upstream_stage_ids.0",
        ),
        (json!([stage("a", &["a"])]), "stages.0.upstream_stage_ids.0"),
        (json!([stage("a", &[]), stage("a", &[])]), "stages.1.id"),
        (json!([stage("bad id!", &[])]), "stages.0.id"),
        (json!([]), "stages"),
    ];
    for (stages, field) in cases {
        let reply = api
            .post("/api/v1/workflows", &json!({"name": "x", "stages": stages}), Some(&key))
            .await;
        assert_eq!(reply.status, 422, "{stages}: {}", reply.text);
        assert!(
            reply.detail().starts_with(&format!("Invalid value for '{field}'")),
            "{}",
            reply.detail()
        );
    }
    let unknown = api
        .post(
            "/api/v1/workflows",
            &json!({"name": "x", "stages": [{"name": "s", "task": "t", "compliance_policy": "gdpr"}]}),
            Some(&key),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown
        .detail()
        .starts_with("Unknown compliance preset: gdpr. Available: ['hipaa'"));
}

#[tokio::test]
async fn cancelling_stops_the_running_stage_and_skips_the_rest_and_others_see_404() {
    // A stage that holds its worker: an http_get to a peer that answers slowly.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("localhost:{}", listener.local_addr().unwrap().port());
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            "late"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let (_server, api, key) = start(&dir, &[("CERTIOR_HTTP_ALLOWED_HOSTS", &host)]).await;
    let created = create(
        &api,
        &key,
        json!({"name": "Long", "stages": [
            {"id": "fetch", "name": "Fetch", "task": "Fetch the page", "permissions": ["network:http:read"],
             "plan": [{"tool": "http_get", "args": {"url": format!("http://{host}/slow")}}]},
            {"id": "list", "name": "List", "task": "List files", "plan": [{"tool": "file_list"}]}]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let running = loop {
        let now = api.get(&format!("/api/v1/workflows/{id}"), Some(&key)).await.body;
        if now["stages"][0]["status"] == "running" {
            break now;
        }
        assert!(tokio::time::Instant::now() < deadline, "the first stage never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(running["status"], "running");

    let other = api
        .register(&json!({"email": "other@example.com", "password": "password-1"}), None)
        .await;
    assert_eq!(
        api.get(&format!("/api/v1/workflows/{id}"), Some(&other)).await.status,
        404
    );
    assert_eq!(
        api.delete(&format!("/api/v1/workflows/{id}"), Some(&other))
            .await
            .status,
        404
    );
    assert_eq!(api.get("/api/v1/workflows", Some(&other)).await.body, json!([]));

    let cancelled = api.delete(&format!("/api/v1/workflows/{id}"), Some(&key)).await;
    assert_eq!(cancelled.body, json!({"workflow_id": id, "status": "cancelled"}));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = api.get(&format!("/api/v1/workflows/{id}"), Some(&key)).await.body;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["error"], "Workflow cancelled by operator");
    assert_eq!(after["stages"][0]["status"], "cancelled");
    assert_eq!(after["stages"][1]["status"], "cancelled");
    assert!(
        after["stages"][1]["execution_id"].is_null(),
        "the later stage never started"
    );
    let execution = after["stages"][0]["execution_id"].as_str().unwrap();
    let view = api
        .get(&format!("/api/v1/executions/{execution}"), Some(&key))
        .await
        .body;
    assert_eq!(view["status"], "cancelled");
    let again = api.delete(&format!("/api/v1/workflows/{id}"), Some(&key)).await;
    assert_eq!(
        again.body,
        json!({"workflow_id": id, "status": "cancelled"}),
        "idempotent"
    );
    let listed = api.get("/api/v1/workflows?status=cancelled", Some(&key)).await.body;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let bad = api.get("/api/v1/workflows?status=paused", Some(&key)).await;
    assert_eq!((bad.status, bad.detail()), (400, "Invalid workflow status: paused"));
}

#[tokio::test]
async fn a_preset_stage_rule_changes_admission() {
    let presets = tempfile::tempdir().unwrap();
    let folder = presets.path().join("gated");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("preset.toml"),
        "schema_version = 1\nkey = \"gated\"\nname = \"Gated\"\nretention_days = 30\n\n[permissions]\ndefault = [\"filesystem:read\"]\nmax = [\"filesystem:read\"]\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("policy.cedar"),
        "@id(\"gated.no_intake_stages\")\nforbid (principal, action == Action::\"run_stage\", resource)\nwhen { resource.stage_role == \"intake\" };\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_server, api, key) = start(&dir, &[("CERTIOR_PRESETS_DIR", presets.path().to_str().unwrap())]).await;
    let stage = |role: &str| {
        json!({"name": "Intake", "task": "List the inbox", "compliance_policy": "gated", "stage_role": role,
               "plan": [{"tool": "file_list"}]})
    };
    let refused = create(&api, &key, json!({"name": "Intake run", "stages": [stage("intake")]})).await;
    let done = wait_workflow(&api, &key, refused["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(
        done["error"],
        "Stage admission denied by policy: gated.no_intake_stages"
    );
    let allowed = create(&api, &key, json!({"name": "Worker run", "stages": [stage("worker")]})).await;
    let done = wait_workflow(&api, &key, allowed["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed", "{done}");
}

/// Reads text frames as JSON until the server closes; returns them with the close code.
async fn frames_until_close(url: &str) -> (Vec<Value>, Option<u16>) {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket upgrade");
    let mut frames = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
        match next.expect("a frame or the close within 10 s") {
            Some(Ok(Message::Text(text))) => frames.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => return (frames, frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            other => panic!("socket ended without a close: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_workflow_streams_its_own_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (server, api, key) = start(&dir, &[]).await;
    let created = create(
        &api,
        &key,
        json!({"name": "Two steps", "stages": [
            {"id": "a", "name": "A", "task": "List files", "plan": [{"tool": "file_list"}]},
            {"id": "b", "name": "B", "task": "List files", "plan": [{"tool": "file_list"}]}]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    wait_workflow(&api, &key, id).await;
    let base = server.base_url.replace("http://", "ws://");

    let (frames, close) = frames_until_close(&format!("{base}/ws/executions/{id}?api_key={key}")).await;
    let types: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "workflow.created",
            "workflow.started",
            "workflow.stage.started",
            "workflow.stage.completed",
            "workflow.stage.started",
            "workflow.stage.completed",
            "workflow.completed"
        ]
    );
    assert_eq!(frames[1]["status"], "started");
    assert_eq!(frames[6]["data"], json!({"stage_count": 2}));
    assert_eq!(close, Some(1000));

    let (frames, close) = frames_until_close(&format!("{base}/ws/executions/{id}")).await;
    assert_eq!(
        frames,
        [json!({"execution_id": id, "status": "completed", "data": {}, "timestamp": frames[0]["timestamp"]})]
    );
    assert_eq!(close, Some(1000));
}
