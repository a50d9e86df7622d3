//! `/api/v1/compliance/presets`: the preset catalogue (spec §4.6.1–§4.6.3a, §5): list, one
//! preset with its versions, upload a custom preset, deprecate it.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::Json;
use certior::preset::{load_upload, PresetDescriptor, RegistryError};
use certior::{Preset, PresetSource};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, PresetAuthors};
use crate::error::ApiError;
use crate::preset_catalog::{DeprecationRefused, UploadRefused};
use crate::preset_upload::{read_bundle, rejected, NOT_MULTIPART};
use crate::state::AppState;
use crate::validate::{Fields, FromQuery, ValidQuery};

const NOT_FOUND: &str = "Preset not found";

/// List presets: the built-ins first (`hipaa`, `sox`, `legal_privilege`, `default`), then
/// directory presets, then uploaded ones in upload order, each at its current version.
/// Aliases are not separate entries; a deprecated upload is listed with `deprecated: true`.
#[utoipa::path(get, path = "/api/v1/compliance/presets", tag = "compliance",
    responses((status = 200, body = Vec<PresetDescriptor>)))]
pub async fn list_presets(State(state): State<AppState>) -> Json<Vec<PresetDescriptor>> {
    let registry = state.presets.registry();
    Json(
        registry
            .list()
            .iter()
            .map(|preset| registry.descriptor(preset))
            .collect(),
    )
}

/// One entry of `versions` (spec §4.6.2).
#[derive(Serialize, ToSchema)]
pub struct PresetVersion {
    version: u32,
    digest: String,
    source: PresetSource,
    created_at: Option<f64>,
    /// The uploader's user id; null for built-in and directory presets.
    created_by: Option<String>,
}

impl From<&Preset> for PresetVersion {
    fn from(preset: &Preset) -> Self {
        PresetVersion {
            version: preset.version(),
            digest: preset.digest().to_owned(),
            source: preset.source(),
            created_at: preset.created_at(),
            created_by: preset.created_by().map(str::to_owned),
        }
    }
}

/// The descriptor of one version plus the preset's version history.
#[derive(Serialize, ToSchema)]
pub struct PresetDetail {
    #[serde(flatten)]
    descriptor: PresetDescriptor,
    /// Oldest first.
    versions: Vec<PresetVersion>,
}

/// The query of `GET /compliance/presets/{key}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PresetQuery {
    /// A version number (≥ 1); default the current version.
    #[param(minimum = 1)]
    version: Option<i64>,
}

impl FromQuery for PresetQuery {
    fn from_query(fields: &mut Fields<'_>) -> Option<Self> {
        let version = fields.optional::<i64>("version");
        fields.range("version", version, 1, None);
        Some(PresetQuery { version })
    }
}

/// One preset by key or alias (case-insensitive): the descriptor of the requested version
/// (default the current one) and every version, oldest first. Built-in and directory presets
/// have the one version 1.
#[utoipa::path(get, path = "/api/v1/compliance/presets/{key}", tag = "compliance",
    params(("key" = String, Path, description = "Preset key or alias"), PresetQuery),
    responses((status = 200, body = PresetDetail),
        (status = 404, description = "Preset not found (unknown key or version)"),
        (status = 422, description = "Validation error: `version` is not an integer ≥ 1")))]
pub async fn get_preset(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ValidQuery(query): ValidQuery<PresetQuery>,
) -> Result<Json<PresetDetail>, ApiError> {
    let registry = state.presets.registry();
    let versions = registry.versions(&key);
    let preset = match query.version {
        None => versions.last(),
        Some(n) => versions.iter().find(|p| i64::from(p.version()) == n),
    }
    .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(PresetDetail {
        descriptor: registry.descriptor(preset),
        versions: versions.iter().map(|p| PresetVersion::from(p.as_ref())).collect(),
    }))
}

/// Upload a custom preset: `multipart/form-data`, one part per file, identified by its
/// filename: `preset.toml`, optionally `policy.cedar`, and every `.wasm` module the manifest
/// names. The bundle is validated as spec §5.6 says and each plugin is evaluated on trial
/// inputs before anything is stored; the first failure is a 422 `preset_invalid` naming the
/// file. An existing uploaded key gets its next version; earlier versions stay unchanged and
/// executions keep the version they were submitted with. The new version is used by tasks at
/// once.
///
/// Choices where the contract leaves one open: a `.wasm` part over 8 MiB is answered with the
/// row's 413 text; a key or alias of a `CERTIOR_PRESETS_DIR` preset is refused with 409
/// `Preset key '<name>' is reserved by a directory preset`; uploading a new version of a
/// deprecated key makes it current and no longer deprecated.
#[utoipa::path(post, path = "/api/v1/compliance/presets", tag = "compliance",
    security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "The bundle's files, one part each"),
    responses((status = 201, body = PresetDescriptor),
        (status = 401, description = "Missing or invalid API key"),
        (status = 403, description = "Requires one of: ['admin', 'policy_author']"),
        (status = 409, description = "A key or alias reserved by a built-in (or directory) preset, or used by another preset"),
        (status = 413, description = "Preset bundle exceeds 16 MiB."),
        (status = 415, description = "Preset upload must be multipart/form-data."),
        (status = 422, description = "Preset rejected: <file>: <reason>. (`type` `preset_invalid`)")))]
pub async fn upload_preset(
    State(state): State<AppState>,
    caller: Caller<PresetAuthors>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<PresetDescriptor>), ApiError> {
    let multipart = multipart.map_err(|_| ApiError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE, NOT_MULTIPART))?;
    let files = read_bundle(multipart).await?;
    // Compiling and pre-initializing the modules is CPU work: off the request threads.
    let preset = tokio::task::spawn_blocking(move || load_upload(files))
        .await
        .map_err(|err| anyhow::anyhow!("validating a preset upload: {err}"))?
        .map_err(|err| rejected(&err))?;
    let preset = state
        .presets
        .upload(state.store.as_ref(), preset, &caller.user.id)
        .await
        .map_err(|err| match err {
            UploadRefused::Conflict(conflict) => conflict_error(conflict),
            UploadRefused::Store(err) => err.into(),
        })?;
    tracing::info!(
        key = preset.key(),
        version = preset.version(),
        digest = preset.digest(),
        "preset uploaded"
    );
    Ok((StatusCode::CREATED, Json(state.presets.registry().descriptor(&preset))))
}

/// The 409 texts of spec §4.6.3.
fn conflict_error(conflict: RegistryError) -> ApiError {
    ApiError::conflict(match conflict {
        RegistryError::BuiltinName { name, .. } => format!("Preset key '{name}' is reserved by a built-in preset"),
        RegistryError::DirectoryName { name, .. } => format!("Preset key '{name}' is reserved by a directory preset"),
        RegistryError::AliasTaken { name, other } => format!("Alias '{name}' is already used by preset '{other}'"),
    })
}

/// Deprecate an uploaded preset, every version of it. Idempotent. Afterwards new tasks and
/// workflows naming it get 400 `Preset '<key>' is deprecated.`; running executions keep their
/// version, exports and history are unaffected, and nothing is deleted. Built-in (and
/// directory) presets cannot be deprecated.
#[utoipa::path(delete, path = "/api/v1/compliance/presets/{key}", tag = "compliance",
    security(("bearer" = [])),
    params(("key" = String, Path, description = "Preset key or alias")),
    responses((status = 200, body = PresetDescriptor, description = "The descriptor, with `deprecated: true`"),
        (status = 401, description = "Missing or invalid API key"),
        (status = 403, description = "Requires one of: ['admin', 'policy_author']"),
        (status = 404, description = "Preset not found"),
        (status = 409, description = "Built-in preset '<key>' cannot be deprecated")))]
pub async fn deprecate_preset(
    State(state): State<AppState>,
    _caller: Caller<PresetAuthors>,
    Path(key): Path<String>,
) -> Result<Json<PresetDescriptor>, ApiError> {
    let preset = state
        .presets
        .deprecate(state.store.as_ref(), &key)
        .await
        .map_err(|err| match err {
            DeprecationRefused::Unknown(_) => ApiError::not_found(NOT_FOUND),
            DeprecationRefused::NotUploaded(key) => {
                ApiError::conflict(format!("Built-in preset '{key}' cannot be deprecated"))
            }
            DeprecationRefused::Store(err) => err.into(),
        })?;
    Ok(Json(state.presets.registry().descriptor(&preset)))
}
