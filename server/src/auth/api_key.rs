use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly issued API key: `ck-` + 43 URL-safe base64 characters from 32 random bytes.
/// Only its SHA-256 is stored; the plain key is shown to the user once.
pub struct ApiKey {
    pub plain: String,
    pub sha256: String,
}

impl ApiKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let plain = format!("ck-{}", URL_SAFE_NO_PAD.encode(bytes));
        let sha256 = Self::digest(&plain);
        Self { plain, sha256 }
    }

    pub fn digest(plain: &str) -> String {
        hex::encode(Sha256::digest(plain.as_bytes()))
    }
}

/// The key a request presents: `Authorization: Bearer` (scheme case-insensitive) wins over
/// `X-API-Key`; an `Authorization` header with another scheme is ignored (spec §1.8).
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| key.trim())
                .filter(|k| !k.is_empty())
        });
    bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = ApiKey::generate();
        assert_eq!(key.plain.len(), 46);
        assert!(key.plain.starts_with("ck-"));
        assert!(key.plain[3..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(key.sha256, ApiKey::digest(&key.plain));
        assert_ne!(key.plain, ApiKey::generate().plain);
    }

    #[test]
    fn bearer_wins_and_other_schemes_fall_back_to_x_api_key() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "ck-header".parse().unwrap());
        headers.insert("authorization", "bEaReR ck-bearer".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("ck-bearer"));
        headers.insert("authorization", "Basic dXNlcjpwdw==".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("ck-header"));
        headers.remove("x-api-key");
        assert_eq!(presented_key(&headers), None);
    }
}
