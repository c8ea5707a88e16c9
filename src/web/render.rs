//! Page context for templates, and error rendering (JSON for the API, HTML for pages).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::error::{AppError, ErrorInfo};
use super::i18n::{Lang, Tr};
use crate::auth::{Caller, RequestInfo, Role};

pub struct NavItem {
    pub href: &'static str,
    pub key: &'static str,
    pub active: bool,
}

/// What the layout needs on every page.
pub struct Ctx {
    pub tr: Tr,
    pub user: Option<UserView>,
    pub csrf: String,
    pub demo: bool,
    pub nav: Vec<NavItem>,
    pub title: String,
}

pub struct UserView {
    pub name: String,
    pub role_key: String,
}

impl Ctx {
    pub fn new(demo: bool, caller: Option<&Caller>, info: Option<&RequestInfo>, path: &str, title_key: &str) -> Ctx {
        let lang = caller.map(|c| c.lang).or(info.map(|i| i.lang)).unwrap_or_default();
        let tr = Tr(lang);
        let nav = caller.map(|c| nav_for(c.role, path)).unwrap_or_default();
        Ctx {
            tr,
            user: caller.map(|c| UserView { name: c.display_name.clone(), role_key: c.role.label_key() }),
            csrf: caller
                .map(|c| c.csrf().to_string())
                .or_else(|| info.and_then(|i| i.pending.as_ref()).map(|p| p.session.csrf.clone()))
                .unwrap_or_default(),
            demo,
            nav,
            title: tr.t(title_key).to_string(),
        }
    }
    pub fn t(&self, key: &str) -> String {
        self.tr.t(key)
    }
}

fn nav_for(role: Role, path: &str) -> Vec<NavItem> {
    use crate::roles::*;
    let mut items: Vec<(&'static str, &'static str, bool)> = vec![("/", "nav.home", true)];
    items.push(("/people", "nav.people", PEOPLE_ROLES.contains(&role)));
    items.push(("/cases", "nav.cases", CASE_READERS.contains(&role)));
    items.push(("/requests", "nav.requests", REQUEST_STAFF.contains(&role)));
    items.push(("/hazards", "nav.hazards", HAZARD_STAFF.contains(&role)));
    items.push(("/patrols", "nav.patrols", HAZARD_STAFF.contains(&role)));
    items.push(("/map", "nav.map", MAP_READERS.contains(&role)));
    items.push(("/places", "nav.places", ORG_READERS.contains(&role)));
    items.push(("/estates", "nav.estates", ORG_READERS.contains(&role)));
    items.push(("/stations", "nav.stations", ORG_READERS.contains(&role)));
    items.push(("/organisations", "nav.organisations", ORG_READERS.contains(&role)));
    items.push(("/staff", "nav.staff", STAFF_READERS.contains(&role)));
    items.push(("/audit", "nav.audit", AUDIT_READERS.contains(&role)));
    items.push(("/account", "nav.account", true));
    items
        .into_iter()
        .filter(|(_, _, show)| *show)
        .map(|(href, key, _)| NavItem {
            href,
            key,
            active: if href == "/" { path == "/" } else { path.starts_with(href) },
        })
        .collect()
}

/// Renders a template into a no-store HTML response (pages may carry personal data).
pub fn page<T: Template>(t: &T) -> Response {
    page_with_status(t, StatusCode::OK)
}

pub fn page_with_status<T: Template>(t: &T, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => {
            let mut res = (status, Html(html)).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => AppError::Internal(anyhow::anyhow!("template: {e}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "layout/error.html")]
struct ErrorPage {
    ctx: Ctx,
    status: u16,
    message: String,
    details: Vec<String>,
}

/// Turns an error into the response the caller understands.
pub fn error_response(e: AppError, lang: Lang, is_api: bool, ctx: Option<Ctx>) -> Response {
    let res = e.into_response();
    finish_error(res, lang, is_api, ctx)
}

/// An error answered by a layer outside `render_errors`, in the format of the path it was sent
/// to: JSON under /api/, Open311's error list under /open311/, a page elsewhere.
pub fn error_at(e: AppError, lang: Lang, path: &str) -> Response {
    let res = e.into_response();
    if path.starts_with("/open311/") {
        return open311_error(res, lang, path);
    }
    finish_error(res, lang, path.starts_with("/api/"), None)
}

/// Open311's clients read only the specification's error list, whatever went wrong.
fn open311_error(res: Response, lang: Lang, path: &str) -> Response {
    let status = res.status();
    let code = res.extensions().get::<ErrorInfo>().map_or_else(|| bare_code(status), |i| i.code);
    super::georeport::error_at(path, status, &Tr(lang).t(code))
}

/// The code of an error answered without one (a framework rejection such as 405).
fn bare_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "error.not_found",
        405 => "error.method_not_allowed",
        413 => "error.too_large",
        415 => "error.unsupported_media_type",
        408 => "error.timeout",
        s if s >= 500 => "error.internal",
        _ => "error.bad_request",
    }
}

/// Fills in the body of an error response that carries `ErrorInfo` (or none, for bare 4xx/5xx
/// answers produced by the framework itself, e.g. 405).
pub fn finish_error(res: Response, lang: Lang, is_api: bool, ctx: Option<Ctx>) -> Response {
    let status = res.status();
    let info = res
        .extensions()
        .get::<ErrorInfo>()
        .cloned()
        .unwrap_or_else(|| ErrorInfo { code: bare_code(status), details: serde_json::Value::Null });
    let tr = Tr(lang);
    // A page's stale message speaks of the form kept on screen; an API client has no form, and
    // is told what changed (the code stays `stale`).
    let message = if is_api && info.code == "error.stale" { tr.t("error.stale_version") } else { tr.t(info.code) };
    let mut headers = res.headers().clone();
    headers.remove(header::CONTENT_TYPE);
    headers.remove(header::CONTENT_LENGTH);
    let mut out = if is_api {
        let body = serde_json::json!({
            "code": info.code.trim_start_matches("error."),
            "message": message,
            "details": localise_details(&info.details, tr),
        });
        (status, axum::Json(body)).into_response()
    } else if status == StatusCode::UNAUTHORIZED {
        // A page that needs a login sends the browser to it.
        axum::response::Redirect::to("/login").into_response()
    } else {
        let details = match &info.details {
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| {
                    let f = i.get("field").and_then(|v| v.as_str()).unwrap_or("");
                    let c = i.get("code").and_then(|v| v.as_str()).unwrap_or("");
                    format!("{f}: {}", tr.t(c))
                })
                .collect(),
            _ => Vec::new(),
        };
        let ctx = ctx.unwrap_or_else(|| Ctx::new(false, None, None, "", "error.title"));
        let page = ErrorPage { ctx, status: status.as_u16(), message, details };
        page_with_status(&page, status)
    };
    for (k, v) in headers.iter() {
        if k != header::LOCATION || is_api {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

fn localise_details(details: &serde_json::Value, tr: Tr) -> serde_json::Value {
    match details {
        serde_json::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|i| {
                    let mut i = i.clone();
                    if let Some(code) = i.get("code").and_then(|v| v.as_str()).map(str::to_string) {
                        i["message"] = serde_json::Value::String(tr.t(&code).to_string());
                    }
                    i
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Middleware: gives every error response its body.
pub async fn render_errors(
    axum::extract::State(st): axum::extract::State<crate::web::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_string();
    let is_api = path.starts_with("/api/");
    let caller = req.extensions().get::<Caller>().cloned();
    let info = req.extensions().get::<RequestInfo>().cloned();
    let res = next.run(req).await;
    if !(res.status().is_client_error() || res.status().is_server_error()) {
        return res;
    }
    let has_info = res.extensions().get::<ErrorInfo>().is_some();
    // A body limit's refusal is plain text: not a body of the route's own.
    let has_body =
        res.headers().get(header::CONTENT_TYPE).is_some_and(|ct| !ct.to_str().unwrap_or("").starts_with("text/plain"));
    // A page that answers 4xx with its own body (a form with field messages), and an Open311
    // answer (always the specification's error list), keep it; every other error, and every
    // API error, gets our body.
    if has_body && !has_info && !is_api {
        return res;
    }
    let lang = caller.as_ref().map(|c| c.lang).or(info.as_ref().map(|i| i.lang)).unwrap_or_default();
    if path.starts_with("/open311/") {
        return open311_error(res, lang, &path);
    }
    let ctx = Ctx::new(st.cfg.demo, caller.as_ref(), info.as_ref(), &path, "error.title");
    finish_error(res, lang, is_api, Some(ctx))
}
