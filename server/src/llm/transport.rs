//! One JSON POST to a provider: its endpoint, its authentication, a time limit per attempt, and
//! retries with backoff for the failures that pass (connect errors, timeouts, 429, 5xx).

use std::time::Duration;

use serde_json::Value;

use super::errors::ProviderFailure;
use super::ModelRequest;
use crate::providers::Provider;

/// Attempts per model request. Transient failures wait 0.5 s, then 1 s: long enough for a
/// restarted local server or a blip, short enough not to stall a run that will fail anyway.
const MAX_ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest `retry-after` honoured; a provider asking for more gets the next attempt after this
/// (the run has its own time limit to respect).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(4);

/// The version of the Anthropic messages API this client speaks.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A POST to the provider's endpoint with its authentication headers, without a body:
/// `<base>/v1/messages` with `x-api-key` and `anthropic-version` for Anthropic (a key is
/// required), `<base>/chat/completions` for OpenAI, with `Authorization: Bearer` only when a key
/// is given so keyless local servers work.
pub fn endpoint(
    http: &reqwest::Client,
    provider: Provider,
    base_url: &str,
    api_key: Option<&str>,
) -> Result<reqwest::RequestBuilder, ProviderFailure> {
    let base = base_url.trim_end_matches('/');
    match provider {
        Provider::Anthropic => {
            let key = api_key.ok_or_else(|| ProviderFailure::missing_key(provider))?;
            Ok(http
                .post(format!("{base}/v1/messages"))
                .header("x-api-key", key)
                .header("anthropic-version", ANTHROPIC_VERSION))
        }
        Provider::Openai => {
            let request = http.post(format!("{base}/chat/completions"));
            Ok(match api_key {
                Some(key) => request.bearer_auth(key),
                None => request,
            })
        }
        Provider::Plan => Err(ProviderFailure::not_a_model(provider)),
    }
}

/// Posts `body` to the request's provider and returns the JSON answer, retrying transient
/// failures.
pub async fn post_json(
    http: &reqwest::Client,
    target: &ModelRequest<'_>,
    body: &Value,
) -> Result<Value, ProviderFailure> {
    let mut attempt = 1;
    loop {
        let request = endpoint(http, target.provider, target.base_url, target.api_key)?.json(body);
        let (failure, retry_after) = match attempt_once(request, target, attempt).await {
            Ok(answer) => return Ok(answer),
            Err(failed) => failed,
        };
        if !failure.is_transient() || attempt == MAX_ATTEMPTS {
            return Err(failure);
        }
        let backoff = FIRST_BACKOFF * 2u32.pow(attempt - 1);
        let wait = retry_after.map_or(backoff, |asked| asked.min(MAX_RETRY_AFTER));
        tracing::warn!(provider = target.provider.id(), attempt, error = %failure, ?wait, "retrying model request");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// One attempt; a failure comes with the provider's `retry-after`, if it sent one.
async fn attempt_once(
    request: reqwest::RequestBuilder,
    target: &ModelRequest<'_>,
    attempt: u32,
) -> Result<Value, (ProviderFailure, Option<Duration>)> {
    let exchange = async {
        let response = request
            .send()
            .await
            .map_err(|e| (ProviderFailure::unreachable(target.provider, &e, attempt), None))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response
            .text()
            .await
            .map_err(|e| (ProviderFailure::unreachable(target.provider, &e, attempt), None))?;
        if !status.is_success() {
            return Err((ProviderFailure::http(status.as_u16(), &body), retry_after));
        }
        serde_json::from_str(&body).map_err(|e| {
            let detail = format!("the body is not JSON ({e})");
            (ProviderFailure::malformed(target.provider, &detail), None)
        })
    };
    tokio::time::timeout(target.timeout, exchange)
        .await
        .unwrap_or_else(|_| Err((ProviderFailure::timeout(target.provider, target.timeout, attempt), None)))
}

/// `retry-after` in seconds (the HTTP-date form is not used by model providers).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}
