//! `POST /tasks` and the executions API end to end: plan runs through the gate, denials,
//! validation, ownership, cancellation, redaction and the event chain.

use std::time::Duration;

use certior_e2e::{server_with_admin_and, Client, Server, SlowPeer};
use serde_json::{json, Value};

async fn steps(api: &Client, key: &str, id: &str) -> Vec<Value> {
    let reply = api.get(&format!("/api/v1/executions/{id}/steps"), Some(key)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["steps"].as_array().unwrap().clone()
}

async fn events(api: &Client, key: &str, id: &str) -> Value {
    let reply = api.get(&format!("/api/v1/executions/{id}/events"), Some(key)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

fn event_types(events: &Value) -> Vec<String> {
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_plan_runs_every_step_through_the_gate_and_leaves_evidence() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let created = api
        .post(
            "/api/v1/tasks",
            &json!({
                "task": "Write a short note and read it back",
                "permissions": ["filesystem:read", "filesystem:write:reports"],
                "plan": [
                    {"tool": "file_write", "args": {"path": "reports/q3.txt", "content": "Revenue grew."}},
                    {"tool": "file_read", "args": {"path": "reports/q3.txt"}},
                    {"tool": "file_list", "args": {"path": "reports"}, "cost_cents": 5}
                ]
            }),
            Some(&key),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["status"], "queued");
    assert!(created.body["permission_resolution"].is_null());
    let id = created.body["execution_id"].as_str().unwrap();
    let host = server.base_url.trim_start_matches("http://");
    assert_eq!(created.body["websocket_url"], format!("ws://{host}/ws/executions/{id}"));

    let done = api.wait_terminal(id, &key).await;
    let view = &done.body;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["output"], "q3.txt");
    assert_eq!(view["current_step"], 3);
    assert_eq!(view["cost_cents"], 7, "1 + 1 + max(1, 5)");
    assert_eq!(view["budget_remaining_cents"], 10_000 - 7);
    assert_eq!(view["certificate_count"], 4, "three tool calls and the final output");
    assert_eq!(view["llm_provider"], "plan");
    assert!(view["llm_model"].is_null());
    assert_eq!(view["compliance_policy"], "default");
    assert_eq!(view["verification_summary"]["steps"], 3);
    assert!(view["completed_at"].as_f64().unwrap() >= view["created_at"].as_f64().unwrap());
    let proofs: Vec<&str> = view["proof_properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(proofs.contains(&"capability_coverage: proven"), "{proofs:?}");
    assert!(
        proofs.contains(&"segregation_of_duties"),
        "writes covered by a precise permission: {proofs:?}"
    );
    let keys: Vec<&String> = view.as_object().unwrap().keys().collect();
    assert_eq!(keys.first().map(|k| k.as_str()), Some("id"), "contract key order");

    let records = steps(&api, &key, id).await;
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["tool_output"], "Wrote 13 bytes to reports/q3.txt");
    assert_eq!(records[1]["tool_output"], "Revenue grew.");
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["step_index"], i);
        assert_eq!(record["decision"], "allowed");
        assert_eq!(record["verified"], true);
        assert_eq!(record["attempt"], 1);
        assert_eq!(record["certificate_id"], view["certificate_ids"][i]);
        assert_eq!(record["content_scan"]["input_scan"]["action"], "pass");
    }
    assert_eq!(records[0]["ifc"]["destinations"], json!(["internal"]));
    assert_eq!(
        std::fs::read_to_string(server.data_dir.join("workspace/reports/q3.txt")).unwrap(),
        "Revenue grew."
    );

    let chain = events(&api, &key, id).await;
    assert_eq!(
        event_types(&chain),
        [
            "execution.created",
            "execution.planning",
            "execution.executing",
            "execution.executing_tool",
            "execution.tool_completed",
            "execution.executing_tool",
            "execution.tool_completed",
            "execution.executing_tool",
            "execution.tool_completed",
            "execution.verifying",
            "execution.completed",
        ]
    );
    assert_eq!(chain["chain"]["verified"], true);
    assert_eq!(chain["chain"]["length"], 11);
    assert_eq!(
        chain["events"][3]["data"],
        json!({"status": "executing_tool", "task": view["task"], "mode": "plan", "step": 1, "tool": "file_write"})
    );
    assert_eq!(chain["events"][10]["data"]["certificate_count"], 4);
}

#[tokio::test]
async fn a_denied_step_fails_the_plan_and_nothing_after_it_runs() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let id = api
        .submit(
            &key,
            json!({
                "task": "Copy notes",
                "permissions": ["filesystem:read", "filesystem:write:reports"],
                "plan": [
                    {"tool": "file_list"},
                    {"tool": "file_write", "args": {"path": "secret/x.txt", "content": "x"}},
                    {"tool": "file_write", "args": {"path": "reports/y.txt", "content": "y"}}
                ]
            }),
        )
        .await;
    let view = api.wait_terminal(&id, &key).await.body;
    assert_eq!(view["status"], "failed");
    assert_eq!(view["error"], "Plan step 1 (file_write) denied: missing_capability");
    assert!(view["output"].is_null());
    assert_eq!(view["cost_cents"], 1, "a denied call costs nothing");
    let records = steps(&api, &key, &id).await;
    assert_eq!(records.len(), 2, "the step after the denial never ran");
    assert_eq!(records[1]["decision"], "denied");
    assert_eq!(records[1]["certificate_id"], "");
    assert_eq!(
        records[1]["tool_output"],
        "BLOCKED: missing_capability: missing_capability: filesystem:write:secret"
    );
    assert_eq!(records[1]["violations"][0]["phase"], "capability");
    assert!(!server.data_dir.join("workspace/reports/y.txt").exists());
    let chain = events(&api, &key, &id).await;
    let types = event_types(&chain);
    assert_eq!(types.last().unwrap(), "execution.failed");
    assert!(types.contains(&"execution.tool_denied".to_owned()));
    assert_eq!(chain["chain"]["verified"], true);

    // A path that escapes the workspace is denied at prepare.
    let id = api.submit(&key,
        json!({"task": "Read", "permissions": ["filesystem:read"], "plan": [{"tool": "file_read", "args": {"path": "../etc/passwd"}}]}),
    )
    .await;
    let view = api.wait_terminal(&id, &key).await.body;
    assert_eq!(view["error"], "Plan step 0 (file_read) denied: path_outside_workspace");
}

#[tokio::test]
async fn hipaa_redacts_tool_output_and_the_final_output() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("nurse@example.com").await;
    let workspace = server.data_dir.join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(workspace.join("visit.txt"), "Patient SSN 123-45-6789 seen today.").unwrap();
    let id = api
        .submit(
            &key,
            json!({"task": "Summarise the visit note", "compliance_policy": "HIPAA",
               "plan": [{"tool": "file_read", "args": {"path": "visit.txt"}}]}),
        )
        .await;
    let view = api.wait_terminal(&id, &key).await.body;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["preset_key"], "hipaa");
    let records = steps(&api, &key, &id).await;
    assert_eq!(records[0]["decision"], "redacted");
    let shown = records[0]["tool_output"].as_str().unwrap();
    assert!(!shown.contains("123-45-6789"), "{shown}");
    assert_eq!(records[0]["content_scan"]["output_scan"]["action"], "redact");
    assert_eq!(records[0]["ifc"]["effective_level"], "sensitive");
    let output = view["output"].as_str().unwrap();
    assert!(!output.contains("123-45-6789"), "{output}");
}

#[tokio::test]
async fn submissions_are_validated_in_the_documented_order() {
    let (server, admin) = server_with_admin_and(&[]).await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let post = |body: Value, key: String| {
        let api = api.clone();
        async move { api.post("/api/v1/tasks", &body, Some(&key)).await }
    };

    let viewer = api
        .register(
            &json!({"email": "v@example.com", "password": "password-1", "role": "viewer"}),
            Some(&admin),
        )
        .await;
    let refused = post(json!({"task": "x"}), viewer).await;
    assert_eq!(
        (refused.status, refused.detail()),
        (403, "Role 'viewer' is not permitted to create tasks")
    );

    let cases = [
        (
            json!({"task": "x", "provider": "openai", "plan": [{"tool": "file_list"}]}),
            "plan",
            "plan is only accepted with provider 'plan'",
        ),
        (
            json!({"task": "x", "provider": "plan"}),
            "plan",
            "provider 'plan' requires a non-empty plan",
        ),
        (
            json!({"task": "x", "budget_cents": 99}),
            "budget_cents",
            "must be greater than or equal to 100",
        ),
        (
            json!({"task": "x", "plan": []}),
            "plan",
            "List should have at least 1 item after validation, not 0",
        ),
        (
            json!({"task": "x", "plan": [{"tool": "rm"}]}),
            "plan.0.tool",
            "Unknown tool 'rm'. Available: ['file_read', 'file_write', 'file_list', 'http_get', 'db_query']",
        ),
        (
            json!({"task": "x", "permissions": ["a b"]}),
            "permissions.0",
            "String should not contain whitespace",
        ),
        (
            json!({"task": "x", "provider": "gemini"}),
            "provider",
            "Input should be 'anthropic', 'openai', 'plan'",
        ),
        (
            json!({"task": "x", "webhook_url": "https://hooks.example.com/x"}),
            "webhook_url",
            "webhooks are not configured on this server",
        ),
    ];
    for (body, field, message) in cases {
        let reply = post(body.clone(), key.clone()).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text);
        assert_eq!(
            reply.detail(),
            format!("Invalid value for '{field}': {message}."),
            "{body}"
        );
    }
    let bad_args = post(
        json!({"task": "x", "plan": [{"tool": "file_read", "args": {}}]}),
        key.clone(),
    )
    .await;
    assert_eq!(bad_args.status, 422, "{}", bad_args.text);
    assert_eq!(bad_args.body["errors"][0]["loc"], json!(["body", "plan", 0, "args"]));

    let unknown = post(json!({"task": "x", "compliance_policy": "gdpr"}), key.clone()).await;
    assert_eq!(
        (unknown.status, unknown.detail()),
        (
            400,
            "Unknown compliance preset: gdpr. Available: ['hipaa', 'sox', 'legal', 'legal_privilege', 'default']"
        )
    );
    let release = post(
        json!({"task": "Publish the release notes", "verification_profile": {"stage_role": "release"}}),
        key.clone(),
    )
    .await;
    assert_eq!(release.status, 400);
    assert!(release
        .detail()
        .starts_with("Release-stage tasks require upstream_execution_ids"));

    let empty = post(
        json!({"task": "Fetch the news", "compliance_policy": "hipaa", "permissions": ["network:http:read"]}),
        key.clone(),
    )
    .await;
    assert_eq!(empty.status, 403, "{}", empty.text);
    assert_eq!(
        empty.body["detail"]["message"],
        "No effective permissions after applying 'hipaa' compliance policy"
    );
    assert_eq!(empty.body["detail"]["denied"][0]["reason"], "exceeds_policy_ceiling");

    let partial = post(
        json!({"task": "Read notes", "compliance_policy": "hipaa", "permissions": ["filesystem:read", "network:http:read"], "plan": [{"tool": "file_list"}]}),
        key.clone(),
    )
    .await;
    assert_eq!(partial.status, 201, "{}", partial.text);
    assert_eq!(
        partial.body["permission_resolution"]["effective_permissions"],
        json!(["filesystem:read"])
    );

    let keyless = post(json!({"task": "x", "provider": "anthropic"}), key.clone()).await;
    assert_eq!(
        (keyless.status, keyless.detail()),
        (
            400,
            "Anthropic (Claude) API key not configured. Set ANTHROPIC_API_KEY environment variable and restart."
        )
    );
}

#[tokio::test]
async fn a_task_without_a_plan_or_provider_fails_with_what_to_set() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let id = api.submit(&key, json!({"task": "Summarise the news"})).await;
    let view = api.wait_terminal(&id, &key).await.body;
    assert_eq!(view["status"], "failed");
    assert_eq!(
        view["error"],
        "No provider available: the task has no plan and no LLM provider is configured (set ANTHROPIC_API_KEY, OPENAI_API_KEY or OPENAI_BASE_URL, or send a plan)"
    );
    assert!(view["verification_summary"].is_object());
}

#[tokio::test]
async fn executions_are_visible_to_owners_admins_and_auditors_only() {
    let (server, admin) = server_with_admin_and(&[]).await;
    let api = server.client();
    let alice = api.operator("alice@example.com").await;
    let bob = api.operator("bob@example.com").await;
    let auditor = api
        .register(
            &json!({"email": "audit@example.com", "password": "password-1", "role": "auditor"}),
            Some(&admin),
        )
        .await;
    let id = api
        .submit(&alice, json!({"task": "List", "plan": [{"tool": "file_list"}]}))
        .await;
    api.wait_terminal(&id, &alice).await;

    for path in ["", "/steps", "/events"] {
        let foreign = api.get(&format!("/api/v1/executions/{id}{path}"), Some(&bob)).await;
        assert_eq!(
            (foreign.status, foreign.detail()),
            (404, "Execution not found"),
            "{path}"
        );
        assert_eq!(
            api.get(&format!("/api/v1/executions/{id}{path}"), Some(&auditor))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        api.delete(&format!("/api/v1/executions/{id}"), Some(&bob)).await.status,
        404
    );
    let read_only = api.delete(&format!("/api/v1/executions/{id}"), Some(&auditor)).await;
    assert_eq!(
        (read_only.status, read_only.detail()),
        (
            403,
            "Requires one of: ['admin', 'operator', 'approver', 'policy_author']"
        )
    );

    let own = api.get("/api/v1/executions", Some(&bob)).await;
    assert_eq!(own.body, json!([]));
    let all = api.get("/api/v1/executions?scope=all", Some(&bob)).await;
    assert_eq!(
        (all.status, all.detail()),
        (403, "Requires one of: ['admin', 'auditor']")
    );
    let everyone = api
        .get("/api/v1/executions?scope=all&status=completed", Some(&auditor))
        .await;
    assert_eq!(everyone.body.as_array().unwrap().len(), 1);
    let bad = api.get("/api/v1/executions?status=done", Some(&alice)).await;
    assert_eq!(
        (bad.status, bad.detail()),
        (400, "Invalid status: done. Valid: ['queued', 'planning', 'executing', 'verifying', 'completed', 'failed', 'cancelled']")
    );
    assert_eq!(api.get("/api/v1/executions?scope=mine", Some(&alice)).await.status, 422);

    // Cancelling a finished execution is idempotent and answers its final status.
    let again = api.delete(&format!("/api/v1/executions/{id}"), Some(&alice)).await;
    assert_eq!(again.body, json!({"execution_id": id, "status": "completed"}));
}

/// Cancels `id` while the slow peer serves `/slow/<call>` (that step is in flight), then gives
/// the worker time to finish the call and write whatever it still writes.
async fn cancel_during(api: &Client, key: &str, id: &str, peer: &SlowPeer, call: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while peer.hits(call) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the {call} step never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancelled = api.delete(&format!("/api/v1/executions/{id}"), Some(key)).await;
    assert_eq!(cancelled.body, json!({"execution_id": id, "status": "cancelled"}));
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

#[tokio::test]
async fn a_cancelled_execution_stays_cancelled_and_runs_nothing_more() {
    let peer = SlowPeer::start(Duration::from_millis(800)).await;
    let server = Server::start_with(&[("CERTIOR_HTTP_ALLOWED_HOSTS", &peer.address)]).await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let url = |name: &str| format!("http://{}/slow/{name}", peer.address);
    let id = api
        .submit(
            &key,
            json!({"task": "Fetch twice", "permissions": ["network:http:read"],
               "plan": [{"tool": "http_get", "args": {"url": url("first")}},
                        {"tool": "http_get", "args": {"url": url("second")}}]}),
        )
        .await;
    cancel_during(&api, &key, &id, &peer, "first").await;

    let view = api.get(&format!("/api/v1/executions/{id}"), Some(&key)).await.body;
    assert_eq!(view["status"], "cancelled");
    assert!(view["completed_at"].is_number());
    assert!(view["output"].is_null());
    assert_eq!(peer.hits("second"), 0, "nothing runs after a cancellation");
    let records = steps(&api, &key, &id).await;
    assert_eq!(records.len(), 1, "the in-flight call finished and was recorded");
    let chain = events(&api, &key, &id).await;
    let types = event_types(&chain);
    assert_eq!(
        types
            .iter()
            .filter(|t| t.starts_with("execution.c") && *t != "execution.created")
            .count(),
        1
    );
    assert!(types.contains(&"execution.cancelled".to_owned()));
    assert!(!types.contains(&"execution.completed".to_owned()));
    assert_eq!(
        types.iter().filter(|t| *t == "execution.executing_tool").count(),
        1,
        "the second step is never announced"
    );
    assert_eq!(chain["chain"]["verified"], true);
}

#[tokio::test]
async fn a_run_cancelled_during_its_last_step_never_verifies() {
    let peer = SlowPeer::start(Duration::from_millis(800)).await;
    let server = Server::start_with(&[("CERTIOR_HTTP_ALLOWED_HOSTS", &peer.address)]).await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let url = format!("http://{}/slow/only", peer.address);
    let id = api
        .submit(
            &key,
            json!({"task": "Fetch once", "permissions": ["network:http:read"],
               "plan": [{"tool": "http_get", "args": {"url": url}}]}),
        )
        .await;
    cancel_during(&api, &key, &id, &peer, "only").await;

    let view = api.get(&format!("/api/v1/executions/{id}"), Some(&key)).await.body;
    assert_eq!(view["status"], "cancelled");
    assert_eq!(steps(&api, &key, &id).await.len(), 1, "the in-flight call was recorded");
    let chain = events(&api, &key, &id).await;
    let types = event_types(&chain);
    assert!(types.contains(&"execution.cancelled".to_owned()));
    assert!(!types.contains(&"execution.verifying".to_owned()));
    assert_eq!(chain["chain"]["verified"], true);
}

#[tokio::test]
async fn two_hundred_concurrent_submissions_each_finish_exactly_once() {
    let server = Server::start_with(&[("CERTIOR_WORKERS", "8")]).await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let submissions = (0..200).map(|n| {
        let api = api.clone();
        let key = key.clone();
        async move {
            api.submit(
                &key,
                json!({"task": format!("List {n}"), "plan": [{"tool": "file_list"}]}),
            )
            .await
        }
    });
    let ids = futures_join_all(submissions).await;
    for id in &ids {
        let view = api.wait_terminal(id, &key).await.body;
        assert_eq!(view["status"], "completed", "{view}");
        let types = event_types(&events(&api, &key, id).await);
        assert_eq!(types.iter().filter(|t| *t == "execution.completed").count(), 1);
        assert_eq!(types.iter().filter(|t| *t == "execution.planning").count(), 1);
    }
    let listed = api.get("/api/v1/executions?limit=100&offset=100", Some(&key)).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 100);
}

/// Waits for every future, in order.
async fn futures_join_all<F: std::future::Future<Output = String> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<String> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_crashed_server_resumes_every_run_from_its_last_recorded_step() {
    let peer = SlowPeer::start(Duration::from_millis(400)).await;
    let env = [
        ("CERTIOR_HTTP_ALLOWED_HOSTS", peer.address.as_str()),
        ("CERTIOR_WORKERS", "4"),
        ("CERTIOR_JOB_LEASE_SECONDS", "2"),
    ];
    let server = Server::start_with(&env).await;
    let api = server.client();
    let key = api.operator("ops@example.com").await;
    let mut ids = Vec::new();
    for n in 0..8 {
        let plan: Vec<Value> = (0..3)
            .map(|s| json!({"tool": "http_get", "args": {"url": format!("http://{}/slow/{n}-{s}", peer.address)}}))
            .collect();
        ids.push(
            api.submit(
                &key,
                json!({"task": format!("Fetch {n}"), "permissions": ["network:http:read"], "plan": plan}),
            )
            .await,
        );
    }
    // Let some steps finish and others be in flight, then kill -9.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let server = server.crash_and_restart().await;
    let api = server.client();

    let mut resumed_steps = 0;
    for (n, id) in ids.iter().enumerate() {
        let view = api.wait_terminal(id, &key).await.body;
        assert_eq!(view["status"], "completed", "{view}");
        let records = steps(&api, &key, id).await;
        assert_eq!(records.len(), 3, "every step recorded exactly once");
        for (s, record) in records.iter().enumerate() {
            assert_eq!(record["step_index"], s);
            let hits = peer.hits(&format!("{n}-{s}"));
            match record["attempt"].as_i64().unwrap() {
                1 => assert_eq!(hits, 1, "a recorded step never runs twice ({n}-{s})"),
                attempt => {
                    assert_eq!(attempt, 2);
                    assert!(hits <= 2);
                    resumed_steps += 1;
                }
            }
        }
        assert_eq!(view["certificate_count"], 4);
        assert_eq!(events(&api, &key, id).await["chain"]["verified"], true);
    }
    // With 4 workers busy at the kill, some step was in flight and ran again.
    assert!(resumed_steps >= 1, "expected at least one in-flight step to be re-run");
}
