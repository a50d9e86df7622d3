//! The model side of the agent loop (spec §9.3): one call per round sends the system prompt, the
//! transcript so far and the offered tools to Anthropic or an OpenAI-compatible server, and
//! returns the model's text, its proposed tool calls and the token usage.
//!
//! Nothing here runs tools or judges them: the executor passes every proposed call through the
//! gate, appends the results to the [`Conversation`] and calls [`complete`] again.

mod anthropic;
mod errors;
mod openai;
mod tool_specs;
mod transcript;
mod transport;

#[cfg(test)]
mod stand_in;
#[cfg(test)]
mod tests;

use std::time::Duration;

use certior::tools::BuiltinTool;

pub use errors::ProviderFailure;
pub use tool_specs::offered_tools;
pub use transcript::{Conversation, Message, ModelTurn, ProposedCall};

// Shared with the provider probe (`provider_probe`), which speaks to the same endpoints.
#[cfg(test)]
pub(crate) use errors::MAX_MESSAGE_CHARS;
pub(crate) use errors::{http_error_text, transport_cause, truncate};
pub(crate) use transport::endpoint;

use crate::providers::Provider;

/// The system prompt when `CERTIOR_SYSTEM_PROMPT` is unset.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are an agent working on a user's task through \
Certior, a policy control plane. You act only through the tools offered to you. Every tool call \
is checked against the task's permissions, budget and compliance policy before it runs, and its \
output may be inspected or redacted before you see it.\n\
\n\
A tool result that starts with \"BLOCKED:\" means the call was denied by policy. That is a \
decision, not a malfunction: do not repeat the call, rephrase it, or reach the same data or \
destination another way. Continue with what is allowed, and say in your answer what could not \
be done and why.\n\
\n\
Use only the tool calls the task needs. When the task is done, reply with your final answer as \
plain text, without a tool call.";

/// Everything about one round except the transcript. Not `Debug`: it holds the API key.
#[derive(Clone)]
pub struct ModelRequest<'a> {
    /// `anthropic` or `openai`; `plan` fails, since it has no model.
    pub provider: Provider,
    /// `<ANTHROPIC_BASE_URL>` or `<OPENAI_BASE_URL>` (see `Provider::base_url`).
    pub base_url: &'a str,
    /// The run's key or the server's; `None` reaches a keyless OpenAI-compatible server.
    pub api_key: Option<&'a str>,
    pub model: &'a str,
    pub system: &'a str,
    /// The tools offered (see [`offered_tools`]).
    pub tools: &'a [BuiltinTool],
    /// Output tokens per call (`CERTIOR_MAX_TOKENS`).
    pub max_tokens: u32,
    /// Limit per attempt (`CERTIOR_LLM_TIMEOUT_SECONDS`).
    pub timeout: Duration,
}

/// Asks the model for its next turn, retrying transient failures (see `transport`).
pub async fn complete(
    http: &reqwest::Client,
    request: &ModelRequest<'_>,
    conversation: &Conversation,
) -> Result<ModelTurn, ProviderFailure> {
    let (body, parse): (_, fn(&serde_json::Value) -> Result<ModelTurn, String>) = match request.provider {
        Provider::Anthropic => (anthropic::request_body(request, conversation), anthropic::parse_turn),
        Provider::Openai => (openai::request_body(request, conversation), openai::parse_turn),
        Provider::Plan => return Err(ProviderFailure::not_a_model(request.provider)),
    };
    let answer = transport::post_json(http, request, &body).await?;
    parse(&answer).map_err(|detail| ProviderFailure::malformed(request.provider, &detail))
}
