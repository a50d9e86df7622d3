//! `complete` against stand-ins that speak the real wire protocols: a three-round exchange per
//! provider (a tool call, a call that the gate blocks, a final answer), then the failure paths.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::stand_in::{Reply, StandIn};
use super::tool_specs::tool_spec;
use super::*;
use crate::settings::ProviderSettings;

const TASK: &str = "Summarise notes.txt and post the summary";
const NOTES: &str = "Q3 revenue up 4%";
const BLOCKED: &str = "BLOCKED: host_not_allowed: host 'paste.example' is not in CERTIOR_HTTP_ALLOWED_HOSTS";
const TOOLS: [BuiltinTool; 3] = [BuiltinTool::FileRead, BuiltinTool::FileList, BuiltinTool::HttpGet];

fn request<'a>(provider: Provider, base_url: &'a str, api_key: Option<&'a str>) -> ModelRequest<'a> {
    ModelRequest {
        provider,
        base_url,
        api_key,
        model: match provider {
            Provider::Anthropic => "claude-haiku-4-5-20251001",
            _ => "gpt-4o-mini",
        },
        system: DEFAULT_SYSTEM_PROMPT,
        tools: &TOOLS,
        max_tokens: 512,
        timeout: Duration::from_secs(5),
    }
}

fn settings(anthropic: bool, openai: bool) -> ProviderSettings {
    ProviderSettings {
        anthropic_api_key: anthropic.then(|| "sk-ant-server".to_owned()),
        anthropic_base_url: "https://api.anthropic.com".to_owned(),
        openai_api_key: openai.then(|| "sk-server".to_owned()),
        openai_base_url: None,
        llm_provider: None,
        model: None,
    }
}

fn call(id: &str, name: &str, arguments: Value) -> ProposedCall {
    ProposedCall {
        id: id.into(),
        name: name.into(),
        arguments,
    }
}

/// Plays the executor's part for three rounds: the file is read, the upload is blocked.
async fn three_rounds(request: &ModelRequest<'_>) -> (Vec<ModelTurn>, Conversation) {
    let http = reqwest::Client::new();
    let mut conversation = Conversation::new(TASK);
    let mut turns = Vec::new();
    for _ in 0..3 {
        let turn = complete(&http, request, &conversation)
            .await
            .expect("the round succeeds");
        conversation.push_turn(&turn);
        for proposed in &turn.tool_calls {
            match proposed.name.as_str() {
                "file_read" => conversation.push_tool_result(&proposed.id, NOTES, false),
                "file_list" => conversation.push_tool_result(&proposed.id, "notes.txt", false),
                _ => conversation.push_tool_result(&proposed.id, BLOCKED, true),
            }
        }
        turns.push(turn);
    }
    (turns, conversation)
}

fn openai_answer(content: Value, tool_calls: Value, prompt: i64, completion: i64) -> Reply {
    let mut message = json!({"role": "assistant", "content": content});
    if !tool_calls.is_null() {
        message["tool_calls"] = tool_calls;
    }
    Reply::json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
               "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                         "total_tokens": prompt + completion}}),
    )
}

#[tokio::test]
async fn openai_exchange_maps_calls_and_results_onto_the_chat_format() {
    let stand_in = StandIn::start(vec![
        openai_answer(
            json!("Reading the notes first."),
            json!([{"id": "call_read", "type": "function",
                    "function": {"name": "file_read", "arguments": "{\"path\":\"notes.txt\"}"}}]),
            100,
            20,
        ),
        openai_answer(
            Value::Null,
            json!([{"id": "call_post", "type": "function",
                    "function": {"name": "http_get", "arguments": "{\"url\":\"https://paste.example/?q=Q3\"}"}}]),
            150,
            30,
        ),
        openai_answer(
            json!("Q3 revenue rose 4%. Posting was blocked by policy."),
            Value::Null,
            200,
            15,
        ),
    ])
    .await;
    let base_url = format!("{}/v1", stand_in.base_url);
    let (turns, _) = three_rounds(&request(Provider::Openai, &base_url, Some("sk-run-key"))).await;

    assert_eq!(turns[0].text, "Reading the notes first.");
    assert_eq!(
        turns[0].tool_calls,
        vec![call("call_read", "file_read", json!({"path": "notes.txt"}))]
    );
    assert_eq!(
        turns[1].tool_calls,
        vec![call(
            "call_post",
            "http_get",
            json!({"url": "https://paste.example/?q=Q3"})
        )]
    );
    assert!(turns[2].tool_calls.is_empty(), "the third turn is the final answer");
    assert_eq!(turns[2].text, "Q3 revenue rose 4%. Posting was blocked by policy.");
    let usage = turns
        .iter()
        .fold((0, 0), |(i, o), t| (i + t.input_tokens, o + t.output_tokens));
    assert_eq!(usage, (450, 65));

    let received = stand_in.received();
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(request.path, "/v1/chat/completions");
        assert_eq!(request.headers["authorization"], "Bearer sk-run-key");
        assert_eq!(request.body["model"], "gpt-4o-mini");
        assert_eq!(request.body["max_tokens"], 512);
    }
    let tools = received[0].body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 3);
    for (offered, tool) in tools.iter().zip(TOOLS) {
        let spec = tool_spec(tool);
        assert_eq!(
            offered,
            &json!({"type": "function", "function": {
                "name": spec.name, "description": spec.description, "parameters": spec.parameters}})
        );
    }
    assert_eq!(
        received[2].body["messages"],
        json!([
            {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
            {"role": "user", "content": TASK},
            {"role": "assistant", "content": "Reading the notes first.", "tool_calls": [
                {"id": "call_read", "type": "function",
                 "function": {"name": "file_read", "arguments": "{\"path\":\"notes.txt\"}"}}]},
            {"role": "tool", "tool_call_id": "call_read", "content": NOTES},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_post", "type": "function",
                 "function": {"name": "http_get", "arguments": "{\"url\":\"https://paste.example/?q=Q3\"}"}}]},
            {"role": "tool", "tool_call_id": "call_post", "content": BLOCKED},
        ])
    );
    // The first round carried only the system prompt and the task.
    assert_eq!(received[0].body["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_keyless_openai_compatible_server_gets_no_authorization_header() {
    let stand_in = StandIn::start(vec![openai_answer(json!("hi"), Value::Null, 1, 1)]).await;
    let mut keyless = request(Provider::Openai, &stand_in.base_url, None);
    keyless.tools = &[];
    let turn = complete(&reqwest::Client::new(), &keyless, &Conversation::new("hello"))
        .await
        .unwrap();
    assert_eq!(turn.text, "hi");
    let received = stand_in.received();
    assert_eq!(received[0].path, "/chat/completions");
    assert!(!received[0].headers.contains_key("authorization"));
    assert!(received[0].body.get("tools").is_none(), "no tools, no tools field");
}

fn anthropic_answer(content: Value, input: i64, output: i64) -> Reply {
    Reply::json(
        200,
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
               "content": content, "stop_reason": "end_turn",
               "usage": {"input_tokens": input, "output_tokens": output}}),
    )
}

#[tokio::test]
async fn anthropic_exchange_maps_calls_and_results_onto_content_blocks() {
    let stand_in = StandIn::start(vec![
        anthropic_answer(
            json!([{"type": "text", "text": "Reading the notes first."},
                   {"type": "tool_use", "id": "toolu_read", "name": "file_read", "input": {"path": "notes.txt"}}]),
            80,
            25,
        ),
        anthropic_answer(
            json!([{"type": "tool_use", "id": "toolu_list", "name": "file_list", "input": {}},
                   {"type": "tool_use", "id": "toolu_post", "name": "http_get",
                    "input": {"url": "https://paste.example/?q=Q3"}}]),
            120,
            40,
        ),
        anthropic_answer(json!([{"type": "text", "text": "Q3 revenue rose 4%."}]), 160, 10),
    ])
    .await;
    let (turns, _) = three_rounds(&request(Provider::Anthropic, &stand_in.base_url, Some("sk-ant-run"))).await;

    assert_eq!(
        turns[0].tool_calls,
        vec![call("toolu_read", "file_read", json!({"path": "notes.txt"}))]
    );
    assert_eq!(
        turns[1].tool_calls,
        vec![
            call("toolu_list", "file_list", json!({})),
            call("toolu_post", "http_get", json!({"url": "https://paste.example/?q=Q3"}))
        ]
    );
    assert_eq!(
        (turns[2].text.as_str(), turns[2].tool_calls.len()),
        ("Q3 revenue rose 4%.", 0)
    );
    let usage = turns
        .iter()
        .fold((0, 0), |(i, o), t| (i + t.input_tokens, o + t.output_tokens));
    assert_eq!(usage, (360, 75));

    let received = stand_in.received();
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(request.path, "/v1/messages");
        assert_eq!(request.headers["x-api-key"], "sk-ant-run");
        assert_eq!(request.headers["anthropic-version"], "2023-06-01");
        assert!(!request.headers.contains_key("authorization"));
        assert_eq!(request.body["model"], "claude-haiku-4-5-20251001");
        assert_eq!(request.body["max_tokens"], 512);
        assert_eq!(request.body["system"], DEFAULT_SYSTEM_PROMPT);
    }
    let tools = received[0].body["tools"].as_array().unwrap();
    let expected: Vec<Value> = TOOLS
        .into_iter()
        .map(tool_spec)
        .map(|s| json!({"name": s.name, "description": s.description, "input_schema": s.parameters}))
        .collect();
    assert_eq!(tools, &expected);
    assert_eq!(
        received[2].body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": TASK}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Reading the notes first."},
                {"type": "tool_use", "id": "toolu_read", "name": "file_read", "input": {"path": "notes.txt"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_read", "content": NOTES, "is_error": false}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_list", "name": "file_list", "input": {}},
                {"type": "tool_use", "id": "toolu_post", "name": "http_get",
                 "input": {"url": "https://paste.example/?q=Q3"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_list", "content": "notes.txt", "is_error": false},
                {"type": "tool_result", "tool_use_id": "toolu_post", "content": BLOCKED, "is_error": true}]},
        ])
    );
}

fn openai_error(status: u16, message: &str, kind: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    )
}

fn anthropic_error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

#[tokio::test]
async fn a_server_error_is_retried_after_a_backoff() {
    let stand_in = StandIn::start(vec![
        openai_error(500, "The server had an error", "server_error"),
        openai_answer(json!("done"), Value::Null, 3, 4),
    ])
    .await;
    let started = Instant::now();
    let turn = complete(
        &reqwest::Client::new(),
        &request(Provider::Openai, &stand_in.base_url, Some("k")),
        &Conversation::new("x"),
    )
    .await
    .unwrap();
    assert_eq!(
        (turn.text.as_str(), turn.input_tokens, turn.output_tokens),
        ("done", 3, 4)
    );
    assert_eq!(stand_in.received().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the first backoff is 0.5 s"
    );
}

#[tokio::test]
async fn a_rate_limit_is_retried_when_the_provider_says_so() {
    let stand_in = StandIn::start(vec![
        anthropic_error(
            429,
            "rate_limit_error",
            "Number of requests has exceeded your rate limit",
        )
        .with_retry_after("0"),
        anthropic_error(529, "overloaded_error", "Overloaded"),
        anthropic_answer(json!([{"type": "text", "text": "ok"}]), 1, 1),
    ])
    .await;
    let turn = complete(
        &reqwest::Client::new(),
        &request(Provider::Anthropic, &stand_in.base_url, Some("k")),
        &Conversation::new("x"),
    )
    .await
    .unwrap();
    assert_eq!(turn.text, "ok");
    assert_eq!(stand_in.received().len(), 3);
}

#[tokio::test]
async fn three_server_errors_give_up_with_the_last_message() {
    let stand_in = StandIn::start(vec![
        anthropic_error(500, "api_error", "first"),
        anthropic_error(502, "api_error", "second"),
        anthropic_error(503, "api_error", "third"),
        anthropic_answer(json!([{"type": "text", "text": "too late"}]), 1, 1),
    ])
    .await;
    let failure = complete(
        &reqwest::Client::new(),
        &request(Provider::Anthropic, &stand_in.base_url, Some("k")),
        &Conversation::new("x"),
    )
    .await
    .unwrap_err();
    assert_eq!(failure.to_string(), "Error code: 503 - api_error: third");
    assert_eq!(stand_in.received().len(), 3);
}

#[tokio::test]
async fn an_invalid_key_fails_at_once_with_the_providers_message() {
    let stand_in = StandIn::start(vec![
        anthropic_error(401, "authentication_error", "invalid x-api-key"),
        anthropic_answer(json!([{"type": "text", "text": "never"}]), 1, 1),
    ])
    .await;
    let failure = complete(
        &reqwest::Client::new(),
        &request(Provider::Anthropic, &stand_in.base_url, Some("wrong")),
        &Conversation::new("x"),
    )
    .await
    .unwrap_err();
    assert_eq!(
        failure.to_string(),
        "Error code: 401 - authentication_error: invalid x-api-key"
    );
    assert_eq!(
        failure.execution_error(Provider::Anthropic, &settings(true, true)),
        failure.to_string(),
        "no billing suffix for a key problem"
    );
    assert_eq!(stand_in.received().len(), 1);
}

#[tokio::test]
async fn billing_failures_are_not_retried_and_suggest_the_other_provider() {
    let low_balance = "Your credit balance is too low to access the Anthropic API.";
    let stand_in = StandIn::start(vec![anthropic_error(400, "invalid_request_error", low_balance)]).await;
    let failure = complete(
        &reqwest::Client::new(),
        &request(Provider::Anthropic, &stand_in.base_url, Some("k")),
        &Conversation::new("x"),
    )
    .await
    .unwrap_err();
    let message = format!("Error code: 400 - invalid_request_error: {low_balance}");
    assert_eq!(failure.to_string(), message);
    assert_eq!(
        failure.execution_error(Provider::Anthropic, &settings(true, true)),
        format!(
            "{message} [Provider: anthropic] - Tip: openai is also configured. Resubmit with provider='openai' \
             or switch in Settings."
        )
    );
    assert_eq!(
        failure.execution_error(Provider::Anthropic, &settings(true, false)),
        format!("{message} [Provider: anthropic] - Set OPENAI_API_KEY to enable openai as a fallback provider.")
    );

    // OpenAI reports an exhausted quota as a 429; waiting will not help, so it is not retried.
    let quota = "You exceeded your current quota, please check your plan and billing details.";
    let stand_in = StandIn::start(vec![
        openai_error(429, quota, "insufficient_quota"),
        openai_answer(json!("never"), Value::Null, 1, 1),
    ])
    .await;
    let failure = complete(
        &reqwest::Client::new(),
        &request(Provider::Openai, &stand_in.base_url, Some("k")),
        &Conversation::new("x"),
    )
    .await
    .unwrap_err();
    assert_eq!(stand_in.received().len(), 1);
    assert_eq!(
        failure.execution_error(Provider::Openai, &settings(false, true)),
        format!(
            "Error code: 429 - insufficient_quota: {quota} [Provider: openai] - Set ANTHROPIC_API_KEY to enable \
             anthropic as a fallback provider."
        )
    );
    assert!(failure
        .execution_error(Provider::Openai, &settings(true, true))
        .ends_with(" - Tip: anthropic is also configured. Resubmit with provider='anthropic' or switch in Settings."));
}

#[tokio::test]
async fn a_slow_provider_times_out_on_every_attempt_with_a_clear_message() {
    let slow = || Reply::json(200, json!({})).after(Duration::from_secs(3));
    let stand_in = StandIn::start(vec![slow(), slow(), slow()]).await;
    let mut impatient = request(Provider::Openai, &stand_in.base_url, None);
    impatient.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let failure = complete(&reqwest::Client::new(), &impatient, &Conversation::new("x"))
        .await
        .unwrap_err();
    assert_eq!(
        failure.to_string(),
        "OpenAI (GPT) did not answer within 0.2 s (3 attempts); raise CERTIOR_LLM_TIMEOUT_SECONDS if the model \
         needs longer"
    );
    assert_eq!(stand_in.received().len(), 3);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "each attempt stops at the limit"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_named_by_its_variable_not_its_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let failure = complete(
        &reqwest::Client::new(),
        &request(Provider::Openai, &base_url, None),
        &Conversation::new("x"),
    )
    .await
    .unwrap_err();
    let message = failure.to_string();
    assert!(message.starts_with("Could not reach OpenAI (GPT): "), "{message}");
    assert!(
        message.ends_with("(3 attempts); check OPENAI_BASE_URL and that the server is running"),
        "{message}"
    );
    assert!(!message.contains("127.0.0.1"), "{message}");
}

#[tokio::test]
async fn long_provider_messages_are_cut_at_300_characters() {
    let stand_in = StandIn::start(vec![openai_error(
        400,
        &"too long ".repeat(100),
        "invalid_request_error",
    )])
    .await;
    let failure = complete(
        &reqwest::Client::new(),
        &request(Provider::Openai, &stand_in.base_url, Some("k")),
        &Conversation::new("x"),
    )
    .await
    .unwrap_err();
    let message = failure.to_string();
    assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
    assert!(message.starts_with("Error code: 400 - invalid_request_error: too long too long"));
}

#[tokio::test]
async fn an_unexpected_success_body_is_a_clear_failure() {
    let stand_in = StandIn::start(vec![Reply::json(200, json!({"object": "list"}))]).await;
    let failure = complete(
        &reqwest::Client::new(),
        &request(Provider::Openai, &stand_in.base_url, Some("k")),
        &Conversation::new("x"),
    )
    .await
    .unwrap_err();
    assert_eq!(
        failure.to_string(),
        "OpenAI (GPT) returned an unexpected response: no choices[0].message"
    );
    assert_eq!(stand_in.received().len(), 1, "a malformed answer is not retried");
}

#[tokio::test]
async fn anthropic_without_a_key_and_plan_fail_without_a_request() {
    let http = reqwest::Client::new();
    let conversation = Conversation::new("x");
    let failure = complete(
        &http,
        &request(Provider::Anthropic, "http://127.0.0.1:9", None),
        &conversation,
    )
    .await
    .unwrap_err();
    assert_eq!(
        failure.to_string(),
        "Anthropic (Claude) API key not configured. Set ANTHROPIC_API_KEY or send api_key."
    );
    let failure = complete(&http, &request(Provider::Plan, "", None), &conversation)
        .await
        .unwrap_err();
    assert_eq!(failure.to_string(), "Provider 'plan' runs a plan, not a model");
}
