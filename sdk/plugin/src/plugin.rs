//! The trait a plugin author implements.

use serde::de::DeserializeOwned;

use crate::{Input, Verdict};

/// A content-checking plugin.
///
/// `new` runs once per preset load (inside `certior_init` during pre-initialization, whose
/// memory the host snapshots), so it is the place for everything expensive. `evaluate` runs in
/// a fresh instance for every call and should take a fast path when the content is clean.
pub trait Plugin: Sized + Send + 'static {
    /// The `[plugins.config]` table of `preset.toml`. A missing table arrives as `{}`.
    type Config: DeserializeOwned;

    /// Build the plugin from its configuration. An `Err` makes every evaluation a
    /// `plugin_error` denial carrying the message, so say what is wrong and where.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Judge one input. Never quote secret material in violation messages.
    fn evaluate(&self, input: &Input) -> Verdict;
}
