//! Provider settings end to end (spec §4.9.1, §4.9.2, `/health`).

use certior_e2e::{server_with_admin, server_with_admin_and, Client, Reply};
use serde_json::json;
use serde_json::Value;

#[tokio::test]
async fn without_keys_only_plan_is_available_and_there_is_no_default() {
    let (server, admin) = server_with_admin().await;
    let api = server.client();
    let listed = api.get("/api/v1/settings/providers", Some(&admin)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let ids: Vec<&str> = listed.body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["anthropic", "openai", "plan"]);
    assert_eq!(listed.body["active_provider"], json!(null));
    assert_eq!(listed.body["mode"], "legacy");
    let anthropic = &listed.body["providers"][0];
    assert_eq!(
        (anthropic["available"].as_bool(), anthropic["active"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(anthropic["model"], "claude-sonnet-4-20250514");
    assert_eq!(anthropic["name"], "Anthropic (Claude)");
    assert_eq!(listed.body["providers"][2]["models"], json!(["plan"]));

    // A provider without its key cannot become the default.
    let refused = api
        .post(
            "/api/v1/settings/provider",
            &json!({"provider": "anthropic"}),
            Some(&admin),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.detail(),
        "Anthropic (Claude) API key not configured. Set ANTHROPIC_API_KEY environment variable and restart."
    );
    let anonymous = api.get("/api/v1/settings/providers", None).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn an_admin_switches_the_default_and_it_survives_a_restart() {
    // A base URL alone makes `openai` available (a keyless local model server).
    let (server, admin) = server_with_admin_and(&[("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")]).await;
    let api = server.client();
    let listed = api.get("/api/v1/settings/providers", Some(&admin)).await;
    assert_eq!(
        listed.body["active_provider"], "openai",
        "the first available LLM is the default"
    );
    assert_eq!(listed.body["mode"], "agentic");

    let switched = api
        .post(
            "/api/v1/settings/provider",
            &json!({"provider": "plan", "model": null}),
            Some(&admin),
        )
        .await;
    assert_eq!(switched.status, 200, "{}", switched.text);
    assert_eq!(
        switched.body,
        json!({"provider": "plan", "model": "plan", "message": "Switched to Deterministic plan (plan)"})
    );
    let health = api.get("/health", None).await;
    assert_eq!(
        (
            health.body["mode"].as_str(),
            health.body["llm_provider"].as_str(),
            health.body["llm_configured"].as_bool()
        ),
        (Some("legacy"), Some("plan"), Some(false))
    );

    // A model outside the list is accepted.
    let custom = api
        .post(
            "/api/v1/settings/provider",
            &json!({"provider": "openai", "model": "llama3.1:8b"}),
            Some(&admin),
        )
        .await;
    assert_eq!(custom.status, 200, "{}", custom.text);
    assert_eq!(custom.body["message"], "Switched to OpenAI (GPT) (llama3.1:8b)");

    let server = server.restart().await;
    let api = server.client();
    let listed = api.get("/api/v1/settings/providers", Some(&admin)).await;
    assert_eq!(listed.body["active_provider"], "openai");
    let openai = &listed.body["providers"][1];
    assert_eq!(
        (openai["active"].as_bool(), openai["model"].as_str()),
        (Some(true), Some("llama3.1:8b"))
    );
    let health = api.get("/health", None).await;
    assert_eq!(
        (health.body["mode"].as_str(), health.body["llm_model"].as_str()),
        (Some("agentic"), Some("llama3.1:8b"))
    );
}

#[tokio::test]
async fn switching_needs_an_admin_and_a_known_provider() {
    let (server, admin) = server_with_admin().await;
    let api = server.client();
    let viewer = api
        .register(
            &json!({"email": "v@example.com", "password": "password-123", "name": "V", "role": "viewer"}),
            None,
        )
        .await;
    let forbidden = api
        .post("/api/v1/settings/provider", &json!({"provider": "plan"}), Some(&viewer))
        .await;
    assert_eq!(
        (forbidden.status, forbidden.detail()),
        (403, "Requires one of: ['admin']")
    );
    let listed = api.get("/api/v1/settings/providers", Some(&viewer)).await;
    assert_eq!(listed.status, 200, "any key may read the table");

    let unknown = api
        .post(
            "/api/v1/settings/provider",
            &json!({"provider": "gemini"}),
            Some(&admin),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.body["errors"][0]["loc"], json!(["body", "provider"]));
    let missing = api
        .post("/api/v1/settings/provider", &json!({"model": "x"}), Some(&admin))
        .await;
    assert_eq!(
        (missing.status, missing.body["errors"][0]["type"].as_str()),
        (422, Some("missing"))
    );
}

async fn validate(api: &Client, body: Value, key: &str) -> Reply {
    api.post("/api/v1/settings/provider/validate", &body, Some(key)).await
}

/// A stand-in provider on a free local port: every request is recorded and answered with
/// `status` and `body`. Returns its base URL and the recorded (path, headers, body) triples.
async fn stand_in(
    status: u16,
    body: serde_json::Value,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap, serde_json::Value)>>>,
) {
    use axum::http::{StatusCode, Uri};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let app = axum::Router::new().fallback(
        move |uri: Uri, headers: axum::http::HeaderMap, request: axum::Json<serde_json::Value>| {
            let recorder = recorder.clone();
            let body = body.clone();
            async move {
                recorder
                    .lock()
                    .unwrap()
                    .push((uri.path().to_owned(), headers, request.0));
                (StatusCode::from_u16(status).unwrap(), axum::Json(body))
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), seen)
}

#[tokio::test]
async fn validate_probes_each_wire_protocol_and_sorts_the_answer() {
    let (anthropic, anthropic_seen) = stand_in(
        400,
        json!({"type": "error", "error": {"type": "invalid_request_error",
               "message": "Your credit balance is too low to access the Anthropic API."}}),
    )
    .await;
    let (openai, openai_seen) = stand_in(200, json!({"choices": [{"message": {"content": "OK"}}]})).await;
    let (server, admin) = server_with_admin_and(&[
        ("ANTHROPIC_BASE_URL", anthropic.as_str()),
        ("OPENAI_BASE_URL", &format!("{openai}/v1")),
    ])
    .await;
    let api = server.client();

    let ready = validate(&api, json!({"provider": "openai", "api_key": "sk-test-123456"}), &admin).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(
        ready.body,
        json!({"provider": "openai", "model": "gpt-4o", "valid": true, "status": "ready", "message": "Connection verified"})
    );
    let (path, headers, body) = openai_seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/v1/chat/completions");
    assert_eq!(headers["authorization"], "Bearer sk-test-123456");
    assert_eq!(
        (body["max_tokens"].as_i64(), body["messages"][0]["content"].as_str()),
        (Some(8), Some("Reply with OK."))
    );

    let billing = validate(
        &api,
        json!({"provider": "anthropic", "model": "claude-haiku-4-5-20251001", "api_key": "sk-ant-test-1"}),
        &admin,
    )
    .await;
    assert_eq!(billing.status, 200);
    assert_eq!(
        (billing.body["valid"].as_bool(), billing.body["status"].as_str()),
        (Some(false), Some("billing_issue"))
    );
    assert!(billing.body["message"]
        .as_str()
        .unwrap()
        .contains("credit balance is too low"));
    let (path, headers, body) = anthropic_seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/v1/messages");
    assert_eq!(headers["x-api-key"], "sk-ant-test-1");
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert_eq!(body["model"], "claude-haiku-4-5-20251001");

    // No key for anthropic on this server and none sent: an error, without a request.
    let no_key = validate(&api, json!({"provider": "anthropic"}), &admin).await;
    assert_eq!(
        (no_key.body["status"].as_str(), no_key.body["valid"].as_bool()),
        (Some("error"), Some(false))
    );
    assert_eq!(anthropic_seen.lock().unwrap().len(), 1);
    let plan = validate(&api, json!({"provider": "plan"}), &admin).await;
    assert_eq!(
        (plan.body["status"].as_str(), plan.body["message"].as_str()),
        (Some("ready"), Some("Plan provider needs no connection"))
    );
    let short = validate(&api, json!({"provider": "openai", "api_key": "short"}), &admin).await;
    assert_eq!(short.status, 422);
}

#[tokio::test]
async fn validate_is_limited_to_ten_probes_per_user_per_minute() {
    let (server, admin) = server_with_admin().await;
    let api = server.client();
    for _ in 0..10 {
        let probe = validate(&api, json!({"provider": "plan"}), &admin).await;
        assert_eq!(probe.status, 200);
    }
    let limited = validate(&api, json!({"provider": "plan"}), &admin).await;
    assert_eq!(
        (limited.status, limited.detail()),
        (429, "Too many validation requests. Try again later.")
    );
    assert!(limited.header("retry-after").is_some());
}
