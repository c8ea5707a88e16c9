//! Extractors whose rejections speak our error format instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::AppError;

pub fn rejection_detail(text: String) -> serde_json::Value {
    // axum's text names the failing field or position; it holds no server internals.
    serde_json::json!({ "reason": text.chars().take(300).collect::<String>() })
}

/// JSON body; malformed JSON, wrong types, unknown fields (types use `deny_unknown_fields`),
/// invalid UTF-8 and a missing content type all answer 400/415 with the error body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(AppError::BadRequest("error.json_content_type", serde_json::Value::Null))
            }
            Err(JsonRejection::BytesRejection(r)) if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(AppError::TooLarge)
            }
            Err(JsonRejection::JsonDataError(e)) => {
                Err(AppError::BadRequest("error.json_data", rejection_detail(e.body_text())))
            }
            Err(e) => Err(AppError::BadRequest("error.bad_json", rejection_detail(e.body_text()))),
        }
    }
}

/// URL-encoded form body for pages (repeated keys fill `Vec` fields).
pub struct PageForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PageForm<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let pairs = form_pairs(req, state).await?;
        serde_html_form::from_str(&encode_without_csrf(pairs))
            .map(PageForm)
            .map_err(|e| AppError::BadRequest("error.bad_form", rejection_detail(e.to_string())))
    }
}

/// The pairs of a URL-encoded page form, refused like `PageForm` refuses a body.
pub async fn form_pairs<S: Send + Sync>(req: Request, state: &S) -> Result<Vec<(String, String)>, AppError> {
    let urlencoded = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !urlencoded {
        return Err(AppError::BadRequest("error.form_content_type", serde_json::Value::Null));
    }
    let bytes = match axum::body::Bytes::from_request(req, state).await {
        Ok(b) => b,
        Err(r) if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(AppError::TooLarge);
        }
        Err(r) => {
            return Err(AppError::BadRequest("error.bad_form", rejection_detail(r.body_text())));
        }
    };
    Ok(url::form_urlencoded::parse(&bytes).into_owned().collect())
}

/// Form pairs, URL-encoded again without `_csrf`: the CSRF layer has checked the token, and
/// with it gone a form's type can refuse fields it does not know (`deny_unknown_fields`) when
/// it also serves as an API body.
pub fn encode_without_csrf(pairs: impl IntoIterator<Item = (String, String)>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.into_iter().filter(|(k, _)| k != "_csrf"))
        .finish()
}

/// Query string.
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Q(v)),
            Err(e @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(AppError::BadRequest("error.bad_query", rejection_detail(e.body_text())))
            }
            Err(e) => Err(AppError::BadRequest("error.bad_query", rejection_detail(e.body_text()))),
        }
    }
}

/// A `{id}` path segment that must be a UUID.
pub struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<Uuid>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Id(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(AppError::bad("error.bad_id")),
            Err(e) => Err(AppError::Internal(anyhow::anyhow!("path: {}", e.body_text()))),
        }
    }
}
