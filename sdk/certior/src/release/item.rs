//! Remediation items (spec/RELEASES.md §3.5, §3.7): what every release gate produces, their
//! message templates, and the one fixed order in which responses list them.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::catalogue;

/// How much an item matters. Only `Blocking` items stop a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemSeverity {
    Blocking,
    Degraded,
    Info,
}

impl ItemSeverity {
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "blocking" => Some(Self::Blocking),
            "degraded" => Some(Self::Degraded),
            "info" => Some(Self::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blocking => "blocking",
            Self::Degraded => "degraded",
            Self::Info => "info",
        }
    }

    /// Sort rank: blocking 0, degraded 1, info 2.
    fn rank(self) -> u8 {
        self as u8
    }
}

/// One remediation item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemediationItem {
    pub code: String,
    pub severity: ItemSeverity,
    pub owner_subsystem: String,
    pub message: String,
    pub remediation_steps: Vec<String>,
    pub evidence_id: Option<String>,
}

/// Placeholder values for one item (`{repo}`, `{item}`, …).
pub type Vars = BTreeMap<&'static str, String>;

/// Replaces every `{name}` whose name is in `vars`; unknown placeholders stay as written.
pub fn render(template: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) if vars.contains_key(&after[..end]) => {
                out.push_str(&vars[&after[..end]]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl RemediationItem {
    /// The catalogue item `code` rendered with `vars`.
    ///
    /// # Panics
    /// When `code` is not a catalogue code: callers name catalogue codes literally.
    pub fn catalogue(code: &str, vars: &Vars, evidence_id: Option<String>) -> Self {
        let entry = catalogue::lookup(code).unwrap_or_else(|| panic!("`{code}` is not a catalogue code"));
        RemediationItem {
            code: code.to_owned(),
            severity: entry.severity,
            owner_subsystem: render(entry.owner, vars),
            message: render(entry.message, vars),
            remediation_steps: entry.steps.iter().map(|s| render(s, vars)).collect(),
            evidence_id,
        }
    }

    fn sort_key(&self) -> (u8, u32, &str, &str, &str, &str) {
        (
            self.severity.rank(),
            catalogue::rank(&self.code),
            &self.code,
            &self.owner_subsystem,
            &self.message,
            self.evidence_id.as_deref().unwrap_or(""),
        )
    }
}

/// Sorts by severity, catalogue rank, code, owner, message and evidence id, then drops
/// repeats of `(code, owner_subsystem, message)`, keeping the first (spec §3.7).
pub fn order_and_dedupe(mut items: Vec<RemediationItem>) -> Vec<RemediationItem> {
    items.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let mut seen = HashSet::new();
    items.retain(|item| seen.insert((item.code.clone(), item.owner_subsystem.clone(), item.message.clone())));
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(code: &str, severity: ItemSeverity, message: &str, evidence: Option<&str>) -> RemediationItem {
        RemediationItem {
            code: code.into(),
            severity,
            owner_subsystem: "x".into(),
            message: message.into(),
            remediation_steps: Vec::new(),
            evidence_id: evidence.map(str::to_owned),
        }
    }

    #[test]
    fn templates_keep_unknown_placeholders() {
        let vars = Vars::from([("repo", "acme/widget".to_owned()), ("commit", "abc".to_owned())]);
        assert_eq!(render("{repo}@{commit} {nope} {", &vars), "acme/widget@abc {nope} {");
        let missing = RemediationItem::catalogue("snapshot_missing", &vars, None);
        assert_eq!(missing.message, "No release evidence for acme/widget@abc");
        assert_eq!(missing.owner_subsystem, "evidence_ingest");
    }

    #[test]
    fn order_is_severity_then_rank_then_text_and_repeats_collapse() {
        use ItemSeverity::*;
        let items = vec![
            item("optional_check_failed", Degraded, "b", None),
            item("zzz_custom", Blocking, "m", None),
            item("attestation_required", Blocking, "a", None),
            item("required_check_failed", Blocking, "b", Some("ev_2")),
            item("required_check_failed", Blocking, "b", Some("ev_1")),
            item("aaa_custom", Blocking, "m", None),
            item("note", Info, "i", None),
        ];
        let codes: Vec<_> = order_and_dedupe(items)
            .into_iter()
            .map(|i| (i.code, i.evidence_id))
            .collect();
        assert_eq!(
            codes,
            [
                ("required_check_failed".to_owned(), Some("ev_1".to_owned())),
                ("attestation_required".to_owned(), None),
                ("aaa_custom".to_owned(), None),
                ("zzz_custom".to_owned(), None),
                ("optional_check_failed".to_owned(), None),
                ("note".to_owned(), None),
            ]
        );
    }
}
