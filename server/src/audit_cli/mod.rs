//! `certior audit` (spec/RELEASES.md §8): checks the capabilities declared in `SKILL.md`
//! frontmatter and `certior.toml` agent chains against presets, for CI. Exit 0: every
//! declaration passes; 1: an error finding; 2: a usage or input error.

mod checks;
mod discover;
mod finding;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use certior::{Preset, PresetRegistry};
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
    Github,
    Sarif,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Preset keys or aliases, comma-separated (e.g. "hipaa, sox").
    #[arg(long)]
    packages: String,
    /// The repository to audit.
    #[arg(long, default_value = ".")]
    repo_root: PathBuf,
    /// Output format (default: `github` under GitHub Actions, else `text`).
    #[arg(long, value_enum)]
    format: Option<AuditFormat>,
    /// Also write SARIF 2.1.0 to this file.
    #[arg(long)]
    sarif: Option<PathBuf>,
    /// Report skills without declared capabilities as warnings, not errors.
    #[arg(long)]
    allow_undeclared: bool,
    /// Another directory of preset folders (beside `CERTIOR_PRESETS_DIR`).
    #[arg(long)]
    presets_dir: Option<PathBuf>,
}

const USAGE: u8 = 2;

fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("certior audit: {message}");
    ExitCode::from(USAGE)
}

/// The built-in presets plus `CERTIOR_PRESETS_DIR` and `--presets-dir`, loaded as the server does.
fn registry(extra: Option<&PathBuf>) -> Result<PresetRegistry, String> {
    let mut registry = PresetRegistry::builtin();
    let env_dir = std::env::var_os("CERTIOR_PRESETS_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    for dir in env_dir.iter().chain(extra) {
        registry = registry
            .with_directory(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    Ok(registry)
}

/// The named presets, or the usage error text.
fn packages(registry: &PresetRegistry, list: &str) -> Result<Vec<Arc<Preset>>, String> {
    let mut names: Vec<String> = registry
        .list()
        .iter()
        .flat_map(|p| std::iter::once(p.key().to_owned()).chain(p.manifest().aliases.iter().cloned()))
        .collect();
    names.sort();
    names.dedup();
    let mut out: Vec<Arc<Preset>> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let preset = registry
            .get(name)
            .ok_or_else(|| format!("unknown policy package: {name}; available: {}", names.join(", ")))?;
        if !out.iter().any(|p| p.key() == preset.key()) {
            out.push(preset);
        }
    }
    if out.is_empty() {
        return Err(format!("no policy package given; available: {}", names.join(", ")));
    }
    Ok(out)
}

pub fn run(args: AuditArgs) -> ExitCode {
    let registry = match registry(args.presets_dir.as_ref()) {
        Ok(registry) => registry,
        Err(err) => return usage(err),
    };
    let presets = match packages(&registry, &args.packages) {
        Ok(presets) => presets,
        Err(err) => return usage(err),
    };
    if !args.repo_root.is_dir() {
        return usage(format!(
            "--repo-root {} is not a readable directory",
            args.repo_root.display()
        ));
    }
    let found = match discover::discover(&args.repo_root) {
        Ok(found) => found,
        Err(err) => return usage(format!("reading {}: {err}", args.repo_root.display())),
    };
    let audit = checks::audit(&found, &presets, &registry, args.allow_undeclared);
    let names: Vec<String> = presets.iter().map(|p| p.key().to_owned()).collect();
    let format = args
        .format
        .unwrap_or(if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
            AuditFormat::Github
        } else {
            AuditFormat::Text
        });
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    match format {
        AuditFormat::Text => print!("{}", output::text(&audit, &names)),
        AuditFormat::Github => print!("{}", output::github(&audit, &names)),
        AuditFormat::Json => println!("{}", pretty(&output::json(&audit, &names))),
        AuditFormat::Sarif => println!("{}", pretty(&output::sarif(&audit))),
    }
    let mut code = if audit.failed > 0 { 1 } else { 0 };
    if let Some(path) = &args.sarif {
        if let Err(err) = std::fs::write(path, pretty(&output::sarif(&audit)) + "\n") {
            eprintln!("certior audit: cannot write {}: {err}", path.display());
            code = USAGE;
        }
    }
    if audit.findings.iter().any(|f| f.code == "invalid_declaration") {
        code = USAGE;
    }
    ExitCode::from(code)
}
