//! Reading and verifying the audit log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ChainInput;
use crate::db::Db;
use crate::db::query::{self, Args};
use crate::read;

#[derive(Debug, Clone, sqlx::FromRow, Serialize, ToSchema)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
    #[serde(skip)]
    pub prev_hash: String,
    #[serde(skip)]
    pub hash: String,
}

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
pub struct AuditFilter {
    /// Account name of the actor (exact).
    pub actor: Option<String>,
    /// Action prefix, e.g. `login` or `place.`.
    pub action: Option<String>,
    /// Entity type, e.g. `place`.
    pub entity: Option<String>,
    /// Only rows at or after this instant (RFC 3339 or YYYY-MM-DD).
    pub from: Option<String>,
    /// Only rows before this instant (RFC 3339 or YYYY-MM-DD, exclusive).
    pub to: Option<String>,
}

pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| {
        // Dates are Beijing dates: midnight in Asia/Shanghai.
        d.and_hms_opt(0, 0, 0).unwrap().and_utc() - chrono::Duration::hours(8)
    })
}

/// Newest first; `before_seq` pages backwards (keyset pagination).
pub async fn list(db: &Db, f: &AuditFilter, before_seq: Option<i64>, limit: i64) -> Result<Vec<AuditRow>, sqlx::Error> {
    let mut args = Args::new();
    let mut sql = String::from(
        "SELECT seq, at, actor_id, actor, action, entity, entity_id, ip, detail, prev_hash, hash FROM audit_log WHERE 1=1",
    );
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(a) = given(&f.actor) {
        sql.push_str(&format!(" AND actor = {}", args.push(a)));
    }
    if let Some(a) = given(&f.action) {
        // A prefix: `login` finds login.failure, login.lockout, …
        sql.push_str(&format!(
            " AND action >= {} AND action < {}",
            args.push(a.clone()),
            args.push(format!("{a}\u{10FFFF}"))
        ));
    }
    if let Some(e) = given(&f.entity) {
        sql.push_str(&format!(" AND entity = {}", args.push(e)));
    }
    if let Some(t) = f.from.as_deref().and_then(parse_instant) {
        sql.push_str(&format!(" AND at >= {}", args.push(t)));
    }
    if let Some(t) = f.to.as_deref().and_then(parse_instant) {
        sql.push_str(&format!(" AND at < {}", args.push(t)));
    }
    if let Some(seq) = before_seq {
        sql.push_str(&format!(" AND seq < {}", args.push(seq)));
    }
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT {}", args.push(limit)));
    query::all(db, &sql, &args).await
}

#[derive(Debug)]
pub struct ChainReport {
    pub rows: i64,
    pub first_break: Option<(i64, &'static str)>,
}

/// Recomputes every hash in order, in batches, and compares with the head row.
pub async fn verify_chain(db: &Db) -> Result<ChainReport, sqlx::Error> {
    let mut prev = "0".repeat(64);
    let mut expected_seq = 1i64;
    let mut rows = 0i64;
    loop {
        let batch: Vec<AuditRow> = read!(db, |c| {
            sqlx::query_as(
                "SELECT seq, at, actor_id, actor, action, entity, entity_id, ip, detail, prev_hash, hash
                 FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT 5000",
            )
            .bind(expected_seq)
            .fetch_all(c)
            .await
        })?;
        if batch.is_empty() {
            break;
        }
        for r in &batch {
            if r.seq != expected_seq {
                return Ok(ChainReport { rows, first_break: Some((expected_seq, "row missing")) });
            }
            if r.prev_hash != prev {
                return Ok(ChainReport { rows, first_break: Some((r.seq, "previous hash does not match")) });
            }
            let input = ChainInput {
                seq: r.seq,
                at: r.at,
                actor_id: r.actor_id,
                actor: &r.actor,
                action: &r.action,
                entity: &r.entity,
                entity_id: r.entity_id.as_deref(),
                ip: r.ip.as_deref().unwrap_or(""),
                detail: &r.detail,
            };
            if input.hash(&prev) != r.hash {
                return Ok(ChainReport { rows, first_break: Some((r.seq, "row content altered")) });
            }
            prev = r.hash.clone();
            expected_seq += 1;
            rows += 1;
        }
    }
    let (head_seq, head_hash): (i64, String) =
        read!(db, |c| sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(c).await)?;
    if head_seq != rows || head_hash != prev {
        return Ok(ChainReport { rows, first_break: Some((rows + 1, "rows missing at the end")) });
    }
    Ok(ChainReport { rows, first_break: None })
}
