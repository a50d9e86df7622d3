//! The OpenAI chat-completions wire format (also spoken by OpenAI-compatible local servers).
//!
//! Assistant tool calls carry `function.arguments` as a JSON *string*; a tool result is a
//! `role: "tool"` message with the call's `tool_call_id`. The format has no error flag for tool
//! results, so a denial reaches the model through its `BLOCKED: …` text alone.

use serde_json::{json, Map, Value};

use super::errors::error_detail;
use super::tool_specs::tool_spec;
use super::transcript::{Conversation, Message, ModelTurn, ProposedCall};
use super::ModelRequest;

/// The request body for one round.
pub fn request_body(request: &ModelRequest<'_>, conversation: &Conversation) -> Value {
    let mut messages = Vec::with_capacity(conversation.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    messages.extend(conversation.messages.iter().map(message));
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert(max_tokens_field(request.model).into(), json!(request.max_tokens));
    body.insert("messages".into(), Value::Array(messages));
    // An empty `tools` array is rejected, so a run without tools sends none.
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            let spec = tool_spec(*tool);
            json!({"type": "function", "function": {
                "name": spec.name, "description": spec.description, "parameters": spec.parameters}})
        });
        body.insert("tools".into(), Value::Array(tools.collect()));
    }
    Value::Object(body)
}

/// OpenAI's reasoning models (`o1`, `o3`, `o4-mini`, …) and the `gpt-5` family refuse
/// `max_tokens` and take `max_completion_tokens`; everything else, local servers included,
/// knows `max_tokens`.
fn max_tokens_field(model: &str) -> &'static str {
    let reasoning = model
        .strip_prefix('o')
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c.is_ascii_digit());
    if reasoning || model.starts_with("gpt-5") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    }
}

fn message(message: &Message) -> Value {
    match message {
        Message::User { text } => json!({"role": "user", "content": text}),
        Message::Assistant { text, tool_calls } => {
            let mut out =
                json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
            if !tool_calls.is_empty() {
                out["tool_calls"] = tool_calls.iter().map(call).collect();
            }
            out
        }
        Message::ToolResult { call_id, content, .. } => {
            json!({"role": "tool", "tool_call_id": call_id, "content": content})
        }
    }
}

fn call(call: &ProposedCall) -> Value {
    // Arguments kept as raw text (the model's invalid JSON) go back exactly as the model sent them.
    let arguments = match &call.arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    };
    json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}})
}

/// Reads the first choice and the usage; `Err` names what is missing.
pub fn parse_turn(body: &Value) -> Result<ModelTurn, String> {
    let Some(message) = body["choices"][0]["message"].as_object() else {
        return Err(error_detail(body).unwrap_or_else(|| "no choices[0].message".to_owned()));
    };
    let tool_calls = match message.get("tool_calls") {
        Some(Value::Array(calls)) => calls.iter().map(parse_call).collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    Ok(ModelTurn {
        text: content_text(message.get("content").unwrap_or(&Value::Null)),
        tool_calls,
        input_tokens: body["usage"]["prompt_tokens"].as_i64().unwrap_or(0),
        output_tokens: body["usage"]["completion_tokens"].as_i64().unwrap_or(0),
    })
}

/// `content` is a string, null, or (some compatible servers) a list of text parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

fn parse_call(call: &Value) -> Result<ProposedCall, String> {
    let name = call["function"]["name"]
        .as_str()
        .ok_or("a tool call without function.name")?;
    // Some local servers omit the id; the tool result still needs one to pair with.
    let id = match call["id"].as_str() {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!("call_{}", uuid::Uuid::new_v4().simple()),
    };
    Ok(ProposedCall {
        id,
        name: name.to_owned(),
        arguments: parse_arguments(&call["function"]["arguments"]),
    })
}

/// The argument string parsed as JSON. An empty string means no arguments; text that is not
/// JSON stays a JSON string (see [`ProposedCall::arguments`]); servers that send an object
/// directly are taken at their word.
fn parse_arguments(arguments: &Value) -> Value {
    match arguments {
        Value::String(raw) if raw.trim().is_empty() => json!({}),
        Value::String(raw) => serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.clone())),
        Value::Null => json!({}),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_arguments_stay_text_and_go_back_unchanged() {
        let body = json!({"choices": [{"message": {"content": null, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "file_read", "arguments": "{\"path\": "}},
            {"id": "b", "type": "function", "function": {"name": "file_list", "arguments": ""}},
            {"type": "function", "function": {"name": "file_read", "arguments": {"path": "x"}}}
        ]}}]});
        let turn = parse_turn(&body).unwrap();
        assert_eq!(turn.tool_calls[0].arguments, json!("{\"path\": "));
        assert_eq!(turn.tool_calls[1].arguments, json!({}));
        assert_eq!(turn.tool_calls[2].arguments, json!({"path": "x"}));
        assert!(turn.tool_calls[2].id.starts_with("call_"));
        assert_eq!((turn.text.as_str(), turn.input_tokens), ("", 0));
        assert_eq!(call(&turn.tool_calls[0])["function"]["arguments"], "{\"path\": ");
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens() {
        assert_eq!(max_tokens_field("o3-mini"), "max_completion_tokens");
        assert_eq!(max_tokens_field("o1"), "max_completion_tokens");
        assert_eq!(max_tokens_field("gpt-4o"), "max_tokens");
        assert_eq!(max_tokens_field("llama3.1"), "max_tokens");
        assert_eq!(max_tokens_field("olmo-2"), "max_tokens");
    }

    #[test]
    fn an_error_in_a_success_body_is_reported() {
        let body = json!({"error": {"message": "model overloaded"}});
        assert_eq!(parse_turn(&body).unwrap_err(), "model overloaded");
        assert_eq!(parse_turn(&json!({})).unwrap_err(), "no choices[0].message");
    }
}
