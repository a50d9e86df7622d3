//! `certior release gate` (spec/RELEASES.md §8.5): asks a server whether `repo@commit` may ship,
//! for CI. Exit 0 only for a 200 `SHIP`; 1 for `NO_SHIP`; 2 for anything that is not an answer.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Ask the server for the release decision of one commit; exit 0 iff SHIP.
    Gate(GateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GateFormat {
    Text,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// Server base URL, e.g. `https://certior.example.com`.
    #[arg(long)]
    server: String,
    /// Repository key or URL.
    #[arg(long)]
    repo: String,
    /// Commit sha (40 or 64 hex).
    #[arg(long)]
    commit: String,
    /// Artifact digest the release ships (`sha256:<hex>` or 64 hex).
    #[arg(long)]
    digest: Option<String>,
    /// API key (default: `CERTIOR_API_KEY`).
    #[arg(long, env = "CERTIOR_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    #[arg(long, value_enum, default_value_t = GateFormat::Text)]
    format: GateFormat,
    /// Request timeout in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
}

const USAGE: u8 = 2;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("certior release gate: {message}");
    ExitCode::from(USAGE)
}

/// `KEY=value` query text, URL-encoded.
fn query(args: &GateArgs) -> String {
    let mut pairs = vec![("repo_root", args.repo.as_str()), ("commit_sha", args.commit.as_str())];
    if let Some(digest) = &args.digest {
        pairs.push(("release_artifact_digest", digest));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// The lines printed for a decision body.
pub fn render(format: GateFormat, repo: &str, commit: &str, body: &Value, raw: &str) -> Vec<String> {
    let blockers = body["blockers"].as_array().cloned().unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match format {
        GateFormat::Json => vec![raw.to_owned()],
        GateFormat::Text => {
            let mut lines = vec![format!(
                "{} {repo}@{commit} ({})",
                text(&body["decision"]),
                text(&body["decision_status"])
            )];
            for b in &blockers {
                let mut line = format!("- {}: {}", text(&b["component"]), text(&b["reason"]));
                let fix = text(&b["remediation_suggestion"]);
                if !fix.is_empty() {
                    line.push_str(&format!(" Fix: {fix}"));
                }
                lines.push(line);
            }
            lines
        }
        GateFormat::Github => blockers
            .iter()
            .map(|b| format!("::error title={}::{}", text(&b["component"]), text(&b["reason"])))
            .collect(),
    }
}

pub async fn run(command: ReleaseCommand) -> ExitCode {
    let ReleaseCommand::Gate(args) = command;
    let Some(key) = args.api_key.clone().filter(|k| !k.is_empty()) else {
        return fail("no API key: pass --api-key or set CERTIOR_API_KEY");
    };
    let url = format!(
        "{}/api/v1/releases/decision?{}",
        args.server.trim_end_matches('/'),
        query(&args)
    );
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout))
        .build()
    {
        Ok(client) => client,
        Err(err) => return fail(err),
    };
    let response = match client.get(&url).bearer_auth(key).send().await {
        Ok(response) => response,
        Err(err) => return fail(format!("request to {} failed: {err}", args.server)),
    };
    let status = response.status();
    let raw = match response.text().await {
        Ok(raw) => raw,
        Err(err) => return fail(format!("reading the answer failed: {err}")),
    };
    if status != reqwest::StatusCode::OK {
        return fail(format!("the server answered {status}: {raw}"));
    }
    let Ok(body) = serde_json::from_str::<Value>(&raw) else {
        return fail("the server's answer is not JSON");
    };
    let ship = match body["decision"].as_str() {
        Some("SHIP") => true,
        Some("NO_SHIP") => false,
        _ => return fail("the answer has no decision"),
    };
    for line in render(args.format, &args.repo, &args.commit, &body, &raw) {
        println!("{line}");
    }
    if ship {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blockers_print_per_format() {
        let body = json!({"decision": "NO_SHIP", "decision_status": "blocked", "blockers": [
            {"component": "ci", "reason": "Required check build concluded failure", "remediation_suggestion": "Re-run it"},
            {"component": "release_governance", "reason": "not attested", "remediation_suggestion": ""}]});
        assert_eq!(
            render(GateFormat::Text, "acme/widget", "abc", &body, ""),
            [
                "NO_SHIP acme/widget@abc (blocked)",
                "- ci: Required check build concluded failure Fix: Re-run it",
                "- release_governance: not attested"
            ]
        );
        assert_eq!(
            render(GateFormat::Github, "r", "c", &body, "")[0],
            "::error title=ci::Required check build concluded failure"
        );
    }
}
