//! The Anthropic messages wire format.
//!
//! The system prompt is a top-level field. An assistant turn is a `text` block plus one
//! `tool_use` block (`id`, `name`, `input` object) per call; tool results travel in a user
//! message as `tool_result` blocks (`tool_use_id`, `content`, `is_error`). Neighbouring messages
//! of the same role are merged, so the results of one round form ONE user message, as the API
//! expects after a turn with several calls.

use serde_json::{json, Map, Value};

use super::errors::error_detail;
use super::tool_specs::tool_spec;
use super::transcript::{Conversation, Message, ModelTurn, ProposedCall};
use super::ModelRequest;

/// The request body for one round.
pub fn request_body(request: &ModelRequest<'_>, conversation: &Conversation) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("max_tokens".into(), json!(request.max_tokens));
    if !request.system.is_empty() {
        body.insert("system".into(), json!(request.system));
    }
    body.insert("messages".into(), Value::Array(messages(conversation)));
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            let spec = tool_spec(*tool);
            json!({"name": spec.name, "description": spec.description, "input_schema": spec.parameters})
        });
        body.insert("tools".into(), Value::Array(tools.collect()));
    }
    Value::Object(body)
}

fn messages(conversation: &Conversation) -> Vec<Value> {
    let mut out: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in &conversation.messages {
        let (role, blocks) = blocks(message);
        match out.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    out.into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

fn blocks(message: &Message) -> (&'static str, Vec<Value>) {
    match message {
        Message::User { text } => ("user", vec![json!({"type": "text", "text": text})]),
        Message::Assistant { text, tool_calls } => {
            // The API refuses empty text blocks; a turn of calls alone has none.
            let text = (!text.is_empty()).then(|| json!({"type": "text", "text": text}));
            let calls = tool_calls
                .iter()
                .map(|c| json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}));
            ("assistant", text.into_iter().chain(calls).collect())
        }
        Message::ToolResult {
            call_id,
            content,
            is_error,
        } => (
            "user",
            vec![json!({"type": "tool_result", "tool_use_id": call_id, "content": content, "is_error": is_error})],
        ),
    }
}

/// Reads the content blocks and the usage; `Err` names what is missing.
pub fn parse_turn(body: &Value) -> Result<ModelTurn, String> {
    let Some(blocks) = body["content"].as_array() else {
        return Err(error_detail(body).unwrap_or_else(|| "no content array".to_owned()));
    };
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => texts.extend(block["text"].as_str()),
            Some("tool_use") => tool_calls.push(ProposedCall {
                id: block["id"].as_str().ok_or("a tool_use block without id")?.to_owned(),
                name: block["name"]
                    .as_str()
                    .ok_or("a tool_use block without name")?
                    .to_owned(),
                arguments: match &block["input"] {
                    Value::Null => json!({}),
                    input => input.clone(),
                },
            }),
            // Thinking and other blocks are not part of the answer.
            _ => {}
        }
    }
    Ok(ModelTurn {
        text: texts.join("\n"),
        tool_calls,
        input_tokens: body["usage"]["input_tokens"].as_i64().unwrap_or(0),
        output_tokens: body["usage"]["output_tokens"].as_i64().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_and_a_following_user_text_share_one_user_message() {
        let conversation = Conversation {
            messages: vec![
                Message::User { text: "task".into() },
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![
                        ProposedCall {
                            id: "t1".into(),
                            name: "file_read".into(),
                            arguments: json!({"path": "a"}),
                        },
                        ProposedCall {
                            id: "t2".into(),
                            name: "file_list".into(),
                            arguments: json!({}),
                        },
                    ],
                },
                Message::ToolResult {
                    call_id: "t1".into(),
                    content: "A".into(),
                    is_error: false,
                },
                Message::ToolResult {
                    call_id: "t2".into(),
                    content: "BLOCKED: x".into(),
                    is_error: true,
                },
                Message::User { text: "go on".into() },
            ],
        };
        let messages = messages(&conversation);
        assert_eq!(messages.len(), 3);
        assert_eq!(
            messages[1]["content"],
            json!([{"type": "tool_use", "id": "t1", "name": "file_read", "input": {"path": "a"}},
                   {"type": "tool_use", "id": "t2", "name": "file_list", "input": {}}])
        );
        let results = messages[2]["content"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!(results[1]["is_error"], true);
        assert_eq!(results[2], json!({"type": "text", "text": "go on"}));
    }

    #[test]
    fn text_blocks_join_and_other_blocks_are_skipped() {
        let body = json!({"content": [
            {"type": "thinking", "thinking": "hmm"},
            {"type": "text", "text": "one"},
            {"type": "text", "text": "two"}],
            "usage": {"input_tokens": 5, "output_tokens": 7}});
        let turn = parse_turn(&body).unwrap();
        assert_eq!(
            (turn.text.as_str(), turn.input_tokens, turn.output_tokens),
            ("one\ntwo", 5, 7)
        );
        assert_eq!(parse_turn(&json!({"type": "message"})).unwrap_err(), "no content array");
    }
}
