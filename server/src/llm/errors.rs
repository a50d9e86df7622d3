//! Why a model request failed, in words a user can act on, and the execution `error` text built
//! from it (spec §9.2: "Provider error").
//!
//! The text is the provider's own message, never ours: a user who reads "credit balance is too
//! low" knows what to do. It is capped at 300 characters and carries no URL, server path or
//! backtrace, because it is stored on the execution and shown to every reader of it.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::providers::Provider;
use crate::settings::ProviderSettings;

/// Longest provider text passed on (spec §9.2 and §4.9.3).
pub const MAX_MESSAGE_CHARS: usize = 300;

/// Texts that mark a billing or quota problem in a run's error (spec §9.2); they earn the
/// provider tag and a fallback tip, since switching provider is the quickest way out.
const BILLING_WORDS: [&str; 7] = [
    "credit balance",
    "billing",
    "quota",
    "rate_limit",
    "insufficient_quota",
    "exceeded",
    "payment",
];

/// Texts of a 429 that waiting a second will not cure (an exhausted balance or quota), so the
/// request is not retried; a plain rate limit is.
const EXHAUSTED_WORDS: [&str; 4] = ["credit balance", "quota", "billing", "payment"];

/// A failed model request. `Display` is the user-facing message (≤ 300 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFailure {
    message: String,
    /// Whether another attempt may succeed (connect errors, timeouts, 429, 5xx).
    transient: bool,
    /// Whether the full text, before the cut, speaks of billing or quota.
    billing: bool,
}

impl ProviderFailure {
    fn new(message: String, transient: bool) -> Self {
        let lower = message.to_lowercase();
        ProviderFailure {
            billing: BILLING_WORDS.iter().any(|w| lower.contains(w)),
            message: truncate(&message),
            transient,
        }
    }

    /// A non-2xx answer: `Error code: <status> - <the provider's message>`.
    pub(crate) fn http(status: u16, body: &str) -> Self {
        let text = http_error_text(status, body);
        let exhausted = {
            let lower = text.to_lowercase();
            EXHAUSTED_WORDS.iter().any(|w| lower.contains(w))
        };
        let transient = status >= 500 || (status == 429 && !exhausted);
        ProviderFailure::new(text, transient)
    }

    /// No answer within the request's time limit, on every attempt.
    pub(crate) fn timeout(provider: Provider, limit: Duration, attempts: u32) -> Self {
        let message = format!(
            "{} did not answer within {} s ({}); raise CERTIOR_LLM_TIMEOUT_SECONDS if the model \
             needs longer",
            provider.name(),
            limit.as_secs_f64(),
            attempts_text(attempts)
        );
        ProviderFailure::new(message, true)
    }

    /// The request could not be sent (connection refused, DNS, TLS, reset).
    pub(crate) fn unreachable(provider: Provider, error: &reqwest::Error, attempts: u32) -> Self {
        let message = format!(
            "Could not reach {}: {} ({}); check {} and that the server is running",
            provider.name(),
            transport_cause(error),
            attempts_text(attempts),
            base_url_variable(provider)
        );
        ProviderFailure::new(message, !error.is_builder())
    }

    /// A 2xx answer that is not the provider's response format.
    pub(crate) fn malformed(provider: Provider, detail: &str) -> Self {
        let message = format!("{} returned an unexpected response: {detail}", provider.name());
        ProviderFailure::new(message, false)
    }

    /// Anthropic needs a key; so does any provider asked for without one.
    pub(crate) fn missing_key(provider: Provider) -> Self {
        let message = format!(
            "{} API key not configured. Set {} or send api_key.",
            provider.name(),
            provider.key_variable().unwrap_or_default()
        );
        ProviderFailure::new(message, false)
    }

    /// `plan` runs a plan, not a model, so it has no endpoint.
    pub(crate) fn not_a_model(provider: Provider) -> Self {
        let message = format!("Provider '{}' runs a plan, not a model", provider.id());
        ProviderFailure::new(message, false)
    }

    pub(crate) fn is_transient(&self) -> bool {
        self.transient
    }

    /// The execution's `error` text (spec §9.2): the message, and for billing or quota texts
    /// ` [Provider: <p>]` plus a tip naming the other LLM provider — resubmit there when this
    /// server has it configured, otherwise which variable would enable it.
    pub fn execution_error(&self, provider: Provider, settings: &ProviderSettings) -> String {
        let alternative = match provider {
            Provider::Anthropic => Provider::Openai,
            Provider::Openai => Provider::Anthropic,
            Provider::Plan => return self.message.clone(),
        };
        if !self.billing {
            return self.message.clone();
        }
        let alt = alternative.id();
        let tip = if alternative.available(settings) {
            format!(" - Tip: {alt} is also configured. Resubmit with provider='{alt}' or switch in Settings.")
        } else {
            format!(
                " - Set {} to enable {alt} as a fallback provider.",
                alternative.key_variable().unwrap_or_default()
            )
        };
        format!("{} [Provider: {}]{tip}", self.message, provider.id())
    }
}

impl fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProviderFailure {}

/// `Error code: <status> - <detail>`, the detail taken from the provider's JSON error body:
/// OpenAI `{"error": {"message", "type"}}`, Anthropic `{"error": {"type", "message"}}`, and the
/// shapes OpenAI-compatible servers use (`{"error": "…"}`, `{"message": "…"}`, `{"detail": "…"}`).
/// The error type is kept beside the message because it often names the problem
/// (`insufficient_quota`, `authentication_error`). A body that is not JSON is passed on as text,
/// unless it is an HTML page (a proxy's), which would only bury the status.
pub(crate) fn http_error_text(status: u16, body: &str) -> String {
    let detail = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|json| error_detail(&json))
        .unwrap_or_else(|| {
            let text = body.split_whitespace().collect::<Vec<_>>().join(" ");
            if text.is_empty() || text.starts_with('<') {
                reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no error message")
                    .to_owned()
            } else {
                text
            }
        });
    format!("Error code: {status} - {detail}")
}

/// The error message inside a provider's JSON body, if it has one.
pub(crate) fn error_detail(json: &Value) -> Option<String> {
    let error = &json["error"];
    if let Some(text) = error.as_str() {
        return Some(text.to_owned());
    }
    let message = error["message"]
        .as_str()
        .or_else(|| json["message"].as_str())
        .or_else(|| json["detail"].as_str())?;
    Some(match error["type"].as_str() {
        Some(kind) if !message.contains(kind) => format!("{kind}: {message}"),
        _ => message.to_owned(),
    })
}

/// The first 300 characters.
pub(crate) fn truncate(text: &str) -> String {
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

/// The innermost cause of a transport error ("Connection refused (os error 111)"): reqwest's
/// own text names the URL, which would put internal addresses into a stored error.
pub(crate) fn transport_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    if error.is_builder() {
        format!("invalid request ({cause})")
    } else {
        cause.to_string()
    }
}

fn attempts_text(attempts: u32) -> String {
    match attempts {
        1 => "1 attempt".to_owned(),
        n => format!("{n} attempts"),
    }
}

fn base_url_variable(provider: Provider) -> &'static str {
    match provider {
        Provider::Anthropic => "ANTHROPIC_BASE_URL",
        Provider::Openai | Provider::Plan => "OPENAI_BASE_URL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(anthropic: bool, openai: bool) -> ProviderSettings {
        ProviderSettings {
            anthropic_api_key: anthropic.then(|| "sk-ant-test".to_owned()),
            anthropic_base_url: "https://api.anthropic.com".to_owned(),
            openai_api_key: openai.then(|| "sk-test".to_owned()),
            openai_base_url: None,
            llm_provider: None,
            model: None,
        }
    }

    #[test]
    fn both_providers_error_bodies_give_status_type_and_message() {
        let anthropic = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert_eq!(
            http_error_text(401, anthropic),
            "Error code: 401 - authentication_error: invalid x-api-key"
        );
        let openai = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}"#;
        assert_eq!(
            http_error_text(429, openai),
            "Error code: 429 - insufficient_quota: You exceeded your current quota"
        );
        assert_eq!(
            http_error_text(404, r#"{"error":"model 'x' not found"}"#),
            "Error code: 404 - model 'x' not found"
        );
        assert_eq!(
            http_error_text(502, "<html><body>Bad gateway</body></html>"),
            "Error code: 502 - Bad Gateway"
        );
        assert_eq!(
            http_error_text(500, "  upstream\n failed "),
            "Error code: 500 - upstream failed"
        );
    }

    #[test]
    fn only_rate_limits_and_server_errors_are_transient() {
        assert!(ProviderFailure::http(500, "{}").is_transient());
        assert!(ProviderFailure::http(429, r#"{"error":{"message":"Rate limit reached"}}"#).is_transient());
        assert!(!ProviderFailure::http(429, r#"{"error":{"type":"insufficient_quota","message":"x"}}"#).is_transient());
        assert!(!ProviderFailure::http(400, "{}").is_transient());
        assert!(!ProviderFailure::http(401, "{}").is_transient());
    }

    #[test]
    fn billing_texts_get_the_provider_tag_and_a_fallback_tip() {
        let failure = ProviderFailure::http(
            400,
            r#"{"error":{"type":"invalid_request_error","message":"Your credit balance is too low"}}"#,
        );
        let text = "Error code: 400 - invalid_request_error: Your credit balance is too low";
        assert_eq!(
            failure.execution_error(Provider::Anthropic, &settings(true, true)),
            format!(
                "{text} [Provider: anthropic] - Tip: openai is also configured. Resubmit with \
                 provider='openai' or switch in Settings."
            )
        );
        assert_eq!(
            failure.execution_error(Provider::Anthropic, &settings(true, false)),
            format!("{text} [Provider: anthropic] - Set OPENAI_API_KEY to enable openai as a fallback provider.")
        );
        assert_eq!(
            failure.execution_error(Provider::Openai, &settings(false, true)),
            format!("{text} [Provider: openai] - Set ANTHROPIC_API_KEY to enable anthropic as a fallback provider.")
        );
        let plain = ProviderFailure::http(401, r#"{"error":{"message":"Incorrect API key provided"}}"#);
        assert_eq!(
            plain.execution_error(Provider::Openai, &settings(true, true)),
            "Error code: 401 - Incorrect API key provided"
        );
    }

    #[test]
    fn messages_are_cut_at_300_characters_before_the_suffix() {
        let long = format!(r#"{{"error":{{"message":"{} quota"}}}}"#, "é".repeat(400));
        let failure = ProviderFailure::http(400, &long);
        assert_eq!(failure.to_string().chars().count(), MAX_MESSAGE_CHARS);
        // The word "quota" was cut off the message but still earns the suffix.
        assert_eq!(
            failure.execution_error(Provider::Openai, &settings(false, true)),
            format!("{failure} [Provider: openai] - Set ANTHROPIC_API_KEY to enable anthropic as a fallback provider.")
        );
    }
}
