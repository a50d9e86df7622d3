//! The per-repo release policy (spec/RELEASES.md §1.5): the stored one, or the default until
//! one is stored.

use serde_json::{json, Value};

use crate::store::{RepoRecord, StoredReleasePolicy};

/// The policy a decision applies, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectivePolicy {
    pub presets: Vec<String>,
    pub required_checks: Vec<String>,
    pub required_properties: Vec<String>,
    pub require_attestation: bool,
    pub require_reviewed_workflow: bool,
    pub max_evidence_age_days: Option<i64>,
    /// `None` for the default policy.
    pub stored: Option<(i64, f64, String)>,
}

impl EffectivePolicy {
    pub fn default_policy() -> Self {
        EffectivePolicy {
            presets: vec!["default".into()],
            required_checks: Vec::new(),
            required_properties: Vec::new(),
            require_attestation: true,
            require_reviewed_workflow: false,
            max_evidence_age_days: None,
            stored: None,
        }
    }

    pub fn of(stored: Option<StoredReleasePolicy>) -> Self {
        match stored {
            None => Self::default_policy(),
            Some(p) => EffectivePolicy {
                presets: p.presets,
                required_checks: p.required_checks,
                required_properties: p.required_properties,
                require_attestation: p.require_attestation,
                require_reviewed_workflow: p.require_reviewed_workflow,
                max_evidence_age_days: p.max_evidence_age_days,
                stored: Some((p.version, p.updated_at, p.updated_by)),
            },
        }
    }

    /// The age limit in days: the policy's, else the server's.
    pub fn effective_age_days(&self, server_default: i64) -> i64 {
        self.max_evidence_age_days.unwrap_or(server_default)
    }

    /// The §2.6 response body for `repo_key` (the requested key when the repo is unknown).
    pub fn to_json(&self, repo_key: &str, repo: Option<&RepoRecord>, server_default: i64) -> Value {
        let (version, updated_at, updated_by) = match &self.stored {
            Some((version, at, by)) => (json!(version), json!(at), json!(by)),
            None => (json!(0), Value::Null, Value::Null),
        };
        json!({
            "repo_root": repo.map_or(repo_key, |r| r.key.as_str()),
            "presets": self.presets,
            "required_checks": self.required_checks,
            "required_properties": self.required_properties,
            "require_attestation": self.require_attestation,
            "require_reviewed_workflow": self.require_reviewed_workflow,
            "max_evidence_age_days": self.max_evidence_age_days,
            "effective_max_evidence_age_days": self.effective_age_days(server_default),
            "aliases": repo.map(|r| r.aliases.clone()).unwrap_or_default(),
            "is_default": self.stored.is_none(),
            "version": version,
            "updated_at": updated_at,
            "updated_by": updated_by,
        })
    }
}
