//! The provider-neutral transcript of an agent run. It is saved with the execution after every
//! round, so a reclaimed job resumes the conversation where it stopped; the system prompt and the
//! offered tools are not part of it because they are recomputed from the execution.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The messages exchanged so far, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// The task, or anything else said on the user's behalf.
    User { text: String },
    /// One model turn: its text and the calls it proposed.
    Assistant {
        text: String,
        tool_calls: Vec<ProposedCall>,
    },
    /// The answer to one proposed call: the tool's output, or a `BLOCKED: …` denial or a tool
    /// error with `is_error`.
    ToolResult {
        call_id: String,
        content: String,
        is_error: bool,
    },
}

/// A tool call proposed by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedCall {
    /// The provider's call id, echoed in the matching [`Message::ToolResult`].
    pub id: String,
    /// The tool name as the model wrote it (the gate resolves aliases and unknown names).
    pub name: String,
    /// The argument object. Arguments a model sent as text that is not valid JSON stay a JSON
    /// string holding that text, so the prepare stage denies the call with `invalid_arguments`
    /// ("arguments must be a JSON object") and the model sees why.
    pub arguments: Value,
}

/// What the model answered in one round.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTurn {
    pub text: String,
    /// Empty when the text is the final answer.
    pub tool_calls: Vec<ProposedCall>,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

impl Conversation {
    /// A conversation that starts with the task text.
    pub fn new(task: impl Into<String>) -> Self {
        Conversation {
            messages: vec![Message::User { text: task.into() }],
        }
    }

    /// Records the model's turn, to be followed by one tool result per proposed call.
    pub fn push_turn(&mut self, turn: &ModelTurn) {
        self.messages.push(Message::Assistant {
            text: turn.text.clone(),
            tool_calls: turn.tool_calls.clone(),
        });
    }

    pub fn push_tool_result(&mut self, call_id: impl Into<String>, content: impl Into<String>, is_error: bool) {
        self.messages.push(Message::ToolResult {
            call_id: call_id.into(),
            content: content.into(),
            is_error,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_transcript_round_trips_through_json_with_tagged_roles() {
        let mut conversation = Conversation::new("Summarise notes.txt");
        conversation.push_turn(&ModelTurn {
            text: String::new(),
            tool_calls: vec![ProposedCall {
                id: "c1".into(),
                name: "file_read".into(),
                arguments: json!({"path": "notes.txt"}),
            }],
            input_tokens: 1,
            output_tokens: 2,
        });
        conversation.push_tool_result("c1", "BLOCKED: missing_capability: x", true);
        let saved = serde_json::to_value(&conversation).unwrap();
        assert_eq!(
            saved["messages"][0],
            json!({"role": "user", "text": "Summarise notes.txt"})
        );
        assert_eq!(saved["messages"][1]["role"], "assistant");
        assert_eq!(saved["messages"][2]["role"], "tool_result");
        assert_eq!(saved["messages"][2]["is_error"], true);
        let restored: Conversation = serde_json::from_value(saved).unwrap();
        assert_eq!(restored, conversation);
    }
}
