//! Server settings: each is a `certior serve` flag that falls back to its environment variable
//! (spec §14), so `certior serve --help` documents them all.

use std::path::PathBuf;

use clap::{ArgAction, Args, ValueEnum};

use crate::providers::Provider;

/// Where the store lives; shared by `serve` and the `user` commands.
#[derive(Debug, Clone, Args)]
pub struct StoreSettings {
    /// Data directory: the SQLite database (certior.db), generated signing key, plugin cache.
    #[arg(long, env = "CERTIOR_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `postgres://…` selects PostgreSQL; `sqlite://…` that SQLite file; unset: SQLite under the data dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Listen address.
    #[arg(long, env = "CERTIOR_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// TCP port to listen on (0 picks a free one and prints it).
    #[arg(long, env = "CERTIOR_PORT", default_value_t = 8000)]
    pub port: u16,

    #[command(flatten)]
    pub store: StoreSettings,

    /// Directory of preset folders (`<key>/preset.toml`, `policy.cedar`, `*.wasm`) that add to or
    /// override the built-in presets; an invalid preset stops start-up.
    #[arg(long, env = "CERTIOR_PRESETS_DIR")]
    pub presets_dir: Option<PathBuf>,

    /// Deadline per Wasm plugin evaluation, in milliseconds.
    #[arg(long, env = "CERTIOR_PLUGIN_TIMEOUT_MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub plugin_timeout_ms: u64,

    /// Linear-memory cap per Wasm plugin instance, in MiB.
    #[arg(long, env = "CERTIOR_PLUGIN_MEMORY_MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub plugin_memory_mib: u64,

    /// Ed25519 signing seed: hex or base64 of 32 bytes, or `file:<path>`. Unset: generated once
    /// and kept (mode 0600) in the data dir.
    #[arg(long, env = "CERTIOR_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,

    /// `false` closes anonymous registration (administrators can still register users).
    #[arg(long, env = "CERTIOR_OPEN_REGISTRATION", default_value = "true", action = ArgAction::Set,
          value_parser = bool_setting("CERTIOR_OPEN_REGISTRATION"))]
    pub open_registration: bool,

    /// `true` makes the delegation graph and the glass-box listing public and global (for
    /// Studio's unauthenticated Glass Box pages).
    #[arg(long, env = "CERTIOR_PUBLIC_GLASS_BOX", default_value = "false", action = ArgAction::Set,
          value_parser = bool_setting("CERTIOR_PUBLIC_GLASS_BOX"))]
    pub public_glass_box: bool,

    /// Email of the administrator created at first start (with the password below).
    #[arg(long, env = "CERTIOR_BOOTSTRAP_ADMIN_EMAIL")]
    pub bootstrap_admin_email: Option<String>,

    /// Password of the bootstrap administrator.
    #[arg(long, env = "CERTIOR_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,

    /// Comma-separated allowed CORS origins, or `*`.
    #[arg(long, env = "CERTIOR_CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,

    #[command(flatten)]
    pub providers: ProviderSettings,

    #[command(flatten)]
    pub tools: crate::tools::ToolSettings,

    #[command(flatten)]
    pub runs: RunSettings,

    #[command(flatten)]
    pub llm: LlmSettings,

    #[command(flatten)]
    pub releases: ReleaseSettings,

    /// Log filter (tracing `EnvFilter` syntax, e.g. `info` or `certior=debug`).
    #[arg(long = "log", env = "CERTIOR_LOG", default_value = "info")]
    pub log_filter: String,

    /// Log format: `human` or `json` (one JSON object per line).
    #[arg(long, env = "CERTIOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

/// LLM provider settings (spec §14). Keys are never shown in `--help` or logs.
#[derive(Debug, Clone, Args)]
pub struct ProviderSettings {
    /// Enables the `anthropic` provider.
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<String>,

    /// Anthropic messages endpoint base.
    #[arg(long, env = "ANTHROPIC_BASE_URL", default_value = "https://api.anthropic.com")]
    pub anthropic_base_url: String,

    /// Enables the `openai` provider.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,

    /// Any OpenAI-compatible server (default `https://api.openai.com/v1`); setting it alone
    /// enables keyless local models.
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,

    /// Initial default provider: `anthropic`, `openai` or `plan` (default: the first available
    /// LLM provider).
    #[arg(long, env = "CERTIOR_LLM_PROVIDER", value_enum)]
    pub llm_provider: Option<Provider>,

    /// Initial default model (default: the default provider's first model).
    #[arg(long, env = "CERTIOR_MODEL")]
    pub model: Option<String>,
}

/// How LLM runs talk to their model (spec §9.3, §14).
#[derive(Debug, Clone, Args)]
pub struct LlmSettings {
    /// Model rounds per execution.
    #[arg(long, env = "CERTIOR_MAX_TOOL_ROUNDS", default_value_t = 25,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_tool_rounds: u32,

    /// Timeout per model request, in seconds.
    #[arg(long, env = "CERTIOR_LLM_TIMEOUT_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub llm_timeout_seconds: u64,

    /// Model output tokens per call.
    #[arg(long, env = "CERTIOR_MAX_TOKENS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_tokens: u32,

    /// System prompt for LLM providers (default: a built-in text).
    #[arg(long, env = "CERTIOR_SYSTEM_PROMPT")]
    pub system_prompt: Option<String>,
}

/// How tasks run: workers, leases, limits, and where their results are announced (spec §14).
#[derive(Debug, Clone, Args)]
pub struct RunSettings {
    /// Concurrent jobs per server process.
    #[arg(long, env = "CERTIOR_WORKERS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: u32,

    /// Job lease in seconds; a running worker renews it, a dead worker's job is reclaimed after it.
    #[arg(long, env = "CERTIOR_JOB_LEASE_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub job_lease_seconds: u64,

    /// Wall-clock limit per execution, in seconds.
    #[arg(long, env = "CERTIOR_EXECUTION_TIMEOUT_SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub execution_timeout_seconds: u64,

    /// External base URL, used for `websocket_url` (default: the request's scheme and Host).
    #[arg(long, env = "CERTIOR_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// HMAC secret of outbound execution webhooks; unset refuses `webhook_url`.
    #[arg(long, env = "CERTIOR_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Allow-list of `webhook_url` hosts (`host`, `host:n`, `*.suffix`), comma-separated.
    #[arg(long, env = "CERTIOR_WEBHOOK_ALLOWED_HOSTS", default_value = "")]
    pub webhook_allowed_hosts: String,
}

/// Release gating and GitHub (spec/RELEASES.md §1.6).
#[derive(Debug, Clone, Args)]
pub struct ReleaseSettings {
    /// Evidence age limit in days when a repo's release policy leaves it null.
    #[arg(long, env = "CERTIOR_RELEASE_MAX_EVIDENCE_AGE_DAYS", default_value = "7",
          value_parser = int_setting("CERTIOR_RELEASE_MAX_EVIDENCE_AGE_DAYS", 1, 365))]
    pub release_max_evidence_age_days: i64,

    /// How far ahead of the server clock an evidence time may be and stay fresh, in seconds.
    #[arg(long, env = "CERTIOR_RELEASE_CLOCK_SKEW_SECONDS", default_value = "60",
          value_parser = int_setting("CERTIOR_RELEASE_CLOCK_SKEW_SECONDS", 0, 3600))]
    pub release_clock_skew_seconds: i64,

    /// HMAC secret of the GitHub webhook; unset or empty answers the webhook with 503.
    #[arg(long, env = "CERTIOR_GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    pub github_webhook_secret: Option<String>,

    /// Token for reporting decisions to GitHub; unset: no reporting.
    #[arg(long, env = "CERTIOR_GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,

    /// GitHub API base (Enterprise or a test double); a trailing `/` is ignored.
    #[arg(long, env = "CERTIOR_GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: String,

    /// `true` also keeps one pull-request comment with the decision current.
    #[arg(long, env = "CERTIOR_GITHUB_PR_COMMENTS", default_value = "false", action = ArgAction::Set,
          value_parser = bool_setting("CERTIOR_GITHUB_PR_COMMENTS"))]
    pub github_pr_comments: bool,

    /// Comma-separated repo keys; when non-empty, other repos' badges render Unknown.
    #[arg(long, env = "CERTIOR_PUBLIC_BADGE_REPOS", default_value = "")]
    pub public_badge_repos: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Booleans accept `true`/`false`/`1`/`0` in any case; anything else stops start-up with a
/// message naming the variable (spec §14).
fn bool_setting(variable: &'static str) -> impl Fn(&str) -> Result<bool, String> + Clone + Send + Sync + 'static {
    move |value| match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{variable} must be true, false, 1 or 0")),
    }
}

/// An integer within `min..=max`; anything else stops start-up with a message naming the
/// variable (spec/RELEASES.md §1.6).
fn int_setting(
    variable: &'static str,
    min: i64,
    max: i64,
) -> impl Fn(&str) -> Result<i64, String> + Clone + Send + Sync + 'static {
    move |value| match value.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("{variable} must be an integer from {min} to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_limits_name_their_variable() {
        let parse = int_setting("CERTIOR_RELEASE_MAX_EVIDENCE_AGE_DAYS", 1, 365);
        assert_eq!(parse(" 30 "), Ok(30));
        for bad in ["0", "366", "seven"] {
            assert_eq!(
                parse(bad).unwrap_err(),
                "CERTIOR_RELEASE_MAX_EVIDENCE_AGE_DAYS must be an integer from 1 to 365"
            );
        }
    }

    #[test]
    fn booleans_accept_only_the_documented_words() {
        let parse = bool_setting("CERTIOR_OPEN_REGISTRATION");
        assert_eq!(parse("TRUE"), Ok(true));
        assert_eq!(parse("0"), Ok(false));
        assert_eq!(
            parse("yes").unwrap_err(),
            "CERTIOR_OPEN_REGISTRATION must be true, false, 1 or 0"
        );
    }
}
