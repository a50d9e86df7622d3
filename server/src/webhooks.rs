//! Outbound completion webhooks (spec §9.8): when a task with a `webhook_url` reaches a terminal
//! status, its execution view is POSTed, HMAC-signed, in the background, with retries; every
//! attempt is recorded.
//!
//! Loopback, private, link-local and unspecified targets are refused unless the host is on
//! `CERTIOR_WEBHOOK_ALLOWED_HOSTS`, both at submission (for literal addresses) and before every
//! delivery (for what the name resolves to then), so a webhook cannot be pointed at the
//! server's own network.

use std::net::IpAddr;
use std::time::Duration;

use certior::canonical::canonical_bytes;
use hmac::{Hmac, Mac};
use rand::Rng;
use reqwest::Url;
use sha2::Sha256;

use crate::clock::now;
use crate::routes::executions::ExecutionView;
use crate::settings::RunSettings;
use crate::state::AppState;
use crate::store::{ExecutionRecord, NewDelivery, StoreResult};
use crate::tools::HostAllowList;

const MAX_URL_CHARS: usize = 2048;
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Waits before the second and third attempts.
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

/// Whether an address is one a webhook may not reach without an explicit allow-list entry.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

fn allow_list(runs: &RunSettings) -> Result<HostAllowList, String> {
    HostAllowList::parse(&runs.webhook_allowed_hosts).map_err(|err| format!("CERTIOR_WEBHOOK_ALLOWED_HOSTS: {err}"))
}

/// Stops start-up on a malformed `CERTIOR_WEBHOOK_ALLOWED_HOSTS`, rather than refusing every
/// webhook later.
pub fn check_settings(runs: &RunSettings) -> anyhow::Result<()> {
    allow_list(runs).map(|_| ()).map_err(anyhow::Error::msg)
}

/// Checks a `webhook_url` at submission; the error is the 422 message.
pub fn check_url(runs: &RunSettings, url: &str) -> Result<(), String> {
    if runs.webhook_secret.is_none() {
        return Err("webhooks are not configured on this server".into());
    }
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("webhook_url must be at most {MAX_URL_CHARS} characters"));
    }
    let parsed = Url::parse(url).map_err(|_| "webhook_url must be an absolute http or https URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("webhook_url must be an absolute http or https URL".into());
    }
    let allowed = allow_list(runs)?;
    let listed = allowed.allows(&parsed);
    if !runs.webhook_allowed_hosts.trim().is_empty() && !listed {
        return Err("webhook_url host is not in CERTIOR_WEBHOOK_ALLOWED_HOSTS".into());
    }
    let host = parsed.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let internal = host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(is_internal);
    if internal && !listed {
        return Err("webhook_url targets a loopback, private or link-local address; allow-list the host in CERTIOR_WEBHOOK_ALLOWED_HOSTS to permit it".into());
    }
    Ok(())
}

/// Refuses a delivery whose host now resolves to an internal address (unless allow-listed).
async fn check_resolved(runs: &RunSettings, url: &Url) -> Result<(), String> {
    if allow_list(runs)?.allows(url) {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|err| format!("cannot resolve {host}: {err}"))?;
    for address in addresses {
        if is_internal(address.ip()) {
            return Err(format!("{host} resolves to the internal address {}", address.ip()));
        }
    }
    Ok(())
}

/// `X-Certior-Signature`: lower-case hex HMAC-SHA256 of the body.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Starts the delivery of an execution's terminal view if it has a `webhook_url`. Never delays
/// the caller.
pub fn announce(state: &AppState, execution: &ExecutionRecord, event: &str) {
    // The URL is fixed at submission: most executions have none and need no read. `deliver`
    // reports a run spec it cannot read.
    if matches!(webhook_url(execution), Ok(None)) {
        return;
    }
    let state = state.clone();
    let execution_id = execution.id.clone();
    let event = event.to_owned();
    tokio::spawn(async move {
        if let Err(error) = deliver(&state, &execution_id, &event).await {
            tracing::warn!(%error, execution_id, "webhook delivery could not be recorded");
        }
    });
}

/// The `webhook_url` the task was submitted with.
fn webhook_url(execution: &ExecutionRecord) -> StoreResult<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Target {
        webhook_url: Option<String>,
    }
    Ok(execution.run_spec.decode::<Target>()?.webhook_url)
}

async fn deliver(state: &AppState, execution_id: &str, event: &str) -> anyhow::Result<()> {
    let Some(execution) = state.store.execution(execution_id).await? else {
        return Ok(());
    };
    let Some(url) = webhook_url(&execution)? else {
        return Ok(());
    };
    let Some(secret) = state.settings.runs.webhook_secret.clone() else {
        return Ok(());
    };
    let body = canonical_bytes(&ExecutionView::from(execution))?;
    let delivery_id = format!("wh_{}", hex::encode(rand::thread_rng().gen::<[u8; 6]>()));
    let mut record = NewDelivery {
        id: delivery_id.clone(),
        execution_id: execution_id.to_owned(),
        url: url.clone(),
        event: event.to_owned(),
        attempts: 0,
        status_code: None,
        delivered: false,
        error: String::new(),
        created_at: now(),
    };
    let parsed = Url::parse(&url)?;
    if let Err(refused) = check_resolved(&state.settings.runs, &parsed).await {
        record.error = refused;
        state.store.record_delivery(&record).await?;
        return Ok(());
    }
    for attempt in 0..=BACKOFF.len() {
        record.attempts = attempt as i64 + 1;
        let sent = state
            .http
            .post(parsed.clone())
            .timeout(ATTEMPT_TIMEOUT)
            .header("Content-Type", "application/json")
            .header("X-Certior-Signature", signature(&secret, &body))
            .header("X-Certior-Delivery", &delivery_id)
            .header("X-Certior-Event", event)
            .header("User-Agent", "Certior-Webhook/1.0")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                record.status_code = Some(i64::from(response.status().as_u16()));
                if response.status().is_success() {
                    record.delivered = true;
                    record.error.clear();
                    break;
                }
                record.error = format!("HTTP {}", response.status().as_u16());
            }
            Err(err) => record.error = err.without_url().to_string(),
        }
        if let Some(wait) = BACKOFF.get(attempt) {
            tokio::time::sleep(*wait).await;
        }
    }
    state.store.record_delivery(&record).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(secret: Option<&str>, allowed: &str) -> RunSettings {
        RunSettings {
            workers: 1,
            job_lease_seconds: 60,
            execution_timeout_seconds: 900,
            public_url: None,
            webhook_secret: secret.map(str::to_owned),
            webhook_allowed_hosts: allowed.to_owned(),
        }
    }

    #[test]
    fn urls_follow_the_webhook_rules() {
        let open = runs(Some("s3cret"), "");
        assert_eq!(
            check_url(&runs(None, ""), "https://hooks.example.com/x").unwrap_err(),
            "webhooks are not configured on this server"
        );
        assert!(check_url(&open, "https://hooks.example.com/x").is_ok());
        assert!(check_url(&open, "ftp://hooks.example.com/x").is_err());
        assert!(check_url(&open, "/relative").is_err());
        for internal in [
            "http://127.0.0.1:9/x",
            "http://10.1.2.3/x",
            "http://localhost/x",
            "http://[::1]/x",
            "http://169.254.169.254/x",
        ] {
            assert!(check_url(&open, internal).is_err(), "{internal} must be refused");
        }
        let listed = runs(Some("s3cret"), "127.0.0.1:9");
        assert!(
            check_url(&listed, "http://127.0.0.1:9/x").is_ok(),
            "an allow-listed loopback is accepted"
        );
        assert!(
            check_url(&listed, "https://hooks.example.com/x").is_err(),
            "a set list admits only its hosts"
        );
    }

    #[test]
    fn a_malformed_allow_list_stops_start_up() {
        assert!(check_settings(&runs(None, "hooks.example.com, *.corp.example")).is_ok());
        let error = check_settings(&runs(None, "bad host!")).unwrap_err().to_string();
        assert!(error.starts_with("CERTIOR_WEBHOOK_ALLOWED_HOSTS: "), "{error}");
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
