//! Provider settings end to end (spec §4.9.1, §4.9.2, `/health`).

use certior_e2e::{server_with_admin, server_with_admin_and};
use serde_json::json;

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
