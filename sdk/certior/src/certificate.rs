//! Signed documents (spec §11.1, §11.2): certificates and anything else signed the same way.
//!
//! The signature covers the JCS bytes of the document without its `signature` member, so anyone
//! holding the listed public keys can check a certificate offline.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::{canonical_bytes, CanonicalError};
use crate::signing::{key_id, PublicKeyEntry, SigningKeyring};

/// A certificate (spec §11.2), in field order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub version: u32,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub theorem: String,
    pub subject: Value,
    pub plan_hash: String,
    pub verified_properties: Vec<String>,
    pub policy_ids: Vec<String>,
    pub prover: String,
    pub preset_key: String,
    pub preset_digest: String,
    pub plugin_digests: BTreeMap<String, String>,
    pub issued_at: f64,
    pub expires_at: f64,
    pub key_id: String,
    /// Empty only while the certificate is being signed, when it is left out of the JSON: the
    /// signature covers the rest.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

/// A certificate's content before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateContent {
    pub kind: String,
    pub theorem: String,
    pub subject: Value,
    pub plan_hash: String,
    pub verified_properties: Vec<String>,
    pub policy_ids: Vec<String>,
    pub prover: String,
    pub preset_key: String,
    pub preset_digest: String,
    pub plugin_digests: BTreeMap<String, String>,
    pub issued_at: f64,
    /// `retention_days` of the preset; `expires_at = issued_at + retention_days × 86400`.
    pub retention_days: i64,
}

impl SigningKeyring {
    /// Sets `key_id` and `signature` on a JSON object: the signature covers the JCS of the object
    /// with `key_id` set and without `signature`.
    pub fn sign_document(&self, document: &mut Map<String, Value>) -> Result<(), CanonicalError> {
        document.remove("signature");
        document.insert("key_id".into(), Value::from(self.key_id()));
        let bytes = canonical_bytes(&*document)?;
        document.insert("signature".into(), Value::from(self.sign_bytes(&bytes)));
        Ok(())
    }

    /// Issues a certificate with a fresh UUID.
    pub fn issue(&self, content: CertificateContent) -> Result<Certificate, CanonicalError> {
        let mut cert = Certificate {
            version: 1,
            id: uuid::Uuid::new_v4().to_string(),
            kind: content.kind,
            theorem: content.theorem,
            subject: content.subject,
            plan_hash: content.plan_hash,
            verified_properties: content.verified_properties,
            policy_ids: content.policy_ids,
            prover: content.prover,
            preset_key: content.preset_key,
            preset_digest: content.preset_digest,
            plugin_digests: content.plugin_digests,
            expires_at: content.issued_at + (content.retention_days as f64) * 86_400.0,
            issued_at: content.issued_at,
            key_id: self.key_id().to_owned(),
            signature: String::new(),
        };
        // What `sign_document` signs for this certificate's JSON, without building the JSON.
        cert.signature = self.sign_bytes(&canonical_bytes(&cert)?);
        Ok(cert)
    }
}

/// The public keys a verifier trusts (from `GET /trust/keys` or a keys file).
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

/// A keys document could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("the keys document is not `{{\"keys\": [...]}}` or a list of keys: {0}")]
    Shape(String),
    #[error("key `{key_id}`: public_key is not 32 bytes of unpadded base64url")]
    BadKey { key_id: String },
    #[error("key `{key_id}`: the key_id does not match its public key (expected `{actual}`)")]
    KeyIdMismatch { key_id: String, actual: String },
}

impl TrustedKeys {
    pub fn from_entries(entries: &[PublicKeyEntry]) -> Result<Self, KeysError> {
        let mut keys = BTreeMap::new();
        for e in entries {
            let bytes = URL_SAFE_NO_PAD
                .decode(e.public_key.trim_end_matches('='))
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| VerifyingKey::from_bytes(&b).ok())
                .ok_or_else(|| KeysError::BadKey {
                    key_id: e.key_id.clone(),
                })?;
            let actual = key_id(&bytes);
            if actual != e.key_id {
                return Err(KeysError::KeyIdMismatch {
                    key_id: e.key_id.clone(),
                    actual,
                });
            }
            keys.insert(actual, bytes);
        }
        Ok(Self { keys })
    }

    /// Reads the `GET /trust/keys` body (`{"keys": [...]}`) or a bare list of key entries.
    pub fn from_json(value: &Value) -> Result<Self, KeysError> {
        let list = value.get("keys").unwrap_or(value);
        let entries: Vec<PublicKeyEntry> =
            serde_json::from_value(list.clone()).map_err(|e| KeysError::Shape(e.to_string()))?;
        Self::from_entries(&entries)
    }

    pub fn get(&self, key_id: &str) -> Option<&VerifyingKey> {
        self.keys.get(key_id)
    }
}

/// Why a document is not valid (spec §4.10.2, in priority order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum InvalidReason {
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
    /// A token the server's store marks revoked; never produced by the offline checks here.
    Revoked,
}

/// The result of checking a signed document (the fields of `POST /trust/verify` that do not
/// need server state; `revoked` is the store's business).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentVerification {
    pub valid: bool,
    pub key_id: Option<String>,
    pub signature_valid: bool,
    pub expired: bool,
    pub reason: Option<InvalidReason>,
}

/// Verifies a signed JSON document (certificate or compliance package) against `keys` at time
/// `now` (seconds since the epoch). `expires_at`, when present, must be in the future.
pub fn verify_document(document: &Value, keys: &TrustedKeys, now: f64) -> DocumentVerification {
    let fail = DocumentVerification::failed;
    let Some(map) = document.as_object() else {
        return fail(None, InvalidReason::Malformed);
    };
    let key_id = map.get("key_id").and_then(Value::as_str).map(str::to_owned);
    let signature = map
        .get("signature")
        .and_then(Value::as_str)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b));
    let expires_at = match map.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(t) => Some(t),
            None => return fail(key_id, InvalidReason::Malformed),
        },
    };
    let (Some(kid), Some(signature)) = (key_id.clone(), signature) else {
        return fail(key_id, InvalidReason::Malformed);
    };
    let Some(public) = keys.get(&kid) else {
        return fail(key_id, InvalidReason::UnknownKey);
    };
    let mut unsigned = map.clone();
    unsigned.remove("signature");
    let Ok(bytes) = canonical_bytes(&unsigned) else {
        return fail(key_id, InvalidReason::Malformed);
    };
    let signature_valid = public.verify_strict(&bytes, &signature).is_ok();
    DocumentVerification::checked(key_id, signature_valid, expires_at.is_some_and(|t| t <= now))
}

impl DocumentVerification {
    /// A document that could not be checked that far: malformed or signed by an unknown key.
    pub(crate) fn failed(key_id: Option<String>, reason: InvalidReason) -> Self {
        Self {
            valid: false,
            key_id,
            signature_valid: false,
            expired: false,
            reason: Some(reason),
        }
    }

    /// The outcome once the signature and the expiry are known; a bad signature is reported first.
    pub(crate) fn checked(key_id: Option<String>, signature_valid: bool, expired: bool) -> Self {
        let reason = if !signature_valid {
            Some(InvalidReason::BadSignature)
        } else if expired {
            Some(InvalidReason::Expired)
        } else {
            None
        };
        Self {
            valid: reason.is_none(),
            key_id,
            signature_valid,
            expired,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(ring: &SigningKeyring) -> Certificate {
        ring.issue(CertificateContent {
            kind: "proof_certificate".into(),
            theorem: "action_safe".into(),
            subject: json!({"execution_id": "e", "step_index": 0, "tool": "file_read", "user_id": "u"}),
            plan_hash: "sha256:00".into(),
            verified_properties: vec!["capability_coverage: proven".into()],
            policy_ids: vec![],
            prover: "guard".into(),
            preset_key: "hipaa".into(),
            preset_digest: "sha256:11".into(),
            plugin_digests: BTreeMap::new(),
            issued_at: 1_000.0,
            retention_days: 1,
        })
        .unwrap()
    }

    #[test]
    fn issued_certificate_verifies_and_expires_per_retention() {
        let ring = SigningKeyring::from_seed([3u8; 32], 0.0);
        let cert = sample(&ring);
        assert_eq!(cert.expires_at, 1_000.0 + 86_400.0);
        let keys = TrustedKeys::from_json(&json!({"keys": ring.public_keys()})).unwrap();
        let doc = serde_json::to_value(&cert).unwrap();
        let ok = verify_document(&doc, &keys, 2_000.0);
        assert!(ok.valid, "{ok:?}");
        let late = verify_document(&doc, &keys, 1_000.0 + 86_400.0);
        assert_eq!(
            (late.valid, late.signature_valid, late.reason),
            (false, true, Some(InvalidReason::Expired))
        );
    }

    #[test]
    fn tampered_certificate_is_rejected() {
        let ring = SigningKeyring::from_seed([3u8; 32], 0.0);
        let keys = TrustedKeys::from_entries(ring.public_keys()).unwrap();
        let mut doc = serde_json::to_value(sample(&ring)).unwrap();
        doc["verified_properties"] = json!(["capability_coverage: proven", "authorization: proven"]);
        let v = verify_document(&doc, &keys, 2_000.0);
        assert_eq!(
            (v.valid, v.signature_valid, v.reason),
            (false, false, Some(InvalidReason::BadSignature))
        );
    }

    #[test]
    fn unknown_key_and_malformed_documents() {
        let ring = SigningKeyring::from_seed([3u8; 32], 0.0);
        let other = SigningKeyring::from_seed([4u8; 32], 0.0);
        let doc = serde_json::to_value(sample(&ring)).unwrap();
        let keys = TrustedKeys::from_entries(other.public_keys()).unwrap();
        assert_eq!(
            verify_document(&doc, &keys, 0.0).reason,
            Some(InvalidReason::UnknownKey)
        );
        assert_eq!(
            verify_document(&json!([1]), &keys, 0.0).reason,
            Some(InvalidReason::Malformed)
        );
        let mut no_sig = doc.clone();
        no_sig.as_object_mut().unwrap().remove("signature");
        assert_eq!(
            verify_document(&no_sig, &keys, 0.0).reason,
            Some(InvalidReason::Malformed)
        );
    }
}
