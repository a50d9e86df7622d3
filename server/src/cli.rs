//! The `certior` command line.

use clap::{Parser, Subcommand};

use crate::settings::{Settings, StoreSettings};

#[derive(Debug, Parser)]
#[command(
    name = "certior",
    version,
    about = "Certior: a policy control plane for AI agents and software releases"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<Settings>),
    /// Manage users directly in the store (bootstrap, recovery).
    #[command(subcommand)]
    User(UserCommand),
    /// Work with signed certificates offline.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Author custom presets: scaffold, test locally, check and upload.
    #[command(subcommand)]
    Preset(PresetCommand),
    /// Release gating from CI: ask a server whether a commit may ship.
    #[command(subcommand)]
    Release(crate::release_cli::ReleaseCommand),
    /// Check the capabilities declared in SKILL.md and certior.toml files against presets.
    Audit(crate::audit_cli::AuditArgs),
}

#[derive(Debug, Subcommand)]
pub enum PresetCommand {
    /// Scaffold NAME/: a plugin crate on certior-plugin (with a copy of the SDK), a preset folder
    /// (preset.toml, policy.cedar), sample inputs and build.sh, which builds the plugin into the
    /// preset folder with the documented toolchain.
    New {
        /// The preset key, also the plugin and crate name (`^[a-z][a-z0-9_]{1,39}$`).
        name: String,
        /// Where to create NAME/.
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
    },
    /// Check the preset folder DIR as an upload is checked, then run its plugins on each input
    /// file (its text, as the content of every phase the plugins hook) exactly as the server's
    /// content gate does, and print the verdicts. Exits non-zero if a plugin fails.
    Test {
        /// The preset folder (preset.toml, policy.cedar, the modules).
        dir: std::path::PathBuf,
        /// Text files to judge.
        #[arg(long = "input", value_name = "FILE", required = true, num_args = 1..)]
        inputs: Vec<std::path::PathBuf>,
    },
    /// Check the preset folder DIR as an upload is checked (spec §5.6, the size limits and a
    /// trial evaluation of each plugin) and print what `push` would upload.
    Pack {
        /// The preset folder.
        dir: std::path::PathBuf,
    },
    /// Check the preset folder DIR like `pack`, then upload it: the next version of its key.
    Push {
        /// The preset folder.
        dir: std::path::PathBuf,
        /// The server's base URL, e.g. http://127.0.0.1:8000.
        #[arg(long)]
        server: String,
        /// An API key of an `admin` or `policy_author`.
        #[arg(long, env = "CERTIOR_API_KEY", hide_env_values = true)]
        api_key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Verify a certificate (or any signed document) against saved public keys, with no server:
    /// prints the verification as JSON and exits 0 only when it is valid.
    Verify {
        /// The certificate JSON file.
        file: std::path::PathBuf,
        /// The keys JSON, as `GET /api/v1/trust/keys` returns it.
        #[arg(long)]
        keys: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print its API key once.
    Create {
        #[arg(long)]
        email: String,
        /// One of admin, operator, viewer, auditor, approver, policy_author.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Optional: a user without a password cannot log in and relies on keys.
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        store: StoreSettings,
    },
    /// Issue an additional API key for an existing user and print it once.
    Key {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: StoreSettings,
    },
}
