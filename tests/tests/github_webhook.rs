//! The GitHub webhook end to end (spec/RELEASES.md §7): signatures (GitHub's published test
//! vector), delivery dedupe, the events, and the decision reported back to a local stand-in of
//! the GitHub REST API as a commit status and a pull-request comment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::Json;
use certior_e2e::{server_with_admin_and, Client, Reply, Server};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "It's a Secret to Everybody";
const WEBHOOK: &str = "/api/v1/releases/github-webhook";

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(
    client: &Client,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<&str>,
    content_type: &str,
) -> Reply {
    let mut request = client
        .request(reqwest::Method::POST, WEBHOOK)
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("Content-Type", content_type)
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    Client::send(request).await
}

async fn signed(client: &Client, event: &str, delivery: &str, payload: &Value) -> Reply {
    let body = serde_json::to_vec(payload).unwrap();
    deliver(
        client,
        event,
        delivery,
        &body,
        Some(&sign(SECRET, &body)),
        "application/json",
    )
    .await
}

fn repository() -> Value {
    json!({"full_name": "Acme/Widget", "html_url": "https://github.com/Acme/Widget"})
}

fn check_run(sha: &str, conclusion: &str) -> Value {
    json!({"action": "completed", "repository": repository(), "check_run": {
        "name": "build", "head_sha": sha, "conclusion": conclusion, "html_url": "https://github.com/acme/widget/runs/1",
        "app": {"name": "GitHub Actions"}}})
}

fn pull_request(action: &str, sha: &str) -> Value {
    json!({"action": action, "number": 7, "repository": repository(),
           "pull_request": {"number": 7, "head": {"sha": sha}}})
}

async fn register_repo(client: &Client, admin: &str) {
    let path = "/api/v1/releases/policy?repo_root=acme/widget";
    let reply = Client::send(
        client
            .request(reqwest::Method::PUT, path)
            .bearer_auth(admin)
            .json(&json!({"required_checks": ["build"]})),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn without_a_secret_the_webhook_is_unavailable() {
    let server = Server::start().await;
    let reply = signed(&server.client(), "ping", "d-1", &json!({"zen": "x"})).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body["code"], "webhook_secret_not_configured");
    // Step 1 comes before the size check: an oversized body is not read either.
    let oversized = Client::send(
        server
            .client()
            .request(reqwest::Method::POST, "/api/v1/releases/github-webhook")
            .header("content-type", "application/json")
            .body(vec![b' '; 26 * 1024 * 1024]),
    )
    .await;
    assert_eq!(oversized.status, 503);
    assert_eq!(oversized.body["code"], "webhook_secret_not_configured");
}

#[tokio::test]
async fn githubs_test_vector_is_accepted_and_anything_else_refused() {
    let server = Server::start_with(&[("CERTIOR_GITHUB_WEBHOOK_SECRET", SECRET)]).await;
    let client = server.client();
    let vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(sign(SECRET, b"Hello, World!"), vector);
    // The signature passes; the body is then judged: not a JSON object.
    let accepted = deliver(
        &client,
        "ping",
        "vector-1",
        b"Hello, World!",
        Some(vector),
        "application/json",
    )
    .await;
    assert_eq!(accepted.status, 400, "{}", accepted.text);
    assert_eq!(accepted.body["code"], "invalid_json");
    for (body, signature) in [
        (&b"Hello, World?"[..], Some(vector)),
        (
            &b"Hello, World!"[..],
            Some("sha256=857107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ),
        (&b"Hello, World!"[..], None),
        (
            &b"Hello, World!"[..],
            Some("sha1=757107ea0eb2509fc211221cce984b8a37570b6d"),
        ),
    ] {
        let refused = deliver(&client, "ping", "vector-2", body, signature, "application/json").await;
        assert_eq!(refused.status, 401, "{signature:?}");
        assert_eq!(refused.body["code"], "invalid_signature");
    }
    let sha1_only = Client::send(
        client
            .request(reqwest::Method::POST, WEBHOOK)
            .header("X-GitHub-Event", "ping")
            .header("X-GitHub-Delivery", "vector-3")
            .header("X-Hub-Signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")
            .body("Hello, World!"),
    )
    .await;
    assert_eq!(sha1_only.status, 401);
}

#[tokio::test]
async fn deliveries_are_checked_in_order_and_processed_once() {
    let (server, admin) = server_with_admin_and(&[("CERTIOR_GITHUB_WEBHOOK_SECRET", SECRET)]).await;
    let client = server.client();
    let body = br#"{"zen": "Keep it logically awesome."}"#;
    let signature = sign(SECRET, body);
    let no_event = Client::send(
        client
            .request(reqwest::Method::POST, WEBHOOK)
            .header("X-GitHub-Delivery", "d-0")
            .header("X-Hub-Signature-256", &signature)
            .body(body.to_vec()),
    )
    .await;
    assert_eq!(no_event.body["code"], "missing_event_header");
    let bad_id = deliver(&client, "ping", "bad id!", body, Some(&signature), "application/json").await;
    assert_eq!(bad_id.body["code"], "missing_delivery_id");
    let form = deliver(
        &client,
        "ping",
        "d-form",
        body,
        Some(&signature),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(form.status, 415);
    assert_eq!(form.body["code"], "unsupported_content_type");
    let pong = deliver(
        &client,
        "ping",
        "d-1",
        body,
        Some(&signature),
        "application/json; charset=utf-8",
    )
    .await;
    assert_eq!(pong.body, json!({"status": "pong"}));
    let duplicate = deliver(&client, "ping", "d-1", body, Some(&signature), "application/json").await;
    assert_eq!(duplicate.body, json!({"status": "duplicate"}));
    assert_eq!(
        signed(&client, "push", "d-push", &json!({})).await.body,
        json!({"status": "ignored", "reason": "event push not handled"})
    );

    let sha = "a".repeat(40);
    let unregistered = signed(&client, "check_run", "d-2", &check_run(&sha, "success")).await;
    assert_eq!(
        unregistered.body,
        json!({"status": "ignored", "reason": "repository not registered"})
    );
    register_repo(&client, &admin).await;
    let recorded = signed(&client, "check_run", "d-3", &check_run(&sha, "success")).await;
    assert_eq!(recorded.status, 200, "{}", recorded.text);
    assert_eq!(recorded.body["status"], "recorded");
    assert_eq!(recorded.body["commit_sha"], sha);
    assert!(recorded.body["evidence_id"].as_str().unwrap().starts_with("ev_"));
    // A redelivery of d-3 with other content is a duplicate: nothing changes.
    let replay = signed(&client, "check_run", "d-3", &check_run(&sha, "failure")).await;
    assert_eq!(replay.body, json!({"status": "duplicate"}));
    let decision = client
        .get(
            &format!("/api/v1/releases/decision?repo_root=acme/widget&commit_sha={sha}"),
            Some(&admin),
        )
        .await
        .body;
    assert_eq!(
        decision["provenance"]["checks"],
        json!([{"workflow": "GitHub Actions", "check_run_name": "build", "conclusion": "success",
                "url": "https://github.com/acme/widget/runs/1"}])
    );
    assert_eq!(decision["decision_status"], "ready");
    // An unrecognised conclusion is stored, fails, and is reported as an ingest issue.
    let odd = signed(&client, "check_run", "d-4", &check_run(&sha, "exploded")).await;
    assert_eq!(odd.body["status"], "recorded");
    let health = client
        .get(
            &format!("/api/v1/releases/health?repo_root=acme/widget&commit_sha={sha}"),
            Some(&admin),
        )
        .await
        .body;
    assert_eq!(health["ingest_issues"][0]["code"], "check_conclusion_unrecognised");
    assert_eq!(
        health["ingest_issues"][0]["detail"],
        "Check build reported unrecognised conclusion exploded"
    );
    let closed = signed(&client, "pull_request", "d-5", &pull_request("closed", &sha)).await;
    assert_eq!(
        closed.body,
        json!({"status": "ignored", "reason": "action closed not handled"})
    );
    let broken = signed(&client, "pull_request", "d-6", &pull_request("opened", "abc")).await;
    assert_eq!(
        broken.body,
        json!({"status": "error", "reason": "Missing commit SHA or repo URL"})
    );
}

/// What the stand-in GitHub API received.
#[derive(Default)]
struct Seen {
    statuses: Vec<(String, HeaderMap, Value)>,
    comments: Vec<(i64, String)>,
    patches: usize,
    /// Status requests to fail with 503 before succeeding.
    fail_first: usize,
    /// Answer every status request with 422 (a final failure), counting them in `patches`.
    refuse: bool,
}

type Shared = Arc<Mutex<Seen>>;

/// A small GitHub REST API: commit statuses and issue comments.
async fn fake_github(fail_first: usize, refuse: bool) -> (String, Shared) {
    let seen: Shared = Arc::new(Mutex::new(Seen {
        fail_first,
        refuse,
        ..Seen::default()
    }));
    let app =
        axum::Router::new()
            .route(
                "/repos/{owner}/{repo}/statuses/{sha}",
                post(
                    |State(seen): State<Shared>,
                     Path((owner, repo, sha)): Path<(String, String, String)>,
                     headers: HeaderMap,
                     Json(body): Json<Value>| async move {
                        let mut seen = seen.lock().unwrap();
                        if seen.refuse {
                            seen.patches += 1;
                            return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({}))).into_response();
                        }
                        if seen.fail_first > 0 {
                            seen.fail_first -= 1;
                            return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")], Json(json!({})))
                                .into_response();
                        }
                        seen.statuses
                            .push((format!("{owner}/{repo}/{sha}"), headers, body.clone()));
                        (StatusCode::CREATED, Json(body)).into_response()
                    },
                ),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{number}/comments",
                get(|State(seen): State<Shared>| async move {
                    let seen = seen.lock().unwrap();
                    Json(
                        seen.comments
                            .iter()
                            .map(|(id, body)| json!({"id": id, "body": body}))
                            .collect::<Vec<_>>(),
                    )
                })
                .post(|State(seen): State<Shared>, Json(body): Json<Value>| async move {
                    let mut seen = seen.lock().unwrap();
                    let id = seen.comments.len() as i64 + 100;
                    seen.comments.push((id, body["body"].as_str().unwrap().to_owned()));
                    (StatusCode::CREATED, Json(json!({"id": id})))
                }),
            )
            .route(
                "/repos/{owner}/{repo}/issues/comments/{id}",
                patch(
                    |State(seen): State<Shared>,
                     Path((_, _, id)): Path<(String, String, i64)>,
                     Json(body): Json<Value>| async move {
                        let mut seen = seen.lock().unwrap();
                        seen.patches += 1;
                        if let Some(comment) = seen.comments.iter_mut().find(|(i, _)| *i == id) {
                            comment.1 = body["body"].as_str().unwrap().to_owned();
                        }
                        Json(json!({"id": id}))
                    },
                ),
            )
            .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn wait_for(seen: &Shared, what: impl Fn(&Seen) -> bool) {
    for _ in 0..200 {
        if what(&seen.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the stand-in GitHub API did not receive the expected requests");
}

#[tokio::test]
async fn a_pull_request_gets_a_commit_status_and_one_current_comment() {
    let (github, seen) = fake_github(1, false).await;
    let (server, admin) = server_with_admin_and(&[
        ("CERTIOR_GITHUB_WEBHOOK_SECRET", SECRET),
        ("CERTIOR_GITHUB_TOKEN", "ghp_test"),
        ("CERTIOR_GITHUB_API_URL", &github),
        ("CERTIOR_GITHUB_PR_COMMENTS", "true"),
        ("CERTIOR_PUBLIC_URL", "https://certior.example.com"),
    ])
    .await;
    let client = server.client();
    register_repo(&client, &admin).await;
    let sha = "b".repeat(40);
    let opened = signed(&client, "pull_request", "pr-1", &pull_request("opened", &sha)).await;
    assert_eq!(opened.status, 200, "{}", opened.text);
    assert_eq!(
        opened.body,
        json!({"status": "processed", "decision": "NO_SHIP", "decision_status": "unknown", "blockers": 1, "commit_sha": sha})
    );
    // The first status answer is a 503 with Retry-After: 1; the retry succeeds.
    wait_for(&seen, |s| s.statuses.len() == 1 && s.comments.len() == 1).await;
    {
        let seen = seen.lock().unwrap();
        let (target, headers, body) = &seen.statuses[0];
        assert_eq!(target, &format!("Acme/Widget/{sha}"));
        assert_eq!(headers["authorization"], "Bearer ghp_test");
        assert_eq!(headers["accept"], "application/vnd.github+json");
        assert_eq!(headers["x-github-api-version"], "2022-11-28");
        assert_eq!(headers["user-agent"], "certior-server");
        assert_eq!(
            body,
            &json!({"state": "pending", "context": "certior/release",
                    "description": "NO_SHIP: no release evidence for this commit yet",
                    "target_url": format!("https://certior.example.com/api/v1/trust/badge?repo=acme/widget&commit={sha}")})
        );
        assert!(seen.comments[0]
            .1
            .starts_with("<!-- certior-release-gate -->\n❌ **Certior release gate: NO_SHIP**"));
    }
    // A check on the PR head re-judges it: the status follows and the comment is edited.
    let recorded = signed(&client, "check_run", "pr-2", &check_run(&sha, "failure")).await;
    assert_eq!(recorded.body["status"], "recorded");
    wait_for(&seen, |s| s.statuses.len() == 2 && s.patches == 1).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.statuses[1].2["state"], "failure");
    assert_eq!(seen.statuses[1].2["description"], "NO_SHIP: 2 blocker(s)");
    assert_eq!(seen.comments.len(), 1, "one comment per pull request, kept current");
    assert!(seen.comments[0].1.contains(
        "- **ci**: Required check build concluded failure. Fix: Fix the cause and re-run build on this commit"
    ));
}

#[tokio::test]
async fn a_final_github_failure_is_recorded_as_an_ingest_issue() {
    let (github, seen) = fake_github(0, true).await;
    let (server, admin) = server_with_admin_and(&[
        ("CERTIOR_GITHUB_WEBHOOK_SECRET", SECRET),
        ("CERTIOR_GITHUB_TOKEN", "ghp_test"),
        ("CERTIOR_GITHUB_API_URL", &github),
    ])
    .await;
    let client = server.client();
    register_repo(&client, &admin).await;
    let sha = "c".repeat(40);
    // The PR head gets a snapshot through a check, then the PR is opened: the report is refused.
    assert_eq!(
        signed(&client, "check_run", "f-1", &check_run(&sha, "success"))
            .await
            .body["status"],
        "recorded"
    );
    let opened = signed(&client, "pull_request", "f-2", &pull_request("reopened", &sha)).await;
    assert_eq!(opened.body["decision_status"], "ready", "{}", opened.text);
    wait_for(&seen, |s| s.patches == 1).await;
    let path = format!("/api/v1/releases/health?repo_root=acme/widget&commit_sha={sha}");
    for _ in 0..100 {
        let health = client.get(&path, Some(&admin)).await.body;
        let issues = health["ingest_issues"].as_array().unwrap().clone();
        if let Some(issue) = issues.iter().find(|i| i["code"] == "github_report_failed") {
            assert_eq!(issue["detail"], "Reporting to GitHub failed after 1 attempts: HTTP 422");
            assert_eq!(issue["health_state"], "warning");
            assert_eq!(seen.lock().unwrap().patches, 1, "a 422 is final: no retry");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("github_report_failed was not recorded");
}
