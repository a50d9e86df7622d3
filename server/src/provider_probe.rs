//! `POST /settings/provider/validate`: one small request to a provider (spec §4.9.3).
//!
//! The probe asks for "Reply with OK." (8 tokens, temperature 0) with a 10 s limit and sorts
//! the outcome into `ready`, `billing_issue`, `invalid_key` or `error` by the provider's error
//! text. The key is used for this request only: it is never stored or logged.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::llm;
use crate::providers::Provider;

const LIMIT: Duration = Duration::from_secs(10);
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
    if target.provider == Provider::Plan {
        return ProbeOutcome {
            status: ProbeStatus::Ready,
            message: "Plan provider needs no connection".into(),
        };
    }
    let request = match llm::endpoint(client, target.provider, target.base_url, target.api_key) {
        Ok(request) => request.json(&json!({"model": target.model, "max_tokens": 8, "temperature": 0,
                                            "messages": [{"role": "user", "content": "Reply with OK."}]})),
        Err(failure) => {
            return ProbeOutcome {
                status: ProbeStatus::Error,
                message: failure.to_string(),
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
    let response = request
        .send()
        .await
        .map_err(|e| format!("Connection failed: {}", llm::transport_cause(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(llm::http_error_text(status.as_u16(), &body))
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
        message: llm::truncate(text),
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
        assert_eq!(classify(&"x".repeat(400)).message.len(), llm::MAX_MESSAGE_CHARS);
    }
}
