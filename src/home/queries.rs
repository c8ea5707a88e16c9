//! The few reads of the work lists that no domain store had: counts beside the lists the
//! stores already give, and the waiting approvals, a unit's parts, escalations, overdue work
//! per street and security events. Like `reports/` and `search/`, the home reads across
//! domains; each query confines itself to the caller's scope in its own SQL.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::auth::Scope;
use crate::db::query::{self, Args};
use crate::db::{Backend, Db};

/// Totals above this read as "more than": a district's overdue list is never counted through.
pub const COUNT_CAP: i64 = 999;

async fn capped(db: &Db, rows: &str, args: &Args) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = query::one(db, &query::capped_count(rows, COUNT_CAP), args).await?;
    Ok(n)
}

/// Patrols still to walk in the scope (optionally only one worker's).
pub async fn planned_patrols(db: &Db, scope: &Scope) -> Result<i64, sqlx::Error> {
    let mut args = Args::new();
    let rows = format!("SELECT 1 FROM patrols t WHERE {} AND t.status = 'planned'", args.scope("t.path", scope));
    capped(db, &rows, &args).await
}

/// Open cases whose next follow-up falls on or before `until` (the count beside
/// `cases::store::due`).
pub async fn follow_ups_due(
    db: &Db,
    scope: &Scope,
    worker: Option<Uuid>,
    until: NaiveDate,
) -> Result<i64, sqlx::Error> {
    let mut args = Args::new();
    let mut rows = format!(
        "SELECT 1 FROM cases c WHERE {} AND c.status <> 'closed' AND c.next_follow_up_on <= {}",
        args.scope("c.path", scope),
        args.push(until)
    );
    if let Some(w) = worker {
        rows.push_str(&format!(" AND c.worker_id = {}", args.push(w)));
    }
    capped(db, &rows, &args).await
}

/// Something waiting for a manager's decision.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Waiting {
    pub id: Uuid,
    /// The page the decision is taken on is this record's (a case or a request).
    pub target: Uuid,
    pub number: String,
    pub who: String,
    pub note: String,
    pub since: DateTime<Utc>,
}

/// Draft support plans of open cases in the scope: each waits for the station manager.
pub async fn draft_plans(db: &Db, scope: &Scope, limit: i64) -> Result<(Vec<Waiting>, i64), sqlx::Error> {
    let mut args = Args::new();
    // From the drafts (their own small index) to their cases, not from every open case of the
    // scope to its plans: SQLite's CROSS JOIN keeps that order.
    let wh = format!(
        "sp.status = 'draft' AND c.id = sp.case_id AND {} AND c.status <> 'closed'",
        args.scope("c.path", scope)
    );
    let total = capped(db, &format!("SELECT 1 FROM support_plans sp CROSS JOIN cases c WHERE {wh}"), &args).await?;
    let sql = format!(
        "SELECT sp.id, c.id AS target, c.number, p.name AS who, u.display_name AS note, sp.updated_at AS since
         FROM support_plans sp CROSS JOIN cases c JOIN persons p ON p.id = c.person_id
         JOIN users u ON u.id = c.worker_id
         WHERE {wh} ORDER BY sp.updated_at, sp.id LIMIT {}",
        args.push(limit)
    );
    Ok((query::all(db, &sql, &args).await?, total))
}

/// Extensions asked by a unit on requests the scope holds or where they are.
pub async fn pending_extensions(db: &Db, scope: &Scope, limit: i64) -> Result<(Vec<Waiting>, i64), sqlx::Error> {
    let mut args = Args::new();
    let a = args.scope("r.path", scope);
    let b = args.scope("r.owner_path", scope);
    let wh = format!("e.status = 'pending' AND r.id = e.request_id AND ({a} OR {b})");
    // From the pending extensions to their requests (CROSS JOIN: SQLite otherwise read every
    // request of the scope by path to look for the few extensions).
    let from = "FROM request_extensions e CROSS JOIN requests r";
    let total = capped(db, &format!("SELECT 1 {from} WHERE {wh}"), &args).await?;
    let sql = format!(
        "SELECT e.id, r.id AS target, r.number, rp.unit_name AS who, e.reason AS note, e.requested_at AS since
         {from} JOIN request_parts rp ON rp.id = e.part_id
         WHERE {wh} ORDER BY e.requested_at, e.id LIMIT {}",
        args.push(limit)
    );
    Ok((query::all(db, &sql, &args).await?, total))
}

/// Roster exports over the limit that someone asked a manager of the scope to allow.
pub async fn pending_exports(db: &Db, scope: &Scope, limit: i64) -> Result<(Vec<Waiting>, i64), sqlx::Error> {
    let mut args = Args::new();
    let wh = format!("x.status = 'pending' AND {}", args.scope("x.path", scope));
    let total = capped(db, &format!("SELECT 1 FROM export_requests x WHERE {wh}"), &args).await?;
    let sql = format!(
        "SELECT x.id, x.id AS target, CAST(x.total AS TEXT) AS number, u.display_name AS who, x.reason AS note,
                x.created_at AS since
         FROM export_requests x JOIN users u ON u.id = x.user_id
         WHERE {wh} ORDER BY x.created_at, x.id LIMIT {}",
        args.push(limit)
    );
    Ok((query::all(db, &sql, &args).await?, total))
}

/// A unit's part of a request, as its work list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenPart {
    pub request_id: Uuid,
    pub number: String,
    pub category_name: String,
    pub address: String,
    pub unit_name: String,
    pub status: String,
    pub due: DateTime<Utc>,
}

/// Whose parts a work list shows: a department's, or the places of a scope.
pub enum Unit<'a> {
    Org(Uuid),
    Places(&'a Scope),
}

/// Parts still to sign (dispatched) or to finish (signed), soonest due first.
pub async fn open_parts(db: &Db, unit: Unit<'_>, limit: i64) -> Result<(Vec<OpenPart>, i64), sqlx::Error> {
    let mut args = Args::new();
    let who = match unit {
        Unit::Org(id) => format!("p.unit_kind = 'org' AND p.unit_id = {}", args.push(id)),
        Unit::Places(scope) => format!("p.unit_kind = 'place' AND {}", args.scope("p.unit_path", scope)),
    };
    let wh = format!("{who} AND p.status IN ('dispatched', 'signed')");
    let total = capped(db, &format!("SELECT 1 FROM request_parts p WHERE {wh}"), &args).await?;
    // The soonest parts first, then their requests: joined before the sort, every open part
    // of a community fetched its request (thousands at a million requests) for five shown.
    let sql = format!(
        "SELECT p.request_id, r.number, c.name AS category_name, r.address, p.unit_name, p.status, p.due
         FROM (SELECT p.id, p.request_id, p.unit_name, p.status, p.due FROM request_parts p
               WHERE {wh} ORDER BY p.due, p.id LIMIT {}) p
         JOIN requests r ON r.id = p.request_id JOIN request_categories c ON c.code = r.category
         ORDER BY p.due, p.id",
        args.push(limit)
    );
    Ok((query::all(db, &sql, &args).await?, total))
}

/// An open request that was pressed (督办), most pressed and soonest due first.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Escalated {
    pub id: Uuid,
    pub number: String,
    pub category_name: String,
    pub address: String,
    pub escalation: i64,
    pub resolve_due: DateTime<Utc>,
}

pub async fn escalated(db: &Db, scope: &Scope, limit: i64) -> Result<(Vec<Escalated>, i64), sqlx::Error> {
    let mut args = Args::new();
    let a = args.scope("r.path", scope);
    let b = args.scope("r.owner_path", scope);
    let wh = format!("r.status IN ('accepted', 'dispatched', 'in_progress') AND r.escalation > 0 AND ({a} OR {b})");
    // The escalated few have their own index; SQLite, without statistics, took the status
    // index and read every open request instead.
    let from = match db.backend() {
        Backend::Sqlite => "requests r INDEXED BY requests_escalated_open",
        Backend::Postgres => "requests r",
    };
    let total = capped(db, &format!("SELECT 1 FROM {from} WHERE {wh}"), &args).await?;
    let sql = format!(
        "SELECT r.id, r.number, c.name AS category_name, r.address, r.escalation, r.resolve_due
         FROM {from} JOIN request_categories c ON c.code = r.category
         WHERE {wh} ORDER BY r.escalation DESC, r.resolve_due, r.id LIMIT {}",
        args.push(limit)
    );
    Ok((query::all(db, &sql, &args).await?, total))
}

/// Overdue work of one street of the scope.
#[derive(Debug, Clone, Default)]
pub struct StreetOverdue {
    pub place_id: Uuid,
    pub name: String,
    pub requests: i64,
    pub hazards: i64,
    pub follow_ups: i64,
}

impl StreetOverdue {
    pub fn total(&self) -> i64 {
        self.requests + self.hazards + self.follow_ups
    }
}

/// Length of a street's path: city, district and street segments of six characters each
/// (`org::model::segment_of`) between slashes.
const STREET_PATH_LEN: i64 = 22;

/// Overdue requests, hazards and follow-ups per street of the scope, worst first. Each kind is
/// read once over its overdue rows and grouped by the street prefix of their paths.
pub async fn overdue_by_street(
    db: &Db,
    scope: &Scope,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Result<Vec<StreetOverdue>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT id, name, path FROM places WHERE kind = 'street' AND active AND {} ORDER BY path",
        args.scope("path", scope)
    );
    let streets: Vec<(Uuid, String, String)> = query::all(db, &sql, &args).await?;
    let mut out: Vec<StreetOverdue> = streets
        .iter()
        .map(|(id, name, _)| StreetOverdue { place_id: *id, name: name.clone(), ..Default::default() })
        .collect();
    if out.is_empty() {
        return Ok(out);
    }
    let grouped = |from: &str, alias: &str, cond: &str| {
        format!(
            "SELECT SUBSTR({alias}.path, 1, {STREET_PATH_LEN}) AS street, COUNT(*) FROM {from} WHERE {cond} AND {{scope}}
             GROUP BY SUBSTR({alias}.path, 1, {STREET_PATH_LEN})"
        )
    };
    // The open requests' own index holds each one's due time and path: read alone, it
    // answers without visiting the requests (SQLite, which would take the status index and
    // read each row, is told).
    let kinds = [
        grouped(
            crate::requests::store::open_due_requests(db),
            "r",
            "r.status IN ('accepted', 'dispatched', 'in_progress') AND r.resolve_due < $1",
        ),
        grouped("hazards h", "h", "h.status IN ('open', 'rectifying') AND h.deadline < $1"),
        grouped("cases c", "c", "c.status <> 'closed' AND c.next_follow_up_on < $1"),
    ];
    for (k, template) in kinds.iter().enumerate() {
        let mut args = Args::new();
        if k == 0 {
            args.push(now);
        } else {
            args.push(today);
        }
        let alias = ["r", "h", "c"][k];
        let sql = template.replace("{scope}", &args.scope(&format!("{alias}.path"), scope));
        let rows: Vec<(String, i64)> = query::all(db, &sql, &args).await?;
        for (path, n) in rows {
            if let Some(i) = streets.iter().position(|(_, _, p)| *p == path) {
                let s = &mut out[i];
                match k {
                    0 => s.requests = n,
                    1 => s.hazards = n,
                    _ => s.follow_ups = n,
                }
            }
        }
    }
    out.sort_by(|a, b| b.total().cmp(&a.total()).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// A security event of the audit log.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecurityEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub ip: Option<String>,
}

/// The actions an auditor looks at first: refusals, lockouts and every reveal of a sealed value.
pub const SECURITY_ACTIONS: &[&str] = &[
    "access.denied",
    "child.denied",
    // The locale check skips audit action names only on lines that say so.
    "login.failure",      // audit action
    "login.locked",       // audit action
    "login.lockout",      // audit action
    "login.rate_limited", // audit action
    "login.totp_failure", // audit action
    "person.reveal",      // audit action
    "record.reveal",
    "request.reveal_phone",
];

pub async fn security_events(
    db: &Db,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<(Vec<SecurityEvent>, i64), sqlx::Error> {
    let mut args = Args::new();
    let wh = format!("at >= {} AND action IN ({})", args.push(since), args.list(SECURITY_ACTIONS));
    let total = capped(db, &format!("SELECT 1 FROM audit_log WHERE {wh}"), &args).await?;
    let sql = format!(
        "SELECT seq, at, actor, action, entity, ip FROM audit_log WHERE {wh} ORDER BY seq DESC LIMIT {}",
        args.push(limit)
    );
    Ok((query::all(db, &sql, &args).await?, total))
}
