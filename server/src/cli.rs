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
