use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Logs go to stderr (stdout carries only the listen address): human-readable by default,
/// one JSON object per line with `CERTIOR_LOG_FORMAT=json`.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).map_err(|err| anyhow::anyhow!("CERTIOR_LOG is not a valid log filter: {err}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|err| anyhow::anyhow!("installing the logger failed: {err}"))
}
