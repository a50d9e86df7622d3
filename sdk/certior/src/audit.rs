//! The tamper-evident event chain (spec §11.5): each event's hash covers the previous hash, so
//! changing, dropping or reordering any event breaks every later link.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::{canonical_bytes, CanonicalError};

/// `prev_hash` of the first event: 64 `0`s.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed part of one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainEvent {
    pub seq: u64,
    pub subject_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Value,
    pub timestamp: f64,
}

/// `hex(SHA-256(prev_hash ‖ JCS(event)))`, `prev_hash` taken as its 64 ASCII bytes.
pub fn chain_hash(prev_hash: &str, event: &ChainEvent) -> Result<String, CanonicalError> {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical_bytes(event)?);
    Ok(hex::encode(hasher.finalize()))
}

/// The verification report of spec §11.5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainVerification {
    pub algorithm: String,
    pub length: usize,
    /// Stored hash of the last event; `null` for an empty chain.
    pub head_hash: Option<String>,
    pub verified: bool,
    /// `seq` of the first event whose stored hash (or position) is wrong.
    pub first_invalid_seq: Option<u64>,
}

/// Recomputes every hash in order. `events` are `(event, stored hash)` sorted by `seq`; an event
/// whose `seq` is not its position (1-based) is invalid too, so gaps and reorderings are caught.
pub fn verify_chain(events: &[(ChainEvent, String)]) -> ChainVerification {
    let mut prev = GENESIS_HASH.to_owned();
    let mut first_invalid_seq = None;
    for (i, (event, stored)) in events.iter().enumerate() {
        let ok = event.seq == i as u64 + 1 && chain_hash(&prev, event).is_ok_and(|h| &h == stored);
        if !ok {
            first_invalid_seq = Some(event.seq);
            break;
        }
        prev = stored.clone();
    }
    ChainVerification {
        algorithm: "sha256".into(),
        length: events.len(),
        head_hash: events.last().map(|(_, h)| h.clone()),
        verified: first_invalid_seq.is_none(),
        first_invalid_seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: u64) -> Vec<(ChainEvent, String)> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let e = ChainEvent {
                    seq,
                    subject_id: "exec-1".into(),
                    kind: "step".into(),
                    data: json!({"i": seq}),
                    timestamp: 1_700_000_000.5 + seq as f64,
                };
                prev = chain_hash(&prev, &e).unwrap();
                (e, prev.clone())
            })
            .collect()
    }

    #[test]
    fn first_hash_matches_the_formula() {
        let c = chain(1);
        let mut bytes = GENESIS_HASH.as_bytes().to_vec();
        bytes.extend(canonical_bytes(&c[0].0).unwrap());
        assert_eq!(c[0].1, hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn intact_chain_verifies() {
        let v = verify_chain(&chain(5));
        assert!(v.verified);
        assert_eq!((v.length, v.first_invalid_seq), (5, None));
        assert_eq!(v.head_hash, Some(chain(5)[4].1.clone()));
    }

    #[test]
    fn tampered_event_names_the_first_bad_link() {
        let mut c = chain(5);
        c[2].0.data = json!({"i": 99});
        let v = verify_chain(&c);
        assert_eq!((v.verified, v.first_invalid_seq), (false, Some(3)));
    }

    #[test]
    fn dropped_event_is_detected() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify_chain(&c).first_invalid_seq, Some(3));
    }
}
