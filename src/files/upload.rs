//! A page form that may carry photos: URL-encoded (no files) or multipart. The text fields are
//! decoded exactly as [`PageForm`](crate::web::extract::PageForm) decodes them, so a form keeps
//! working when a file input is added; an oversized file is marked, not fatal, so the page can
//! come back with everything the user typed and one clear message.

use axum::extract::{FromRequest, Multipart, Request};

use crate::error::AppError;
use crate::web::AppState;
use crate::web::extract::{ApiJson, PageForm, encode_without_csrf};

/// At most this many files in one form.
pub const MAX_FILES: usize = 9;

#[derive(Debug)]
pub struct Upload {
    pub field: String,
    pub name: String,
    pub bytes: Vec<u8>,
    /// Longer than the configured limit; the bytes were not kept.
    pub oversize: bool,
}

pub struct FormWithFiles<T> {
    pub form: T,
    pub files: Vec<Upload>,
}

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for FormWithFiles<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Self::Rejection> {
        if !is_multipart(&req) {
            let PageForm(form) = PageForm::<T>::from_request(req, st).await?;
            return Ok(FormWithFiles { form, files: Vec::new() });
        }
        let mp = Multipart::from_request(req, st)
            .await
            .map_err(|_| AppError::BadRequest("error.form_content_type", serde_json::Value::Null))?;
        let (pairs, files) = read_multipart(mp, st.files.max_bytes).await?;
        let form = serde_html_form::from_str(&encode_without_csrf(pairs))
            .map_err(|e| AppError::BadRequest("error.bad_form", serde_json::json!({ "reason": e.to_string() })))?;
        Ok(FormWithFiles { form, files })
    }
}

/// An API body that may carry files: JSON (no files), or multipart/form-data whose text fields
/// are the JSON body's keys, flat, and whose file parts are the uploads (`curl -F note=… -F
/// photos=@a.jpg`). The same type checks both, unknown fields included.
pub struct ApiWithFiles<T> {
    pub body: T,
    pub files: Vec<Upload>,
}

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for ApiWithFiles<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Self::Rejection> {
        if !is_multipart(&req) {
            let ApiJson(body) = ApiJson::<T>::from_request(req, st).await?;
            return Ok(ApiWithFiles { body, files: Vec::new() });
        }
        let FormWithFiles { form, files } = FormWithFiles::<T>::from_request(req, st).await?;
        Ok(ApiWithFiles { body: form, files })
    }
}

pub fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// The text fields of a multipart body as form pairs, and its files. A file longer than `max` is
/// marked oversize (its bytes dropped) rather than failing the form; an empty file input is
/// skipped; more than [`MAX_FILES`] files is refused.
pub async fn read_multipart(mut mp: Multipart, max: usize) -> Result<(Vec<(String, String)>, Vec<Upload>), AppError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut files = Vec::new();
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(file_name) => {
                let mut bytes = Vec::new();
                let mut oversize = false;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if oversize {
                        continue;
                    }
                    if bytes.len() + chunk.len() > max {
                        oversize = true;
                        bytes = Vec::new();
                    } else {
                        bytes.extend_from_slice(&chunk);
                    }
                }
                // An empty file input still sends a part with no name and no bytes.
                if bytes.is_empty() && !oversize && file_name.is_empty() {
                    continue;
                }
                if files.len() == MAX_FILES {
                    return Err(AppError::field(&name, "file.too_many"));
                }
                files.push(Upload { field: name, name: file_name, bytes, oversize });
            }
            None => {
                let value = field.text().await.map_err(multipart_error)?;
                pairs.push((name, value));
            }
        }
    }
    Ok((pairs, files))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> AppError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge
    } else {
        AppError::bad("error.bad_form")
    }
}
