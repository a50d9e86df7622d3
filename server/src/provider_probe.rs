//! `POST /settings/provider/validate`: one small request to a provider (spec §4.9.3).
//!
//! The probe asks for "Reply with OK." (8 tokens, temperature 0) with a 10 s limit and sorts
//! the outcome into `ready`, `billing_issue`, `invalid_key` or `error` by the provider's error
//! text. The key is used for this request only: it is never stored or logged.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::providers::Provider;

const LIMIT: Duration = Duration::from_secs(10);
/// Longest provider text passed on in `message`.
const MAX_MESSAGE_CHARS: usize = 300;
const BILLING_WORDS: [&str; 6] = [
    "credit balance",
    "billing",
    "quota",
    "insufficient_quota",
    "payment",
    "rate_limit",
];
const KEY_WORDS: [&str; 7] = [
    "api key",
    "authentication",
    "unauthorized",
    "invalid x-api-key",
    "invalid_api_key",
    "401",
    "403",
];

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProbeStatus {
    Ready,
    BillingIssue,
    InvalidKey,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub status: ProbeStatus,
    pub message: String,
}

/// Where and how to reach a provider for one probe.
pub struct ProbeTarget<'a> {
    pub provider: Provider,
    pub model: &'a str,
    /// `<ANTHROPIC_BASE_URL>` or `<OPENAI_BASE_URL>`, without a trailing slash.
    pub base_url: &'a str,
    pub api_key: Option<&'a str>,
}

/// Sends the probe and classifies the answer. `plan` needs no connection.
pub async fn probe(client: &reqwest::Client, target: &ProbeTarget<'_>) -> ProbeOutcome {
    let request = match target.provider {
        Provider::Plan => {
            return ProbeOutcome {
                status: ProbeStatus::Ready,
                message: "Plan provider needs no connection".into(),
            }
        }
        Provider::Anthropic => {
            let Some(key) = target.api_key else {
                return missing_key(target.provider);
            };
            client
                .post(format!("{}/v1/messages", target.base_url))
                .header("x-api-key", key)
                .header("anthropic-version", "2023-06-01")
                .json(&json!({"model": target.model, "max_tokens": 8, "temperature": 0,
                              "messages": [{"role": "user", "content": "Reply with OK."}]}))
        }
        Provider::Openai => {
            let request = client
                .post(format!("{}/chat/completions", target.base_url))
                .json(&json!({"model": target.model, "max_tokens": 8, "temperature": 0,
                              "messages": [{"role": "user", "content": "Reply with OK."}]}));
            match target.api_key {
                Some(key) => request.bearer_auth(key),
                None => request,
            }
        }
    };
    match tokio::time::timeout(LIMIT, send(request)).await {
        Err(_) => ProbeOutcome {
            status: ProbeStatus::Error,
            message: "Provider did not answer within 10 s".into(),
        },
        Ok(Ok(())) => ProbeOutcome {
            status: ProbeStatus::Ready,
            message: "Connection verified".into(),
        },
        Ok(Err(text)) => classify(&text),
    }
}

/// `Ok` on a 2xx answer; otherwise the error text, starting with the HTTP status.
async fn send(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| format!("Connection failed: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    // Both providers answer `{"error": {"message": …}}`; anything else is passed on as text.
    let detail = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or(body);
    Err(format!("Error code: {} - {detail}", status.as_u16()))
}

/// Sorts an error text into a status; billing words win over key words.
pub fn classify(text: &str) -> ProbeOutcome {
    let lower = text.to_lowercase();
    let status = if BILLING_WORDS.iter().any(|w| lower.contains(w)) {
        ProbeStatus::BillingIssue
    } else if KEY_WORDS.iter().any(|w| lower.contains(w)) {
        ProbeStatus::InvalidKey
    } else {
        ProbeStatus::Error
    };
    ProbeOutcome {
        status,
        message: text.chars().take(MAX_MESSAGE_CHARS).collect(),
    }
}

fn missing_key(provider: Provider) -> ProbeOutcome {
    ProbeOutcome {
        status: ProbeStatus::Error,
        message: format!(
            "{} API key not configured. Set {} or send api_key.",
            provider.name(),
            provider.key_variable().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_words_win_over_key_words() {
        let billing = classify("Error code: 401 - Your credit balance is too low");
        assert_eq!(billing.status, ProbeStatus::BillingIssue);
        assert_eq!(
            classify("Error code: 401 - Incorrect API key provided").status,
            ProbeStatus::InvalidKey
        );
        assert_eq!(classify("Error code: 403 - forbidden").status, ProbeStatus::InvalidKey);
        assert_eq!(classify("Error code: 500 - overloaded").status, ProbeStatus::Error);
        assert_eq!(classify(&"x".repeat(400)).message.len(), MAX_MESSAGE_CHARS);
    }
}
