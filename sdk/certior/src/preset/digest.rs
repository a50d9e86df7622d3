//! The preset digest of spec §5.4: one hash pinning manifest, Cedar text and plugin modules, so a
//! certificate names exactly the rules that produced it.

use sha2::{Digest, Sha256};

use super::manifest::Manifest;
use crate::canonical::{canonical_bytes, CanonicalError};

/// `sha256:` + hex SHA-256 of
/// `"certior-preset-v1\n" ‖ JCS(parsed preset.toml) ‖ "\n" ‖ policy.cedar ‖ "\n" ‖ for each
/// plugin in manifest order: name ‖ " " ‖ sha256 ‖ "\n"`.
pub fn preset_digest(
    parsed_toml: &toml::Table,
    manifest: &Manifest,
    policy_cedar: &[u8],
) -> Result<String, CanonicalError> {
    let mut hasher = Sha256::new();
    hasher.update(b"certior-preset-v1\n");
    hasher.update(canonical_bytes(parsed_toml)?);
    hasher.update(b"\n");
    hasher.update(policy_cedar);
    hasher.update(b"\n");
    for plugin in &manifest.plugins {
        hasher.update(plugin.name.as_bytes());
        hasher.update(b" ");
        hasher.update(plugin.sha256.as_bytes());
        hasher.update(b"\n");
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}
