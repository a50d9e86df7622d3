//! Turning preset files (a directory, an upload or the embedded built-ins) into a [`Preset`],
//! with the checks of spec §5.6 in order and the first failure reported.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::digest::preset_digest;
use super::error::PresetError;
use super::manifest::Manifest;
use super::{Preset, PresetSource};
use crate::canonical::sha256_hex;
use crate::cedar::build_policy_set;
use crate::plugin_host;
use crate::wasm_gate::WasmGate;

/// The manifest file name inside a preset.
pub const MANIFEST_FILE: &str = "preset.toml";
/// The Cedar file name inside a preset.
pub const POLICY_FILE: &str = "policy.cedar";

/// Loads one preset from the files of a bundle (`file name → bytes`). `label` prefixes file names
/// in errors (a directory path, or `presets/<key>` for built-ins); an empty label leaves them
/// bare, as an upload names them.
pub fn load_bundle(
    files: &BTreeMap<String, Vec<u8>>,
    label: &str,
    source: PresetSource,
) -> Result<Preset, PresetError> {
    let at = |name: &str| {
        if label.is_empty() {
            name.to_owned()
        } else {
            format!("{label}/{name}")
        }
    };
    let manifest_bytes = files.get(MANIFEST_FILE).ok_or_else(|| PresetError::MissingFile {
        file: at(MANIFEST_FILE),
        needed_for: "every preset needs a preset.toml (spec/API.md §5.2)".into(),
    })?;
    let manifest_text = std::str::from_utf8(manifest_bytes).map_err(|e| PresetError::Unreadable {
        file: at(MANIFEST_FILE),
        message: format!("not UTF-8 ({e})"),
    })?;
    let (table, manifest) = parse_manifest(manifest_text, &at(MANIFEST_FILE))?;

    let policy_bytes = files.get(POLICY_FILE).ok_or_else(|| PresetError::MissingFile {
        file: at(POLICY_FILE),
        needed_for: "every preset needs a policy.cedar beside preset.toml (it may hold only comments)".into(),
    })?;
    let policy_text = std::str::from_utf8(policy_bytes).map_err(|e| PresetError::Unreadable {
        file: at(POLICY_FILE),
        message: format!("not UTF-8 ({e})"),
    })?;
    let policies =
        build_policy_set(&manifest, policy_text).map_err(|e| PresetError::from_cedar(&at(POLICY_FILE), e))?;

    let mut modules = BTreeMap::new();
    for (index, plugin) in manifest.plugins.iter().enumerate() {
        let bytes = files.get(&plugin.file).ok_or_else(|| PresetError::MissingFile {
            file: at(&plugin.file),
            needed_for: format!(
                "preset.toml `plugins[{index}].file` names it for plugin `{}`",
                plugin.name
            ),
        })?;
        let actual = sha256_hex(bytes);
        if actual != plugin.sha256 {
            return Err(PresetError::DigestMismatch {
                file: at(&plugin.file),
                index,
                expected: plugin.sha256.clone(),
                actual,
            });
        }
        modules.insert(plugin.name.clone(), Arc::<[u8]>::from(bytes.as_slice()));
    }
    for name in files.keys() {
        let listed = name == MANIFEST_FILE || name == POLICY_FILE || manifest.plugins.iter().any(|p| &p.file == name);
        if !listed {
            return Err(PresetError::UnlistedFile { file: at(name) });
        }
    }

    let gate = load_gate(&manifest, &modules, source, &at)?;

    let digest = preset_digest(&table, &manifest, policy_bytes).map_err(|e| PresetError::InvalidField {
        file: at(MANIFEST_FILE),
        field: "(document)".into(),
        problem: e.to_string(),
        fix: "use only strings, integers, booleans, arrays and tables".into(),
    })?;
    Ok(Preset::new(
        manifest,
        manifest_text.to_owned(),
        policy_text.to_owned(),
        digest,
        source,
        modules,
        policies,
        gate,
    ))
}

/// Spec §5.6 item 4 through the plugin host: each module compiles, imports only the two
/// configuration functions, exports the ABI with its signatures and answers ABI version 1. The
/// check *is* the plugins' load (pre-initialized with their configuration), so its result
/// becomes the preset's content gate and is not paid for twice. The embedded built-ins skip it
/// here: their modules are checked when built (`scripts/build-plugins.sh --check`) and by the
/// tests, and load lazily on first use so that start-up stays cheap.
fn load_gate(
    manifest: &Manifest,
    modules: &BTreeMap<String, Arc<[u8]>>,
    source: PresetSource,
    at: &dyn Fn(&str) -> String,
) -> Result<Option<WasmGate>, PresetError> {
    if source == PresetSource::Builtin || manifest.plugins.is_empty() {
        return Ok(None);
    }
    let host = plugin_host::shared().map_err(|e| PresetError::PluginHostUnavailable {
        file: at(&manifest.plugins[0].file),
        message: e.to_string(),
    })?;
    WasmGate::load(manifest, modules, host)
        .map(Some)
        .map_err(|e| PresetError::InvalidModule {
            file: at(&e.file),
            reason: e.error.cause.to_string(),
        })
}

/// Loads the preset stored in directory `dir` (its regular files; sub-directories are not
/// allowed).
pub fn load_dir(dir: &Path, source: PresetSource) -> Result<Preset, PresetError> {
    let files = bundle_files(dir)?;
    load_bundle(&files, &dir.display().to_string(), source)
}

/// The files of the preset folder `dir` as a bundle (`file name → bytes`): its regular files;
/// a sub-directory is an error, since a bundle is flat.
pub fn bundle_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, PresetError> {
    let label = dir.display().to_string();
    let entries = fs::read_dir(dir).map_err(|e| PresetError::Unreadable {
        file: label.clone(),
        message: e.to_string(),
    })?;
    let mut files = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| PresetError::Unreadable {
            file: label.clone(),
            message: e.to_string(),
        })?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_file() {
            return Err(PresetError::UnlistedFile {
                file: path.display().to_string(),
            });
        }
        let bytes = fs::read(&path).map_err(|e| PresetError::Unreadable {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        files.insert(name, bytes);
    }
    Ok(files)
}

/// Loads every sub-directory of `root` as a preset (the `CERTIOR_PRESETS_DIR` layout); plain
/// files directly under `root` (such as a shared schema copy or a README) are ignored.
pub fn load_presets_dir(root: &Path) -> Result<Vec<Preset>, PresetError> {
    let label = root.display().to_string();
    let entries = fs::read_dir(root).map_err(|e| PresetError::Unreadable {
        file: label.clone(),
        message: e.to_string(),
    })?;
    let mut dirs: Vec<_> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| PresetError::Unreadable {
            file: label,
            message: e.to_string(),
        })?;
    dirs.retain(|p| p.is_dir());
    dirs.sort();
    dirs.iter().map(|d| load_dir(d, PresetSource::Directory)).collect()
}

/// Parses and validates `preset.toml`, keeping the raw table for the digest.
fn parse_manifest(text: &str, file: &str) -> Result<(toml::Table, Manifest), PresetError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| PresetError::TomlSyntax {
        file: file.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let manifest: Manifest = toml::from_str(text).map_err(|e| serde_error(text, file, &e))?;
    manifest.validate().map_err(|p| PresetError::InvalidField {
        file: file.to_owned(),
        field: p.field,
        problem: p.problem,
        fix: p.fix,
    })?;
    Ok((table, manifest))
}

/// Classifies a typed-deserialization error: unknown key, missing key or wrong type.
fn serde_error(text: &str, file: &str, e: &toml::de::Error) -> PresetError {
    let message = e.message().trim_end();
    let table = e.span().map(|s| enclosing_table(text, s.start)).unwrap_or_default();
    let qualify = |key: &str| {
        if table.is_empty() {
            key.to_owned()
        } else {
            format!("{table}.{key}")
        }
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        return PresetError::UnknownField {
            file: file.to_owned(),
            field: qualify(field),
            expected: expected.trim_start_matches(',').trim().to_owned(),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        return PresetError::InvalidField {
            file: file.to_owned(),
            field: qualify(field),
            problem: "is required but missing".into(),
            fix: format!("add `{field}` (spec/API.md §5.2)"),
        };
    }
    let key = e.span().and_then(|s| key_at(text, s.start));
    PresetError::InvalidField {
        file: file.to_owned(),
        field: key.map(|k| qualify(&k)).unwrap_or_else(|| table.clone()),
        problem: format!("has the wrong type or value: {message}"),
        fix: "use the type given in spec/API.md §5.2".into(),
    }
}

/// The `[table]` or `[[table]]` header in force at byte `pos`, without brackets.
fn enclosing_table(text: &str, pos: usize) -> String {
    text[..pos.min(text.len())]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
        .unwrap_or_default()
}

/// The key of the `key = value` line containing byte `pos`.
fn key_at(text: &str, pos: usize) -> Option<String> {
    let pos = pos.min(text.len());
    let start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    Some(key.trim().to_owned())
}
