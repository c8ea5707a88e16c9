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
#[into_params(parameter_in = Query)]
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
    /// `action` is one action, not a prefix (the screen's list names whole actions, and
    /// `person.tag` must not bring `person.tag_end` along).
    #[serde(skip)]
    #[param(ignore)]
    pub exact_action: bool,
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
    if let Some(a) = given(&f.action).filter(|_| f.exact_action) {
        sql.push_str(&format!(" AND action = {}", args.push(a)));
    } else if let Some(a) = given(&f.action) {
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

#[derive(Debug, Default)]
pub struct ChainReport {
    pub rows: i64,
    pub first_break: Option<(i64, &'static str)>,
    /// Links made by keys no longer in the ring: not checked themselves, covered by a later
    /// link that is.
    pub unchecked: i64,
    /// The ids of those keys, as the links name them.
    pub missing_keys: Vec<String>,
    /// The key the link at the break names, when its MAC is what failed.
    pub break_key: Option<String>,
}

/// A link's MAC fails where links of the same key verify: the row was changed.
pub const ALTERED_MAC: &str = "row content altered (its MAC does not verify)";
/// No link of the key named verifies: the ring's key of that id is another key (a wrong
/// `secret.key`), which looks exactly like every row forged, and is far likelier.
pub const OTHER_KEY: &str = "its MAC is by another key of the same id (no link of that key verifies)";
pub const UNCOVERED: &str = "not covered by a MAC the keyring can check";
/// A row without a MAC after keyed ones: the app writes none since links are keyed, so it was
/// added (or its MAC taken away) by someone with the database, not the app.
pub const UNKEYED_AFTER_KEYED: &str = "row without a MAC after keyed rows";
pub const PAST_ANCHOR: &str = "rows missing at the end (an anchor was kept for it)";
pub const NOT_ANCHORED: &str = "row differs from the anchor kept for it";

impl ChainReport {
    /// The break in an operator's words (what it most likely means, what to do), or None
    /// for a whole chain.
    pub fn explain(&self) -> Option<String> {
        let (seq, why) = self.first_break?;
        let key = self.break_key.as_deref().unwrap_or("?");
        Some(match why {
            OTHER_KEY => format!(
                "was keyed with another key named {key}: no link that names {key} verifies under the {key} given (from row {seq} on), so it is not the key that made them; give that key in secret.key or LINLI_SECRET_KEY"
            ),
            ALTERED_MAC => {
                format!("was altered at row {seq}: its MAC by key {key} does not verify, where other links of {key} do")
            }
            UNCOVERED if !self.missing_keys.is_empty() => format!(
                "from row {seq} on is keyed with {}, which the keyring does not hold; give that key in secret.key or LINLI_SECRET_KEY (after the newest)",
                self.missing_keys.join(", ")
            ),
            UNKEYED_AFTER_KEYED => format!(
                "has a row without a MAC at {seq}, after keyed rows: the app writes none since its links are keyed, so it was added or stripped by someone with the database"
            ),
            UNCOVERED => {
                format!("from row {seq} on carries no MAC at all (rows written without one, nothing keyed after them)")
            }
            other => format!("is broken at row {seq}: {other}"),
        })
    }
}

/// A copy of the chain's head kept outside the database (`linli audit-anchor`): the chain must
/// still hold row `seq` with this MAC. Written and read as `linli-audit-anchor v1 SEQ MAC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub mac: String,
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "linli-audit-anchor v1 {} {}", self.seq, self.mac)
    }
}

impl std::str::FromStr for Anchor {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Anchor> {
        match s.split_whitespace().collect::<Vec<_>>()[..] {
            ["linli-audit-anchor", "v1", seq, mac] if mac.contains(':') => Ok(Anchor {
                seq: seq.parse().map_err(|_| anyhow::anyhow!("anchor: bad sequence {seq:?}"))?,
                mac: mac.into(),
            }),
            _ => anyhow::bail!("not an audit anchor (`linli-audit-anchor v1 SEQ MAC`, as `linli audit-anchor` prints)"),
        }
    }
}

/// The newest row as an anchor to keep, once its link verifies (a head that does not is not
/// worth keeping); None for an empty chain.
pub async fn anchor(db: &Db) -> anyhow::Result<Option<Anchor>> {
    let head: Option<(i64, String, Option<String>)> = read!(db, |c| {
        sqlx::query_as("SELECT seq, hash, mac FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(c).await
    })?;
    let Some((seq, hash, mac)) = head else { return Ok(None) };
    let mac = mac.ok_or_else(|| anyhow::anyhow!("the newest audit row {seq} has no MAC; run `linli migrate`"))?;
    if super::check_link(db.keys(), seq, &hash, &mac) != Some(true) {
        anyhow::bail!("the newest audit row {seq} does not verify under the keyring; run `linli check`");
    }
    Ok(Some(Anchor { seq, mac }))
}

/// Recomputes every hash and every MAC the keyring can check, in order, in batches, and
/// compares with the head row.
pub async fn verify_chain(db: &Db) -> Result<ChainReport, sqlx::Error> {
    verify_against(db, &[]).await
}

/// As [`verify_chain`], and each anchor's row must still be there with its MAC.
pub async fn verify_against(db: &Db, anchors: &[Anchor]) -> Result<ChainReport, sqlx::Error> {
    let keys = db.keys();
    let mut prev = "0".repeat(64);
    let mut expected_seq = 1i64;
    let mut rows = 0i64;
    let mut unchecked = 0i64;
    // The first row no checked MAC covers yet (unkeyed, or made by a key the ring lacks).
    let mut uncovered: Option<i64> = None;
    let mut missing_keys: Vec<String> = Vec::new();
    // Keys that made at least one link that verifies.
    let mut proven: Vec<String> = Vec::new();
    // Whether a row with a MAC has been seen: from then on every row must carry one.
    let mut keyed = false;
    let broken = |rows, unchecked, at, why| {
        Ok(ChainReport { rows, first_break: Some((at, why)), unchecked, ..Default::default() })
    };
    loop {
        let batch: Vec<Link> = read!(db, |c| {
            sqlx::query_as(
                "SELECT seq, at, actor_id, actor, action, entity, entity_id, ip, detail, prev_hash, hash, mac
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
                return broken(rows, unchecked, expected_seq, "row missing");
            }
            if r.prev_hash != prev {
                return broken(rows, unchecked, r.seq, "previous hash does not match");
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
                return broken(rows, unchecked, r.seq, "row content altered");
            }
            match r.mac.as_deref() {
                // Unkeyed: only rows chained before MACs existed, covered by the keyed link
                // `migrate` appends. One after a keyed row was not written by the app (which
                // refuses to chain onto an unverified head), and a later keyed link must not
                // vouch for it.
                None if keyed => {
                    return Ok(ChainReport {
                        rows,
                        first_break: Some((r.seq, UNKEYED_AFTER_KEYED)),
                        unchecked,
                        missing_keys,
                        break_key: None,
                    });
                }
                None => {
                    uncovered.get_or_insert(r.seq);
                }
                Some(mac) => {
                    keyed = true;
                    let key = mac.split(':').next().unwrap_or("").to_string();
                    match super::check_link(keys, r.seq, &r.hash, mac) {
                        Some(true) => {
                            uncovered = None;
                            if !proven.contains(&key) {
                                proven.push(key);
                            }
                        }
                        Some(false) => {
                            let why = if proven.contains(&key) || newest_link_verifies(db, &key).await? {
                                ALTERED_MAC
                            } else {
                                OTHER_KEY
                            };
                            return Ok(ChainReport {
                                rows,
                                first_break: Some((r.seq, why)),
                                unchecked,
                                missing_keys,
                                break_key: Some(key),
                            });
                        }
                        None => {
                            unchecked += 1;
                            uncovered.get_or_insert(r.seq);
                            if !missing_keys.contains(&key) {
                                missing_keys.push(key);
                            }
                        }
                    }
                }
            }
            if anchors.iter().any(|a| a.seq == r.seq && r.mac.as_deref() != Some(a.mac.as_str())) {
                return broken(rows, unchecked, r.seq, NOT_ANCHORED);
            }
            prev = r.hash.clone();
            expected_seq += 1;
            rows += 1;
        }
    }
    if let Some(a) = anchors.iter().filter(|a| a.seq > rows).min_by_key(|a| a.seq) {
        return broken(rows, unchecked, a.seq, PAST_ANCHOR);
    }
    let (head_seq, head_hash): (i64, String) =
        read!(db, |c| sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(c).await)?;
    if head_seq != rows || head_hash != prev {
        return broken(rows, unchecked, rows + 1, "rows missing at the end");
    }
    if let Some(seq) = uncovered {
        return Ok(ChainReport { rows, first_break: Some((seq, UNCOVERED)), unchecked, missing_keys, break_key: None });
    }
    Ok(ChainReport { rows, first_break: None, unchecked, missing_keys, break_key: None })
}

/// Whether the newest link naming key `id` verifies under the ring's key of that id.
async fn newest_link_verifies(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let newest: Option<(i64, String, String)> = read!(db, |c| {
        sqlx::query_as(
            "SELECT seq, hash, mac FROM audit_log WHERE substr(mac, 1, length($1)) = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(format!("{id}:"))
        .fetch_optional(c)
        .await
    })?;
    Ok(newest.is_some_and(|(seq, hash, mac)| super::check_link(db.keys(), seq, &hash, &mac) == Some(true)))
}

/// Whether the chain holds the row an anchor names, with the MAC it names.
pub async fn holds(db: &Db, anchor: &Anchor) -> Result<bool, sqlx::Error> {
    let row: Option<(Option<String>,)> = read!(db, |c| sqlx::query_as("SELECT mac FROM audit_log WHERE seq = $1")
        .bind(anchor.seq)
        .fetch_optional(c)
        .await)?;
    Ok(row.is_some_and(|(mac,)| mac.as_deref() == Some(anchor.mac.as_str())))
}

/// A row as the chain check reads it.
#[derive(sqlx::FromRow)]
struct Link {
    seq: i64,
    at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    actor: String,
    action: String,
    entity: String,
    entity_id: Option<String>,
    ip: Option<String>,
    detail: String,
    prev_hash: String,
    hash: String,
    mac: Option<String>,
}
