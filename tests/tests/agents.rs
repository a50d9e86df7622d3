//! The agents API: plan verification on the label lattice, delegation with attenuating child
//! tokens, the delegation graph and glass-box records (spec §4.7, §13).

use certior::canonical::document_hash;
use certior_e2e::{server_with_admin_and, Client, Server};
use serde_json::{json, Value};

const LABELS: [&str; 4] = ["Public", "Internal", "Sensitive", "Restricted"];

async fn verify_plan(api: &Client, key: &str, body: Value) -> Value {
    let reply = api.post("/api/v1/agents/verify-plan", &body, Some(key)).await;
    assert_eq!(reply.status, 200, "{body}: {}", reply.text);
    reply.body
}

async fn delegate(api: &Client, key: &str, body: Value) -> Value {
    let reply = api.post("/api/v1/agents/delegate", &body, Some(key)).await;
    assert_eq!(reply.status, 200, "{body}: {}", reply.text);
    reply.body
}

/// A delegation from `parent` to `child`, bounded by the request or by `parent_token`.
fn delegation(parent: &str, child: &str, parent_perms: Value, child_perms: Value, budgets: (i64, i64)) -> Value {
    json!({
        "parent_id": format!("{parent}-1"), "parent_agent_id": parent,
        "parent_permissions": parent_perms, "parent_budget": budgets.0,
        "child_id": format!("{child}-1"), "child_agent_id": child,
        "child_permissions": child_perms, "child_budget": budgets.1,
    })
}

async fn verified_by_server(api: &Client, document: Value) -> Value {
    let reply = api.post("/api/v1/trust/verify", &document, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body
}

#[tokio::test]
async fn every_label_pair_flows_only_up_the_lattice() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("planner@example.com").await;
    for (src_rank, src) in LABELS.iter().enumerate() {
        for (dst_rank, dst) in LABELS.iter().enumerate() {
            // Labels match case-insensitively.
            let body = json!({"framework": "crewai", "action_type": "summarise",
                              "steps": [{"tool": "read", "input_labels": [src.to_lowercase()], "output_label": dst.to_uppercase()}]});
            let answer = verify_plan(&api, &key, body).await;
            let allowed = src_rank <= dst_rank;
            assert_eq!(answer["allowed"], allowed, "{src} -> {dst}: {answer}");
            if allowed {
                assert_eq!(answer["reason"], "Lattice structural invariants hold.");
                assert_eq!(answer["violations"], json!([]));
            } else {
                assert_eq!(
                    answer["reason"],
                    format!("FlowCheck Violation: {src} -> {dst} at step 0 (read)")
                );
                assert_eq!(
                    answer["violations"],
                    json!([{"step_index": 0, "tool": "read", "src": src, "dst": dst}])
                );
                assert_eq!(answer["certificates"], json!([]));
                assert!(answer["token"].is_null() && answer["proof_hash"].is_null());
            }
        }
    }
}

#[tokio::test]
async fn an_allowed_plan_is_certified_and_gets_a_token_bound_to_the_caller() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("planner@example.com").await;
    let me = api.get("/api/v1/auth/me", Some(&key)).await.body;
    let body = json!({
        "framework": "langgraph", "action_type": "triage", "budget": 500, "compliance_policy": "hipaa",
        "payload": {"agent_id": "triage-bot"},
        "steps": [
            {"tool": "fetch_chart", "input_labels": ["Sensitive"], "output_label": "Restricted", "cost": 100, "data_id": "chart"},
            {"tool": "summarise", "input_labels": ["Public", "Internal"], "cost": 50},
            {"tool": "fetch_chart", "input_labels": ["Restricted"], "output_label": "Restricted"},
        ],
    });
    let answer = verify_plan(&api, &key, body).await;
    assert_eq!(answer["allowed"], true, "{answer}");

    // The proof hash is the SHA-256 of the JCS of the plan document of spec §13.1.
    let bind = |dest: &str, src: &str, dst: &str| {
        json!({"tag": "bind", "dest": dest, "rhs": {"tag": "checkFlow", "src": format!("__level_{src}"), "dst": format!("__level_{dst}")},
               "label": {"level": dst, "tags": []}})
    };
    let plan = json!({
        "resources": [], "skills": [],
        "mainSteps": [bind("chart_check_0", "Sensitive", "Restricted"), bind("step_1_summarise_check_0", "Public", "Internal"),
                      bind("step_1_summarise_check_1", "Internal", "Internal"), bind("step_2_fetch_chart_check_0", "Restricted", "Restricted")],
        "totalBudgetCents": 500, "requiredTokens": [], "compliancePolicy": "hipaa",
    });
    let proof_hash = document_hash(&plan).unwrap();
    assert_eq!(answer["proof_hash"], proof_hash);

    let certificate = &answer["certificates"][0];
    assert_eq!(answer["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(certificate["type"], "plan_certificate");
    assert_eq!(certificate["theorem"], "plan_flow_safe");
    assert_eq!(certificate["prover"], "lattice");
    assert_eq!(certificate["plan_hash"], proof_hash);
    assert_eq!(certificate["preset_key"], "hipaa");
    assert_eq!(
        certificate["subject"],
        json!({"framework": "langgraph", "action_type": "triage", "agent_id": "triage-bot", "user_id": me["id"]})
    );
    assert_eq!(
        certificate["verified_properties"],
        json!(["information_flow: proven", "budget_sufficient: proven"])
    );
    assert_eq!(
        verified_by_server(&api, json!({"certificate": certificate})).await["valid"],
        true
    );

    // The token is stored, owned by the caller, and lists the distinct tools in order.
    let token_id = answer["token_id"].as_str().unwrap();
    let token = api.get(&format!("/api/v1/tokens/{token_id}"), Some(&key)).await;
    assert_eq!(token.status, 200, "{}", token.text);
    assert_eq!(token.body["user_id"], me["id"]);
    assert_eq!(token.body["agent_id"], "triage-bot");
    assert_eq!(token.body["permissions"], json!(["fetch_chart", "summarise"]));
    assert_eq!(token.body["budget_cents"], 500);
    assert_eq!(token.body["token"], answer["token"]);
    let lifetime = token.body["expires_at"].as_f64().unwrap() - token.body["created_at"].as_f64().unwrap();
    assert!((299.0..=300.0).contains(&lifetime), "{lifetime}");
}

#[tokio::test]
async fn budgets_bad_labels_and_presets_are_answered_precisely() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("planner@example.com").await;

    // Without steps, one step is synthesised from the intent and its payload.
    let over = verify_plan(
        &api,
        &key,
        json!({"framework": "f", "action_type": "send_email", "budget": 10,
               "payload": {"cost": 11, "input_labels": ["Restricted"], "output_label": "Public"}}),
    )
    .await;
    assert_eq!(over["allowed"], false);
    assert_eq!(over["reason"], "Budget exhausted: need 11, have 10");
    assert_eq!(over["violations"], json!([]), "no lattice check is reported");
    let flow = verify_plan(
        &api,
        &key,
        json!({"framework": "f", "action_type": "send_email", "steps": [],
               "payload": {"input_labels": ["Restricted"], "output_label": "Public"}}),
    )
    .await;
    assert_eq!(
        flow["reason"],
        "FlowCheck Violation: Restricted -> Public at step 0 (send_email)"
    );
    let default_token = verify_plan(&api, &key, json!({"framework": "autogen", "action_type": "read"})).await;
    assert_eq!(default_token["allowed"], true);
    let token = api
        .get(
            &format!("/api/v1/tokens/{}", default_token["token_id"].as_str().unwrap()),
            Some(&key),
        )
        .await;
    assert_eq!(token.body["agent_id"], "autogen", "agent id defaults to the framework");

    for (body, field) in [
        (
            json!({"framework": "f", "action_type": "a", "steps": [{"tool": "t", "input_labels": ["Secret"]}]}),
            json!(["body", "steps", 0, "input_labels", 0]),
        ),
        (
            json!({"framework": "f", "action_type": "a", "steps": [{"tool": "t", "output_label": "Top"}]}),
            json!(["body", "steps", 0, "output_label"]),
        ),
        (
            json!({"framework": "f", "action_type": "a", "payload": {"input_labels": ["public", "nope"]}}),
            json!(["body", "payload", "input_labels", 1]),
        ),
        (
            json!({"framework": "f", "action_type": "a", "payload": {"cost": 1.5}}),
            json!(["body", "payload", "cost"]),
        ),
        (
            json!({"framework": "f", "action_type": "a", "budget": 1_000_000_001}),
            json!(["body", "budget"]),
        ),
        (
            json!({"framework": "", "action_type": "a"}),
            json!(["body", "framework"]),
        ),
    ] {
        let reply = api.post("/api/v1/agents/verify-plan", &body, Some(&key)).await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["loc"], field, "{body}: {}", reply.text);
    }
    let unknown = api
        .post(
            "/api/v1/agents/verify-plan",
            &json!({"framework": "f", "action_type": "a", "compliance_policy": "gdpr"}),
            Some(&key),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown
            .detail()
            .starts_with("Unknown compliance preset: gdpr. Available: ['hipaa'"),
        "{}",
        unknown.text
    );
}

#[tokio::test]
async fn an_escalating_child_is_blocked_and_shown_as_a_blocked_edge() {
    let (server, admin) = server_with_admin_and(&[]).await;
    let api = server.client();
    let key = api.operator("orchestrator@example.com").await;

    let allowed = delegate(
        &api,
        &key,
        delegation(
            "orchestrator",
            "researcher",
            json!(["web:*", "fs:read"]),
            json!(["web:search"]),
            (100, 40),
        ),
    )
    .await;
    assert_eq!(allowed["allowed"], true, "{allowed}");
    assert_eq!(allowed["reason"], "Token delegation proven safe.");
    assert!(allowed["code"].is_null());
    let certificate = &allowed["certificate"];
    assert_eq!(certificate["type"], "delegation_certificate");
    assert_eq!(certificate["theorem"], "delegation_attenuates");
    assert_eq!(certificate["subject"]["delegation_id"], allowed["delegation_id"]);
    assert_eq!(
        verified_by_server(&api, json!({"certificate": certificate})).await["valid"],
        true
    );

    let escalation = delegate(
        &api,
        &key,
        delegation(
            "researcher",
            "coder",
            json!(["web:search"]),
            json!(["web:search", "shell:exec"]),
            (40, 10),
        ),
    )
    .await;
    assert_eq!(escalation["allowed"], false);
    assert_eq!(escalation["code"], "permissions_not_subset");
    assert_eq!(
        escalation["reason"],
        "Denied: child requested permissions outside parent capability bounds"
    );
    assert!(escalation["token"].is_null() && escalation["certificate"].is_null());
    assert!(
        escalation["delegation_id"].is_string(),
        "blocked delegations are recorded too"
    );

    for (body, code, reason) in [
        (
            delegation("a", "b", json!(["x"]), json!(["x"]), (5, 6)),
            "budget_exceeds_parent",
            "Denied: child requested budget above parent budget ceiling",
        ),
        (
            json!({"parent_id": "p", "parent_agent_id": "a", "parent_permissions": ["x"], "parent_budget": 5,
                "child_id": "  ", "child_agent_id": "b", "child_permissions": [], "child_budget": 0}),
            "empty_child_id",
            "Denied: child id is empty",
        ),
        (
            json!({"parent_id": "p", "parent_agent_id": "a", "parent_permissions": ["x"], "parent_budget": 5,
                "child_id": "c", "child_agent_id": "", "child_permissions": [], "child_budget": 0}),
            "empty_child_agent",
            "Denied: child agent id is empty",
        ),
    ] {
        let answer = delegate(&api, &key, body).await;
        assert_eq!(
            (answer["code"].as_str(), answer["reason"].as_str()),
            (Some(code), Some(reason))
        );
    }

    let graph = api.get("/api/v1/agents/delegation-graph", Some(&key)).await;
    assert_eq!(graph.status, 200, "{}", graph.text);
    let edges = graph.body["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 5);
    assert_eq!(edges[0]["id"], "orchestrator->researcher:0");
    assert_eq!(edges[0]["label"], "Delegation: ['web:search']");
    assert_eq!(edges[0]["proofSignature"], "Verified bounds (budget: 40)");
    let blocked = &edges[1];
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(blocked["severity"], "critical");
    assert_eq!(
        (blocked["source"].as_str(), blocked["target"].as_str()),
        (Some("researcher"), Some("coder"))
    );
    assert_eq!(blocked["label"], "Blocked: ['web:search', 'shell:exec']");
    assert_eq!(blocked["reason"], escalation["reason"]);
    assert_eq!(
        blocked["id"].as_str().unwrap(),
        format!("blocked:researcher->coder:{}", blocked["timestamp"])
    );
    let nodes: Vec<(&str, &str)> = graph.body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        nodes[..3],
        [("orchestrator", "parent"), ("researcher", "child"), ("coder", "child")]
    );

    // Scope: another operator sees nothing; the administrator sees everyone's; limit bounds.
    let other = api.operator("other@example.com").await;
    let theirs = api.get("/api/v1/agents/delegation-graph", Some(&other)).await;
    assert_eq!(theirs.body, json!({"nodes": [], "edges": []}));
    let all = api.get("/api/v1/agents/delegation-graph?limit=2", Some(&admin)).await;
    assert_eq!(
        all.body["edges"].as_array().unwrap().len(),
        2,
        "the two most recent records"
    );
    assert_eq!(
        api.get("/api/v1/agents/delegation-graph?limit=501", Some(&key))
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn a_three_level_chain_attenuates_and_revoking_the_middle_invalidates_the_leaf() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("orchestrator@example.com").await;
    let root = api
        .post(
            "/api/v1/tokens",
            &json!({"agent_id": "orchestrator", "permissions": ["filesystem:read", "filesystem:list"], "budget_cents": 1000}),
            Some(&key),
        )
        .await;
    assert_eq!(root.status, 201, "{}", root.text);
    let root_id = root.body["id"].as_str().unwrap().to_owned();

    let mut body = delegation(
        "orchestrator",
        "planner",
        json!([]),
        json!(["filesystem:read", "filesystem:list"]),
        (0, 600),
    );
    body["parent_token_id"] = json!(root_id);
    let middle = delegate(&api, &key, body).await;
    assert_eq!(
        middle["allowed"], true,
        "the parent token's bounds replace the request's: {middle}"
    );
    let middle_id = middle["token_id"].as_str().unwrap().to_owned();

    // The middle token now bounds the leaf: wider permissions or budget are refused.
    let mut wider = delegation(
        "planner",
        "reader",
        json!(["*"]),
        json!(["filesystem:write"]),
        (1_000_000, 100),
    );
    wider["parent_token_id"] = json!(middle_id);
    assert_eq!(delegate(&api, &key, wider).await["code"], "permissions_not_subset");
    let mut richer = delegation(
        "planner",
        "reader",
        json!(["*"]),
        json!(["filesystem:read"]),
        (1_000_000, 601),
    );
    richer["parent_token_id"] = json!(middle_id);
    assert_eq!(delegate(&api, &key, richer).await["code"], "budget_exceeds_parent");
    let mut body = delegation("planner", "reader", json!([]), json!(["filesystem:read"]), (0, 200));
    body["parent_token_id"] = json!(middle_id);
    let leaf = delegate(&api, &key, body).await;
    assert_eq!(leaf["allowed"], true, "{leaf}");
    let leaf_id = leaf["token_id"].as_str().unwrap().to_owned();

    let token = |id: String| {
        let api = api.clone();
        let key = key.clone();
        async move { api.get(&format!("/api/v1/tokens/{id}"), Some(&key)).await.body }
    };
    let (r, m, l) = (
        token(root_id.clone()).await,
        token(middle_id.clone()).await,
        token(leaf_id.clone()).await,
    );
    assert_eq!(
        (
            r["budget_remaining_cents"].as_i64(),
            m["budget_remaining_cents"].as_i64()
        ),
        (Some(400), Some(400))
    );
    assert_eq!(
        (m["parent_id"].as_str(), l["parent_id"].as_str()),
        (Some(root_id.as_str()), Some(middle_id.as_str()))
    );
    assert_eq!(l["permissions"], json!(["filesystem:read"]));
    assert_eq!(
        (l["agent_id"].as_str(), l["valid"].as_bool()),
        (Some("reader"), Some(true))
    );

    let revoked = api.delete(&format!("/api/v1/tokens/{middle_id}"), Some(&key)).await;
    assert_eq!(revoked.body, json!({"id": middle_id, "revoked": true}));
    let again = api.delete(&format!("/api/v1/tokens/{middle_id}"), Some(&key)).await;
    assert_eq!(again.status, 200, "revoking is idempotent");
    let (r, m, l) = (
        token(root_id.clone()).await,
        token(middle_id.clone()).await,
        token(leaf_id.clone()).await,
    );
    assert_eq!(
        (l["revoked"].as_bool(), l["valid"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(m["valid"], false);
    assert_eq!(
        (r["valid"].as_bool(), r["budget_remaining_cents"].as_i64()),
        (Some(true), Some(400)),
        "no refund"
    );
    let check = verified_by_server(&api, json!({"token": l["token"]})).await;
    assert_eq!(
        (check["valid"].as_bool(), check["revoked"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(check["reason"], "revoked");

    // A revoked parent cannot delegate; an unknown or foreign one is not found.
    let mut body = delegation("planner", "x", json!([]), json!([]), (0, 0));
    body["parent_token_id"] = json!(middle_id);
    let refused = api.post("/api/v1/agents/delegate", &body, Some(&key)).await;
    assert_eq!((refused.status, refused.detail()), (409, "Parent token is not valid."));
    let other = api.operator("other@example.com").await;
    let foreign = api.post("/api/v1/agents/delegate", &body, Some(&other)).await;
    assert_eq!((foreign.status, foreign.detail()), (404, "Token not found"));
}

#[tokio::test]
async fn glass_box_records_are_hashed_owned_and_listed_newest_first() {
    let (server, admin) = server_with_admin_and(&[]).await;
    let api = server.client();
    let key = api.operator("studio@example.com").await;
    let post = |phase: &str| {
        json!({"exported_at": "2026-11-29T10:00:00Z", "active_phase": phase, "visible_events": 3,
               "total_events": 5, "blocked_events": 1, "graph": {"nodes": [], "edges": []}})
    };
    let first = api
        .post("/api/v1/agents/glass-box-records", &post("plan"), Some(&key))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let record = first.body.clone();
    let id = record["id"].as_str().unwrap();
    assert!(
        id.starts_with("gbr_") && id.len() == 16 && id[4..].chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(record["source"], "/api/v1/agents/delegation-graph");
    assert_eq!(record["view"], "Certior Agent Glass Box");
    assert_eq!(record["mode"], "replay");
    assert_eq!(record["boundary_view"], false);
    assert_eq!(record["boundary_model"]["engine"], "Lean4");
    assert_eq!(record["use_cases"], json!([]));
    assert!(record["selected_inspection"].is_null());
    assert_eq!(record["storage"], "database");
    let mut unhashed = record.clone();
    unhashed.as_object_mut().unwrap().remove("record_hash");
    assert_eq!(record["record_hash"], document_hash(&unhashed).unwrap());

    let second = api
        .post("/api/v1/agents/glass-box-records", &post("execute"), Some(&key))
        .await;
    let listed = api.get("/api/v1/agents/glass-box-records", Some(&key)).await;
    assert_eq!(
        listed.body,
        json!([second.body, record]),
        "newest first, stored as answered"
    );
    for limit in ["0", "101"] {
        let reply = api
            .get(&format!("/api/v1/agents/glass-box-records?limit={limit}"), Some(&key))
            .await;
        assert_eq!(reply.status, 422, "limit {limit}");
    }
    let other = api.operator("other@example.com").await;
    assert_eq!(
        api.get("/api/v1/agents/glass-box-records", Some(&other)).await.body,
        json!([])
    );
    assert_eq!(
        api.get("/api/v1/agents/glass-box-records", Some(&admin))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let missing = api
        .post(
            "/api/v1/agents/glass-box-records",
            &json!({"exported_at": "x", "visible_events": -1}),
            Some(&key),
        )
        .await;
    assert_eq!(missing.status, 422);
    let viewer = api
        .register(
            &json!({"email": "viewer@example.com", "password": "password-1", "role": "viewer"}),
            None,
        )
        .await;
    let refused = api
        .post("/api/v1/agents/glass-box-records", &post("plan"), Some(&viewer))
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.detail(),
        "Requires one of: ['admin', 'operator', 'approver', 'policy_author']"
    );
}

#[tokio::test]
async fn the_glass_box_needs_a_key_unless_made_public() {
    let server = Server::start().await;
    let api = server.client();
    for path in ["/api/v1/agents/delegation-graph", "/api/v1/agents/glass-box-records"] {
        let reply = api.get(path, None).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }

    let public = Server::start_with(&[("CERTIOR_PUBLIC_GLASS_BOX", "true")]).await;
    let api = public.client();
    let key = api.operator("studio@example.com").await;
    delegate(&api, &key, delegation("a", "b", json!(["x"]), json!(["x"]), (5, 5))).await;
    let graph = api.get("/api/v1/agents/delegation-graph", None).await;
    assert_eq!(graph.status, 200, "{}", graph.text);
    assert_eq!(
        graph.body["edges"].as_array().unwrap().len(),
        1,
        "public mode is global"
    );
    assert_eq!(api.get("/api/v1/agents/glass-box-records", None).await.status, 200);
    let write = api.post("/api/v1/agents/glass-box-records", &json!({}), None).await;
    assert_eq!(write.status, 401, "writing still needs a key");
}
