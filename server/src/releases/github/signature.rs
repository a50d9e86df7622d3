//! The webhook signature (spec/RELEASES.md §7.1): `X-Hub-Signature-256` is `sha256=` and the
//! hex HMAC-SHA256 of the raw body under the shared secret, compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether exactly one `X-Hub-Signature-256` value (`headers`) signs `body` under `secret`.
pub fn verify<'a>(secret: &[u8], body: &[u8], mut headers: impl Iterator<Item = &'a [u8]>) -> bool {
    let (Some(header), None) = (headers.next(), headers.next()) else {
        return false;
    };
    let Some(hex_part) = header.strip_prefix(b"sha256=") else {
        return false;
    };
    if hex_part.len() != 64 {
        return false;
    }
    let Ok(expected) = hex::decode(hex_part) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `sha256=<hex>` of `body` under `secret` (what GitHub sends).
#[cfg(test)]
fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const VECTOR: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn check(body: &[u8], headers: &[&str]) -> bool {
        verify(SECRET, body, headers.iter().map(|h| h.as_bytes()))
    }

    #[test]
    fn githubs_published_vector_verifies() {
        assert_eq!(sign(SECRET, b"Hello, World!"), VECTOR);
        assert!(check(b"Hello, World!", &[VECTOR]));
        assert!(check(
            b"Hello, World!",
            &[&VECTOR.to_uppercase().replacen("SHA256=", "sha256=", 1)]
        ));
    }

    #[test]
    fn anything_else_fails() {
        assert!(!check(b"Hello, World?", &[VECTOR]));
        assert!(!check(b"Hello, World!", &[&VECTOR.replace("757", "758")]));
        assert!(!check(b"Hello, World!", &[]));
        assert!(!check(b"Hello, World!", &[VECTOR, VECTOR]));
        assert!(!check(b"Hello, World!", &[&VECTOR.replace("sha256=", "SHA256=")]));
        assert!(!check(b"Hello, World!", &[&VECTOR[..70]]));
    }
}
