//! The secret types of spec/API.md §6.4, in report order.

/// What a match must also satisfy to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// Not made only of hex digits: a 40-character hex string is a SHA-1 digest (commit ids,
    /// checksums), not an AWS secret key.
    NotHex,
}

pub struct SecretType {
    pub name: &'static str,
    /// Written in spec notation; `\d` and `\b` become ASCII when compiled.
    pub pattern: &'static str,
    pub check: Check,
}

pub const SECRET_TYPES: [SecretType; 8] = [
    SecretType { name: "AWS_ACCESS_KEY", pattern: r"\b(AKIA[0-9A-Z]{16})\b", check: Check::None },
    SecretType { name: "AWS_SECRET_KEY", pattern: r"\b([A-Za-z0-9/+=]{40})\b", check: Check::NotHex },
    SecretType { name: "GITHUB_TOKEN", pattern: r"\b(ghp_[A-Za-z0-9]{36})\b", check: Check::None },
    // Addition to the spec (here and in GENERIC_SECRET): a quote may close the key name, so
    // JSON and YAML such as `"api_key": "…"` are caught.
    SecretType {
        name: "GENERIC_API_KEY",
        pattern: r#"(?i)(?:api[_-]?key|apikey)["']?\s*[:=]\s*["']?([A-Za-z0-9\-_]{20,})["']?"#,
        check: Check::None,
    },
    SecretType {
        name: "GENERIC_SECRET",
        pattern: r#"(?i)(?:secret|password|passwd|pwd)["']?\s*[:=]\s*["']?([^\s"']{8,})["']?"#,
        check: Check::None,
    },
    SecretType {
        name: "JWT_TOKEN",
        pattern: r"\b(eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\b",
        check: Check::None,
    },
    // Addition to the spec's RSA/EC/PKCS#8 headers: DSA, OpenSSH and encrypted PKCS#8 keys.
    SecretType {
        name: "PRIVATE_KEY",
        pattern: r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
        check: Check::None,
    },
    SecretType { name: "SLACK_TOKEN", pattern: r"\b(xox[bpras]-[A-Za-z0-9-]+)\b", check: Check::None },
];
