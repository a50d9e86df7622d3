//! The `keywords` plugin's `[plugins.config]`: one plugin, three rule sets (PHI keywords,
//! MNPI keywords and patterns, privilege markers), chosen entirely by configuration.

use std::collections::BTreeMap;

use certior_plugin::Category;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Category of every violation (`phi_exposure`, `mnpi_leak`, `privilege_waiver`).
    pub category: Category,
    /// Data label added when anything is found (`PHI`, `MNPI`, `PRIVILEGED`).
    pub label: String,
    /// Violation code for keyword hits (`phi_keyword`, …); required when `keywords` is set.
    #[serde(default)]
    pub keyword_code: Option<String>,
    /// Case-insensitive substrings; every non-overlapping occurrence of each is reported.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Violation code for pattern hits (`mnpi_pattern`); required when `patterns` is set.
    #[serde(default)]
    pub pattern_code: Option<String>,
    /// Case-insensitive regular expressions (linear-time syntax; `\b` and `\d` are ASCII).
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Task class → keywords not checked for executions of that class (spec/API.md §6.5).
    #[serde(default)]
    pub exempt_for_task_class: BTreeMap<String, Vec<String>>,
}
