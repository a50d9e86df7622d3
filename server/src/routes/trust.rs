//! `/api/v1/trust`: the public keys and offline-checkable verification (spec §4.10).

use axum::extract::State;
use axum::Json;
use certior::certificate::{verify_document, InvalidReason, TrustedKeys};
use certior::signing::PublicKeyEntry;
use certior::verify_token;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::clock::now;
use crate::error::ApiError;
use crate::state::AppState;
use crate::validate::{Fields, FromBody, ValidJson};

#[derive(Serialize, ToSchema)]
pub struct KeysResponse {
    /// Exactly one `active` key; retired keys stay listed so old evidence still verifies.
    keys: Vec<PublicKeyEntry>,
}

/// The server's Ed25519 public keys.
#[utoipa::path(get, path = "/api/v1/trust/keys", tag = "trust", responses((status = 200, body = KeysResponse)))]
pub async fn keys(State(state): State<AppState>) -> Json<KeysResponse> {
    Json(KeysResponse {
        keys: state.keyring.public_keys().to_vec(),
    })
}

/// Exactly one of the three documents.
#[derive(ToSchema)]
pub enum VerifyRequest {
    /// A certificate (spec §11.2).
    #[schema(value_type = Object)]
    Certificate(Map<String, Value>),
    /// A compliance package (spec §12).
    #[schema(value_type = Object)]
    Package(Map<String, Value>),
    /// A capability token (spec §11.4): an EdDSA JWT.
    Token(String),
}

impl FromBody for VerifyRequest {
    fn from_body(fields: &mut Fields<'_>) -> Option<Self> {
        let present: Vec<&str> = ["certificate", "package", "token"]
            .into_iter()
            .filter(|f| fields.has(f))
            .collect();
        if present.len() != 1 {
            fields.error(
                None,
                "value_error",
                "exactly one of 'certificate', 'package' or 'token' is required",
            );
            return None;
        }
        match present[0] {
            "certificate" => fields
                .required::<Map<String, Value>>("certificate")
                .map(VerifyRequest::Certificate),
            "package" => fields
                .required::<Map<String, Value>>("package")
                .map(VerifyRequest::Package),
            _ => fields.required::<String>("token").map(VerifyRequest::Token),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    /// `signature_valid` and not expired and not revoked.
    valid: bool,
    /// `certificate`, `package` or `token`.
    kind: &'static str,
    key_id: Option<String>,
    signature_valid: bool,
    expired: bool,
    /// Tokens only; always false for other kinds.
    revoked: bool,
    /// Null when valid, else the first failing check.
    reason: Option<InvalidReason>,
}

/// Verify a signed document against the keys of `/trust/keys`.
#[utoipa::path(post, path = "/api/v1/trust/verify", tag = "trust", request_body = VerifyRequest,
    responses((status = 200, body = VerifyResponse), (status = 422, description = "Not exactly one document")))]
pub async fn verify(
    State(state): State<AppState>,
    ValidJson(request): ValidJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let keys = TrustedKeys::from_entries(state.keyring.public_keys())
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("the server's own key list is invalid: {err}")))?;
    let (kind, outcome, revoked) = match request {
        VerifyRequest::Certificate(document) => (
            "certificate",
            verify_document(&Value::Object(document), &keys, now()),
            false,
        ),
        VerifyRequest::Package(document) => (
            "package",
            verify_document(&Value::Object(document), &keys, now()),
            false,
        ),
        VerifyRequest::Token(token) => {
            let (outcome, claims) = verify_token(&token, &keys, now());
            // Only a genuine token's id is looked up: a forged one names whatever it likes.
            let revoked = match claims.filter(|_| outcome.signature_valid) {
                Some(claims) => state
                    .store
                    .token(&claims.jti)
                    .await?
                    .is_some_and(|t| t.revoked_at.is_some()),
                None => false,
            };
            ("token", outcome, revoked)
        }
    };
    let reason = match outcome.reason {
        None if revoked => Some(InvalidReason::Revoked),
        reason => reason,
    };
    Ok(Json(VerifyResponse {
        valid: outcome.valid && !revoked,
        kind,
        key_id: outcome.key_id,
        signature_valid: outcome.signature_valid,
        expired: outcome.expired,
        revoked,
        reason,
    }))
}
