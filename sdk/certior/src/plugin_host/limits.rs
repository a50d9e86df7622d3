//! The limits every plugin evaluation runs under.

use std::path::PathBuf;
use std::time::Duration;

/// Limits and tuning of the plugin host. `Default` gives the spec defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLimits {
    /// Deadline per evaluation (`CERTIOR_PLUGIN_TIMEOUT_MS`, default 250 ms). Also bounds
    /// `certior_init` during pre-initialization.
    pub timeout: Duration,
    /// Linear-memory cap per instance (`CERTIOR_PLUGIN_MEMORY_MIB`, default 64 MiB).
    pub memory_mib: usize,
    /// Largest answer accepted, in bytes.
    pub max_answer_bytes: usize,
    /// Instances that may run at once across all plugins of the host (the pool size). Every
    /// slot reserves address space up front, so this is sized for concurrency, not for plugins.
    pub max_instances: u32,
    /// Where compiled modules are cached by digest; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
}

impl Default for PluginLimits {
    fn default() -> PluginLimits {
        PluginLimits {
            timeout: Duration::from_millis(250),
            memory_mib: 64,
            max_answer_bytes: 1 << 20,
            max_instances: 128,
            cache_dir: None,
        }
    }
}

impl PluginLimits {
    /// The defaults with `CERTIOR_PLUGIN_TIMEOUT_MS` and `CERTIOR_PLUGIN_MEMORY_MIB` applied.
    pub fn from_env() -> Result<PluginLimits, String> {
        let var = |name: &str| std::env::var(name).ok();
        PluginLimits::from_vars(
            var("CERTIOR_PLUGIN_TIMEOUT_MS").as_deref(),
            var("CERTIOR_PLUGIN_MEMORY_MIB").as_deref(),
        )
    }

    fn from_vars(timeout_ms: Option<&str>, memory_mib: Option<&str>) -> Result<PluginLimits, String> {
        let mut limits = PluginLimits::default();
        if let Some(value) = timeout_ms {
            limits.timeout = Duration::from_millis(positive("CERTIOR_PLUGIN_TIMEOUT_MS", value)?);
        }
        if let Some(value) = memory_mib {
            limits.memory_mib = positive("CERTIOR_PLUGIN_MEMORY_MIB", value)? as usize;
        }
        Ok(limits)
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.memory_mib << 20
    }
}

fn positive(name: &str, value: &str) -> Result<u64, String> {
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 && n <= 1 << 20 => Ok(n),
        _ => Err(format!(
            "{name} must be a whole number from 1 to 1048576, got `{value}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(PluginLimits::from_vars(None, None).unwrap(), PluginLimits::default());
        assert_eq!(PluginLimits::default().timeout, Duration::from_millis(250));
        assert_eq!(PluginLimits::default().memory_bytes(), 64 << 20);
        let limits = PluginLimits::from_vars(Some("100"), Some(" 16 ")).unwrap();
        assert_eq!((limits.timeout, limits.memory_mib), (Duration::from_millis(100), 16));
        for bad in ["0", "-1", "ten", ""] {
            assert!(PluginLimits::from_vars(Some(bad), None)
                .unwrap_err()
                .contains("CERTIOR_PLUGIN_TIMEOUT_MS"));
            assert!(PluginLimits::from_vars(None, Some(bad))
                .unwrap_err()
                .contains("CERTIOR_PLUGIN_MEMORY_MIB"));
        }
    }
}
