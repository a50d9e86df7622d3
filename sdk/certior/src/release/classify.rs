//! Classification of a decision (spec/RELEASES.md §3.6): SHIP only when nothing blocks.

use serde::Serialize;

use super::item::{ItemSeverity, RemediationItem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionStatus {
    /// The repo or snapshot was not resolved.
    Unknown,
    /// Something other than the missing attestation blocks.
    Blocked,
    /// Machine gates pass; only the human attestation is missing.
    Ready,
    /// Nothing blocks: the one status that ships.
    Attested,
}

impl DecisionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Blocked => "blocked",
            Self::Ready => "ready",
            Self::Attested => "attested",
        }
    }

    /// `SHIP` iff attested; everything else is `NO_SHIP`.
    pub fn decision(self) -> &'static str {
        if self == Self::Attested {
            "SHIP"
        } else {
            "NO_SHIP"
        }
    }
}

/// The status of a resolved snapshot's ordered items.
pub fn classify(items: &[RemediationItem]) -> DecisionStatus {
    let mut blocking = items.iter().filter(|i| i.severity == ItemSeverity::Blocking).peekable();
    if blocking.peek().is_none() {
        return DecisionStatus::Attested;
    }
    if blocking.all(|i| i.code == "attestation_required") {
        DecisionStatus::Ready
    } else {
        DecisionStatus::Blocked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(code: &str, severity: ItemSeverity) -> RemediationItem {
        RemediationItem {
            code: code.into(),
            severity,
            owner_subsystem: String::new(),
            message: String::new(),
            remediation_steps: Vec::new(),
            evidence_id: None,
        }
    }

    #[test]
    fn only_the_missing_attestation_leaves_a_commit_ready() {
        use ItemSeverity::*;
        assert_eq!(classify(&[]), DecisionStatus::Attested);
        assert_eq!(
            classify(&[item("optional_check_failed", Degraded)]),
            DecisionStatus::Attested
        );
        assert_eq!(
            classify(&[item("attestation_required", Blocking)]),
            DecisionStatus::Ready
        );
        assert_eq!(
            classify(&[item("attestation_required", Blocking), item("stale_evidence", Blocking)]),
            DecisionStatus::Blocked
        );
        assert_eq!(DecisionStatus::Ready.decision(), "NO_SHIP");
        assert_eq!(DecisionStatus::Attested.decision(), "SHIP");
    }
}
