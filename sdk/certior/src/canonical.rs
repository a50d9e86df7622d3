//! RFC 8785 (JCS) canonical JSON and the SHA-256 digests built on it.
//!
//! Everything Certior signs or chains is hashed over JCS bytes, so two parties that agree on a
//! JSON value agree on its hash whatever key order or number formatting they used.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// A value could not be rendered as canonical JSON (for example a non-finite float).
#[derive(Debug, thiserror::Error)]
#[error("value cannot be rendered as RFC 8785 canonical JSON: {0}")]
pub struct CanonicalError(String);

/// The RFC 8785 canonical UTF-8 bytes of `value`.
pub fn canonical_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    serde_jcs::to_vec(value).map_err(|e| CanonicalError(e.to_string()))
}

/// Lower-case hex SHA-256 of `bytes` ("bare hex").
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `sha256:` + lower-case hex SHA-256 of `bytes`: the digest form of spec §1.3.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// [`sha256_digest`] of the canonical bytes of `value`: the hash of a plan, a delegation
/// request or a glass-box record.
pub fn document_hash<T: Serialize + ?Sized>(value: &T) -> Result<String, CanonicalError> {
    Ok(sha256_digest(&canonical_bytes(value)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        let bytes = canonical_bytes(&json!({"b": 1, "a": [true, null, "x"], "c": 1.5})).unwrap();
        assert_eq!(bytes, br#"{"a":[true,null,"x"],"b":1,"c":1.5}"#);
    }

    #[test]
    fn digest_has_prefix_and_known_value() {
        assert_eq!(
            sha256_digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
