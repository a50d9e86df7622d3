//! Health, OpenAPI, Swagger UI, CORS, start-up configuration and graceful shutdown.

use certior_e2e::{certior_bin, Client, Server};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn health_reports_the_store() {
    let server = Server::start().await;
    let health = server.client().get("/health", None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let backend = if server.is_postgres() { "postgres" } else { "sqlite" };
    assert_eq!(health.body["database"], backend);
    assert_eq!(health.body["mode"], "legacy");
    assert_eq!(
        health.body["providers_available"],
        json!({"anthropic": false, "openai": false, "plan": true})
    );
    assert_eq!(health.body["llm_configured"], false);
    assert_eq!(health.body["llm_provider"], json!(null));
    assert!(health.body["version"].as_str().is_some());
    assert!(
        health.header("x-request-id").is_some(),
        "every response carries a request id"
    );
}

#[tokio::test]
async fn openapi_and_swagger_ui_are_served() {
    let server = Server::start().await;
    let api = server.client();
    let doc = api.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc.body["servers"],
        json!([{"url": "http://127.0.0.1:8000", "description": "Local development"}])
    );
    // Every operation of the endpoint catalogue (spec/API.md §3).
    for (method, path) in [
        ("get", "/health"),
        ("post", "/api/v1/auth/register"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/rotate"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/auth/me"),
        ("get", "/api/v1/auth/users"),
        ("patch", "/api/v1/auth/users/{user_id}"),
        ("post", "/api/v1/tasks"),
        ("get", "/api/v1/executions"),
        ("get", "/api/v1/executions/{execution_id}"),
        ("delete", "/api/v1/executions/{execution_id}"),
        ("get", "/api/v1/executions/{execution_id}/steps"),
        ("get", "/api/v1/executions/{execution_id}/events"),
        ("post", "/api/v1/workflows"),
        ("get", "/api/v1/workflows"),
        ("get", "/api/v1/workflows/{workflow_id}"),
        ("delete", "/api/v1/workflows/{workflow_id}"),
        ("get", "/api/v1/workflows/{workflow_id}/export"),
        ("get", "/api/v1/compliance/presets"),
        ("get", "/api/v1/compliance/presets/{key}"),
        ("post", "/api/v1/compliance/presets"),
        ("delete", "/api/v1/compliance/presets/{key}"),
        ("get", "/api/v1/compliance/{execution_id}/export"),
        ("post", "/api/v1/agents/verify-plan"),
        ("post", "/api/v1/agents/delegate"),
        ("get", "/api/v1/agents/delegation-graph"),
        ("post", "/api/v1/agents/glass-box-records"),
        ("get", "/api/v1/agents/glass-box-records"),
        ("post", "/api/v1/tokens"),
        ("get", "/api/v1/tokens"),
        ("get", "/api/v1/tokens/{token_id}"),
        ("delete", "/api/v1/tokens/{token_id}"),
        ("get", "/api/v1/settings/providers"),
        ("post", "/api/v1/settings/provider"),
        ("post", "/api/v1/settings/provider/validate"),
        ("get", "/api/v1/trust/keys"),
        ("post", "/api/v1/trust/verify"),
        ("get", "/api/v1/trust/badge"),
        ("get", "/api/v1/trust/badge.json"),
        ("get", "/api/v1/releases/decision"),
        ("get", "/api/v1/releases/health"),
        ("get", "/api/v1/releases/promotions"),
        ("post", "/api/v1/releases/promote"),
        ("post", "/api/v1/releases/evidence"),
        ("get", "/api/v1/releases/policy"),
        ("put", "/api/v1/releases/policy"),
        ("post", "/api/v1/releases/github-webhook"),
        ("get", "/ws/executions/{id}"),
    ] {
        assert!(
            doc.body["paths"][path].get(method).is_some(),
            "{method} {path} missing from /openapi.json"
        );
    }
    assert_eq!(doc.body["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let docs = Client::send(api.request(Method::GET, "/docs")).await;
    assert_eq!(docs.status, 200);
    assert!(docs.header("content-type").unwrap().starts_with("text/html"));
    assert!(docs.text.contains("swagger"), "Swagger UI page");
}

#[tokio::test]
async fn cors_preflight_and_actual_responses() {
    let server = Server::start().await;
    let api = server.client();
    let preflight = Client::send(
        api.request(Method::OPTIONS, "/api/v1/auth/me")
            .header("Origin", "https://studio.example")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization"),
    )
    .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.text, "");
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));
    let methods = preflight
        .header("access-control-allow-methods")
        .unwrap()
        .to_ascii_uppercase();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = preflight.header("access-control-allow-headers").unwrap();
    for header in ["authorization", "content-type", "x-api-key"] {
        assert!(headers.contains(header), "{headers}");
    }
    assert!(preflight.header("access-control-allow-credentials").is_none());

    let actual = Client::send(
        api.request(Method::GET, "/health")
            .header("Origin", "https://studio.example"),
    )
    .await;
    assert_eq!(actual.header("access-control-allow-origin"), Some("*"));
    let exposed = actual.header("access-control-expose-headers").unwrap();
    assert!(
        exposed.contains("content-disposition") && exposed.contains("retry-after"),
        "{exposed}"
    );
}

#[tokio::test]
async fn bad_settings_stop_start_up_with_a_clear_message() {
    let output = std::process::Command::new(certior_bin())
        .args(["serve"])
        .env_clear()
        .env("CERTIOR_OPEN_REGISTRATION", "maybe")
        .env("CERTIOR_PORT", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("CERTIOR_OPEN_REGISTRATION must be true, false, 1 or 0"));

    let data = tempfile::tempdir().unwrap();
    let start_with_database = |url: &str| {
        std::process::Command::new(certior_bin())
            .args(["serve"])
            .env_clear()
            .env("CERTIOR_DATA_DIR", data.path())
            .env("DATABASE_URL", url)
            .env("CERTIOR_PORT", "0")
            .output()
            .unwrap()
    };
    let output = start_with_database("mysql://root@127.0.0.1/test");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("DATABASE_URL must start with postgres://, postgresql:// or sqlite:, got \"mysql\""));
    // Nothing listens on port 1: the message names the setting and the cause.
    let output = start_with_database("postgres://postgres@127.0.0.1:1/test");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to PostgreSQL at DATABASE_URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let mut server = Server::start().await;
    assert_eq!(server.client().get("/health", None).await.status, 200);
    let status = server.terminate().await;
    assert!(status.success(), "graceful shutdown exits 0, got {status:?}");
}
