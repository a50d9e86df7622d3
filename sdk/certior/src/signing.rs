//! Ed25519 signing keys: loading from `CERTIOR_SIGNING_KEY`, generating and keeping one in the
//! data directory, and the public-key history that `GET /trust/keys` lists (spec §4.10.1, §11.1).
//!
//! Every key ever used stays listed (retired) so old evidence keeps verifying.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File (in the data dir) holding a generated seed as hex, mode 0600.
pub const GENERATED_KEY_FILE: &str = "signing-key.ed25519";
/// File (in the data dir) listing every public key used so far.
pub const KEY_HISTORY_FILE: &str = "signing-keys.json";

/// Why no signing key could be set up.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("CERTIOR_SIGNING_KEY is not a 32-byte Ed25519 seed in hex (64 characters) or base64; got {got}. Fix: generate one with `openssl rand -hex 32`")]
    BadSeed { got: String },
    #[error("CERTIOR_SIGNING_KEY names {path}, which cannot be read: {message}")]
    UnreadableKeyFile { path: PathBuf, message: String },
    #[error("{path}: cannot be read or written: {message}. Fix: check CERTIOR_DATA_DIR exists and is writable")]
    Storage { path: PathBuf, message: String },
    #[error("{path}: is not a valid key history: {message}. Fix: restore it from a backup; deleting it forgets retired keys")]
    BadHistory { path: PathBuf, message: String },
}

/// `key_id` of spec §1.3: 16 hex characters, the first 8 bytes of SHA-256 of the public key.
pub fn key_id(public: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(public.as_bytes())[..8])
}

/// Unpadded base64url.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Parses a seed given as 64 hex characters, or base64 (standard or URL-safe, padded or not) of
/// 32 bytes; with `allow_raw` (key files), exactly 32 raw bytes are accepted too.
fn parse_seed(text: &[u8], allow_raw: bool) -> Option<[u8; 32]> {
    let decoded = std::str::from_utf8(text).ok().map(str::trim).and_then(|s| {
        if s.len() == 64 {
            if let Ok(bytes) = hex::decode(s) {
                return bytes.try_into().ok();
            }
        }
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(s).ok())
            .and_then(|bytes| bytes.try_into().ok())
    });
    decoded.or_else(|| {
        if allow_raw {
            <[u8; 32]>::try_from(text).ok()
        } else {
            None
        }
    })
}

/// One public key as `GET /trust/keys` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicKeyEntry {
    pub key_id: String,
    pub algorithm: String,
    /// Unpadded base64url of the 32 raw bytes.
    pub public_key: String,
    pub status: KeyStatus,
    pub created_at: f64,
    pub retired_at: Option<f64>,
    pub jwk: Jwk,
}

/// `active` (the current signing key) or `retired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyStatus {
    Active,
    Retired,
}

/// The JWK form of an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

impl PublicKeyEntry {
    fn new(public: &VerifyingKey, created_at: f64) -> Self {
        let key_id = key_id(public);
        let x = b64url(public.as_bytes());
        Self {
            key_id: key_id.clone(),
            algorithm: "Ed25519".into(),
            public_key: x.clone(),
            status: KeyStatus::Active,
            created_at,
            retired_at: None,
            jwk: Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x,
                kid: key_id,
                use_: "sig".into(),
                alg: "EdDSA".into(),
            },
        }
    }
}

/// The active signing key plus every public key used before it.
#[derive(Debug)]
pub struct SigningKeyring {
    key: SigningKey,
    key_id: String,
    history: Vec<PublicKeyEntry>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn storage(path: &Path, e: impl std::fmt::Display) -> SigningKeyError {
    SigningKeyError::Storage {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Writes `bytes` to `path` through a temporary file, with mode 0600 on Unix.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SigningKeyError> {
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| storage(&tmp, e))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| storage(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| storage(path, e))
}

impl SigningKeyring {
    /// Sets up signing: the seed comes from `env_value` (the raw `CERTIOR_SIGNING_KEY`: hex or
    /// base64 of 32 bytes, or `file:<path>`), else from the key generated earlier in `data_dir`,
    /// else a new key is generated there (mode 0600). The public-key history in `data_dir` gains
    /// the key if it is new, retiring the previous active key.
    pub fn load(data_dir: &Path, env_value: Option<&str>) -> Result<Self, SigningKeyError> {
        fs::create_dir_all(data_dir).map_err(|e| storage(data_dir, e))?;
        let seed = match env_value.map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => match v.strip_prefix("file:") {
                Some(path) => {
                    let bytes = fs::read(path).map_err(|e| SigningKeyError::UnreadableKeyFile {
                        path: PathBuf::from(path),
                        message: e.to_string(),
                    })?;
                    parse_seed(&bytes, true).ok_or_else(|| SigningKeyError::BadSeed {
                        got: format!("the content of {path}"),
                    })?
                }
                None => parse_seed(v.as_bytes(), false).ok_or_else(|| SigningKeyError::BadSeed {
                    got: format!("{} characters", v.len()),
                })?,
            },
            None => Self::generated_seed(data_dir)?,
        };
        let key = SigningKey::from_bytes(&seed);
        let mut ring = Self {
            key_id: key_id(&key.verifying_key()),
            key,
            history: Vec::new(),
        };
        ring.sync_history(&data_dir.join(KEY_HISTORY_FILE))?;
        Ok(ring)
    }

    /// A keyring for one seed, without any file (tests, offline tools).
    pub fn from_seed(seed: [u8; 32], created_at: f64) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let entry = PublicKeyEntry::new(&key.verifying_key(), created_at);
        Self {
            key_id: entry.key_id.clone(),
            key,
            history: vec![entry],
        }
    }

    fn generated_seed(data_dir: &Path) -> Result<[u8; 32], SigningKeyError> {
        let path = data_dir.join(GENERATED_KEY_FILE);
        if path.exists() {
            let bytes = fs::read(&path).map_err(|e| storage(&path, e))?;
            return parse_seed(&bytes, false).ok_or_else(|| SigningKeyError::BadSeed {
                got: format!("the content of {}", path.display()),
            });
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        write_private(&path, hex::encode(key.to_bytes()).as_bytes())?;
        Ok(key.to_bytes())
    }

    fn sync_history(&mut self, path: &Path) -> Result<(), SigningKeyError> {
        let mut history: Vec<PublicKeyEntry> = if path.exists() {
            let text = fs::read(path).map_err(|e| storage(path, e))?;
            serde_json::from_slice(&text).map_err(|e| SigningKeyError::BadHistory {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        } else {
            Vec::new()
        };
        let changed = match history.iter().position(|k| k.key_id == self.key_id) {
            Some(i) if history[i].status == KeyStatus::Active => false,
            found => {
                let t = now();
                for k in history.iter_mut().filter(|k| k.status == KeyStatus::Active) {
                    k.status = KeyStatus::Retired;
                    k.retired_at = Some(t);
                }
                match found {
                    Some(i) => {
                        history[i].status = KeyStatus::Active;
                        history[i].retired_at = None;
                    }
                    None => history.push(PublicKeyEntry::new(&self.key.verifying_key(), t)),
                }
                true
            }
        };
        if changed {
            let json = serde_json::to_vec_pretty(&history).map_err(|e| storage(path, e))?;
            write_private(path, &json)?;
        }
        self.history = history;
        Ok(())
    }

    /// The active key's id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Every key ever used, the active one included (`GET /trust/keys`).
    pub fn public_keys(&self) -> &[PublicKeyEntry] {
        &self.history
    }

    /// Unpadded base64url of the Ed25519 signature over `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> String {
        b64url(&self.key.sign(message).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_in_every_documented_form() {
        let seed = [7u8; 32];
        assert_eq!(parse_seed(hex::encode(seed).as_bytes(), false), Some(seed));
        assert_eq!(parse_seed(STANDARD.encode(seed).as_bytes(), false), Some(seed));
        assert_eq!(parse_seed(URL_SAFE_NO_PAD.encode(seed).as_bytes(), false), Some(seed));
        assert_eq!(parse_seed(b"too short", false), None);
        assert_eq!(parse_seed(&[b'a'; 32], false), None);
        assert_eq!(parse_seed(&[b'a'; 32], true), Some([b'a'; 32]));
    }

    #[test]
    fn key_id_is_sixteen_hex_of_the_public_key_hash() {
        let ring = SigningKeyring::from_seed([1u8; 32], 0.0);
        let public = ring.key.verifying_key();
        assert_eq!(ring.key_id(), hex::encode(&Sha256::digest(public.as_bytes())[..8]));
        assert_eq!(ring.key_id().len(), 16);
    }

    #[test]
    fn generated_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = SigningKeyring::load(dir.path(), None).unwrap();
        let second = SigningKeyring::load(dir.path(), None).unwrap();
        assert_eq!(first.key_id(), second.key_id());
        assert_eq!(second.public_keys().len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(GENERATED_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_new_env_key_retires_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let generated = SigningKeyring::load(dir.path(), None).unwrap();
        let from_env = SigningKeyring::load(dir.path(), Some(&hex::encode([9u8; 32]))).unwrap();
        let keys = from_env.public_keys();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].key_id, generated.key_id());
        assert_eq!(keys[0].status, KeyStatus::Retired);
        assert!(keys[0].retired_at.is_some());
        assert_eq!(keys[1].status, KeyStatus::Active);
        let file = dir.path().join("seed");
        fs::write(&file, [9u8; 32]).unwrap();
        let from_file = SigningKeyring::load(dir.path(), Some(&format!("file:{}", file.display()))).unwrap();
        assert_eq!(from_file.key_id(), from_env.key_id());
        assert!(SigningKeyring::load(dir.path(), Some("nonsense")).is_err());
    }
}
