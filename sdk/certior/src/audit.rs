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
    let prepared = PreparedEvent::new(&event.subject_id, &event.kind, &event.data, event.timestamp)?;
    Ok(prepared.hash(prev_hash, event.seq))
}

/// An event's canonical form (JCS) with everything but `seq`, the one member that depends on
/// the chain: a writer prepares it before it takes the chain's head, and then only hashes. JCS
/// orders members by name, so `seq` falls between `data` and `subject_id`.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// `JCS(data)`.
    data: String,
    /// `,"subject_id":…,"timestamp":…,"type":…}`.
    tail: Vec<u8>,
}

impl PreparedEvent {
    pub fn new(subject_id: &str, kind: &str, data: &Value, timestamp: f64) -> Result<Self, CanonicalError> {
        let data = String::from_utf8(canonical_bytes(data)?).expect("JCS text is UTF-8");
        let mut tail = b",\"subject_id\":".to_vec();
        tail.extend(canonical_bytes(subject_id)?);
        tail.extend(b",\"timestamp\":");
        tail.extend(canonical_bytes(&timestamp)?);
        tail.extend(b",\"type\":");
        tail.extend(canonical_bytes(kind)?);
        tail.push(b'}');
        Ok(PreparedEvent { data, tail })
    }

    /// `JCS(data)`: valid JSON text of the event's data.
    pub fn data_json(&self) -> &str {
        &self.data
    }

    /// The event's hash at `seq`, after the event hashed `prev_hash`.
    pub fn hash(&self, prev_hash: &str, seq: u64) -> String {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(b"{\"data\":");
        hasher.update(self.data.as_bytes());
        hasher.update(b",\"seq\":");
        hasher.update(seq.to_string().as_bytes());
        hasher.update(&self.tail);
        hex::encode(hasher.finalize())
    }
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
    fn every_hash_matches_the_formula_whatever_the_event_holds() {
        let events = [
            (
                1,
                "exec-1",
                "execution.created",
                json!({"task": "Write \"notes\"\n\u{e9}\u{1F600}", "b": 1, "a": [true, null]}),
                1_796_036_803.678_376_7,
            ),
            (
                12,
                "wf-\u{e9}",
                "workflow.stage.completed",
                json!({"nested": {"z": 0.1, "y": -2.5e-7, "x": 1e21}}),
                0.0,
            ),
            (123_456, "e", "execution.failed", json!(null), 1.0),
        ];
        for (seq, subject_id, kind, data, timestamp) in events {
            let event = ChainEvent {
                seq,
                subject_id: subject_id.into(),
                kind: kind.into(),
                data,
                timestamp,
            };
            let mut bytes = GENESIS_HASH.as_bytes().to_vec();
            bytes.extend(canonical_bytes(&event).unwrap());
            assert_eq!(
                chain_hash(GENESIS_HASH, &event).unwrap(),
                hex::encode(Sha256::digest(&bytes))
            );
            let prepared = PreparedEvent::new(subject_id, kind, &event.data, timestamp).unwrap();
            assert_eq!(prepared.data_json().as_bytes(), canonical_bytes(&event.data).unwrap());
        }
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
