//! Browser sessions, stored in the database so any app instance can serve any request.
//! The cookie holds a random token; the table holds only its SHA-256.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Caller, Role, Scope};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::state::AppState;
use crate::{read, write};

pub const COOKIE: &str = "linli_sid";

#[derive(Debug, Clone)]
pub struct SessionRef {
    pub id: String,
    pub csrf: String,
}

/// Password accepted, second factor owed: `stage` is `totp` (verify) or `enroll` (set one up).
#[derive(Debug, Clone)]
pub struct Pending {
    pub session: SessionRef,
    pub user_id: Uuid,
    pub stage: String,
}

pub enum Loaded {
    Full(Box<Caller>),
    Pending(Pending),
    None,
}

pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    user_id: Uuid,
    csrf: String,
    stage: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    account: String,
    display_name: String,
    role: String,
    locale: String,
    disabled: bool,
    must_change_password: bool,
    /// One row per bound place: the caller and its scope come back in one round trip.
    scope_path: Option<String>,
}

/// Creates a session (always a new id: no fixation) and returns the cookie token.
pub async fn create(st: &AppState, user_id: Uuid, stage: &str, ip: &str) -> Result<(String, SessionRef), AppError> {
    let token = random_token(32);
    let id = hash_token(&token);
    let csrf = random_token(24);
    let now = Utc::now();
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, csrf, stage, created_at, last_seen_at, ip) VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(&csrf)
        .bind(stage)
        .bind(now)
        .bind(ip)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    Ok((token, SessionRef { id, csrf }))
}

pub async fn destroy(st: &AppState, id: &str) -> Result<(), AppError> {
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(())
}

/// Ends every session of a user (disable, password reset): effective on the next request.
pub async fn destroy_all_for(tx: &mut crate::db::Tx, user_id: Uuid) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn load(st: &AppState, token: &str, ip: &str) -> Result<Loaded, AppError> {
    let id = hash_token(token);
    let rows: Vec<Row> = read!(&st.db, |c| {
        sqlx::query_as(
            "SELECT s.id, s.user_id, s.csrf, s.stage, s.created_at, s.last_seen_at,
                    u.account, u.display_name, u.role, u.locale, u.disabled, u.must_change_password,
                    p.path AS scope_path
             FROM sessions s JOIN users u ON u.id = s.user_id
             LEFT JOIN user_places up ON up.user_id = u.id
             LEFT JOIN places p ON p.id = up.place_id AND p.active
             WHERE s.id = $1 ORDER BY p.path",
        )
        .bind(&id)
        .fetch_all(c)
        .await
    })?;
    let roots: Vec<String> = rows.iter().filter_map(|r| r.scope_path.clone()).collect();
    let Some(row) = rows.into_iter().next() else {
        return Ok(Loaded::None);
    };
    let now = Utc::now();
    let idle = Duration::from_std(st.cfg.session_idle).unwrap_or(Duration::minutes(30));
    let max = Duration::from_std(st.cfg.session_max).unwrap_or(Duration::hours(12));
    if row.disabled || now - row.last_seen_at > idle || now - row.created_at > max {
        destroy(st, &row.id).await?;
        return Ok(Loaded::None);
    }
    // Touch at most once a minute: keeps idle expiry honest without a write per request.
    if now - row.last_seen_at > Duration::seconds(60) {
        let mut tx = st.db.begin().await?;
        write!(&mut tx, |c| {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&row.id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        tx.commit().await?;
    }
    let session = SessionRef { id: row.id, csrf: row.csrf };
    if row.stage != "full" {
        return Ok(Loaded::Pending(Pending { session, user_id: row.user_id, stage: row.stage }));
    }
    let role = Role::parse(&row.role).ok_or_else(|| anyhow::anyhow!("unknown role in database"))?;
    let scope = Scope::of(roots, role);
    Ok(Loaded::Full(Box::new(Caller {
        user_id: row.user_id,
        account: row.account,
        display_name: row.display_name,
        role,
        lang: Lang::parse(&row.locale).unwrap_or_default(),
        scope,
        session: Some(session),
        ip: ip.to_string(),
        must_change_password: row.must_change_password,
    })))
}

pub async fn set_stage(st: &AppState, id: &str, stage: &str) -> Result<(), AppError> {
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query("UPDATE sessions SET stage = $1 WHERE id = $2")
            .bind(stage)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    Ok(())
}

pub fn cookie_header(st: &AppState, token: &str) -> String {
    let secure = if st.cfg.secure_cookies { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

pub fn clear_cookie_header(st: &AppState) -> String {
    let secure = if st.cfg.secure_cookies { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}
