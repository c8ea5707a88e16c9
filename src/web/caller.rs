//! The caller, resolved once per request before any route runs: from a bearer token (API) or
//! the session cookie (pages), with the language every answer is worded in. Authentication
//! itself (sessions, tokens, passwords) is `auth`'s, a floor below; this is where the web
//! wears it.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::{RequestInfo, client_ip, session, tokens};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::state::AppState;

/// Middleware: resolves the caller from a bearer token or the session cookie.
pub async fn resolve(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let ip = client_ip(&st, &req);
    let accept = req.headers().get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    // Pages are Chinese unless the user switched (cookie, then account setting); API clients
    // may ask for English messages with Accept-Language.
    let api_accept = accept.filter(|_| req.uri().path().starts_with("/api/"));
    let lang = if api_accept.is_some() { Lang::from_accept(api_accept) } else { Lang::Zh };
    let mut info = RequestInfo { ip: ip.clone(), lang, pending: None };
    if let Some(l) = super::cookie(req.headers(), "linli_lang").and_then(|v| Lang::parse(&v)) {
        info.lang = l;
    }
    let bearer = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let outcome = if let Some(token) = bearer {
        match tokens::authenticate(&st, &token, &ip).await {
            Ok(Some(caller)) => Ok(Some(caller)),
            Ok(None) => Err(AppError::Unauthenticated),
            Err(e) => Err(e),
        }
    } else if let Some(sid) = super::cookie(req.headers(), session::COOKIE) {
        match session::load(&st, &sid, &ip).await {
            Ok(session::Loaded::Full(caller)) => Ok(Some(*caller)),
            Ok(session::Loaded::Pending(p)) => {
                info.pending = Some(p);
                Ok(None)
            }
            Ok(session::Loaded::None) => Ok(None),
            Err(e) => Err(e),
        }
    } else {
        Ok(None)
    };
    match outcome {
        Ok(Some(mut caller)) => {
            // An API request that names a language gets it; otherwise the account's choice.
            if api_accept.is_some() {
                caller.lang = info.lang;
            }
            info.lang = caller.lang;
            req.extensions_mut().insert(caller);
        }
        Ok(None) => {}
        Err(e) => {
            let is_api = req.uri().path().starts_with("/api/");
            return super::render::error_response(e, info.lang, is_api, None);
        }
    }
    let lang = info.lang;
    req.extensions_mut().insert(info);
    let mut res = next.run(req).await;
    content_language(&mut res, lang);
    res
}

/// Every answer past this point is worded for the language chosen here from the cookie, the
/// account or `Accept-Language`: caches must keep one copy per language and per session.
fn content_language(res: &mut Response, lang: Lang) {
    use axum::http::{HeaderValue, header};
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_LANGUAGE) {
        h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
    }
    h.append(header::VARY, HeaderValue::from_static("Accept-Language, Cookie"));
}
