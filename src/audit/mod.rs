//! Append-only, hash-chained audit log.
//!
//! Every row stores the hash of the row before it; `linli check` recomputes the chain, so a row
//! edited or removed behind the app's back breaks it. The single `audit_head` row is updated first
//! in each writing transaction: it hands out sequence numbers and serialises chain appends across
//! app instances (a row lock on PostgreSQL, the single writer on SQLite).

pub mod not_found;
pub mod pages;
pub mod store;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::Tx;

/// Who did it, from where.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<Uuid>,
    pub name: String,
    pub ip: String,
}

impl Actor {
    pub fn system(name: &str) -> Actor {
        Actor { id: None, name: name.to_string(), ip: "local".into() }
    }
}

pub struct Entry<'a> {
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<String>,
    pub detail: Value,
}

/// Appends one row inside the caller's transaction, so the audit row lands exactly when the change does.
pub async fn record(tx: &mut Tx, actor: &Actor, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    let at = Utc::now().trunc_subsecs(6);
    let (seq, prev): (i64, String) = crate::write!(tx, |c| {
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash").fetch_one(&mut *c).await
    })?;
    let detail = entry.detail.to_string();
    let row = ChainInput {
        seq,
        at,
        actor_id: actor.id,
        actor: &actor.name,
        action: entry.action,
        entity: entry.entity,
        entity_id: entry.entity_id.as_deref(),
        ip: &actor.ip,
        detail: &detail,
    };
    let hash = row.hash(&prev);
    crate::write!(tx, |c| {
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_id, actor, action, entity, entity_id, ip, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(seq)
        .bind(at)
        .bind(actor.id)
        .bind(&actor.name)
        .bind(entry.action)
        .bind(entry.entity)
        .bind(entry.entity_id.as_deref())
        .bind(&actor.ip)
        .bind(&detail)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Records in a transaction of its own (logins, denials: events with no other write).
pub async fn record_alone(db: &crate::db::Db, actor: &Actor, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    record(&mut tx, actor, entry).await?;
    tx.commit().await
}

pub struct ChainInput<'a> {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<&'a str>,
    pub ip: &'a str,
    pub detail: &'a str,
}

impl ChainInput<'_> {
    pub fn hash(&self, prev: &str) -> String {
        let mut h = Sha256::new();
        // Length-prefixed fields: no two different rows can produce the same byte stream.
        let at = self.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let actor_id = self.actor_id.map(|u| u.to_string()).unwrap_or_default();
        for field in [
            prev,
            &self.seq.to_string(),
            &at,
            &actor_id,
            self.actor,
            self.action,
            self.entity,
            self.entity_id.unwrap_or(""),
            self.ip,
            self.detail,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }
}
