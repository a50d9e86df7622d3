//! `/api/v1/compliance`: the preset catalogue (spec §4.6, §5.5).

use axum::extract::State;
use axum::Json;
use certior::preset::PresetDescriptor;

use crate::state::AppState;

/// List presets: the built-ins first (`hipaa`, `sox`, `legal_privilege`, `default`), then
/// directory presets. Aliases are not separate entries.
#[utoipa::path(get, path = "/api/v1/compliance/presets", tag = "compliance",
    responses((status = 200, body = Vec<PresetDescriptor>)))]
pub async fn list_presets(State(state): State<AppState>) -> Json<Vec<PresetDescriptor>> {
    Json(state.presets.list().iter().map(|preset| preset.descriptor()).collect())
}
