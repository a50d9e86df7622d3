//! `/openapi.json` and Swagger UI at `/docs` (vendored assets, works offline).
//!
//! The UI is served at `/docs` itself rather than through `SwaggerUi`'s router, which redirects
//! `/docs` to `/docs/`: the contract has no trailing-slash redirects. A `<base>` element keeps
//! the page's relative asset links pointing under `/docs/`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::Config;

use crate::error::ApiError;

#[derive(Clone)]
struct Docs {
    openapi: Arc<OpenApi>,
    config: Arc<Config<'static>>,
}

pub fn router<S: Clone + Send + Sync + 'static>(openapi: OpenApi) -> Router<S> {
    let docs = Docs {
        openapi: Arc::new(openapi),
        config: Arc::new(Config::from("/openapi.json")),
    };
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(index))
        .route("/docs/{*file}", get(asset))
        .with_state(docs)
}

async fn openapi_json(State(docs): State<Docs>) -> Json<Arc<OpenApi>> {
    Json(docs.openapi)
}

async fn index(State(docs): State<Docs>) -> Result<Response, ApiError> {
    let page = swagger_file("index.html", &docs)?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("Swagger UI index.html is missing")))?;
    let html = String::from_utf8_lossy(&page.1).replacen("<head>", "<head>\n    <base href=\"/docs/\">", 1);
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8".to_string())], html).into_response())
}

async fn asset(State(docs): State<Docs>, Path(file): Path<String>) -> Result<Response, ApiError> {
    match swagger_file(&file, &docs)? {
        Some((content_type, bytes)) => {
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], bytes).into_response())
        }
        None => Err(ApiError::not_found("Not Found")),
    }
}

fn swagger_file(path: &str, docs: &Docs) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    let file = utoipa_swagger_ui::serve(path, docs.config.clone())
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("serving Swagger UI file {path}: {err}")))?;
    Ok(file.map(|file| (file.content_type, file.bytes.into_owned())))
}
