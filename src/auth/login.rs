//! The login decision: rate limit per address, lockout per account name (known or not, so the
//! answers never reveal which accounts exist), argon2id verification, audit.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{Role, password};
use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use crate::ratelimit;
use crate::state::AppState;
use crate::{read, write};

pub const MAX_FAILURES: i32 = 5;
pub const LOCK_MINUTES: i64 = 15;
// An account's first failure is counted by an insert that never locks.
const _: () = assert!(MAX_FAILURES > 1);

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
    // The attempt takes its place in the address's window before any password is checked, and
    // gives it back if the password was right.
    let bucket = format!("login-fail:{}", ratelimit::address_key(ip));
    let Some(slot) = ratelimit::reserve(&st.db, &bucket, st.cfg.login_rate_per_minute, 60).await? else {
        // One row per address and window, not one per refused attempt: a brute force refused
        // here costs no argon2 time, and must not cost a hash-chained row each either (a flood
        // of them would bury the rows that matter and grow the log without bound).
        let mut tx = st.db.begin().await?;
        if ratelimit::Limit::new(format!("audit-rl:{bucket}"), 1, 60).hit_in(&mut tx).await? {
            audit::record(
                &mut tx,
                &Actor { id: None, name: "anonymous".into(), ip: ip.into() },
                Entry {
                    action: "login.rate_limited",
                    entity: "user",
                    entity_id: None,
                    detail: serde_json::json!({ "window_secs": 60, "further_refusals": "not recorded" }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        return Err(AppError::TooMany);
    };
    let account = normalise_account(account);
    if account.is_empty() || account.chars().count() > 64 || pass.len() > 1024 {
        password::verify_off_thread(pass, None).await?;
        return Ok(Outcome::Rejected);
    }
    let now = Utc::now();
    let actor = Actor { id: None, name: account.clone(), ip: ip.to_string() };
    let Some(attempt) = reserve_attempt(st, &account, now).await? else {
        // Locked, or the attempts already under way fill what is left before the lockout: no
        // password is checked (argon2 time is what a guesser would spend).
        // Attempts on a locked account come from any number of addresses: one row per
        // account name and minute, for the same reason as above.
        let mut tx = st.db.begin().await?;
        if ratelimit::Limit::new(format!("audit-locked:{account}"), 1, 60).hit_in(&mut tx).await? {
            audit::record(
                &mut tx,
                &actor,
                Entry { action: "login.locked", entity: "user", entity_id: None, detail: serde_json::Value::Null },
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(Outcome::Locked);
    };
    let user: Option<UserRow> = read!(&st.db, |c| {
        sqlx::query_as("SELECT id, role, password_hash, disabled, totp_enabled, demo FROM users WHERE account = $1")
            .bind(&account)
            .fetch_optional(c)
            .await
    })?;
    let ok = password::verify_off_thread(pass, user.as_ref().map(|u| u.password_hash.as_str())).await?;
    let user = user.filter(|u| ok && !u.disabled);
    let mut tx = st.db.begin().await?;
    let outcome = match user {
        None => {
            audit::record(
                &mut tx,
                &actor,
                Entry {
                    action: "login.failure",
                    entity: "user",
                    entity_id: None,
                    detail: serde_json::json!({"failures": attempt.number}),
                },
            )
            .await?;
            if attempt.locks {
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
            // The right password: the account's count starts again (the lock this attempt may
            // have set while it was checked goes with it).
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
    if matches!(outcome, Outcome::Accepted { .. })
        && let Err(e) = ratelimit::release(&st.db, slot).await
    {
        tracing::warn!(error = %e, "giving back a sign-in's place in its address window failed");
    }
    Ok(outcome)
}

/// An attempt counted against its account before the password is checked.
struct Attempt {
    /// 1 to `MAX_FAILURES`: its place among the failures since the count last started.
    number: i32,
    /// The last place before the lockout: the account was locked when this attempt took it, so
    /// nothing else is checked while its password is.
    locks: bool,
}

/// Counts an attempt at `account` unless it is locked, in one statement that decides and
/// counts: attempts arriving together, on any number of instances, take the places left before
/// the lockout one each, and the one that takes the last place locks the account at once. An
/// attempt whose answer never comes (a client that hung up) stays counted as a failure.
async fn reserve_attempt(st: &AppState, account: &str, now: DateTime<Utc>) -> Result<Option<Attempt>, sqlx::Error> {
    // Counted whatever becomes of the request: not a keyed request's write (`claims::aside`).
    crate::db::claims::aside(async move {
        let mut tx = st.db.begin().await?;
        let row: Option<(i32, Option<DateTime<Utc>>)> = write!(&mut tx, |c| {
            sqlx::query_as(
                "INSERT INTO login_failures (account, failures, locked_until) VALUES ($1, 1, NULL)
                 ON CONFLICT (account) DO UPDATE SET
                     failures = CASE WHEN login_failures.locked_until IS NULL THEN login_failures.failures + 1 ELSE 1 END,
                     locked_until = CASE WHEN login_failures.locked_until IS NULL AND login_failures.failures + 1 >= $2
                                         THEN $3 END
                 WHERE login_failures.locked_until IS NULL OR login_failures.locked_until <= $4
                 RETURNING failures, locked_until",
            )
            .bind(account)
            .bind(MAX_FAILURES)
            .bind(now + Duration::minutes(LOCK_MINUTES))
            .bind(now)
            .fetch_optional(c)
            .await
        })?;
        tx.commit().await?;
        Ok(row.map(|(number, locked)| Attempt { number, locks: locked.is_some() }))
    })
    .await
}
