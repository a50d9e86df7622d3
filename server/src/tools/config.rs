//! The built-in tools' settings (spec §14), flattened into `certior serve`'s flags.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ToolSettings {
    /// Sandbox root of the file tools (default: `<data dir>/workspace`); created when missing.
    #[arg(long, env = "CERTIOR_WORKSPACE")]
    pub workspace: Option<PathBuf>,

    /// `http_get` allow-list, comma-separated: `host`, `host:port` or `*.suffix` (subdomains).
    /// Empty allows no host.
    #[arg(long, env = "CERTIOR_HTTP_ALLOWED_HOSTS", default_value = "")]
    pub http_allowed_hosts: String,

    /// SQLite file `db_query` reads (opened read-only). Unset: `db_query` is denied.
    #[arg(long, env = "CERTIOR_DB_QUERY_PATH")]
    pub db_query_path: Option<PathBuf>,

    /// Table classification for `db_query`, comma-separated `table=tag[:label]`, e.g.
    /// `patients=patient_data:PHI`. An unmapped table's tag is its own name.
    #[arg(long, env = "CERTIOR_DB_QUERY_TABLES", default_value = "")]
    pub db_query_tables: String,
}
