//! One error type for every route, rendered as the `{"detail": …}` envelope of spec §1.5.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store::StoreError;
use crate::validate::FieldError;

#[derive(Debug)]
pub enum ApiError {
    /// `{"detail": "<text>"}` with a status and optional extra headers.
    Plain {
        status: StatusCode,
        detail: String,
        headers: Vec<(header::HeaderName, HeaderValue)>,
    },
    /// `{"detail": {…}}`: the structured 403 of `POST /tasks` (spec §1.5 case 3).
    Structured {
        status: StatusCode,
        detail: serde_json::Value,
    },
    /// `{"detail": "<sentence>", "code": "<code>", …extra}`: the coded errors of
    /// spec/RELEASES.md, where clients branch on `code`.
    Coded {
        status: StatusCode,
        code: &'static str,
        detail: String,
        extra: serde_json::Map<String, serde_json::Value>,
    },
    /// 422 with a readable `detail` and the itemised `errors`.
    Validation(Vec<FieldError>),
    /// 503: the database did not answer.
    Unavailable(String),
    /// 500: the cause goes to the log, never to the client.
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError::Plain {
            status,
            detail: detail.into(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::status(StatusCode::BAD_REQUEST, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::status(StatusCode::UNAUTHORIZED, detail)
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::status(StatusCode::FORBIDDEN, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::status(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::status(StatusCode::CONFLICT, detail)
    }

    pub fn too_many_requests(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::status(StatusCode::TOO_MANY_REQUESTS, detail).with_header(header::RETRY_AFTER, retry_after_secs.into())
    }

    /// A 422 `value_error` at `body.<field>`, for rules checked outside the body reader.
    pub fn field_error(field: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![crate::validate::FieldError {
            loc: vec![
                crate::validate::Loc::Field("body".into()),
                crate::validate::Loc::Field(field.into()),
            ],
            msg: msg.into(),
            kind: "value_error",
        }])
    }

    /// A coded error (spec/RELEASES.md conventions) with no extra members.
    pub fn coded(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Coded {
            status,
            code,
            detail: detail.into(),
            extra: serde_json::Map::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        if let ApiError::Plain { headers, .. } = &mut self {
            headers.push((name, value));
        }
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause.to_string()),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::Internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Plain {
                status,
                detail,
                headers,
            } => {
                let mut response = (status, Json(json!({ "detail": detail }))).into_response();
                response.headers_mut().extend(headers);
                response
            }
            ApiError::Structured { status, detail } => (status, Json(json!({ "detail": detail }))).into_response(),
            ApiError::Coded {
                status,
                code,
                detail,
                extra,
            } => {
                let mut body = serde_json::Map::new();
                body.insert("detail".into(), detail.into());
                body.insert("code".into(), code.into());
                body.extend(extra);
                (status, Json(serde_json::Value::Object(body))).into_response()
            }
            ApiError::Validation(errors) => {
                let body = json!({ "detail": crate::validate::summary(&errors), "errors": errors });
                (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
            }
            ApiError::Unavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "detail": "Database unavailable" })),
                )
                    .into_response()
            }
            ApiError::Internal(cause) => {
                tracing::error!(cause = format!("{cause:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "detail": "Internal server error" })),
                )
                    .into_response()
            }
        }
    }
}
