//! Completion webhooks (spec §9.8): the execution view is POSTed once the run is terminal,
//! signed with HMAC-SHA256, retried on failure; internal targets need an explicit allow-list.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use certior_e2e::Server;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver that fails its first delivery attempt with 500 and accepts the next.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let mut received = received.lock().unwrap();
                    received.push((headers, body));
                    if received.len() == 1 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (host, received)
}

#[tokio::test]
async fn a_terminal_execution_is_delivered_signed_and_retried() {
    let (host, received) = receiver().await;
    let server = Server::start_with(&[
        ("CERTIOR_WEBHOOK_SECRET", "whsec-test"),
        ("CERTIOR_WEBHOOK_ALLOWED_HOSTS", &host),
    ])
    .await;
    let api = server.client();
    let key = api
        .register(&json!({"email": "ops@example.com", "password": "password-1"}), None)
        .await;
    let created = api
        .post(
            "/api/v1/tasks",
            &json!({"task": "List files", "plan": [{"tool": "file_list"}], "webhook_url": format!("http://{host}/hook")}),
            Some(&key),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["execution_id"].as_str().unwrap();
    api.wait_terminal(id, &key).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while received.lock().unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the retry never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2, "a 2xx ends the retries");
    let (headers, body) = &received[1];
    let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec-test").unwrap();
    mac.update(body);
    assert_eq!(headers["x-certior-signature"], hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-certior-event"], "execution.completed");
    assert_eq!(headers["user-agent"], "Certior-Webhook/1.0");
    assert_eq!(headers["content-type"], "application/json");
    let delivery = headers["x-certior-delivery"].to_str().unwrap();
    assert!(delivery.len() == 15 && delivery.starts_with("wh_"), "{delivery}");
    assert_eq!(
        received[0].0["x-certior-delivery"], delivery,
        "one delivery, two attempts"
    );
    let view: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        (view["id"].as_str(), view["status"].as_str()),
        (Some(id), Some("completed"))
    );
    let text = std::str::from_utf8(body).unwrap();
    assert!(
        text.starts_with(r#"{"budget_cents":"#),
        "canonical JSON sorts keys: {text}"
    );
}

#[tokio::test]
async fn webhook_urls_must_be_allowed() {
    let server = Server::start_with(&[("CERTIOR_WEBHOOK_SECRET", "whsec-test")]).await;
    let api = server.client();
    let key = api
        .register(&json!({"email": "ops@example.com", "password": "password-1"}), None)
        .await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.8/hook",
        "http://localhost/hook",
        "ftp://hooks.example.com/x",
        "hooks",
    ] {
        let reply = api
            .post(
                "/api/v1/tasks",
                &json!({"task": "List files", "webhook_url": url}),
                Some(&key),
            )
            .await;
        assert_eq!(reply.status, 422, "{url}: {}", reply.text);
        assert_eq!(reply.body["errors"][0]["loc"], json!(["body", "webhook_url"]));
    }
    let public = api
        .post(
            "/api/v1/tasks",
            &json!({"task": "List files", "plan": [{"tool": "file_list"}], "webhook_url": "https://hooks.example.com/certior"}),
            Some(&key),
        )
        .await;
    assert_eq!(public.status, 201, "{}", public.text);
}
