//! The secret types of spec/API.md §6.4, in report order.

/// What a match must also satisfy to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// Not made only of hex digits: a 40-character hex string is a SHA-1 digest (commit ids,
    /// checksums), not an AWS secret key.
    NotHex,
}

/// Text every match of a type contains, so that a text without it skips the type's regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// One of these strings, exactly.
    Text(&'static [&'static str]),
    /// One of these strings, in any ASCII case (the pattern is case-insensitive).
    AnyCase(&'static [&'static str]),
    /// This many consecutive characters of `[A-Za-z0-9/+=]`.
    KeyRun(usize),
}

pub struct SecretType {
    pub name: &'static str,
    /// Written in spec notation; `\d` and `\b` become ASCII when compiled.
    pub pattern: &'static str,
    pub check: Check,
    /// What the pattern's syntax forces into every match.
    pub needs: Needs,
}

pub const SECRET_TYPES: [SecretType; 8] = [
    SecretType { name: "AWS_ACCESS_KEY", pattern: r"\b(AKIA[0-9A-Z]{16})\b", check: Check::None, needs: Needs::Text(&["AKIA"]) },
    SecretType { name: "AWS_SECRET_KEY", pattern: r"\b([A-Za-z0-9/+=]{40})\b", check: Check::NotHex, needs: Needs::KeyRun(40) },
    SecretType { name: "GITHUB_TOKEN", pattern: r"\b(ghp_[A-Za-z0-9]{36})\b", check: Check::None, needs: Needs::Text(&["ghp_"]) },
    // Addition to the spec (here and in GENERIC_SECRET): a quote may close the key name, so
    // JSON and YAML such as `"api_key": "…"` are caught.
    SecretType {
        name: "GENERIC_API_KEY",
        pattern: r#"(?i)(?:api[_-]?key|apikey)["']?\s*[:=]\s*["']?([A-Za-z0-9\-_]{20,})["']?"#,
        check: Check::None,
        needs: Needs::AnyCase(&["api"]),
    },
    SecretType {
        name: "GENERIC_SECRET",
        pattern: r#"(?i)(?:secret|password|passwd|pwd)["']?\s*[:=]\s*["']?([^\s"']{8,})["']?"#,
        check: Check::None,
        needs: Needs::AnyCase(&["secret", "passw", "pwd"]),
    },
    SecretType {
        name: "JWT_TOKEN",
        pattern: r"\b(eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\b",
        check: Check::None,
        needs: Needs::Text(&["eyJ"]),
    },
    // Addition to the spec's RSA/EC/PKCS#8 headers: DSA, OpenSSH and encrypted PKCS#8 keys.
    SecretType {
        name: "PRIVATE_KEY",
        pattern: r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
        check: Check::None,
        needs: Needs::Text(&["-----BEGIN "]),
    },
    SecretType { name: "SLACK_TOKEN", pattern: r"\b(xox[bpras]-[A-Za-z0-9-]+)\b", check: Check::None, needs: Needs::Text(&["xox"]) },
];

/// A character of the `AWS_SECRET_KEY` class `[A-Za-z0-9/+=]`.
pub fn is_key_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'+' | b'=')
}
