//! The effective human state of a snapshot (spec/RELEASES.md §6.2): its last promotion event
//! by `(created_at, seq)` decides, and the earlier ones are history.

use crate::store::PromotionRecord;

/// The statuses a promotion may carry.
pub const STATUSES: [&str; 3] = ["attested", "rejected", "revoked"];

/// The last event of `events` (any order), or `None`.
pub fn effective(events: &[PromotionRecord]) -> Option<&PromotionRecord> {
    events
        .iter()
        .max_by(|a, b| a.created_at.total_cmp(&b.created_at).then(a.seq.cmp(&b.seq)))
}

/// `none`, `attested`, `rejected` or `revoked`.
pub fn state(events: &[PromotionRecord]) -> &str {
    effective(events).map_or("none", |p| p.status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, status: &str, created_at: f64) -> PromotionRecord {
        PromotionRecord {
            id: format!("p{seq}"),
            seq,
            snapshot_id: "s".into(),
            commit_sha: "c".into(),
            status: status.into(),
            release_label: None,
            reason: "r".into(),
            bound_artifact_digest: None,
            operator_identity: "o".into(),
            operator_user_id: "u".into(),
            operator_role: "admin".into(),
            claimed_operator_identity: None,
            requested_commit_sha: None,
            created_at,
        }
    }

    #[test]
    fn the_last_event_decides_with_ties_to_the_sequence() {
        assert_eq!(state(&[]), "none");
        let events = [
            event(1, "attested", 10.0),
            event(2, "revoked", 20.0),
            event(3, "attested", 20.0),
        ];
        assert_eq!(effective(&events).unwrap().id, "p3");
        assert_eq!(state(&events[..2]), "revoked");
    }
}
