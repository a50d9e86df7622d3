//! LLM runs end to end against local stand-ins that speak the OpenAI chat-completions and
//! Anthropic messages protocols and script a multi-turn exchange: an allowed call, a call the
//! Guard denies (the model gets the `BLOCKED:` result and carries on), then a final answer.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use certior_e2e::{Client, Server};
use serde_json::{json, Value};

/// What the stand-in received: (headers, body) per request.
type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// Starts a stand-in whose `path` answers the n-th request with `script(n, body)`: a status and
/// a JSON body.
async fn stand_in(path: &'static str, script: fn(usize, &Value) -> (u16, Value)) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            path,
            post(
                move |State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push((headers, body.clone()));
                        seen.len() - 1
                    };
                    let (status, answer) = script(n, &body);
                    (axum::http::StatusCode::from_u16(status).unwrap(), Json(answer))
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, seen)
}

fn openai_script(n: usize, _: &Value) -> (u16, Value) {
    let call = |id: &str, name: &str, args: Value| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}});
    let message = match n {
        0 => json!({"role": "assistant", "content": null, "tool_calls": [
            call("call_1", "file_write", json!({"path": "reports/summary.txt", "content": "All good."}))]}),
        1 => json!({"role": "assistant", "content": "Also saving a copy.", "tool_calls": [
            call("call_2", "file_write", json!({"path": "private/copy.txt", "content": "All good."}))]}),
        _ => json!({"role": "assistant", "content": "Saved the summary; the copy was blocked by policy."}),
    };
    (
        200,
        json!({"id": format!("chatcmpl-{n}"), "object": "chat.completion", "model": "local-model",
           "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 100 + n, "completion_tokens": 10, "total_tokens": 110 + n}}),
    )
}

fn anthropic_script(n: usize, _: &Value) -> (u16, Value) {
    let content = match n {
        0 => json!([{"type": "tool_use", "id": "toolu_1", "name": "file_write",
                     "input": {"path": "reports/summary.txt", "content": "All good."}}]),
        1 => json!([{"type": "text", "text": "Also saving a copy."},
                    {"type": "tool_use", "id": "toolu_2", "name": "file_write",
                     "input": {"path": "private/copy.txt", "content": "All good."}}]),
        _ => json!([{"type": "text", "text": "Saved the summary; the copy was blocked by policy."}]),
    };
    let stop = if n < 2 { "tool_use" } else { "end_turn" };
    (
        200,
        json!({"id": format!("msg_{n}"), "type": "message", "role": "assistant", "model": "claude-test",
           "content": content, "stop_reason": stop, "usage": {"input_tokens": 200, "output_tokens": 20}}),
    )
}

/// A server with `env`, a client and an operator's key.
async fn start(env: &[(&str, &str)]) -> (Server, Client, String) {
    let server = Server::start_with(env).await;
    let api = server.client();
    let key = api
        .register(&json!({"email": "ops@example.com", "password": "password-1"}), None)
        .await;
    (server, api, key)
}

async fn run_task(api: &Client, key: &str, provider: &str) -> (Value, Vec<Value>) {
    let created = api
        .post(
            "/api/v1/tasks",
            &json!({"task": "Write a short summary note", "provider": provider,
                    "permissions": ["filesystem:read", "filesystem:write:reports"]}),
            Some(key),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["execution_id"].as_str().unwrap().to_owned();
    let view = api.wait_terminal(&id, key).await.body;
    let steps = api.get(&format!("/api/v1/executions/{id}/steps"), Some(key)).await.body["steps"]
        .as_array()
        .unwrap()
        .clone();
    (view, steps)
}

fn assert_gated_run(server: &Server, view: &Value, steps: &[Value]) {
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["output"], "Saved the summary; the copy was blocked by policy.");
    assert_eq!(view["current_step"], 2);
    assert_eq!(steps[0]["decision"], "allowed");
    assert_eq!(steps[1]["decision"], "denied");
    assert_eq!(steps[1]["violations"][0]["code"], "missing_capability");
    assert_eq!(view["cost_cents"], 1, "only the allowed call is debited");
    assert_eq!(view["certificate_count"], 2, "one tool call and the final output");
    let workspace = server.data_dir.join("workspace");
    assert_eq!(
        std::fs::read_to_string(workspace.join("reports/summary.txt")).unwrap(),
        "All good."
    );
    assert!(!workspace.join("private/copy.txt").exists());
}

#[tokio::test]
async fn openai_compatible_runs_pass_every_call_through_the_gate() {
    let (base, seen) = stand_in("/v1/chat/completions", openai_script).await;
    let (server, api, key) = start(&[("OPENAI_BASE_URL", &format!("{base}/v1"))]).await;
    let (view, steps) = run_task(&api, &key, "openai").await;
    assert_gated_run(&server, &view, &steps);
    assert_eq!(view["llm_provider"], "openai");
    assert_eq!(view["llm_model"], "gpt-4o");
    assert_eq!(view["verification_summary"]["total_input_tokens"], 100 + 101 + 102);
    assert_eq!(view["verification_summary"]["total_output_tokens"], 30);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let (headers, first) = &seen[0];
    assert!(
        headers.get("authorization").is_none(),
        "a keyless local server gets no Authorization"
    );
    assert_eq!(first["model"], "gpt-4o");
    assert_eq!(first["messages"][0]["role"], "system");
    assert_eq!(
        first["messages"][1],
        json!({"role": "user", "content": "Write a short summary note"})
    );
    let offered: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        offered,
        ["file_read", "file_write", "file_list"],
        "only tools the token could cover"
    );
    let last = &seen[2].1["messages"];
    let results: Vec<&Value> = last
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .collect();
    assert_eq!(results[0]["tool_call_id"], "call_1");
    assert_eq!(results[0]["content"], "Wrote 9 bytes to reports/summary.txt");
    assert_eq!(results[1]["tool_call_id"], "call_2");
    assert_eq!(
        results[1]["content"],
        "BLOCKED: missing_capability: missing_capability: filesystem:write:private"
    );
}

#[tokio::test]
async fn anthropic_runs_pass_every_call_through_the_gate() {
    let (base, seen) = stand_in("/v1/messages", anthropic_script).await;
    let (server, api, key) = start(&[("ANTHROPIC_API_KEY", "sk-ant-test"), ("ANTHROPIC_BASE_URL", &base)]).await;
    let (view, steps) = run_task(&api, &key, "anthropic").await;
    assert_gated_run(&server, &view, &steps);
    assert_eq!(view["llm_model"], "claude-sonnet-4-20250514");
    assert_eq!(view["verification_summary"]["total_input_tokens"], 600);

    let events = api
        .get(
            &format!("/api/v1/executions/{}/events", view["id"].as_str().unwrap()),
            Some(&key),
        )
        .await
        .body;
    let thinking: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "execution.thinking")
        .collect();
    assert_eq!(thinking.len(), 3);
    assert_eq!(thinking[2]["data"]["round"], 3);
    assert_eq!(thinking[0]["data"]["mode"], "agentic");

    let seen = seen.lock().unwrap();
    let (headers, _) = &seen[0];
    assert_eq!(headers["x-api-key"], "sk-ant-test");
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    let last = &seen[2].1["messages"];
    let blocked = last
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .unwrap();
    assert_eq!(blocked["content"][0]["type"], "tool_result");
    assert_eq!(blocked["content"][0]["tool_use_id"], "toolu_2");
    assert_eq!(blocked["content"][0]["is_error"], true);
}

#[tokio::test]
async fn a_per_run_key_is_used_and_never_shown() {
    let (base, seen) = stand_in("/v1/messages", anthropic_script).await;
    // No server key: the per-run key alone makes the provider usable for this run.
    let (server, api, key) = start(&[("ANTHROPIC_BASE_URL", &base)]).await;
    let created = api
        .post(
            "/api/v1/tasks",
            &json!({"task": "Write a short summary note", "provider": "anthropic", "api_key": "sk-ant-run-only-123",
                    "permissions": ["filesystem:read", "filesystem:write:reports"]}),
            Some(&key),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(!created.text.contains("sk-ant-run-only-123"));
    let id = created.body["execution_id"].as_str().unwrap();
    let view = api.wait_terminal(id, &key).await;
    assert_eq!(view.body["status"], "completed", "{}", view.text);
    assert_eq!(seen.lock().unwrap()[0].0["x-api-key"], "sk-ant-run-only-123");
    for path in ["", "/steps", "/events"] {
        let reply = api.get(&format!("/api/v1/executions/{id}{path}"), Some(&key)).await;
        assert!(!reply.text.contains("sk-ant-run-only-123"), "{path} shows the key");
    }
    let log = std::fs::read_to_string(server.data_dir.join("server.log")).unwrap_or_default();
    assert!(!log.contains("sk-ant-run-only-123"));
}

#[tokio::test]
async fn a_provider_failure_fails_the_run_with_its_reason() {
    fn out_of_credit(_: usize, _: &Value) -> (u16, Value) {
        (
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error",
                     "message": "Your credit balance is too low to access the Anthropic API."}}),
        )
    }
    let (base, seen) = stand_in("/v1/messages", out_of_credit).await;
    let (_server, api, key) = start(&[("ANTHROPIC_API_KEY", "sk-ant-test"), ("ANTHROPIC_BASE_URL", &base)]).await;
    let (view, steps) = run_task(&api, &key, "anthropic").await;
    assert_eq!(view["status"], "failed");
    assert!(steps.is_empty());
    assert_eq!(seen.lock().unwrap().len(), 1, "a billing refusal is not retried");
    assert_eq!(
        view["error"],
        "Error code: 400 - invalid_request_error: Your credit balance is too low to access the Anthropic API. \
         [Provider: anthropic] - Set OPENAI_API_KEY to enable openai as a fallback provider."
    );
}
