//! Signed capability tokens (spec §11.4): compact JWS with `alg: EdDSA`, verifiable with the
//! public keys alone. Revocation and remaining budget are server state, not part of the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::certificate::{DocumentVerification, InvalidReason, TrustedKeys};
use crate::signing::{b64url, SigningKeyring};

/// The claims of a capability token, in spec order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub iss: String,
    pub jti: String,
    pub sub: String,
    pub agent_id: String,
    pub permissions: Vec<String>,
    pub budget_cents: i64,
    pub parent_id: Option<String>,
    pub compliance_policy: String,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

impl SigningKeyring {
    /// `header.claims.signature`, each part unpadded base64url; header
    /// `{"alg": "EdDSA", "typ": "JWT", "kid": <key_id>}`.
    pub fn sign_token(&self, claims: &TokenClaims) -> String {
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": self.key_id()});
        let claims = serde_json::to_vec(claims).unwrap_or_else(|e| unreachable!("claims always serialize: {e}"));
        let signing_input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(&claims));
        let signature = self.sign_bytes(signing_input.as_bytes());
        format!("{signing_input}.{signature}")
    }
}

/// Verifies a token's signature and expiry at `now`; returns the claims when they parse.
pub fn verify_token(token: &str, keys: &TrustedKeys, now: f64) -> (DocumentVerification, Option<TokenClaims>) {
    let fail = DocumentVerification::failed;
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return (fail(None, InvalidReason::Malformed), None);
    };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
    let header: Option<serde_json::Value> = decode(header_b64).and_then(|b| serde_json::from_slice(&b).ok());
    let key_id = header
        .as_ref()
        .and_then(|h| h.get("kid"))
        .and_then(|k| k.as_str())
        .map(str::to_owned);
    let alg_ok = header.as_ref().and_then(|h| h.get("alg")).and_then(|a| a.as_str()) == Some("EdDSA");
    let claims: Option<TokenClaims> = decode(claims_b64).and_then(|b| serde_json::from_slice(&b).ok());
    let signature = decode(signature_b64)
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b));
    let (Some(kid), Some(claims), Some(signature), true) = (key_id.clone(), claims, signature, alg_ok) else {
        return (fail(key_id, InvalidReason::Malformed), None);
    };
    let Some(public) = keys.get(&kid) else {
        return (fail(key_id, InvalidReason::UnknownKey), Some(claims));
    };
    let signing_input = format!("{header_b64}.{claims_b64}");
    let signature_valid = public.verify_strict(signing_input.as_bytes(), &signature).is_ok();
    let expired = claims.exp.is_some_and(|exp| (exp as f64) <= now);
    (
        DocumentVerification::checked(key_id, signature_valid, expired),
        Some(claims),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: Option<i64>) -> TokenClaims {
        TokenClaims {
            iss: "certior".into(),
            jti: "t1".into(),
            sub: "u1".into(),
            agent_id: "u1".into(),
            permissions: vec!["filesystem:read".into()],
            budget_cents: 100,
            parent_id: None,
            compliance_policy: "hipaa".into(),
            iat: 1_000,
            exp,
        }
    }

    #[test]
    fn token_round_trip_and_tampering() {
        let ring = SigningKeyring::from_seed([8u8; 32], 0.0);
        let keys = TrustedKeys::from_entries(ring.public_keys()).unwrap();
        let token = ring.sign_token(&claims(Some(2_000)));
        let (v, c) = verify_token(&token, &keys, 1_500.0);
        assert!(v.valid, "{v:?}");
        assert_eq!(c.unwrap().permissions, ["filesystem:read"]);
        assert_eq!(
            verify_token(&token, &keys, 2_000.0).0.reason,
            Some(InvalidReason::Expired)
        );

        let mut wider = claims(Some(2_000));
        wider.permissions = vec!["*".into()];
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64url(&serde_json::to_vec(&wider).unwrap()),
            parts[2]
        );
        assert_eq!(
            verify_token(&forged, &keys, 1_500.0).0.reason,
            Some(InvalidReason::BadSignature)
        );
        assert_eq!(verify_token("a.b", &keys, 0.0).0.reason, Some(InvalidReason::Malformed));
    }
}
