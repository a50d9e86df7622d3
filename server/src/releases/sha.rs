//! Commit shas and artifact digests (spec/RELEASES.md §1.3): trimmed, lowercased and checked,
//! so the same commit or artifact always compares equal however a client spelled it.

/// Why a commit or digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShaError {
    #[error("commit_sha must be 40 or 64 hexadecimal characters")]
    Commit,
    #[error("digest must be 64 hexadecimal characters, optionally prefixed with sha256:")]
    Digest,
}

fn is_hex(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `None` for "no commit" (empty or `HEAD`), else the lowercase sha.
pub fn commit(value: &str) -> Result<Option<String>, ShaError> {
    let value = value.trim().to_ascii_lowercase();
    if value.is_empty() || value == "head" {
        return Ok(None);
    }
    if (value.len() == 40 || value.len() == 64) && is_hex(&value) {
        Ok(Some(value))
    } else {
        Err(ShaError::Commit)
    }
}

/// The 64 lowercase hex of an artifact digest.
pub fn digest(value: &str) -> Result<String, ShaError> {
    let value = value.trim().to_ascii_lowercase();
    let hex = value.strip_prefix("sha256:").unwrap_or(&value);
    if hex.len() == 64 && is_hex(hex) {
        Ok(hex.to_owned())
    } else {
        Err(ShaError::Digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_lowercase_hex_of_40_or_64() {
        assert_eq!(commit(" HEAD "), Ok(None));
        assert_eq!(commit(""), Ok(None));
        assert_eq!(commit(&"A".repeat(40)), Ok(Some("a".repeat(40))));
        assert_eq!(commit(&"b".repeat(64)), Ok(Some("b".repeat(64))));
        assert_eq!(commit("abc123"), Err(ShaError::Commit));
        assert_eq!(commit(&"g".repeat(40)), Err(ShaError::Commit));
    }

    #[test]
    fn digests_lose_their_prefix_and_case() {
        assert_eq!(digest(&format!(" SHA256:{}", "A".repeat(64))), Ok("a".repeat(64)));
        assert_eq!(digest(&"f".repeat(64)), Ok("f".repeat(64)));
        for bad in [
            "unknown",
            "",
            &"a".repeat(63),
            &format!("md5:{}", "a".repeat(32)),
            &format!("sha256:sha256:{}", "a".repeat(64)),
        ] {
            assert_eq!(digest(bad), Err(ShaError::Digest), "{bad}");
        }
    }
}
