//! Client apps registered for Open311 (each with its own `api_key`). Only a hash of the key is
//! kept; the key is shown once, when the app is registered.

use chrono::Utc;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::Db;
use crate::db::query::{self, Args};
use crate::web::ratelimit::Limit;
use crate::write;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Client {
    pub id: Uuid,
    pub name: String,
}

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// Registers an app; returns its id and the api_key to hand to its developers.
pub async fn register(db: &Db, name: &str, contact: &str, by: Option<Uuid>) -> Result<(Uuid, String), sqlx::Error> {
    use rand::RngCore;
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    let key = format!("o311_{}", hex::encode(raw));
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO open311_clients (id, name, key_hash, contact, active, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(id)
    .bind(name)
    .bind(key_hash(&key))
    .bind(contact)
    .bind(true)
    .bind(Utc::now())
    .bind(by)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    Ok((id, key))
}

/// The active app holding `key`, and whether its post `limit` is already reached in the
/// current window: every post reads both, in one statement.
pub async fn by_key(db: &Db, key: &str, limit: &Limit) -> Result<Option<(Client, bool)>, sqlx::Error> {
    if key.trim().is_empty() || key.len() > 200 {
        return Ok(None);
    }
    let mut args = Args::new();
    let sql = format!(
        "SELECT id, name, {} AS hits FROM open311_clients WHERE key_hash = {} AND active",
        limit.hits_sql(&mut args),
        args.push(key_hash(key))
    );
    let found: Option<(Uuid, String, Option<i64>)> = query::optional(db, &sql, &args).await?;
    Ok(found.map(|(id, name, hits)| (Client { id, name }, limit.full(hits))))
}

/// The posts an app may make: counted per key, so that the count is known before the app is.
pub fn post_limit(key: &str, per_minute: u32) -> Limit {
    Limit::new(format!("open311:{}", key_hash(key)), per_minute, 60)
}
