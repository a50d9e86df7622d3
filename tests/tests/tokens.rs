//! Capability tokens: issuance under a preset, attenuation of children, offline verification
//! with the published keys, revocation (spec §4.8, §11.4).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use certior::certificate::{InvalidReason, TrustedKeys};
use certior::verify_token;
use certior_e2e::{now, server_with_admin_and, Client, Server, SlowPeer};
use serde_json::{json, Value};

async fn issue(api: &Client, key: &str, body: Value) -> Value {
    let reply = api.post("/api/v1/tokens", &body, Some(key)).await;
    assert_eq!(reply.status, 201, "{body}: {}", reply.text);
    reply.body
}

#[tokio::test]
async fn a_token_verifies_offline_and_fails_after_one_byte_changes() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("agent@example.com").await;
    let token = issue(
        &api,
        &key,
        json!({"agent_id": "bot", "budget_cents": 250, "expires_in_seconds": 600}),
    )
    .await;
    assert_eq!(
        token["permissions"],
        json!(["*"]),
        "the default preset grants '*' to an operator"
    );
    assert_eq!(
        (token["valid"].as_bool(), token["revoked"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(token["compliance_policy"], "default");
    assert!(token["parent_id"].is_null());
    let lifetime = token["expires_at"].as_f64().unwrap() - token["created_at"].as_f64().unwrap();
    assert!((599.0..=600.0).contains(&lifetime), "{lifetime}");

    let keys = TrustedKeys::from_json(&api.get("/api/v1/trust/keys", None).await.body).unwrap();
    let jws = token["token"].as_str().unwrap();
    let (verdict, claims) = verify_token(jws, &keys, now());
    assert!(verdict.valid, "{verdict:?}");
    let claims = claims.unwrap();
    assert_eq!(claims.jti, token["id"].as_str().unwrap());
    assert_eq!(claims.sub, token["user_id"].as_str().unwrap());
    assert_eq!((claims.agent_id.as_str(), claims.budget_cents), ("bot", 250));
    assert_eq!(claims.exp, Some(token["expires_at"].as_f64().unwrap() as i64));
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jws.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("EdDSA"), Some("JWT"))
    );

    // Change one byte of the claims: the signature no longer matches.
    let claims_start = jws.find('.').unwrap() + 1;
    let mut tampered = jws.as_bytes().to_vec();
    tampered[claims_start + 5] = if tampered[claims_start + 5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (verdict, _) = verify_token(&tampered, &keys, now());
    assert!(!verdict.valid);
    assert!(
        matches!(
            verdict.reason,
            Some(InvalidReason::BadSignature | InvalidReason::Malformed)
        ),
        "{verdict:?}"
    );
    let online = api
        .post("/api/v1/trust/verify", &json!({"token": tampered}), None)
        .await;
    assert_eq!(online.body["valid"], false);
    let genuine = api.post("/api/v1/trust/verify", &json!({"token": jws}), None).await;
    assert_eq!(
        (genuine.body["valid"].as_bool(), genuine.body["revoked"].as_bool()),
        (Some(true), Some(false))
    );
}

#[tokio::test]
async fn root_tokens_are_resolved_under_the_preset_and_children_must_attenuate() {
    let server = Server::start().await;
    let api = server.client();
    let key = api.operator("agent@example.com").await;

    // Root: resolved like a task, with the caller's role and no profile ceiling.
    let root = issue(
        &api,
        &key,
        json!({"permissions": ["filesystem:read", "database:read:patient_data"], "budget_cents": 1000,
               "compliance_policy": "HIPAA", "expires_in_seconds": 3600}),
    )
    .await;
    assert_eq!(
        root["permissions"],
        json!(["filesystem:read", "database:read:patient_data"])
    );
    assert_eq!(root["compliance_policy"], "hipaa");
    let refused = api
        .post(
            "/api/v1/tokens",
            &json!({"permissions": ["network:smtp:send:external"], "compliance_policy": "hipaa"}),
            Some(&key),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(
        refused.body["detail"]["message"],
        "No effective permissions after applying 'hipaa' compliance policy"
    );
    assert_eq!(refused.body["detail"]["denied"][0]["reason"], "forbidden_by_policy");

    let root_id = root["id"].as_str().unwrap();
    let child = |body: Value| {
        let mut body = body;
        body["parent_id"] = json!(root_id);
        body
    };
    for (body, code) in [
        (
            json!({"permissions": ["filesystem:write"], "budget_cents": 10}),
            "permissions_not_subset",
        ),
        (
            json!({"permissions": ["filesystem:read"], "budget_cents": 1001}),
            "budget_exceeds_parent",
        ),
        (
            json!({"permissions": ["filesystem:read"], "budget_cents": 10, "expires_in_seconds": 7200}),
            "expiry_exceeds_parent",
        ),
    ] {
        let reply = api.post("/api/v1/tokens", &child(body.clone()), Some(&key)).await;
        assert_eq!(reply.status, 403, "{body}: {}", reply.text);
        assert_eq!(reply.detail(), format!("Child token must attenuate its parent: {code}"));
    }

    let kid = issue(
        &api,
        &key,
        child(json!({"agent_id": "reader", "permissions": ["filesystem:read"], "budget_cents": 600})),
    )
    .await;
    assert_eq!(kid["parent_id"], root_id);
    assert_eq!(
        kid["compliance_policy"], "hipaa",
        "a child inherits its parent's preset"
    );
    assert_eq!(
        kid["expires_at"], root["expires_at"],
        "a child without its own expiry expires with its parent"
    );
    let parent = api.get(&format!("/api/v1/tokens/{root_id}"), Some(&key)).await.body;
    assert_eq!(parent["budget_remaining_cents"], 400, "the child reserved its budget");
    assert_eq!(parent["budget_cents"], 1000);
    let second = api
        .post(
            "/api/v1/tokens",
            &child(json!({"permissions": ["filesystem:read"], "budget_cents": 401})),
            Some(&key),
        )
        .await;
    assert_eq!(
        second.detail(),
        "Child token must attenuate its parent: budget_exceeds_parent"
    );
    let rest = issue(
        &api,
        &key,
        child(json!({"permissions": ["filesystem:read"], "budget_cents": 400})),
    )
    .await;
    assert_eq!(rest["valid"], true);
    let spent = api.get(&format!("/api/v1/tokens/{root_id}"), Some(&key)).await.body;
    assert_eq!(
        (spent["budget_remaining_cents"].as_i64(), spent["valid"].as_bool()),
        (Some(0), Some(false))
    );
    let from_empty = api
        .post(
            "/api/v1/tokens",
            &child(json!({"permissions": ["filesystem:read"], "budget_cents": 0})),
            Some(&key),
        )
        .await;
    assert_eq!(
        from_empty.detail(),
        "Child token must attenuate its parent: parent_invalid"
    );

    let unknown = api
        .post(
            "/api/v1/tokens",
            &json!({"parent_id": "00000000-0000-0000-0000-000000000000"}),
            Some(&key),
        )
        .await;
    assert_eq!((unknown.status, unknown.detail()), (404, "Token not found"));
    for body in [
        json!({"agent_id": ""}),
        json!({"budget_cents": -1}),
        json!({"expires_in_seconds": 0}),
        json!({"expires_in_seconds": 31_536_001}),
    ] {
        assert_eq!(
            api.post("/api/v1/tokens", &body, Some(&key)).await.status,
            422,
            "{body}"
        );
    }
    assert_eq!(
        api.post("/api/v1/tokens", &json!({"compliance_policy": "gdpr"}), Some(&key))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn tokens_are_owned_and_only_writers_issue_or_revoke() {
    let (server, admin) = server_with_admin_and(&[]).await;
    let api = server.client();
    let key = api.operator("owner@example.com").await;
    let other = api.operator("other@example.com").await;
    let token = issue(&api, &key, json!({})).await;
    let path = format!("/api/v1/tokens/{}", token["id"].as_str().unwrap());

    assert_eq!(api.get(&path, Some(&other)).await.status, 404);
    let foreign = api.delete(&path, Some(&other)).await;
    assert_eq!((foreign.status, foreign.detail()), (404, "Token not found"));
    assert_eq!(api.get("/api/v1/tokens", Some(&other)).await.body, json!([]));
    assert_eq!(api.get("/api/v1/tokens?scope=all", Some(&other)).await.status, 403);
    assert_eq!(
        api.get(&path, Some(&admin)).await.status,
        200,
        "admins read every token"
    );

    let auditor = api
        .register(
            &json!({"email": "audit@example.com", "password": "password-1", "role": "auditor"}),
            Some(&admin),
        )
        .await;
    assert_eq!(
        api.get(&path, Some(&auditor)).await.status,
        200,
        "auditors read every token"
    );
    let listed = api.get("/api/v1/tokens?scope=all", Some(&auditor)).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    for reply in [
        api.post("/api/v1/tokens", &json!({}), Some(&auditor)).await,
        api.delete(&path, Some(&auditor)).await,
    ] {
        assert_eq!(reply.status, 403);
        assert_eq!(
            reply.detail(),
            "Requires one of: ['admin', 'operator', 'approver', 'policy_author']"
        );
    }
    let revoked = api.delete(&path, Some(&admin)).await;
    assert_eq!(revoked.status, 200, "admins revoke any token");
    assert_eq!(api.get(&path, Some(&key)).await.body["revoked"], true);
    assert_eq!(api.get("/api/v1/tokens", None).await.status, 401);
}

#[tokio::test]
async fn revoking_an_execution_token_fails_its_remaining_tool_calls() {
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
    let view = api.get(&format!("/api/v1/executions/{id}"), Some(&key)).await.body;
    let token_id = view["token_id"].as_str().unwrap();
    let token = api.get(&format!("/api/v1/tokens/{token_id}"), Some(&key)).await;
    assert_eq!(token.status, 200, "execution tokens are readable: {}", token.text);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while peer.hits("first") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the first step never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let revoked = api.delete(&format!("/api/v1/tokens/{token_id}"), Some(&key)).await;
    assert_eq!(revoked.status, 200);
    api.wait_terminal(&id, &key).await;

    let steps = api
        .get(&format!("/api/v1/executions/{id}/steps"), Some(&key))
        .await
        .body;
    let second = &steps["steps"][1];
    assert_eq!(second["decision"], "denied", "{steps}");
    assert_eq!(second["violations"][0]["code"], "token_revoked");
    assert_eq!(peer.hits("second"), 0, "nothing ran after the revocation");
}
