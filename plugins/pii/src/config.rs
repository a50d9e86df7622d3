//! The `pii` plugin's `[plugins.config]`.

use serde::Deserialize;

/// What a match does (spec/API.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `hipaa`: outputs are redacted; tool inputs, stages and releases are denied.
    Redact,
    /// `default`: every match denies, in every phase; nothing is redacted.
    Block,
}

/// `mode` is required: silently defaulting either way would change what a preset enforces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
}
