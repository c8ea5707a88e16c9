//! Static assets, embedded in the binary.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../static/linli.css");
const JS: &str = include_str!("../../static/linli.js");

pub async fn serve(Path(name): Path<String>) -> Response {
    let (body, mime) = match name.as_str() {
        "linli.css" => (CSS, "text/css; charset=utf-8"),
        "linli.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    res
}
