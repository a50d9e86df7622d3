//! What can go wrong, always naming the plugin, so that the `plugin_error` denial or the preset
//! load failure says which module failed and why.

use thiserror::Error;

/// The engine could not be set up (e.g. the instance pool could not reserve address space).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("plugin host: {0}")]
pub struct PluginHostError(pub String);

/// A module that cannot be used; its preset must not load.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("plugin `{plugin}`: {cause}")]
pub struct PluginLoadError {
    pub plugin: String,
    pub cause: PluginLoadCause,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PluginLoadCause {
    #[error("invalid module: {0}")]
    Compile(String),
    #[error("missing export `{0}`")]
    MissingExport(&'static str),
    #[error("export `{export}` must be {expected}")]
    ExportType { export: &'static str, expected: String },
    #[error("forbidden import `{module}.{name}` (only `certior.config_len` and `certior.config_read` are allowed)")]
    ForbiddenImport { module: String, name: String },
    #[error("`certior_abi_version` returned {0}, expected 1")]
    AbiVersion(i32),
    #[error("pre-initialization failed: {0}")]
    Init(String),
    #[error("could not instantiate: {0}")]
    Instantiate(String),
    #[error("configuration cannot be encoded: {0}")]
    Config(String),
}

/// An evaluation that produced no usable answer: the caller denies with code `plugin_error`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("plugin `{plugin}`: {cause}")]
pub struct PluginError {
    pub plugin: String,
    pub cause: PluginErrorCause,
}

impl PluginError {
    /// The denial code every plugin failure maps to.
    pub const CODE: &'static str = "plugin_error";
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PluginErrorCause {
    #[error("trapped: {0}")]
    Trap(String),
    #[error("deadline of {0} ms exceeded")]
    Timeout(u64),
    #[error("memory cap of {0} MiB reached")]
    MemoryExhausted(usize),
    #[error("no instance available: {0}")]
    Instantiate(String),
    #[error("`certior_alloc` gave no valid buffer for {0} bytes of input")]
    Alloc(usize),
    #[error("answer of {len} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge { len: usize, limit: usize },
    #[error("malformed answer: {0}")]
    MalformedAnswer(String),
    #[error("`redact` answer without `redacted` text")]
    RedactWithoutText,
    #[error("`redact` is not allowed in phase `{0}`")]
    RedactNotAllowed(&'static str),
}
