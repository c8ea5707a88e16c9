//! The access log: one line per request at info on the target `linli::access`, so that it can
//! be kept, filtered out (`LINLI_LOG=info,linli::access=off`) or sent elsewhere on its own.
//! A line names the route template (`/people/{id}`), never the concrete path of a matched
//! route nor any query string: ids, search text, tokens and api keys stay out of logs; bodies
//! are never read. It is written when the answer's last byte has gone (or the client hung up),
//! so `ms` and `bytes` are what the client got.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use crate::web::AppState;

/// Where the route layer leaves the template of the route that matched (see `app::router`).
#[derive(Clone)]
pub struct RouteSlot(Arc<OnceLock<&'static str>>);

impl RouteSlot {
    pub fn set(&self, route: &'static str) {
        let _ = self.0.set(route);
    }
}

/// Longest first segment of an unmatched path logged; the rest is cut (a path is the client's text).
const PATH_MAX: usize = 120;

/// One request's line, written when dropped.
struct Line {
    start: Instant,
    method: Method,
    slot: Arc<OnceLock<&'static str>>,
    path: String,
    client: String,
    id: HeaderValue,
    /// None until an answer was made: a request dropped before then was given up by its
    /// client (logged as nginx does, 499).
    status: Option<u16>,
    bytes: u64,
    complete: bool,
}

impl Drop for Line {
    fn drop(&mut self) {
        let route = self.slot.get().copied().unwrap_or(self.path.as_str());
        let ms = (self.start.elapsed().as_micros() as f64 / 100.0).round() / 10.0;
        let status = self.status.unwrap_or(499);
        tracing::info!(
            target: "linli::access",
            method = %self.method,
            route = %route,
            status,
            ms,
            bytes = self.bytes,
            client = %self.client,
            request_id = %self.id.to_str().unwrap_or(""),
            complete = self.complete,
            "request"
        );
    }
}

/// Middleware, outermost: starts the line, gives the request its id (`X-Request-Id`, sent
/// back on the answer) and writes the line once the body is sent.
pub async fn log(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let slot = Arc::new(OnceLock::new());
    req.extensions_mut().insert(RouteSlot(slot.clone()));
    let id = request_id(req.headers(), st.cfg.trusted_proxies > 0);
    let mut line = Line {
        start: Instant::now(),
        method: req.method().clone(),
        slot,
        path: loggable_path(req.uri().path()),
        client: client(&st, &req),
        id: id.clone(),
        status: None,
        bytes: 0,
        complete: false,
    };
    let res = next.run(req).await;
    line.status = Some(res.status().as_u16());
    let (mut parts, body) = res.into_parts();
    parts.headers.insert("x-request-id", id);
    Response::from_parts(parts, Body::new(Logged { inner: body, line }))
}

/// The client's address by the same rule as everywhere else (`auth::client_ip`); an entry
/// that is no address is cut (it is the client's own text).
fn client(st: &AppState, req: &Request) -> String {
    let ip = crate::auth::client_ip(st, req);
    if ip.parse::<IpAddr>().is_ok() { ip } else { ip.chars().take(60).collect() }
}

/// The id a trusted proxy gave the request (so its log and ours line up), or a new one. A
/// client's own is not taken: anyone could make their requests look like someone else's.
fn request_id(headers: &HeaderMap, behind_proxy: bool) -> HeaderValue {
    if behind_proxy
        && let Some(v) = headers.get("x-request-id")
        && (1..=64).contains(&v.len())
        && v.as_bytes().iter().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b))
    {
        return v.clone();
    }
    HeaderValue::from_str(&uuid::Uuid::now_v7().simple().to_string()).expect("hex is a header value")
}

/// A path for the log when no route matched: its first segment only (what follows may be a
/// tracking code, a token or an id a client mistyped — `/track/<code>/` with a stray slash
/// matches no route), cut short, with anything but printable ASCII escaped.
fn loggable_path(path: &str) -> String {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (first, more) = match rest.split_once('/') {
        Some((first, _)) => (first, true),
        None => (rest, false),
    };
    let mut out: String = "/".chars().chain(first.chars().take(PATH_MAX)).flat_map(char::escape_default).collect();
    if first.chars().count() > PATH_MAX {
        out.push('…');
    }
    if more {
        out.push_str("/…");
    }
    out
}

/// The answer's body, counted as it goes; the line is written when it is dropped.
struct Logged {
    inner: Body,
    line: Line,
}

impl Drop for Logged {
    fn drop(&mut self) {
        // An empty answer may be sent without its body ever being polled.
        if self.inner.is_end_stream() {
            self.line.complete = true;
        }
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.line.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.line.complete = true,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::{loggable_path, request_id};
    use axum::http::HeaderMap;

    #[test]
    fn unmatched_paths_keep_their_first_segment_only() {
        assert_eq!(loggable_path("/nope"), "/nope");
        assert_eq!(loggable_path("/a\nb"), "/a\\nb");
        let long = format!("/{}", "x".repeat(500));
        assert_eq!(loggable_path(&long).chars().count(), 122);
        // Nothing after the first segment: a tracking code with a stray slash stays out.
        assert_eq!(loggable_path("/track/AbCdEf123456/"), "/track/…");
        assert_eq!(loggable_path("/people/01a2/edit"), "/people/…");
    }

    #[test]
    fn a_request_id_is_taken_from_a_trusted_proxy_only() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", "abc-123".parse().unwrap());
        assert_eq!(request_id(&h, true), "abc-123");
        assert_ne!(request_id(&h, false), "abc-123");
        h.insert("x-request-id", "a b".parse().unwrap());
        assert_ne!(request_id(&h, true), "a b");
    }
}
