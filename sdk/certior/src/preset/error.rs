//! Preset loading errors. Each names the file, the field and the fix, because the same text stops
//! `certior serve` at start-up and answers a rejected upload.

use crate::cedar::CedarError;

/// Why a preset did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    #[error("{file}: is missing; {needed_for}")]
    MissingFile { file: String, needed_for: String },
    #[error("{file}: cannot be read: {message}")]
    Unreadable { file: String, message: String },
    #[error("{file}: TOML syntax error: {message}\n  fix: correct the TOML at the position shown")]
    TomlSyntax { file: String, message: String },
    #[error("{file}: unknown field `{field}`\n  fix: remove it or correct its spelling; the keys are listed in spec/API.md §5.2 ({expected})")]
    UnknownField {
        file: String,
        field: String,
        expected: String,
    },
    #[error("{file}: field `{field}` {problem}\n  fix: {fix}")]
    InvalidField {
        file: String,
        field: String,
        problem: String,
        fix: String,
    },
    #[error("{file}: Cedar syntax error: {message}\n  fix: correct the Cedar syntax at the position shown")]
    CedarSyntax { file: String, message: String },
    #[error("{file}: {problem}\n  fix: {fix}")]
    CedarPolicyId { file: String, problem: String, fix: String },
    #[error("{file}: the policies do not validate against certior.cedarschema (strict): {message}\n  fix: use only the entities, attributes and actions of presets/certior.cedarschema")]
    CedarSchema { file: String, message: String },
    #[error("{file}: SHA-256 of the module is {actual} but preset.toml field `plugins[{index}].sha256` says {expected}\n  fix: rebuild the module or set `sha256 = \"{actual}\"` if this module is the intended one")]
    DigestMismatch {
        file: String,
        index: usize,
        expected: String,
        actual: String,
    },
    #[error("{file}: is not a usable plugin module: {reason}\n  fix: build it against Plugin ABI v1 (spec/API.md §5.6 item 4, §6.1, §16.2), e.g. with sdk/plugin")]
    InvalidModule { file: String, reason: String },
    #[error("{file}: the plugin host to check it with is unavailable: {message}\n  fix: correct CERTIOR_PLUGIN_TIMEOUT_MS / CERTIOR_PLUGIN_MEMORY_MIB")]
    PluginHostUnavailable { file: String, message: String },
    #[error("{file}: is not listed in preset.toml\n  fix: remove the file or list it under [[plugins]]")]
    UnlistedFile { file: String },
    #[error("{file}: preset name `{name}` is already used by preset `{other}`\n  fix: choose another key or alias")]
    NameConflict { file: String, name: String, other: String },
    #[error("{file}: trial evaluation failed in phase `{phase}`: {cause}\n  fix: the plugin must answer every input of its hooks with a verdict; run `certior preset test` on the folder to reproduce")]
    TrialFailed { file: String, phase: String, cause: String },
}

impl PresetError {
    /// The file the error is about, as the bundle names it (prefixed with the load's label).
    pub fn file(&self) -> &str {
        match self {
            Self::MissingFile { file, .. }
            | Self::Unreadable { file, .. }
            | Self::TomlSyntax { file, .. }
            | Self::UnknownField { file, .. }
            | Self::InvalidField { file, .. }
            | Self::CedarSyntax { file, .. }
            | Self::CedarPolicyId { file, .. }
            | Self::CedarSchema { file, .. }
            | Self::DigestMismatch { file, .. }
            | Self::InvalidModule { file, .. }
            | Self::PluginHostUnavailable { file, .. }
            | Self::UnlistedFile { file }
            | Self::NameConflict { file, .. }
            | Self::TrialFailed { file, .. } => file,
        }
    }

    /// The manifest field at fault, for errors that have one (dotted, e.g. `plugins[0].sha256`).
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::UnknownField { field, .. } | Self::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// What is wrong, without the file name in front and the fix after it: the `<reason>` of a
    /// rejected upload (spec §4.6.3).
    pub fn reason(&self) -> String {
        let text = self.to_string();
        let text = text
            .strip_prefix(self.file())
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(&text);
        text.split("\n  fix:").next().unwrap_or(text).to_owned()
    }

    pub(crate) fn from_cedar(file: &str, e: CedarError) -> Self {
        let file = file.to_owned();
        match e {
            CedarError::Syntax(message) => Self::CedarSyntax { file, message },
            CedarError::Schema(message) => Self::CedarSchema { file, message },
            other => Self::CedarPolicyId {
                file,
                problem: other.to_string(),
                fix: other.fix(),
            },
        }
    }
}
