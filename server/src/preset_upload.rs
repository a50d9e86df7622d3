//! Reading a preset upload (spec §4.6.3): the multipart parts become the bundle's files, and a
//! bundle the engine rejects becomes the 422 `preset_invalid` answer. Nothing here stores
//! anything; [`crate::preset_catalog`] does, once the bundle is accepted.

use std::collections::BTreeMap;

use axum::extract::Multipart;
use axum::http::StatusCode;
use certior::PresetError;

use crate::error::ApiError;
use crate::validate::{FieldError, Loc};

/// The whole upload body (spec §1.11), enforced before the handler runs (`http::limit_body`).
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;

/// Each `.wasm` part (spec §1.11).
pub const MAX_MODULE_BYTES: usize = 8 * 1024 * 1024;

/// The 413 of the upload, for the whole body and for one module alike (spec §1.11 gives one
/// text for the row).
pub const TOO_LARGE: &str = "Preset bundle exceeds 16 MiB.";

/// The 415 for a body that is not `multipart/form-data`.
pub const NOT_MULTIPART: &str = "Preset upload must be multipart/form-data.";

/// The bundle's files by name. Every part must be a file (have a filename) and no name may
/// repeat; which names are allowed is the engine's check (unlisted files, missing modules).
pub async fn read_bundle(mut multipart: Multipart) -> Result<BTreeMap<String, Vec<u8>>, ApiError> {
    let mut files = BTreeMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        let Some(name) = field.file_name().map(str::to_owned) else {
            let part = field
                .name()
                .filter(|n| !n.is_empty())
                .unwrap_or("(unnamed part)")
                .to_owned();
            return Err(invalid(&part, "is not a file; send every part with a filename"));
        };
        if files.contains_key(&name) {
            return Err(invalid(&name, "appears more than once in the upload"));
        }
        let limit = if name.ends_with(".wasm") {
            MAX_MODULE_BYTES
        } else {
            usize::MAX
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if bytes.len() + chunk.len() > limit {
                return Err(ApiError::status(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE));
            }
            bytes.extend_from_slice(&chunk);
        }
        files.insert(name, bytes);
    }
    Ok(files)
}

/// The 422 of spec §4.6.3 for a bundle the engine refused: `Preset rejected: <file>: <reason>.`
/// with `loc` `["body", <file>, <manifest field>?]`.
pub fn rejected(err: &PresetError) -> ApiError {
    let mut loc = vec![Loc::Field("body".into()), Loc::Field(err.file().into())];
    if let Some(field) = err.field() {
        loc.push(Loc::Field(field.into()));
    }
    preset_invalid(loc, &err.reason())
}

fn invalid(file: &str, reason: &str) -> ApiError {
    preset_invalid(vec![Loc::Field("body".into()), Loc::Field(file.into())], reason)
}

/// Multi-line engine messages (Cedar's, wasmtime's) become one line: `detail` is one sentence.
fn preset_invalid(loc: Vec<Loc>, reason: &str) -> ApiError {
    let msg = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    ApiError::Validation(vec![FieldError {
        loc,
        msg,
        kind: "preset_invalid",
    }])
}

/// A body that is multipart but cannot be parsed as such.
fn malformed(err: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::field_error("body", format!("Malformed multipart body: {}", err.body_text()))
}
