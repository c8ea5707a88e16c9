//! Web plumbing shared by every domain: the state, the route table's types, the caller's
//! resolution, page context, extractors, CSRF, assets. Errors, languages and rate limits live a
//! floor below (`crate::error`, `crate::i18n`, `crate::ratelimit`) because sign-in uses them
//! too; they are re-exported here so that domains find all of the web in one place.

pub mod assets;
pub mod base_path;
pub mod body_limit;
pub mod caller;
pub mod conflict;
pub mod csrf;
pub mod extract;
pub mod form;
pub mod georeport;
pub mod overload;
pub mod pagination;
pub mod render;
pub mod routes;
pub mod security;
pub mod server;
pub mod views;

pub use crate::state::AppState;
pub use crate::{error, i18n, ratelimit};
use axum::http::HeaderMap;
pub use routes::{Access, RouteDef, r};

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Shanghai local time for screens; storage stays UTC.
pub fn local_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
}
