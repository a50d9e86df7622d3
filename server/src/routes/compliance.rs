//! `/api/v1/compliance/{execution_id}/export`: the compliance export of an execution
//! (spec §4.6.4, §12). The preset catalogue under `/compliance/presets` is `routes::presets`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::IntoParams;

use super::executions::readable_execution;
use super::tasks::unknown_preset;
use crate::auth::Caller;
use crate::compliance_package::{self, at_least_as_strict};
use crate::compliance_pdf;
use crate::error::ApiError;
use crate::state::AppState;
use crate::validate::{Fields, FromQuery, ValidQuery};

/// The query of `GET /compliance/{execution_id}/export`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Export preset, key or alias (case-insensitive); default the execution's own. A preset
    /// weaker than the execution's own is not applied (spec §12.4).
    preset: Option<String>,
    /// `json` (default) or `pdf`.
    #[param(value_type = Option<String>)]
    format: Format,
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Pdf,
}

impl FromQuery for ExportQuery {
    fn from_query(fields: &mut Fields<'_>) -> Option<Self> {
        let preset = fields.optional::<String>("preset");
        let format = fields.optional::<String>("format");
        let format = fields.one_of(
            "format",
            format,
            |f| match f {
                "json" => Some(Format::Json),
                "pdf" => Some(Format::Pdf),
                _ => None,
            },
            &["json", "pdf"],
        );
        Some(ExportQuery {
            preset,
            format: format.unwrap_or(Format::Json),
        })
    }
}

/// The compliance package of an execution (spec §12), signed, as JSON or as a PDF report.
///
/// Computed at every call: each export has a fresh `package_id`, `generated_at` and
/// signature, and nothing is stored. Executions that are not `completed` can be exported and
/// attest `compliant: false`. A `preset` weaker than the execution's own is not applied: the
/// package is built under the execution's own preset and says so in `notes`.
///
/// Choices where the contract leaves one open: presets are compared by canonical key, so an
/// alias of the execution's own preset is that preset (no note), and the note names the
/// requested preset by its canonical key; an empty `preset` is an unknown preset (400); an
/// execution whose own preset is no longer loaded is answered 400 naming that preset, because
/// the strictness of any export preset cannot be judged without it; `format` is
/// case-sensitive. The execution's own preset is the version it was pinned to at submission,
/// also when `preset` names its key. The PDF also prints the package's `notes` on its cover,
/// cuts long table cells to their limit with `...` at the end, and shows every time in UTC.
#[utoipa::path(get, path = "/api/v1/compliance/{execution_id}/export", tag = "compliance",
    security(("bearer" = [])),
    params(("execution_id" = String, Path), ExportQuery),
    responses(
        (status = 200, description = "The signed package (`format=json`) or its PDF report (`format=pdf`)",
            content((Object = "application/json"), (String = "application/pdf")),
            headers(("Content-Disposition" = String,
                description = "`attachment; filename=\"compliance-<first 8 chars of id>.json\"` or \
                               `attachment; filename=\"certior-audit-<first 8 chars of id>.pdf\"`"))),
        (status = 400, description = "Unknown compliance preset"),
        (status = 404, description = "Execution not found"),
        (status = 422, description = "Validation error: `format` is not `json` or `pdf`")))]
pub async fn export_execution(
    State(state): State<AppState>,
    caller: Caller,
    Path(execution_id): Path<String>,
    ValidQuery(query): ValidQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let execution = readable_execution(&state, &caller.user, &execution_id).await?;
    let own = state
        .presets
        .pinned(&execution.preset_key, execution.preset_version)
        .ok_or_else(|| unknown_preset(&state, &execution.preset_key))?;
    let requested = match query.preset.as_deref() {
        None => own.clone(),
        Some(name) => state.presets.get(name).ok_or_else(|| unknown_preset(&state, name))?,
    };
    // Naming the execution's own preset means the version it ran under, not a later upload.
    let requested = if requested.key() == own.key() {
        own.clone()
    } else {
        requested
    };
    let (preset, notes) = if at_least_as_strict(&requested, &own) {
        (requested, None)
    } else {
        let note = format!(
            "Preset '{}' is weaker than the execution's preset '{own}'; the export uses '{own}'.",
            requested.key(),
            own = own.key()
        );
        (own, Some(vec![note]))
    };
    let package = compliance_package::build(&state, &execution, &preset, notes).await?;
    let short_id: String = execution.id.chars().take(8).collect();
    Ok(match query.format {
        Format::Json => {
            let disposition = format!("attachment; filename=\"compliance-{short_id}.json\"");
            ([(header::CONTENT_DISPOSITION, disposition)], Json(package)).into_response()
        }
        Format::Pdf => {
            // Long tasks make long reports; layout is CPU work, kept off the request threads.
            let pdf = tokio::task::spawn_blocking(move || compliance_pdf::render(&package))
                .await
                .map_err(|err| anyhow::anyhow!("rendering the compliance PDF: {err}"))?;
            let disposition = format!("attachment; filename=\"certior-audit-{short_id}.pdf\"");
            let headers = [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ];
            (headers, pdf).into_response()
        }
    })
}
