//! The `preset.toml` format (spec §5.2): the typed manifest and its semantic validation.
//!
//! Serde rejects unknown keys and wrong types; [`Manifest::validate`] adds the rules serde cannot
//! express (patterns, bounds, known hooks and categories, capability syntax).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::capability;

/// Content categories of spec §6.2 (exactly these 15).
pub const CATEGORIES: [&str; 15] = [
    "controlled_substances",
    "criminal_planning",
    "weapons",
    "harassment",
    "hate_bias_pii",
    "profanity",
    "sexual_content",
    "threats",
    "unauthorized_advice",
    "violence",
    "prompt_injection",
    "phi_exposure",
    "mnpi_leak",
    "privilege_waiver",
    "itar_controlled",
];

/// A parsed `preset.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema_version: i64,
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub retention_days: i64,
    #[serde(default)]
    pub required_proofs: Vec<String>,
    #[serde(default)]
    pub human_approvals: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub permissions: Permissions,
    #[serde(default)]
    pub flow_rules: Vec<FlowRule>,
    #[serde(default)]
    pub audit: Audit,
    #[serde(default)]
    pub content: ContentPolicy,
    #[serde(default)]
    pub plugins: Vec<PluginEntry>,
}

/// `[permissions]`: defaults, ceiling and hard deny list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    pub default: Vec<String>,
    #[serde(default)]
    pub max: Vec<String>,
    #[serde(default)]
    pub forbidden: Vec<String>,
}

/// `[[flow_rules]]`: where data carrying the label `source` may go (spec §7.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlowRule {
    pub source: String,
    #[serde(default)]
    pub allowed_destinations: Vec<String>,
    #[serde(default)]
    pub forbidden_destinations: Vec<String>,
}

/// `[audit]`: descriptive flags copied into exports. Absent flags take the `default` preset's
/// values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    #[serde(default)]
    pub log_all_access: bool,
    #[serde(default = "yes")]
    pub include_user_id: bool,
    #[serde(default)]
    pub tamper_proof: bool,
    #[serde(default)]
    pub segregation_of_duties: bool,
}

fn yes() -> bool {
    true
}

impl Default for Audit {
    fn default() -> Self {
        Self {
            log_all_access: false,
            include_user_id: true,
            tamper_proof: false,
            segregation_of_duties: false,
        }
    }
}

/// `[content]`: the host category policy (spec §6.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentPolicy {
    #[serde(default)]
    pub blocked_categories: Vec<String>,
    #[serde(default)]
    pub warn_categories: Vec<String>,
}

/// A plugin hook (spec §5.2, §6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Hook {
    ToolCall,
    Content,
    Stage,
    Release,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToolCall => "tool_call",
            Self::Content => "content",
            Self::Stage => "stage",
            Self::Release => "release",
        }
    }
}

/// `[[plugins]]`: one Wasm module pinned by digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub hooks: Vec<Hook>,
    #[serde(default)]
    pub provides: Vec<String>,
    #[serde(default)]
    pub config: serde_json::Map<String, serde_json::Value>,
}

/// A manifest rule violation: the dotted field path, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
    pub fix: String,
}

fn problem(field: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// `^[a-z][a-z0-9_]{1,39}$` (preset keys and aliases).
pub fn is_valid_key(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=40).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `^[a-z][a-z0-9_-]{0,39}$` (plugin names).
fn is_valid_plugin_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=40).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

fn is_bare_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

impl Manifest {
    /// Checks the rules of spec §5.2 and §5.6 (1, 2) that the types alone do not enforce.
    pub fn validate(&self) -> Result<(), FieldProblem> {
        if self.schema_version != 1 {
            return Err(problem(
                "schema_version",
                format!("is {}", self.schema_version),
                "set `schema_version = 1`",
            ));
        }
        if !is_valid_key(&self.key) {
            return Err(problem(
                "key",
                format!("`{}` does not match ^[a-z][a-z0-9_]{{1,39}}$", self.key),
                "use 2..40 lower-case letters, digits or `_`, starting with a letter",
            ));
        }
        if self.name.trim().is_empty() {
            return Err(problem("name", "is empty", "give the preset a display name"));
        }
        for (i, alias) in self.aliases.iter().enumerate() {
            if !is_valid_key(alias) {
                return Err(problem(
                    format!("aliases[{i}]"),
                    format!("`{alias}` does not match ^[a-z][a-z0-9_]{{1,39}}$"),
                    "use 2..40 lower-case letters, digits or `_`, starting with a letter",
                ));
            }
            if *alias == self.key {
                return Err(problem(
                    format!("aliases[{i}]"),
                    "repeats the preset key",
                    "remove the alias",
                ));
            }
        }
        if self.retention_days < 1 {
            return Err(problem(
                "retention_days",
                format!("is {}", self.retention_days),
                "use a number of days ≥ 1",
            ));
        }
        for (section, list) in [
            ("permissions.default", &self.permissions.default),
            ("permissions.max", &self.permissions.max),
            ("permissions.forbidden", &self.permissions.forbidden),
        ] {
            for (i, p) in list.iter().enumerate() {
                if let Err(e) = capability::validate(p) {
                    return Err(problem(
                        format!("{section}[{i}]"),
                        e.to_string(),
                        "fix the permission string",
                    ));
                }
            }
        }
        for (i, rule) in self.flow_rules.iter().enumerate() {
            if rule.source.trim().is_empty() {
                return Err(problem(
                    format!("flow_rules[{i}].source"),
                    "is empty",
                    "name the data label, e.g. `PHI`",
                ));
            }
            if rule.allowed_destinations.is_empty() && rule.forbidden_destinations.is_empty() {
                return Err(problem(
                    format!("flow_rules[{i}]"),
                    "has neither allowed nor forbidden destinations",
                    "list `allowed_destinations` or `forbidden_destinations`",
                ));
            }
        }
        for (field, list) in [
            ("content.blocked_categories", &self.content.blocked_categories),
            ("content.warn_categories", &self.content.warn_categories),
        ] {
            for (i, c) in list.iter().enumerate() {
                if !CATEGORIES.contains(&c.as_str()) {
                    return Err(problem(
                        format!("{field}[{i}]"),
                        format!("`{c}` is not a content category"),
                        format!("use one of: {}", CATEGORIES.join(", ")),
                    ));
                }
            }
        }
        self.validate_plugins()
    }

    fn validate_plugins(&self) -> Result<(), FieldProblem> {
        for (i, p) in self.plugins.iter().enumerate() {
            let at = |f: &str| format!("plugins[{i}].{f}");
            if !is_valid_plugin_name(&p.name) {
                return Err(problem(
                    at("name"),
                    format!("`{}` does not match ^[a-z][a-z0-9_-]{{0,39}}$", p.name),
                    "use up to 40 lower-case letters, digits, `_` or `-`, starting with a letter",
                ));
            }
            if self.plugins[..i].iter().any(|q| q.name == p.name) {
                return Err(problem(
                    at("name"),
                    format!("`{}` is used twice", p.name),
                    "give every plugin a unique name",
                ));
            }
            let plain = !p.file.contains('/') && !p.file.contains('\\') && p.file != ".wasm";
            if !(plain && p.file.ends_with(".wasm")) {
                return Err(problem(
                    at("file"),
                    format!("`{}` is not a `*.wasm` file name in the preset folder", p.file),
                    "name a module file next to preset.toml, e.g. `pii.wasm`",
                ));
            }
            if !is_bare_sha256(&p.sha256) {
                return Err(problem(
                    at("sha256"),
                    format!("`{}` is not 64 lower-case hex characters", p.sha256),
                    format!(
                        "set it to the output of `sha256sum {}` (bare hex, no `sha256:` prefix)",
                        p.file
                    ),
                ));
            }
            if p.hooks.is_empty() {
                return Err(problem(
                    at("hooks"),
                    "is empty",
                    "list at least one of tool_call, content, stage, release",
                ));
            }
            if p.provides.iter().any(|s| s.trim().is_empty()) {
                return Err(problem(at("provides"), "contains an empty string", "remove it"));
            }
        }
        Ok(())
    }

    /// The ceiling of spec §7.1: `None` when open, else the closed list.
    pub fn ceiling(&self) -> Option<&[String]> {
        let p = &self.permissions;
        if !p.max.is_empty() {
            if p.max.len() == 1 && p.max[0] == "*" {
                None
            } else {
                Some(&p.max)
            }
        } else if p.default.len() == 1 && p.default[0] == "*" {
            None
        } else {
            Some(&p.default)
        }
    }

    /// `max_permissions`, or the defaults when it is empty (spec §8.5).
    pub fn max_or_default(&self) -> &[String] {
        if self.permissions.max.is_empty() {
            &self.permissions.default
        } else {
            &self.permissions.max
        }
    }
}
