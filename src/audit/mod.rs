//! Append-only, hash-chained audit log.
//!
//! Every row stores the SHA-256 of its fields and of the row before it (`hash`), so the hash of
//! a row commits to everything before it; and a MAC of that hash under a key of the keyring,
//! kept outside the database (`mac`, `k1:hex`). Anyone with the database can recompute SHA-256
//! for rows they changed, but not the MACs: `linli check` recomputes both, so a row edited,
//! inserted or removed behind the app's back breaks the chain. Only dropping rows at the end
//! (with `audit_head` moved back) leaves a shorter chain that is whole; `linli audit-anchor`
//! prints the head (sequence and MAC) to keep elsewhere, and `linli check --anchor` finds such
//! a cut against it.
//!
//! Each MAC names its key. A rotated-out key cannot check the links it made, but it need not:
//! a later link's MAC covers the hash that commits to them (`linli keys rotate` appends one at
//! once). Rows chained before links were keyed are covered the same way by the first keyed
//! link, appended when the database is migrated. What must verify is the newest link. Once a
//! chain is keyed, every later row carries a MAC: `record` checks the head's before chaining
//! onto it, and `linli check` reports an unkeyed row after a keyed one as a break.
//!
//! The single `audit_head` row is updated first in each writing transaction: it hands out
//! sequence numbers and serialises chain appends across app instances (a row lock on
//! PostgreSQL, the single writer on SQLite).

pub mod not_found;
pub mod pages;
pub mod store;
pub mod view;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::crypto::Keyring;
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
    append(tx, actor, entry, false).await
}

/// `onto_unkeyed`: only the link that keys a legacy chain may chain onto a head without a MAC.
async fn append(tx: &mut Tx, actor: &Actor, entry: Entry<'_>, onto_unkeyed: bool) -> Result<(), sqlx::Error> {
    let at = Utc::now().trunc_subsecs(6);
    let (seq, prev): (i64, String) = crate::write!(tx, |c| {
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash").fetch_one(&mut *c).await
    })?;
    check_head(tx, seq - 1, &prev, onto_unkeyed).await?;
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
    let mac = link_mac(tx.keys()?, seq, &hash);
    crate::write!(tx, |c| {
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_id, actor, action, entity, entity_id, ip, detail, prev_hash, hash, mac)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        .bind(&mac)
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

/// Refuses to chain onto a head the keyring does not vouch for. A new link's MAC covers every
/// row before it, so MACing onto a row someone with the database file added (unkeyed, or with
/// a made-up MAC) and its recomputed hash would launder it. The head must be the row the head
/// table names, with a MAC that verifies. Only the one link `migrate` appends when it adds MACs
/// to a legacy chain may follow a row without one: after that every row the app writes is
/// keyed, so an unkeyed head means MACs were stripped or rows added with the database file —
/// and "no MAC anywhere" must not pass for "never keyed". Checked after the head's row lock is
/// taken, so it is the head this append chains onto.
async fn check_head(tx: &mut Tx, seq: i64, hash: &str, onto_unkeyed: bool) -> Result<(), sqlx::Error> {
    if seq == 0 {
        return Ok(());
    }
    let head: Option<(String, Option<String>)> = crate::write!(tx, |c| {
        sqlx::query_as("SELECT hash, mac FROM audit_log WHERE seq = $1").bind(seq).fetch_optional(c).await
    })?;
    let refuse = |why: &str| {
        tracing::error!(seq, "audit chain head does not verify ({why}); refusing to chain onto it: run `linli check`");
        Err(sqlx::Error::Protocol(format!(
            "audit chain head {seq} does not verify ({why}); nothing is recorded onto it: run `linli check`"
        )))
    };
    match head {
        None => refuse("row missing"),
        Some((row_hash, _)) if row_hash != hash => refuse("hash differs from the head table"),
        Some((_, Some(mac))) => match check_link(tx.keys()?, seq, hash, &mac) {
            Some(true) => Ok(()),
            Some(false) => refuse("MAC does not verify"),
            None => refuse("MAC by a key the keyring does not hold"),
        },
        Some((_, None)) if onto_unkeyed => Ok(()),
        Some((_, None)) => refuse("no MAC"),
    }
}

/// Records in a transaction of its own (logins, denials: events with no other write).
pub async fn record_alone(db: &crate::db::Db, actor: &Actor, entry: Entry<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    record(&mut tx, actor, entry).await?;
    tx.commit().await
}

/// What a link's MAC is made over: its place in the chain and the hash that commits to it and
/// to every row before it.
const LINK: &str = "linli audit link v1";

pub fn link_mac(keys: &Keyring, seq: i64, hash: &str) -> String {
    let mut mac = keys.mac(LINK);
    mac.update(&seq.to_be_bytes());
    mac.update(hash.as_bytes());
    mac.finish()
}

/// Whether `mac` is the link's MAC: None when the key that made it is not in the ring.
pub fn check_link(keys: &Keyring, seq: i64, hash: &str, mac: &str) -> Option<bool> {
    let mut m = keys.mac_for(LINK, mac)?;
    m.update(&seq.to_be_bytes());
    m.update(hash.as_bytes());
    Some(m.verify(mac))
}

/// A database whose newest audit row has no MAC (chained before links were keyed) gets a keyed
/// link after it, covering every row before. Runs once, with the migration that adds the MAC
/// column (`Db::migrate`), never later: a chain stripped of its MACs afterwards must stay
/// broken, not be keyed over. The head's row lock (the single writer on SQLite) makes
/// instances starting together append it once.
pub async fn key_the_chain(db: &crate::db::Db) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let unkeyed: Option<(i64,)> = crate::write!(&mut tx, |c| {
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())?;
        sqlx::query_as("SELECT seq FROM audit_log WHERE mac IS NULL AND seq = (SELECT MAX(seq) FROM audit_log)")
            .fetch_optional(&mut *c)
            .await
    })?;
    let Some((upto,)) = unkeyed else { return Ok(()) };
    let entry = Entry {
        action: "audit.keyed",
        entity: "audit_log",
        entity_id: None,
        detail: serde_json::json!({ "unkeyed_rows_up_to": upto }),
    };
    append(&mut tx, &Actor::system("linli migrate"), entry, true).await?;
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
