//! CSRF defence on every state-changing request: cross-site requests are refused by
//! Sec-Fetch-Site/Origin, and cookie-authenticated ones must also echo the session's token
//! (form field `_csrf`, header `X-CSRF-Token`, or `?_csrf=` for multipart uploads).
//! Bearer-token API calls carry no cookie and need no token.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::auth::{Caller, RequestInfo};
use crate::error::AppError;
use crate::web::AppState;

pub async fn protect(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.uri().path().starts_with("/open311/")
    {
        return next.run(req).await;
    }
    if !same_origin(&req) {
        return AppError::BadRequest("error.cross_site", serde_json::Value::Null).into_response().with_status(403);
    }
    let expected = match (req.extensions().get::<Caller>(), req.extensions().get::<RequestInfo>()) {
        (Some(c), _) => c.session.as_ref().map(|s| s.csrf.clone()),
        (None, Some(info)) => info.pending.as_ref().map(|p| p.session.csrf.clone()),
        _ => None,
    };
    let Some(expected) = expected else {
        // No cookie session (anonymous or bearer token): Origin checks above suffice.
        return next.run(req).await;
    };
    let from_header = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    let from_query = req.uri().query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v)
    });
    let (req, from_form) = if from_header.is_none() && from_query.is_none() && is_urlencoded(&req) {
        let (parts, body) = req.into_parts();
        let bytes = match to_bytes(body, st.cfg.max_body_bytes).await {
            Ok(b) => b,
            Err(_) => return AppError::TooLarge.into_response(),
        };
        let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .ok()
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "_csrf").map(|(_, v)| v));
        (Request::from_parts(parts, Body::from(bytes)), token)
    } else {
        (req, None)
    };
    let given = from_header.or(from_query).or(from_form).unwrap_or_default();
    if given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        next.run(req).await
    } else {
        AppError::BadRequest("error.csrf", serde_json::Value::Null).into_response().with_status(403)
    }
}

fn is_urlencoded(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn same_origin(req: &Request) -> bool {
    if let Some(site) = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => req.headers().get(header::ORIGIN).is_none(),
        Some(origin) => {
            let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            url::Url::parse(origin)
                .ok()
                .map(|u| {
                    let o = match u.port() {
                        Some(p) => format!("{}:{p}", u.host_str().unwrap_or("")),
                        None => u.host_str().unwrap_or("").to_string(),
                    };
                    o == host
                })
                .unwrap_or(false)
        }
    }
}

trait WithStatus {
    fn with_status(self, code: u16) -> Response;
}

impl WithStatus for Response {
    fn with_status(mut self, code: u16) -> Response {
        *self.status_mut() = axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::FORBIDDEN);
        self
    }
}
