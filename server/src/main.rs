//! `certior`: the server binary and its administrative commands.

mod app;
mod audit_cli;
mod auth;
mod capability_tokens;
mod cert_cli;
mod cli;
mod clock;
mod compliance_package;
mod compliance_pdf;
mod delegation_graph;
mod error;
mod executor;
mod http;
mod llm;
mod preset_catalog;
mod preset_cli;
mod preset_scaffold;
mod preset_upload;
mod provider_probe;
mod providers;
mod release_cli;
mod releases;
mod routes;
mod serve;
mod settings;
mod state;
mod store;
mod strings;
mod submission;
mod telemetry;
mod tools;
mod user_cli;
mod validate;
mod webhooks;
mod workflows;

use clap::Parser;

use cli::{Cli, Command};

/// mimalloc instead of the system allocator: the request and task paths allocate many small,
/// short-lived values from several threads, where glibc's malloc spends its time consolidating
/// free chunks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    store::without_memory_statistics();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(settings) => match telemetry::init(&settings.log_filter, settings.log_format) {
            Ok(()) => serve::run(*settings).await,
            Err(err) => Err(err),
        },
        Command::User(command) => user_cli::run(command).await,
        Command::Cert(command) => cert_cli::run(command),
        Command::Preset(command) => preset_cli::run(command).await,
        // These two speak to CI through their own exit codes (spec/RELEASES.md §8.4, §8.5).
        Command::Release(command) => return release_cli::run(command).await,
        Command::Audit(args) => return audit_cli::run(args),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
