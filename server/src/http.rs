//! Transport rules that hold for every route: body size limits (spec §1.11), JSON 404/405
//! (spec §1.1) and CORS (spec §1.9).

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http_body_util::BodyExt;

use crate::error::ApiError;
use crate::preset_upload;
use crate::routes::github_webhook;
use crate::state::AppState;

const MIB: usize = 1024 * 1024;

/// The body limit of a route and the text of its 413.
fn body_limit(method: &Method, path: &str) -> (usize, &'static str) {
    match (method, path) {
        (_, github_webhook::PATH) => (25 * MIB, "Request body exceeds 25 MiB."),
        (&Method::POST, "/api/v1/compliance/presets") => (preset_upload::MAX_BUNDLE_BYTES, preset_upload::TOO_LARGE),
        _ => (MIB, "Request body exceeds 1 MiB."),
    }
}

/// Bodies declared or found larger than the limit are still read to the end, up to this size,
/// before the 413 goes out: a client that is still sending when the answer arrives would
/// otherwise see its connection reset instead of the 413, and the connection could not carry
/// another request. Beyond this the answer is sent at once and the connection closed.
const DRAIN_CAP: usize = 64 * MIB;

/// How an over-limit body ended.
enum Overflow {
    /// Read to its end: the connection is clean.
    Drained,
    /// Too large to drain, or broken off: the connection must close.
    Abandoned,
}

/// Reads the body, keeping at most `limit` bytes; a larger body is drained to its end (up to
/// [`DRAIN_CAP`]) and reported as [`Overflow::Drained`].
async fn read_limited(mut body: Body, limit: usize) -> Result<Bytes, Overflow> {
    let mut kept = BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Overflow::Abandoned)?;
        let Ok(data) = frame.into_data() else { continue };
        seen += data.len();
        if seen > DRAIN_CAP {
            return Err(Overflow::Abandoned);
        }
        if seen <= limit {
            kept.extend_from_slice(&data);
        }
    }
    if seen > limit {
        Err(Overflow::Drained)
    } else {
        Ok(kept.freeze())
    }
}

/// An answer given without using the body, which has been drained (or abandoned: then the
/// connection closes, as it cannot carry another request).
fn refuse(error: ApiError, overflow: Option<Overflow>) -> Response {
    let mut response = error.into_response();
    if let Some(Overflow::Abandoned) = overflow {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Buffers the body up to the route's limit, answering 413 beyond it. Runs after routing
/// (as a route layer) and before authentication, as spec §1.7 orders. The GitHub webhook without
/// a secret answers its 503 first and uses nothing of the body (spec/RELEASES.md §7.2 step 1).
pub async fn limit_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let (limit, message) = body_limit(request.method(), &path);
    let refusal =
        (path == github_webhook::PATH && github_webhook::secret(&state).is_none()).then(github_webhook::not_configured);
    let too_large = || {
        // Release routes carry the machine-readable code of spec/RELEASES.md beside the text.
        if path.starts_with("/api/v1/releases/") {
            ApiError::coded(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
        } else {
            ApiError::status(StatusCode::PAYLOAD_TOO_LARGE, message)
        }
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > DRAIN_CAP) {
        return refuse(refusal.unwrap_or_else(too_large), Some(Overflow::Abandoned));
    }
    let (parts, body) = request.into_parts();
    let keep = if refusal.is_some() { 0 } else { limit };
    match (refusal, read_limited(body, keep).await) {
        (Some(refusal), read) => refuse(refusal, read.err()),
        (None, Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        (None, Err(overflow)) => refuse(too_large(), Some(overflow)),
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

/// CORS as spec §1.9 words it. Hand-written rather than tower-http's `CorsLayer`, whose header
/// lists are joined without the spaces the contract's exact texts carry.
#[derive(Debug, Clone)]
pub enum CorsOrigins {
    Any,
    List(Vec<HeaderValue>),
}

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "authorization, content-type, x-api-key";
const EXPOSE_HEADERS: &str = "content-disposition, retry-after";

impl CorsOrigins {
    /// `*` or a comma-separated list of origins.
    pub fn parse(origins: &str) -> anyhow::Result<Self> {
        if origins.trim() == "*" {
            return Ok(CorsOrigins::Any);
        }
        let list = origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                HeaderValue::from_str(o)
                    .map_err(|_| anyhow::anyhow!("CERTIOR_CORS_ORIGINS has an invalid origin {o:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(CorsOrigins::List(list))
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if it is allowed.
    fn allow(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        match self {
            CorsOrigins::Any => Some(HeaderValue::from_static("*")),
            CorsOrigins::List(list) => origin.filter(|o| list.contains(o)).cloned(),
        }
    }
}

/// Answers preflights on every path (200, empty body) and marks actual responses.
/// Credentials mode is never enabled.
pub async fn cors(State(origins): State<std::sync::Arc<CorsOrigins>>, request: Request, next: Next) -> Response {
    let allowed = origins.allow(request.headers().get(header::ORIGIN));
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    if matches!(*origins, CorsOrigins::List(_)) {
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
    let Some(allowed) = allowed else { return response };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    } else {
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    response
}
