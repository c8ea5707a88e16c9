//! Web plumbing shared by every domain: page context, extractors, CSRF, errors, assets.

pub mod assets;
pub mod base_path;
pub mod body_limit;
pub mod body_read;
pub mod conflict;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod form;
pub mod i18n;
pub mod idempotency;
pub mod overload;
pub mod pagination;
pub mod ratelimit;
pub mod render;
pub mod security;
pub mod server;
pub mod views;

use axum::http::HeaderMap;

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
