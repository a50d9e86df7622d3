//! `/api/v1/agents/glass-box-records`: immutable snapshots of Studio's Glass Box, stored with a
//! hash anyone can recompute from the record itself (spec §4.7.4, §4.7.5, §13.4).

use axum::extract::State;
use axum::Json;
use certior::canonical::document_hash;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::tasks::any_string;
use crate::auth::{Caller, GlassBoxReader, Writers};
use crate::clock::now;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{GlassBoxRecord, Page};
use crate::validate::{page, Fields, FromBody, FromQuery, Loc, ValidJson, ValidQuery};

/// `{engine, purpose}` of the boundary being shown.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct BoundaryModel {
    engine: String,
    purpose: String,
}

impl Default for BoundaryModel {
    fn default() -> Self {
        BoundaryModel {
            engine: "Lean4".into(),
            purpose: "Capability, permission, and budget bounds for orchestrated agents".into(),
        }
    }
}

/// The request fields with defaults applied, in the order of spec §4.7.4.
#[derive(Serialize, ToSchema)]
pub struct GlassBoxRecordRequest {
    /// Client-supplied, for example an ISO timestamp.
    exported_at: String,
    #[schema(default = "/api/v1/agents/delegation-graph")]
    source: String,
    #[schema(default = "Certior Agent Glass Box")]
    view: String,
    #[schema(default = "replay")]
    mode: String,
    active_phase: String,
    #[schema(minimum = 0)]
    visible_events: i64,
    #[schema(minimum = 0)]
    total_events: i64,
    #[schema(minimum = 0)]
    blocked_events: i64,
    boundary_view: bool,
    boundary_model: BoundaryModel,
    use_cases: Vec<String>,
    #[schema(value_type = Option<Object>)]
    selected_inspection: Option<Map<String, Value>>,
    #[schema(value_type = Object)]
    graph: Map<String, Value>,
}

fn read_count(fields: &mut Fields<'_>, name: &str) -> Option<i64> {
    let value = fields.required::<i64>(name);
    fields.range(name, value, 0, None);
    value
}

fn read_boundary_model(fields: &mut Fields<'_>) -> Option<BoundaryModel> {
    let object = fields.optional::<Map<String, Value>>("boundary_model")?;
    fields.within(vec![Loc::Field("boundary_model".into())], &object, |model| {
        let engine = model.required::<String>("engine");
        let purpose = model.required::<String>("purpose");
        Some(BoundaryModel {
            engine: engine?,
            purpose: purpose?,
        })
    })
}

impl FromBody for GlassBoxRecordRequest {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let text = |fields: &mut Fields<'_>, name: &str, default: &str| {
            fields.optional::<String>(name).unwrap_or_else(|| default.to_owned())
        };
        let exported_at = fields.required::<String>("exported_at");
        let source = text(fields, "source", "/api/v1/agents/delegation-graph");
        let view = text(fields, "view", "Certior Agent Glass Box");
        let mode = text(fields, "mode", "replay");
        let active_phase = fields.required::<String>("active_phase");
        let visible_events = read_count(fields, "visible_events");
        let total_events = read_count(fields, "total_events");
        let blocked_events = read_count(fields, "blocked_events");
        let boundary_view = fields.optional::<bool>("boundary_view").unwrap_or(false);
        let boundary_model = fields
            .has("boundary_model")
            .then(|| read_boundary_model(fields))
            .unwrap_or_else(|| Some(BoundaryModel::default()));
        let use_cases = fields.string_list("use_cases", any_string).unwrap_or_default();
        let selected_inspection = fields.optional::<Map<String, Value>>("selected_inspection");
        let graph = fields.required::<Map<String, Value>>("graph");
        Some(GlassBoxRecordRequest {
            exported_at: exported_at?,
            source,
            view,
            mode,
            active_phase: active_phase?,
            visible_events: visible_events?,
            total_events: total_events?,
            blocked_events: blocked_events?,
            boundary_view,
            boundary_model: boundary_model?,
            use_cases,
            selected_inspection,
            graph: graph?,
        })
    }
}

/// A stored record: the request with defaults applied, then its identity and hash.
#[derive(Serialize, ToSchema)]
pub struct GlassBoxRecordResponse {
    #[serde(flatten)]
    request: GlassBoxRecordRequest,
    /// `gbr_<12 hex>`.
    id: String,
    user_id: String,
    /// `sha256:` + hex SHA-256 of the JCS bytes of this record without `record_hash`.
    record_hash: String,
    /// Epoch seconds.
    stored_at: f64,
    /// Always `database`.
    storage: &'static str,
}

/// Store a Glass Box snapshot.
#[utoipa::path(post, path = "/api/v1/agents/glass-box-records", tag = "agents", security(("bearer" = [])),
    request_body = GlassBoxRecordRequest,
    responses((status = 200, body = GlassBoxRecordResponse),
        (status = 403, description = "Read-only role"),
        (status = 422, description = "Validation error")))]
pub async fn create_record(
    State(state): State<AppState>,
    caller: Caller<Writers>,
    ValidJson(request): ValidJson<GlassBoxRecordRequest>,
) -> Result<Json<Value>, ApiError> {
    let id = format!("gbr_{}", &Uuid::new_v4().simple().to_string()[..12]);
    let mut record = GlassBoxRecordResponse {
        request,
        id: id.clone(),
        user_id: caller.user.id.clone(),
        record_hash: String::new(),
        stored_at: now(),
        storage: "database",
    };
    let mut unhashed = serde_json::to_value(&record).map_err(|err| anyhow::anyhow!("encoding a record: {err}"))?;
    if let Value::Object(fields) = &mut unhashed {
        fields.remove("record_hash");
    }
    record.record_hash =
        document_hash(&unhashed).map_err(|err| ApiError::Internal(anyhow::anyhow!("hashing a record: {err}")))?;
    let stored = json!(record);
    state
        .store
        .add_glass_box_record(&GlassBoxRecord {
            id,
            user_id: record.user_id,
            record: stored.clone(),
            stored_at: record.stored_at,
        })
        .await?;
    Ok(Json(stored))
}

/// The query of `GET /agents/glass-box-records`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordListQuery {
    /// 1..=100, default 20.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: i64,
    /// ≥ 0, default 0.
    #[param(minimum = 0, default = 0)]
    offset: i64,
}

impl FromQuery for RecordListQuery {
    fn from_query(fields: &mut Fields<'_>) -> Option<Self> {
        let Page { limit, offset } = page(fields)?;
        Some(RecordListQuery { limit, offset })
    }
}

/// List Glass Box snapshots, newest first: the caller's (all for admin and auditor; everyone's,
/// without a key, when `CERTIOR_PUBLIC_GLASS_BOX=true`).
#[utoipa::path(get, path = "/api/v1/agents/glass-box-records", tag = "agents", security(("bearer" = [])),
    params(RecordListQuery),
    responses((status = 200, body = [GlassBoxRecordResponse]),
        (status = 401, description = "Missing or invalid API key (unless the glass box is public)"),
        (status = 422, description = "Validation error")))]
pub async fn list_records(
    State(state): State<AppState>,
    reader: GlassBoxReader,
    ValidQuery(query): ValidQuery<RecordListQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let page = Page {
        limit: query.limit,
        offset: query.offset,
    };
    let rows = state.store.glass_box_records(reader.owner(), page).await?;
    Ok(Json(rows.into_iter().map(|r| r.record).collect()))
}
