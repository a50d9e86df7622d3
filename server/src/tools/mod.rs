//! The server's sandboxed built-in tools (spec §7.5 stage 1 "prepare", §7.6).
//!
//! A proposed call is first *prepared*: its arguments are checked against the tool's schema, its
//! target is confined (workspace path, allow-listed host, read-only SQL whose tables are found by
//! preparing the statement), and its required capabilities and data labels are computed. Only a
//! prepared call can be *run*, and running re-checks what may have changed since (symbolic links,
//! redirects, the database schema). The static facts (cost, destination, approval categories)
//! live in [`certior::tools`].

mod arguments;
mod config;
mod db_query;
mod db_tables;
mod files;
mod hosts;
mod http_get;
mod workspace;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use certior::profile::sandbox_disables_network;
use certior::tools::{file_write_capability, BuiltinTool};
use certior::{Phase, Violation};
use reqwest::Url;
use serde_json::Value;

pub use config::ToolSettings;
pub use hosts::HostAllowList;

use arguments::{ArgumentError, ToolArgs};
use db_query::{refusal_message, Database, Refusal};
use db_tables::TableMap;
use hosts::host_of;
use workspace::{RelativePath, Workspace};

/// The configured sandboxes; build once at start-up and share behind an `Arc`.
#[derive(Debug)]
pub struct Tools {
    workspace: Workspace,
    hosts: Arc<HostAllowList>,
    database: Option<Arc<Database>>,
    /// `http_get`'s own client: its redirect policy enforces the allow-list.
    client: reqwest::Client,
}

/// A call that passed the prepare stage, with what the later gate stages need.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    pub tool: BuiltinTool,
    /// The tool's own required capabilities (§7.6), before a plan step's additions.
    pub capabilities: Vec<String>,
    /// Data labels of what the call reads (labelled `db_query` tables), de-duplicated.
    pub labels: Vec<String>,
    target: Target,
}

/// The normalised target a prepared call runs against.
#[derive(Debug, Clone)]
enum Target {
    Read(RelativePath),
    Write {
        path: RelativePath,
        content: String,
        append: bool,
    },
    List(RelativePath),
    Fetch {
        url: Url,
        host: String,
    },
    Query {
        sql: String,
        params: Vec<Value>,
        tables: Vec<String>,
    },
}

/// What a tool run produced. A failure is a tool error (`is_error`), never a denial.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    pub is_error: bool,
    /// §9.5 `tool_metadata`: file tools `{path, bytes}`, `http_get` `{host, status_code, bytes,
    /// truncated}`, `db_query` `{tables, row_count, truncated}`.
    pub metadata: Option<Value>,
}

impl ToolOutput {
    fn success(text: String, metadata: Value) -> ToolOutput {
        ToolOutput {
            text,
            is_error: false,
            metadata: Some(metadata),
        }
    }

    fn error(text: String) -> ToolOutput {
        ToolOutput {
            text,
            is_error: true,
            metadata: None,
        }
    }
}

#[allow(
    clippy::result_large_err,
    reason = "the gate records the prepare stage's Violation as is; one per proposed call"
)]
impl Tools {
    /// Reads the settings: creates the workspace (default `<data_dir>/workspace`), parses the
    /// host allow-list and table map, and checks the `db_query` file opens read-only. Errors
    /// name the variable to fix.
    pub fn new(settings: &ToolSettings, data_dir: &Path) -> anyhow::Result<Tools> {
        let root = settings.workspace.clone().unwrap_or_else(|| data_dir.join("workspace"));
        let workspace = Workspace::open(&root)
            .with_context(|| format!("CERTIOR_WORKSPACE: cannot create or open {}", root.display()))?;
        let hosts = HostAllowList::parse(&settings.http_allowed_hosts)
            .map_err(|message| anyhow!("CERTIOR_HTTP_ALLOWED_HOSTS: {message}"))?;
        let tables = TableMap::parse(&settings.db_query_tables)
            .map_err(|message| anyhow!("CERTIOR_DB_QUERY_TABLES: {message}"))?;
        let database = match &settings.db_query_path {
            Some(path) => Some(Arc::new(Database::open(path, tables).map_err(anyhow::Error::msg)?)),
            None => None,
        };
        let hosts = Arc::new(hosts);
        let client = http_get::client(Arc::clone(&hosts)).context("cannot build the http_get HTTP client")?;
        Ok(Tools {
            workspace,
            hosts,
            database,
            client,
        })
    }

    /// The argument-schema check alone, for plan steps at `POST /tasks` (422 on failure): the
    /// tool exists and its arguments have the right names, types and sizes. Touches nothing.
    pub fn check_arguments(tool: &str, args: &Value) -> Result<BuiltinTool, String> {
        ToolArgs::parse(tool, args)
            .map(|(tool, _)| tool)
            .map_err(|err| err.message().to_owned())
    }

    /// Stage 1 of the tool-call gate. Reads filesystem metadata and may open the `db_query`
    /// file to prepare the statement (blocking briefly); never uses the network.
    pub fn prepare(&self, tool: &str, args: &Value, sandbox_profile: &str) -> Result<PreparedCall, Violation> {
        let (builtin, parsed) = ToolArgs::parse(tool, args).map_err(|err| match err {
            ArgumentError::UnknownTool(message) => denial("unknown_tool", message),
            ArgumentError::Invalid(message) => denial("invalid_arguments", message),
        })?;
        let base = || vec![builtin.base_capability().to_owned()];
        let (target, capabilities, labels) = match parsed {
            ToolArgs::FileRead { path } => (Target::Read(self.confine(builtin, &path)?), base(), Vec::new()),
            ToolArgs::FileWrite { path, content, append } => {
                let path = self.confine(builtin, &path)?;
                let capability = file_write_capability(&path.display());
                (Target::Write { path, content, append }, vec![capability], Vec::new())
            }
            ToolArgs::FileList { path } => (Target::List(self.confine(builtin, &path)?), base(), Vec::new()),
            ToolArgs::HttpGet { url } => {
                let (url, host) = self.check_url(&url, sandbox_profile)?;
                (Target::Fetch { url, host }, base(), Vec::new())
            }
            ToolArgs::DbQuery { sql, params } => {
                let database = self.database.as_ref().ok_or_else(|| {
                    denial(
                        "db_not_configured",
                        "db_query is not available: set CERTIOR_DB_QUERY_PATH to a SQLite file on the server".into(),
                    )
                })?;
                let tables = database.inspect(&sql, &params).map_err(|refusal| {
                    let code = match refusal {
                        Refusal::NotReadOnly(_) => "sql_not_read_only",
                        Refusal::Invalid(_) => "invalid_arguments",
                        Refusal::Unavailable(_) => "db_not_configured",
                    };
                    denial(code, refusal_message(&refusal).to_owned())
                })?;
                let (capabilities, labels) = database.requirements(&tables);
                (Target::Query { sql, params, tables }, capabilities, labels)
            }
        };
        Ok(PreparedCall {
            tool: builtin,
            capabilities,
            labels,
            target,
        })
    }

    /// Runs a prepared call in its sandbox. Workspace file operations run on the caller's thread:
    /// each is bounded (1 MiB, 1000 entries) on a local directory and takes microseconds, less
    /// than a hand-off to the blocking pool and back. A database query, whose time depends on
    /// the SQL, goes to the blocking pool.
    pub async fn run(&self, call: &PreparedCall) -> ToolOutput {
        let workspace = &self.workspace;
        match &call.target {
            Target::Read(path) => contained(|| files::read(workspace, path)),
            Target::Write { path, content, append } => contained(|| files::write(workspace, path, content, *append)),
            Target::List(path) => contained(|| files::list(workspace, path)),
            Target::Fetch { url, host } => http_get::fetch(&self.client, url, host).await,
            Target::Query { sql, params, tables } => match &self.database {
                Some(database) => {
                    let database = Arc::clone(database);
                    let (sql, params, tables) = (sql.clone(), params.clone(), tables.clone());
                    blocking(move || database.run(&sql, &params, &tables)).await
                }
                None => ToolOutput::error("Error: db_query is not configured on this server".into()),
            },
        }
    }

    /// The normalised path, or `path_outside_workspace`. `file_read` and `file_write` need a file,
    /// so the workspace root itself is an invalid argument for them.
    fn confine(&self, tool: BuiltinTool, path: &str) -> Result<RelativePath, Violation> {
        let relative = RelativePath::parse(path).map_err(|message| denial("path_outside_workspace", message))?;
        if relative.is_root() && tool != BuiltinTool::FileList {
            return Err(denial(
                "invalid_arguments",
                format!(
                    "{}: path '{path}' names the workspace itself; give a file path",
                    tool.name()
                ),
            ));
        }
        self.workspace
            .resolve(&relative)
            .map_err(|escape| denial("path_outside_workspace", escape.0))?;
        Ok(relative)
    }

    /// The parsed URL and its `host[:port]`, if the sandbox has a network and the host is listed.
    fn check_url(&self, url: &str, sandbox_profile: &str) -> Result<(Url, String), Violation> {
        if sandbox_disables_network(sandbox_profile) {
            return Err(denial(
                "network_disabled",
                format!("http_get is disabled under the '{sandbox_profile}' sandbox profile"),
            ));
        }
        let parsed = Url::parse(url)
            .ok()
            .filter(|parsed| matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some())
            .ok_or_else(|| {
                denial(
                    "invalid_arguments",
                    format!("http_get: '{url}' is not an absolute http or https URL"),
                )
            })?;
        let host = host_of(&parsed);
        if !self.hosts.allows(&parsed) {
            return Err(denial(
                "host_not_allowed",
                format!("http_get: host '{host}' is not in CERTIOR_HTTP_ALLOWED_HOSTS"),
            ));
        }
        Ok((parsed, host))
    }
}

fn denial(code: &str, message: String) -> Violation {
    Violation::block(code, Phase::Prepare, message, Vec::new())
}

/// Runs blocking tool work off the async threads; a panic there becomes a tool error.
async fn blocking(work: impl FnOnce() -> ToolOutput + Send + 'static) -> ToolOutput {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|err| stopped(&err.to_string()))
}

/// Runs short tool work here; a panic becomes a tool error, as in [`blocking`], instead of
/// taking the worker down with it.
fn contained(work: impl FnOnce() -> ToolOutput) -> ToolOutput {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| stopped("panic"))
}

fn stopped(reason: &str) -> ToolOutput {
    ToolOutput::error(format!("Error: the tool stopped unexpectedly: {reason}"))
}
