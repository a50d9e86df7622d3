//! `certior preset new|test|pack|push`: preset authoring on the author's machine. Every
//! command that reads a preset folder runs the engine's upload checks ([`load_upload`]: the
//! manifest, Cedar against the schema, module digests and ABI, a trial evaluation of each
//! plugin) and the server's size limits, so what passes here is what the server accepts.

use std::collections::BTreeMap;
use std::path::Path;

use certior::content::{ContentAction, ContentGate, ContentRequest, ContentSubject, ContentVerdict};
use certior::preset::{bundle_files, load_upload, Hook};
use certior::profile::{build_profile, ProfileRequest};
use certior::{Phase, Preset};
use serde_json::Value;

use crate::cli::PresetCommand;
use crate::preset_scaffold;
use crate::preset_upload::{MAX_BUNDLE_BYTES, MAX_MODULE_BYTES};

pub async fn run(command: PresetCommand) -> anyhow::Result<()> {
    match command {
        PresetCommand::New { name, dir } => {
            let root = preset_scaffold::create(&dir, &name)?;
            println!("created {}", root.display());
            eprintln!(
                "next: cd {} && ./build.sh && certior preset test preset --input inputs/blocked.txt",
                root.display()
            );
            Ok(())
        }
        PresetCommand::Test { dir, inputs } => test(&dir, &inputs),
        PresetCommand::Pack { dir } => {
            let bundle = Bundle::check(&dir)?;
            bundle.print();
            Ok(())
        }
        PresetCommand::Push { dir, server, api_key } => push(&dir, &server, &api_key).await,
    }
}

/// A preset folder that passed the upload checks.
struct Bundle {
    files: BTreeMap<String, Vec<u8>>,
    preset: Preset,
}

impl Bundle {
    fn check(dir: &Path) -> anyhow::Result<Bundle> {
        let files = bundle_files(dir).map_err(|err| anyhow::anyhow!("{err}"))?;
        let total: usize = files.values().map(Vec::len).sum();
        if total > MAX_BUNDLE_BYTES {
            anyhow::bail!(
                "{}: the files hold {total} bytes; a bundle may hold at most 16 MiB",
                dir.display()
            );
        }
        for (name, bytes) in &files {
            if name.ends_with(".wasm") && bytes.len() > MAX_MODULE_BYTES {
                anyhow::bail!("{name}: {} bytes; a module may hold at most 8 MiB", bytes.len());
            }
        }
        let preset = load_upload(files.clone()).map_err(|err| anyhow::anyhow!("Preset rejected: {err}"))?;
        Ok(Bundle { files, preset })
    }

    fn print(&self) {
        let preset = &self.preset;
        println!(
            "preset {} ({}), digest {}",
            preset.key(),
            preset.name(),
            preset.digest()
        );
        println!("accepted: manifest, Cedar rules, module digests and ABI, trial evaluation of each plugin");
        println!("upload: POST /api/v1/compliance/presets, multipart/form-data, one part per file:");
        for (name, bytes) in &self.files {
            let sha256 = certior::canonical::sha256_hex(bytes);
            println!("  {name:<24} {:>9} bytes  sha256 {sha256}", bytes.len());
        }
    }
}

/// The phases a preset's plugins take part in, as the server runs them.
const PHASES: [(Hook, Phase, &str); 5] = [
    (Hook::ToolCall, Phase::ToolInput, "tool_input"),
    (Hook::Content, Phase::ToolOutput, "tool_output"),
    (Hook::Content, Phase::FinalOutput, "final_output"),
    (Hook::Stage, Phase::Stage, "stage"),
    (Hook::Release, Phase::Release, "release"),
];

fn test(dir: &Path, inputs: &[std::path::PathBuf]) -> anyhow::Result<()> {
    let bundle = Bundle::check(dir)?;
    let preset = &bundle.preset;
    println!("preset {}, digest {}: accepted", preset.key(), preset.digest());
    let gate = preset.content_gate().map_err(|err| anyhow::anyhow!("{err}"))?;
    let profile = build_profile(&ProfileRequest::default());
    let mut failures = 0;
    for input in inputs {
        let text =
            std::fs::read_to_string(input).map_err(|err| anyhow::anyhow!("cannot read {}: {err}", input.display()))?;
        println!("{}", input.display());
        for (hook, phase, name) in PHASES {
            if preset.plugins_for(hook).next().is_none() {
                continue;
            }
            let verdict = gate.evaluate(&ContentRequest {
                hook,
                phase,
                preset,
                profile: &profile,
                subject: ContentSubject {
                    tool: None,
                    params: &Value::Null,
                    capabilities: &[],
                    destination: None,
                    stage: None,
                    release: None,
                },
                text: &text,
            });
            failures += verdict.violations.iter().filter(|v| v.code == "plugin_error").count();
            print_verdict(name, &verdict);
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} plugin failure(s)");
    }
    Ok(())
}

fn print_verdict(phase: &str, verdict: &ContentVerdict) {
    let warned = verdict.violations.iter().any(|v| v.severity == certior::Severity::Warn);
    let action = match &verdict.action {
        ContentAction::Deny => "deny",
        ContentAction::Redact { .. } => "redact",
        ContentAction::Allow if warned => "warn",
        ContentAction::Allow => "allow",
    };
    println!("  {phase:<13} {action}");
    for v in &verdict.violations {
        let severity = serde_json::to_value(v.severity).unwrap_or_default();
        let category = v.category.as_deref().unwrap_or("-");
        let span = v
            .span
            .map(|[start, end]| format!(" [{start}..{end})"))
            .unwrap_or_default();
        let plugin = v.plugin.as_deref().unwrap_or("-");
        println!(
            "    {} {} {category} ({plugin}): {}{span}",
            v.code,
            severity.as_str().unwrap_or_default(),
            v.message
        );
    }
    if !verdict.labels.is_empty() {
        println!("    labels: {}", verdict.labels.join(", "));
    }
    if let ContentAction::Redact { text } = &verdict.action {
        println!("    redacted: {text}");
    }
}

/// Checks the folder as `pack` does, so a bundle the server would reject is never sent, then
/// uploads it.
async fn push(dir: &Path, server: &str, api_key: &str) -> anyhow::Result<()> {
    let bundle = Bundle::check(dir)?;
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in bundle.files {
        form = form.part(name.clone(), reqwest::multipart::Part::bytes(bytes).file_name(name));
    }
    let url = format!("{}/api/v1/compliance/presets", server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(api_key)
        .multipart(form)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("POST {url}: {err}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let detail = body.get("detail").cloned().unwrap_or_default();
        let detail = detail.as_str().map_or_else(|| detail.to_string(), str::to_owned);
        anyhow::bail!("the server refused the upload ({status}): {detail}");
    }
    println!(
        "uploaded preset {} version {}, digest {}",
        body["key"].as_str().unwrap_or_default(),
        body["version"],
        body["digest"].as_str().unwrap_or_default()
    );
    Ok(())
}
