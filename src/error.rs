//! One error type for every handler. It becomes a response carrying an `ErrorInfo` extension;
//! the `render_errors` middleware turns that into `{code, message, details}` JSON for the API or
//! an HTML page in the caller's language for everything else.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// Field-level validation failures: (field name, stable message code).
#[derive(Debug, Default, Clone, Serialize)]
pub struct FieldErrors(pub Vec<(String, &'static str)>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, code: &'static str) {
        self.0.push((field.to_string(), code));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, field: &str) -> Option<&'static str> {
        self.0.iter().find(|(f, _)| f == field).map(|(_, c)| *c)
    }
    pub fn into_result(self) -> Result<(), AppError> {
        if self.is_empty() { Ok(()) } else { Err(AppError::Invalid(self)) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// Refused for a reason the caller can act on (the code names it), not for their role.
    #[error("forbidden: {0}")]
    ForbiddenBecause(&'static str),
    #[error("authentication required")]
    Unauthenticated,
    #[error("bad request: {0}")]
    BadRequest(&'static str, Value),
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A conflict with records the caller should look at (possible duplicates).
    #[error("conflict: {0}")]
    ConflictWith(&'static str, Value),
    #[error("stale version")]
    Stale,
    /// A stale write through the API, with the record's current version: the answer names it
    /// (and carries it as the ETag) so a client can read again and reapply its change.
    #[error("stale version (now {0})")]
    StaleAt(i64),
    #[error("too many requests")]
    TooMany,
    #[error("payload too large")]
    TooLarge,
    /// More requests than the server takes at once and its queue holds (503).
    #[error("overloaded")]
    Overloaded,
    /// The body did not arrive within the time a client has to send it (408).
    #[error("request body timed out")]
    BodyTimeout,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad(code: &'static str) -> Self {
        AppError::BadRequest(code, Value::Null)
    }
    pub fn field(field: &str, code: &'static str) -> Self {
        let mut e = FieldErrors::default();
        e.add(field, code);
        AppError::Invalid(e)
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if crate::db::is_unique_violation(&e) {
            AppError::Conflict("error.duplicate")
        } else {
            AppError::Internal(e.into())
        }
    }
}

/// Maps a unique-constraint violation to a message on `field`; other errors pass through.
/// `insert(...).await.map_err(on_unique("name", "place.duplicate_name"))?`
pub fn on_unique(field: &'static str, code: &'static str) -> impl FnOnce(sqlx::Error) -> AppError {
    move |e| if crate::db::is_unique_violation(&e) { AppError::field(field, code) } else { e.into() }
}

/// What the error renderer needs: the HTTP status, a stable code and optional details.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub details: Value,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, details) = match self {
            AppError::NotFound => (StatusCode::NOT_FOUND, "error.not_found", Value::Null),
            AppError::Forbidden => (StatusCode::FORBIDDEN, "error.forbidden", Value::Null),
            AppError::ForbiddenBecause(code) => (StatusCode::FORBIDDEN, code, Value::Null),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "error.unauthenticated", Value::Null),
            AppError::BadRequest(code, details) => (StatusCode::BAD_REQUEST, code, details),
            AppError::Invalid(fields) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "error.invalid",
                Value::Array(fields.0.into_iter().map(|(f, c)| serde_json::json!({"field": f, "code": c})).collect()),
            ),
            AppError::Conflict(code) => (StatusCode::CONFLICT, code, Value::Null),
            AppError::ConflictWith(code, details) => (StatusCode::CONFLICT, code, details),
            AppError::Stale => (StatusCode::PRECONDITION_FAILED, "error.stale", Value::Null),
            AppError::StaleAt(v) => {
                let mut res = StatusCode::PRECONDITION_FAILED.into_response();
                if let Ok(etag) = axum::http::HeaderValue::from_str(&format!("\"{v}\"")) {
                    res.headers_mut().insert(axum::http::header::ETAG, etag);
                }
                let details = serde_json::json!({ "current_version": v, "etag": format!("\"{v}\"") });
                res.extensions_mut().insert(ErrorInfo { code: "error.stale", details });
                return res;
            }
            AppError::TooMany => (StatusCode::TOO_MANY_REQUESTS, "error.too_many", Value::Null),
            AppError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "error.too_large", Value::Null),
            AppError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "error.overloaded", Value::Null),
            AppError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "error.timeout", Value::Null),
            AppError::Internal(e) => match e.chain().find_map(|c| c.downcast_ref::<crate::crypto::MissingKey>()) {
                // Not the request's fault (so not 4xx) nor a bug: the value is sound, and this
                // server lacks the key that opens it until its operator gives the key back —
                // "service unavailable", with the reason, and the key's id in the log only.
                Some(missing) => {
                    tracing::error!(
                        key = %missing.0,
                        "a sealed value needs a key the keyring does not hold: put it back in LINLI_SECRET_KEY (or secret.key) after the newest; `linli check` counts what needs it"
                    );
                    (StatusCode::SERVICE_UNAVAILABLE, "error.key_missing", Value::Null)
                }
                None => {
                    // The chain may name tables or values; it goes to the log, never to the client.
                    tracing::error!(error = %format!("{e:#}"), "internal error");
                    (StatusCode::INTERNAL_SERVER_ERROR, "error.internal", Value::Null)
                }
            },
        };
        let mut res = status.into_response();
        res.extensions_mut().insert(ErrorInfo { code, details });
        res
    }
}

pub type AppResult<T> = Result<T, AppError>;

// The error body as the OpenAPI document describes it; `AppError` writes the same shape.

/// Every error answer of the API.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `not_found`, `invalid`, `stale`.
    pub code: String,
    /// Human-readable text in the caller's language.
    pub message: String,
    /// The fields at fault (422), what the parser objected to (400), or null.
    pub details: Option<ErrorDetails>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ErrorDetails {
    Fields(Vec<FieldError>),
    Reason(ErrorReason),
}

/// One field's fault.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name in the body (or `item_<key>` for an assessment's item).
    pub field: String,
    /// Stable message code, e.g. `error.required`.
    pub code: String,
    /// The message in the caller's language.
    pub message: String,
}

/// Why the request could not be read.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorReason {
    pub reason: String,
}
