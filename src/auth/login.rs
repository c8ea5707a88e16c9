//! The login decision: rate limit per address, lockout per account name (known or not, so the
//! answers never reveal which accounts exist), argon2id verification, audit.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{Role, password};
use crate::app::AppState;
use crate::audit::{self, Actor, Entry};
use crate::web::error::AppError;
use crate::{read, write};

pub const MAX_FAILURES: i32 = 5;
pub const LOCK_MINUTES: i64 = 15;

pub enum Outcome {
    /// Password accepted; `stage` is `full`, `totp` or `enroll`.
    Accepted {
        user_id: Uuid,
        stage: &'static str,
    },
    Rejected,
    Locked,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    role: String,
    password_hash: String,
    disabled: bool,
    totp_enabled: bool,
    demo: bool,
}

pub fn normalise_account(account: &str) -> String {
    account.trim().to_lowercase()
}

pub async fn attempt(st: &AppState, account: &str, pass: &str, ip: &str) -> Result<Outcome, AppError> {
    // Failed attempts count per address, so an office behind one NAT can still sign in at 9:00.
    let bucket = format!("login-fail:{ip}");
    if crate::web::ratelimit::exceeded(&st.db, &bucket, st.cfg.login_rate_per_minute, 60).await? {
        audit::record_alone(
            &st.db,
            &Actor { id: None, name: "anonymous".into(), ip: ip.into() },
            Entry { action: "login.rate_limited", entity: "user", entity_id: None, detail: serde_json::Value::Null },
        )
        .await?;
        return Err(AppError::TooMany);
    }
    let account = normalise_account(account);
    if account.is_empty() || account.chars().count() > 64 || pass.len() > 1024 {
        password::verify_off_thread(pass, None).await?;
        return Ok(Outcome::Rejected);
    }
    let now = Utc::now();
    let lock: Option<(i32, Option<DateTime<Utc>>)> = read!(&st.db, |c| {
        sqlx::query_as("SELECT failures, locked_until FROM login_failures WHERE account = $1")
            .bind(&account)
            .fetch_optional(c)
            .await
    })?;
    let actor = Actor { id: None, name: account.clone(), ip: ip.to_string() };
    if let Some((_, Some(until))) = lock
        && until > now
    {
        password::verify_off_thread(pass, None).await?;
        audit::record_alone(
            &st.db,
            &actor,
            Entry { action: "login.locked", entity: "user", entity_id: None, detail: serde_json::Value::Null },
        )
        .await?;
        return Ok(Outcome::Locked);
    }
    let user: Option<UserRow> = read!(&st.db, |c| {
        sqlx::query_as("SELECT id, role, password_hash, disabled, totp_enabled, demo FROM users WHERE account = $1")
            .bind(&account)
            .fetch_optional(c)
            .await
    })?;
    let ok = password::verify_off_thread(pass, user.as_ref().map(|u| u.password_hash.as_str())).await?;
    let user = user.filter(|u| ok && !u.disabled);
    if user.is_none() {
        crate::web::ratelimit::hit(&st.db, &bucket, st.cfg.login_rate_per_minute, 60).await?;
    }
    let mut tx = st.db.begin().await?;
    let outcome = match user {
        None => {
            let failures: (i32,) = write!(&mut tx, |c| {
                sqlx::query_as(
                    "INSERT INTO login_failures (account, failures, locked_until) VALUES ($1, 1, NULL)
                     ON CONFLICT (account) DO UPDATE SET failures = login_failures.failures + 1 RETURNING failures",
                )
                .bind(&account)
                .fetch_one(c)
                .await
            })?;
            audit::record(
                &mut tx,
                &actor,
                Entry {
                    action: "login.failure",
                    entity: "user",
                    entity_id: None,
                    detail: serde_json::json!({"failures": failures.0}),
                },
            )
            .await?;
            if failures.0 >= MAX_FAILURES {
                write!(&mut tx, |c| {
                    sqlx::query("UPDATE login_failures SET failures = 0, locked_until = $1 WHERE account = $2")
                        .bind(now + Duration::minutes(LOCK_MINUTES))
                        .bind(&account)
                        .execute(c)
                        .await
                        .map(|r| r.rows_affected())
                })?;
                audit::record(
                    &mut tx,
                    &actor,
                    Entry {
                        action: "login.lockout",
                        entity: "user",
                        entity_id: None,
                        detail: serde_json::json!({"minutes": LOCK_MINUTES}),
                    },
                )
                .await?;
                Outcome::Locked
            } else {
                Outcome::Rejected
            }
        }
        Some(u) => {
            write!(&mut tx, |c| {
                sqlx::query("DELETE FROM login_failures WHERE account = $1")
                    .bind(&account)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())?;
                sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(u.id)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
            let role = Role::parse(&u.role).ok_or_else(|| anyhow::anyhow!("unknown role"))?;
            let stage = if u.totp_enabled {
                "totp"
            } else if role.requires_totp() && !(st.cfg.demo && u.demo) {
                "enroll"
            } else {
                "full"
            };
            audit::record(
                &mut tx,
                &Actor { id: Some(u.id), ..actor.clone() },
                Entry {
                    action: "login.password_ok",
                    entity: "user",
                    entity_id: Some(u.id.to_string()),
                    detail: serde_json::json!({"next": stage}),
                },
            )
            .await?;
            Outcome::Accepted { user_id: u.id, stage }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}
