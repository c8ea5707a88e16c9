//! Load shedding. While `max_in_flight` requests are being handled, up to `max_queued` more
//! wait for a slot; past that the answer is 503 with Retry-After at once (JSON under /api/, a
//! page elsewhere) instead of a place in a queue whose wait grows without bound. It sits
//! before the session lookup, so a turned-away request costs no database work.

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;
use axum::{BoxError, Router};
use tower::ServiceBuilder;

use super::error::AppError;
use super::i18n::Lang;

/// Seconds a turned-away client is asked to wait before trying again.
const RETRY_AFTER: &str = "2";

/// `app` behind one concurrency limit with a bounded queue, except /healthz, which answers
/// beside the queue: a load balancer must not take a busy instance for a dead one.
pub fn shed(app: Router, max_in_flight: usize, max_queued: usize) -> Router {
    // One service around the whole router (`Router::layer` would give each route a limit of
    // its own). The buffer's worker holds one more request than its channel while it waits
    // for a slot.
    let limited = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overloaded))
        .load_shed()
        .buffer(max_queued.saturating_sub(1).max(1))
        .concurrency_limit(max_in_flight)
        .service(app.clone().into_service::<Body>());
    Router::new().route_service("/healthz", app.into_service::<Body>()).fallback_service(limited)
}

async fn overloaded(uri: Uri, headers: HeaderMap, _: BoxError) -> Response {
    metrics::counter!("linli_http_shed_total").increment(1);
    let is_api = uri.path().starts_with("/api/");
    // As `auth::resolve` decides it, without the session: the language cookie, else the API's
    // Accept-Language, else Chinese.
    let lang = super::cookie(&headers, "linli_lang").and_then(|v| Lang::parse(&v)).unwrap_or_else(|| {
        if is_api {
            Lang::from_accept(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
        } else {
            Lang::Zh
        }
    });
    let mut res = super::render::error_response(AppError::Overloaded, lang, is_api, None);
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
    res
}
