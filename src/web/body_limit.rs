//! Body limits. Each route has its own (`max_import_bytes` for uploads, `max_body_bytes` for
//! everything else, applied around its handler); the outer one, the largest of them, refuses
//! a body before anything reads it. Both answer in the format of the path the body was sent
//! to, like every other error.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::RouteDef;
use crate::web::error::AppError;
use crate::web::i18n::Lang;

/// Which posts take uploads, for a layer that reads a body before the router has picked its
/// route (the idempotency layer buffers keyed bodies to hash them).
pub struct RouteLimits {
    uploads: matchit::Router<()>,
    general: usize,
    upload: usize,
}

impl RouteLimits {
    pub fn new(general: usize, upload: usize) -> RouteLimits {
        RouteLimits { uploads: matchit::Router::new(), general, upload }
    }

    /// Notes a route as the router is built.
    pub fn add(&mut self, def: &RouteDef) {
        if def.upload && def.method == Method::POST {
            self.uploads.insert(def.path, ()).expect("route paths are distinct");
        }
    }

    /// The limit of the POST route `path` matches.
    pub fn of(&self, path: &str) -> usize {
        if self.uploads.at(path).is_ok() { self.upload } else { self.general }
    }
}

/// Middleware outside everything else: a body declared larger than the largest limit is refused
/// before it is read. (One sent without a length is cut off where it passes the limit, by the
/// layer inside this one, and refused by what reads it.)
pub async fn outer(State(max): State<usize>, req: Request, next: Next) -> Response {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_none_or(|n| n <= max as u64) {
        return next.run(req).await;
    }
    let path = req.uri().path();
    // As `auth::resolve` picks it, which has not run yet: pages are Chinese unless switched,
    // API clients may ask for English.
    let accept = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let lang = crate::web::cookie(req.headers(), "linli_lang")
        .and_then(|v| Lang::parse(&v))
        .unwrap_or(if path.starts_with("/api/") { Lang::from_accept(accept) } else { Lang::Zh });
    crate::web::render::error_at(AppError::TooLarge, lang, path)
}
