//! Who is calling: sessions, API tokens, roles and the data scope.

pub mod api;
pub mod login;
pub mod pages;
pub mod password;
pub mod session;
pub mod tokens;
pub mod totp;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::audit::Actor;
use crate::error::AppError;
use crate::i18n::Lang;
pub use crate::roles::Role;
pub use crate::scope::Scope;
use crate::state::AppState;

/// An authenticated caller, resolved once per request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: Uuid,
    pub account: String,
    pub display_name: String,
    pub role: Role,
    pub lang: Lang,
    pub scope: Scope,
    /// Set for cookie sessions (browser); `None` for API tokens.
    pub session: Option<session::SessionRef>,
    pub ip: String,
    pub must_change_password: bool,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor { id: Some(self.user_id), name: self.account.clone(), ip: self.ip.clone() }
    }
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map(|s| s.csrf.as_str()).unwrap_or("")
    }
    pub fn is(&self, roles: &[Role]) -> bool {
        roles.contains(&self.role)
    }
}

/// What every request carries, signed in or not.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub ip: String,
    pub lang: Lang,
    /// A login that passed the password but still owes its second factor.
    pub pending: Option<session::Pending>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or(AppError::Unauthenticated)
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestInfo {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestInfo>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("auth middleware not installed")))
    }
}

/// The client's address: the connection's, or the one the trusted proxies wrote.
pub fn client_ip(st: &AppState, req: &Request) -> String {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|ci| ci.0.ip());
    match forwarded_client(req.headers(), st.cfg.trusted_proxies) {
        Some(client) => client,
        None => match peer {
            Some(ip) => ip.to_canonical().to_string(),
            None => "unknown".into(),
        },
    }
}

/// The client address as the outermost of `hops` trusted proxies saw it. Each proxy appends the
/// address it was reached from to X-Forwarded-For, so the last `hops` entries are written by
/// ours and the one `hops` places from the right is the client; whatever stands further left
/// was written by the client and is never read — not even decoded: the header is split on
/// its raw bytes, so a byte that is not text in the client's own part (which used to make the
/// whole header be ignored, and put every such client in the proxy's one rate-limit bucket,
/// out of their own) changes nothing. None (the connection's own address counts) without
/// trusted proxies or when the header holds fewer entries than there are proxies (the request
/// did not pass them all). An entry in the client's place that is not an address is still
/// that client's, not the proxy's: it comes back as an opaque key (`xff:` and the escaped
/// bytes), so it keeps a bucket and an audit trail of its own.
pub fn forwarded_client(headers: &axum::http::HeaderMap, hops: u8) -> Option<String> {
    if hops == 0 {
        return None;
    }
    // Several header lines are one list, in order.
    let mut entries: Vec<&[u8]> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        entries.extend(value.as_bytes().split(|b| *b == b',').map(<[u8]>::trim_ascii));
    }
    let entry = entries[entries.len().checked_sub(usize::from(hops))?];
    let parsed = std::str::from_utf8(entry).ok().and_then(|e| {
        // Some proxies write the client's port too: `203.0.113.7:4711`, `[2001:db8::1]:4711`.
        e.parse::<std::net::IpAddr>().ok().or_else(|| e.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
    });
    Some(match parsed {
        Some(ip) => ip.to_canonical().to_string(),
        None => opaque_client(entry),
    })
}

/// A key for a client entry that is no address: its bytes escaped (so any byte can be stored
/// and shown), a long one cut and told apart by a hash of the whole.
fn opaque_client(entry: &[u8]) -> String {
    use sha2::Digest;
    const KEEP: usize = 40;
    if entry.len() <= KEEP {
        return format!("xff:{}", entry.escape_ascii());
    }
    let digest = sha2::Sha256::digest(entry);
    format!("xff:{}…{}", entry[..KEEP].escape_ascii(), hex::encode(&digest[..6]))
}

/// The caller an operator acts as on the command line: an active account's role and scope,
/// exactly as a sign-in would give them.
pub async fn caller_for_account(db: &crate::db::Db, account: &str) -> Result<Option<Caller>, sqlx::Error> {
    type Row = (Uuid, String, String, String, String, Option<String>);
    let rows: Vec<Row> = crate::read!(db, |c| sqlx::query_as(
        "SELECT u.id, u.account, u.display_name, u.role, u.locale, p.path
         FROM users u LEFT JOIN user_places up ON up.user_id = u.id
         LEFT JOIN places p ON p.id = up.place_id AND p.active
         WHERE u.account = $1 AND NOT u.disabled ORDER BY p.path"
    )
    .bind(account)
    .fetch_all(c)
    .await)?;
    let roots = rows.iter().filter_map(|r| r.5.clone()).collect();
    let Some((user_id, account, display_name, role, locale, _)) = rows.into_iter().next() else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&role) else { return Ok(None) };
    let scope = Scope::of(roots, role);
    Ok(Some(Caller {
        user_id,
        account,
        display_name,
        role,
        lang: Lang::parse(&locale).unwrap_or_default(),
        scope,
        session: None,
        ip: "cli".into(),
        must_change_password: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;
    use axum::http::HeaderMap;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn client(values: &[&str], hops: u8) -> Option<String> {
        forwarded_client(&with(values), hops)
    }

    fn raw(lines: &[&[u8]], hops: u8) -> Option<String> {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", axum::http::HeaderValue::from_bytes(l).unwrap());
        }
        forwarded_client(&h, hops)
    }

    #[test]
    fn the_client_is_the_entry_as_many_places_from_the_right_as_there_are_proxies() {
        assert_eq!(client(&["203.0.113.7"], 0), None, "no trusted proxy: the header is ignored");
        assert_eq!(client(&["203.0.113.7"], 1).as_deref(), Some("203.0.113.7"));
        // The client may write anything on the left; it is never read.
        assert_eq!(client(&["10.0.0.1, 6.6.6.6, 203.0.113.7"], 1).as_deref(), Some("203.0.113.7"));
        assert_eq!(client(&["10.0.0.1, 203.0.113.7, 192.0.2.10"], 2).as_deref(), Some("203.0.113.7"));
        assert_eq!(client(&["10.0.0.1", "203.0.113.7,192.0.2.10"], 2).as_deref(), Some("203.0.113.7"), "lines join");
        assert_eq!(client(&["203.0.113.7:4711"], 1).as_deref(), Some("203.0.113.7"));
        assert_eq!(client(&["[2001:db8::1]:4711"], 1).as_deref(), Some("2001:db8::1"));
        assert_eq!(client(&["2001:db8::1"], 1).as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn a_short_header_names_no_client() {
        assert_eq!(client(&[], 1), None);
        assert_eq!(client(&["203.0.113.7"], 2), None, "fewer entries than proxies");
    }

    /// A byte that is not text in the client's own part of the header is never decoded: the
    /// client stays the entry our proxy wrote, not the proxy (before, the whole header was
    /// ignored and every such client shared the proxy's address and rate-limit bucket).
    #[test]
    fn bytes_that_are_not_text_left_of_the_client_change_nothing() {
        assert_eq!(raw(&[b"\xff\xfe, 203.0.113.7"], 1).as_deref(), Some("203.0.113.7"));
        assert_eq!(raw(&[b"1.2.3.4\xff, 203.0.113.7, 192.0.2.10"], 2).as_deref(), Some("203.0.113.7"));
        assert_eq!(raw(&[b"\xc3\x28", b"203.0.113.7"], 1).as_deref(), Some("203.0.113.7"), "on another line");
    }

    /// An entry in the client's place that is no address is that client's own key, never the
    /// proxy's address: two such clients do not share a bucket with each other or with everyone.
    #[test]
    fn an_entry_that_is_no_address_is_an_opaque_key_of_its_own() {
        let a = raw(&[b"203.0.113.7, \xffa"], 1).unwrap();
        let b = raw(&[b"203.0.113.7, \xffb"], 1).unwrap();
        assert!(a.starts_with("xff:") && b.starts_with("xff:"), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(a, "xff:\\xffa");
        assert_eq!(client(&["203.0.113.7, unknown"], 1).as_deref(), Some("xff:unknown"));
        assert_eq!(client(&["203.0.113.7, 1.2.3.4.5"], 1).as_deref(), Some("xff:1.2.3.4.5"));
        assert_eq!(client(&["203.0.113.7, "], 1).as_deref(), Some("xff:"));
        let long = [b'x'; 300];
        let mut other = long;
        other[299] = b'y';
        let (k1, k2) = (raw(&[&long], 1).unwrap(), raw(&[&other], 1).unwrap());
        assert!(k1.chars().count() < 70, "{k1}");
        assert_ne!(k1, k2, "a long entry is told apart by its hash");
    }
}
