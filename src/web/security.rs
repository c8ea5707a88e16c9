//! Security headers on every response.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// `hsts`: the site is served over TLS (`LINLI_SECURE_COOKIES`), so browsers are told to use
/// nothing else for a year.
pub async fn headers(State(hsts): State<bool>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A response may set a stricter policy of its own (stored files are sandboxed).
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    ));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages, API answers, their errors and exports may all carry personal data, and no cache
    // — the browser's disk on a shared office computer, a proxy — may keep them. What may be
    // cached says so itself (static files; photos, privately).
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    if hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    if res.status() == StatusCode::TOO_MANY_REQUESTS {
        // Every limit counts in windows of a minute or longer: a minute is the soonest a retry
        // can be let through.
        res.headers_mut().entry(header::RETRY_AFTER).or_insert(HeaderValue::from_static("60"));
    }
    res
}
