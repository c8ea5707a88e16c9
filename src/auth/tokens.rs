//! Personal API tokens: shown once at creation, stored as SHA-256 only.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::session::{hash_token, random_token};
use super::{Caller, Role, Scope};
use crate::audit::{self, Entry};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::state::AppState;
use crate::{read, write};

pub const PREFIX: &str = "linli_";

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct AuthRow {
    token_id: Uuid,
    last_used_at: Option<DateTime<Utc>>,
    user_id: Uuid,
    account: String,
    display_name: String,
    role: String,
    locale: String,
    scope_path: Option<String>,
}

pub async fn authenticate(st: &AppState, token: &str, ip: &str) -> Result<Option<Caller>, AppError> {
    if !token.starts_with(PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    let hash = hash_token(token);
    let rows: Vec<AuthRow> = read!(&st.db, |c| {
        sqlx::query_as(
            "SELECT t.id AS token_id, t.last_used_at, u.id AS user_id, u.account, u.display_name, u.role, u.locale,
                    p.path AS scope_path
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             LEFT JOIN user_places up ON up.user_id = u.id
             LEFT JOIN places p ON p.id = up.place_id AND p.active
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT u.disabled ORDER BY p.path",
        )
        .bind(&hash)
        .fetch_all(c)
        .await
    })?;
    let roots: Vec<String> = rows.iter().filter_map(|r| r.scope_path.clone()).collect();
    let Some(row) = rows.into_iter().next() else { return Ok(None) };
    let now = Utc::now();
    if row.last_used_at.is_none_or(|t| now - t > Duration::minutes(5)) {
        let mut tx = st.db.begin().await?;
        write!(&mut tx, |c| {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(row.token_id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        tx.commit().await?;
    }
    let role = Role::parse(&row.role).ok_or_else(|| anyhow::anyhow!("unknown role in database"))?;
    let scope = Scope::of(roots, role);
    Ok(Some(Caller {
        user_id: row.user_id,
        account: row.account,
        display_name: row.display_name,
        role,
        lang: Lang::parse(&row.locale).unwrap_or_default(),
        scope,
        session: None,
        ip: ip.to_string(),
        must_change_password: false,
    }))
}

/// Returns the secret once; only its hash is kept.
pub async fn create(st: &AppState, caller: &Caller, name: &str) -> Result<(TokenInfo, String), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(AppError::field("name", "error.length_1_60"));
    }
    let secret = format!("{PREFIX}{}", random_token(32));
    let info = TokenInfo {
        id: Uuid::now_v7(),
        name: name.to_string(),
        prefix: secret[..PREFIX.len() + 6].to_string(),
        created_at: Utc::now(),
        last_used_at: None,
    };
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(info.id)
        .bind(caller.user_id)
        .bind(&info.name)
        .bind(hash_token(&secret))
        .bind(&info.prefix)
        .bind(info.created_at)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "api_token.create",
            entity: "api_token",
            entity_id: Some(info.id.to_string()),
            detail: serde_json::json!({"name": info.name}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((info, secret))
}

pub async fn list(st: &AppState, user_id: Uuid) -> Result<Vec<TokenInfo>, AppError> {
    Ok(read!(&st.db, |c| {
        sqlx::query_as(
            "SELECT id, name, prefix, created_at, last_used_at FROM api_tokens
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC",
        )
        .bind(user_id)
        .fetch_all(c)
        .await
    })?)
}

/// Revokes every live token of a user inside `tx` (disable, password reset): a token is a
/// password of its own, so it must not outlive the decision that the account's are void.
/// Returns how many were revoked, for the audit row of that decision.
pub async fn revoke_all_for(tx: &mut crate::db::Tx, user_id: Uuid) -> Result<u64, sqlx::Error> {
    write!(tx, |c| {
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(Utc::now())
            .bind(user_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })
}

pub async fn revoke(st: &AppState, caller: &Caller, id: Uuid) -> Result<(), AppError> {
    let mut tx = st.db.begin().await?;
    let n = write!(&mut tx, |c| {
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
            .bind(Utc::now())
            .bind(id)
            .bind(caller.user_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "api_token.revoke",
            entity: "api_token",
            entity_id: Some(id.to_string()),
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
