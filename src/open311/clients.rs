//! Client apps registered for Open311 (each with its own `api_key`). Only a hash of the key is
//! kept; the key is shown once, when the app is registered.

use chrono::Utc;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::Db;
use crate::db::query::{self, Args};
use crate::ratelimit::Limit;
use crate::write;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Client {
    pub id: Uuid,
    pub name: String,
    /// The app's own posts per minute; `None`: the instance's default
    /// (`Config::open311_posts_per_minute`).
    pub posts_per_minute: Option<u32>,
}

impl Client {
    /// The posts this app may make: its own number, or `default`.
    pub fn post_limit(&self, key: &str, default: u32) -> Limit {
        post_limit(key, self.posts_per_minute.unwrap_or(default))
    }
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

/// The active app holding `key`, and whether its post limit is already reached in the
/// current window: every post reads both, in one statement. `limit` is the default; an app
/// with its own number is judged by that.
pub async fn by_key(db: &Db, key: &str, limit: &Limit) -> Result<Option<(Client, bool)>, sqlx::Error> {
    if key.trim().is_empty() || key.len() > 200 {
        return Ok(None);
    }
    let mut args = Args::new();
    let sql = format!(
        "SELECT id, name, posts_per_minute, {} AS hits FROM open311_clients WHERE key_hash = {} AND active",
        limit.hits_sql(&mut args),
        args.push(key_hash(key))
    );
    let found: Option<(Uuid, String, Option<i32>, Option<i64>)> = query::optional(db, &sql, &args).await?;
    Ok(found.map(|(id, name, own, hits)| {
        let client = Client { id, name, posts_per_minute: own.and_then(|n| u32::try_from(n).ok()) };
        let full = Limit::new(limit.bucket.clone(), client.posts_per_minute.unwrap_or(limit.max), limit.window_secs)
            .full(hits);
        (client, full)
    }))
}

/// Sets an app's own posts per minute (`None`: back to the instance's default). False when no
/// app has that id.
pub async fn set_post_limit(db: &Db, id: Uuid, per_minute: Option<u32>) -> Result<bool, sqlx::Error> {
    let per_minute = per_minute.map(|n| i64::from(n.clamp(1, 100_000)));
    let mut tx = db.begin().await?;
    let n = write!(&mut tx, |c| sqlx::query("UPDATE open311_clients SET posts_per_minute = $1 WHERE id = $2")
        .bind(per_minute)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

/// The posts an app may make: counted per key, so that the count is known before the app is.
pub fn post_limit(key: &str, per_minute: u32) -> Limit {
    Limit::new(format!("open311:{}", key_hash(key)), per_minute, 60)
}
