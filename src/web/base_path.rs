//! Serving under a path prefix behind a proxy (`LINLI_BASE_PATH=/linli`): the proxy passes
//! `/linli/people` on as it is, this layer routes it as `/people`, and everything that names a
//! path on the way out gets the prefix back — `Location`, the cookies' `Path`, and the links,
//! form actions and asset URLs of HTML pages. Pages are rewritten here rather than in every
//! template so that a link added tomorrow cannot forget the prefix; this is sound because
//! askama escapes `"` in whatever it inserts, so the byte sequence `href="/` can only come
//! from a template, never from user text. A request outside the prefix is not served.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use tower::Layer;

/// The value our nearest proxy wrote into `name` (the last of a list), if it is a plausible
/// host or scheme: a client may write these headers too, and only a trusted proxy's are read.
fn forwarded<'a>(headers: &'a HeaderMap, name: &str, ok: impl Fn(&str) -> bool) -> Option<&'a str> {
    let v = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    Some(v.rsplit(',').next()?.trim()).filter(|v| !v.is_empty() && v.len() <= 255 && ok(v))
}

fn host_like(v: &str) -> bool {
    v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// Where people and apps reach Linli, base path included, for links that leave the page (an
/// Open311 discovery answer, a ledger's photo links): the proxy's scheme and host when the
/// request came through trusted proxies (`LINLI_TRUSTED_PROXIES`), else the Host header as
/// received.
pub fn public_origin(st: &crate::state::AppState, headers: &HeaderMap) -> String {
    let proxied = st.cfg.trusted_proxies > 0;
    let host = proxied
        .then(|| forwarded(headers, "x-forwarded-host", host_like))
        .flatten()
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| host_like(h)))
        .unwrap_or("localhost");
    let scheme = proxied
        .then(|| forwarded(headers, "x-forwarded-proto", |v| matches!(v, "http" | "https")))
        .flatten()
        .unwrap_or(if st.cfg.secure_cookies { "https" } else { "http" });
    format!("{scheme}://{host}{}", st.cfg.base_path)
}

/// `app` served under `base` (from [`crate::config::parse_base_path`]); with no base path, `app` itself.
pub fn wrap(app: Router, base: &str) -> Router {
    if base.is_empty() {
        return app;
    }
    let svc = from_fn_with_state(Arc::<str>::from(base), under).layer(app);
    Router::new().fallback_service(svc)
}

async fn under(State(base): State<Arc<str>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix(&*base) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if rest.is_empty() {
        // `/linli` itself: the app's root is `/linli/`, where relative links resolve right.
        let mut res = StatusCode::PERMANENT_REDIRECT.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("{base}/")) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        return res;
    }
    if !rest.starts_with('/') {
        // `/linlifoo` is not under `/linli`.
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let inner = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = inner.parse().ok();
    match Uri::from_parts(parts) {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    let res = next.run(req).await;
    outbound(res, &base).await
}

async fn outbound(mut res: Response, base: &str) -> Response {
    let h = res.headers_mut();
    if let Some(loc) = h.get(header::LOCATION).and_then(|v| v.to_str().ok())
        && loc.starts_with('/')
        && !loc.starts_with("//")
        && let Ok(v) = HeaderValue::from_str(&format!("{base}{loc}"))
    {
        h.insert(header::LOCATION, v);
    }
    let cookies: Vec<HeaderValue> = h
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| match v.to_str() {
            Ok(s) => HeaderValue::from_str(&cookie_path(s, base)).unwrap_or_else(|_| v.clone()),
            Err(_) => v.clone(),
        })
        .collect();
    if !cookies.is_empty() {
        h.remove(header::SET_COOKIE);
        for c in cookies {
            h.append(header::SET_COOKIE, c);
        }
    }
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if !html {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // Pages are rendered whole in memory before they are sent; reading one back costs no more.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let out = rewrite_html(&bytes, base);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

/// `Path=/…` of a Set-Cookie line, under the base path.
fn cookie_path(line: &str, base: &str) -> String {
    line.split(';')
        .map(|attr| {
            let t = attr.trim_start();
            match t.get(..5) {
                Some(k) if k.eq_ignore_ascii_case("path=") && t[5..].starts_with('/') => {
                    let p = &t[5..];
                    let lead = &attr[..attr.len() - t.len()];
                    if p == "/" { format!("{lead}Path={base}") } else { format!("{lead}Path={base}{p}") }
                }
                _ => attr.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// The attributes whose value is a URL the browser fetches or navigates to.
const URL_ATTRS: [&[u8]; 4] = [b"href=", b"src=", b"action=", b"formaction="];

/// Prefixes every root-relative URL (`/…`, not `//…`) in those attributes with `base`.
pub fn rewrite_html(html: &[u8], base: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(html.len() + 1024);
    let mut i = 0;
    while i < html.len() {
        let b = html[i];
        out.push(b);
        i += 1;
        if !b.is_ascii_whitespace() {
            continue;
        }
        for attr in URL_ATTRS {
            let rest = &html[i..];
            if rest.len() > attr.len() + 2 && rest[..attr.len()].eq_ignore_ascii_case(attr) {
                let quote = rest[attr.len()];
                let (first, second) = (rest[attr.len() + 1], rest.get(attr.len() + 2).copied());
                if (quote == b'"' || quote == b'\'') && first == b'/' && second != Some(b'/') {
                    out.extend_from_slice(&rest[..=attr.len()]);
                    out.extend_from_slice(base.as_bytes());
                    i += attr.len() + 1;
                }
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{cookie_path, rewrite_html};
    use crate::config::parse_base_path as parse;

    #[test]
    fn base_paths_are_checked() {
        assert_eq!(parse(""), Ok(String::new()));
        assert_eq!(parse("/"), Ok(String::new()));
        assert_eq!(parse("/linli/"), Ok("/linli".into()));
        assert_eq!(parse("/a/b-c"), Ok("/a/b-c".into()));
        for bad in ["linli", "/a//b", "/a/../b", "/a b", "/a?x", "/a\"", "/%2e"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn links_forms_and_assets_get_the_prefix_and_nothing_else_does() {
        let page = br#"<a href="/people">x</a><form method="post" action='/login'><img src="/static/a.png">
<a href="//cdn.example/x"></a><a href="https://example.org/">e</a><a href="?page=2">n</a>
<p>href="/not-an-attribute"</p><p data-href="/x"></p><button formaction="/y">"#;
        let out = String::from_utf8(rewrite_html(page, "/linli")).unwrap();
        assert!(out.contains(r#"<a href="/linli/people">"#), "{out}");
        assert!(out.contains(r#"action='/linli/login'"#), "{out}");
        assert!(out.contains(r#"src="/linli/static/a.png""#), "{out}");
        assert!(out.contains(r#"formaction="/linli/y""#), "{out}");
        assert!(out.contains(r#"href="//cdn.example/x""#), "{out}");
        assert!(out.contains(r#"href="https://example.org/""#), "{out}");
        assert!(out.contains(r#"href="?page=2""#), "{out}");
        assert!(out.contains(r#"<p>href="/not-an-attribute"</p>"#), "text, not an attribute: {out}");
        assert!(out.contains(r#"data-href="/x""#), "{out}");
    }

    #[test]
    fn cookie_paths_move_under_the_base() {
        assert_eq!(
            cookie_path("linli_sid=abc; Path=/; HttpOnly; SameSite=Lax", "/linli"),
            "linli_sid=abc; Path=/linli; HttpOnly; SameSite=Lax"
        );
        assert_eq!(cookie_path("a=b; path=/x", "/p"), "a=b; Path=/p/x");
    }
}
