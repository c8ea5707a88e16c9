//! Body limits. Each route has its own (`max_import_bytes` for uploads, `max_body_bytes` for
//! everything else, applied around its handler); the outer one, the largest of them, refuses
//! a body before anything reads it. Both answer in the format of the path the body was sent
//! to, like every other error.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::AppError;
use crate::i18n::Lang;
use crate::web::RouteDef;

/// Which posts take uploads, for the layers that read a body before the router has picked its
/// route (`body_read` reads every body before the overload queue; the idempotency layer
/// buffers keyed bodies to hash them).
pub struct RouteLimits {
    uploads: matchit::Router<usize>,
    general: usize,
    upload: usize,
    open311: usize,
}

impl RouteLimits {
    pub fn new(general: usize, upload: usize, open311: usize) -> RouteLimits {
        RouteLimits { uploads: matchit::Router::new(), general, upload, open311 }
    }

    /// The limit of the route `def` declares: Open311's photo posts have their own, smaller
    /// than an import's, because anyone holding an app's key may send them.
    pub fn of_def(&self, def: &RouteDef) -> usize {
        match (def.upload, def.path.starts_with("/open311/")) {
            (false, _) => self.general,
            (true, true) => self.open311,
            (true, false) => self.upload,
        }
    }

    /// Notes a route as the router is built.
    pub fn add(&mut self, def: &RouteDef) {
        if def.upload && def.method == Method::POST {
            self.uploads.insert(def.path, self.of_def(def)).expect("route paths are distinct");
        }
    }

    /// The limit of the POST route `path` matches.
    pub fn of(&self, path: &str) -> usize {
        self.uploads.at(path).map_or(self.general, |m| *m.value)
    }

    /// The limit of a request with `method` to `path` (only POST routes take uploads).
    pub fn of_request(&self, method: &Method, path: &str) -> usize {
        if method == Method::POST { self.of(path) } else { self.general }
    }
}

/// The language of an error answered before `web::caller::resolve` has run, as it would pick it:
/// the language cookie, else for the API its Accept-Language, else Chinese.
pub fn lang_before_session(headers: &HeaderMap, path: &str) -> Lang {
    crate::web::cookie(headers, "linli_lang").and_then(|v| Lang::parse(&v)).unwrap_or_else(|| {
        if path.starts_with("/api/") {
            Lang::from_accept(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
        } else {
            Lang::Zh
        }
    })
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
    crate::web::render::error_at(AppError::TooLarge, lang_before_session(req.headers(), path), path)
}
