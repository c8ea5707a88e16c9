//! The hazard register and patrols in the database. Every read is bounded by the caller's scope
//! in the query; every change is one transaction checked against the row's version, and writes an
//! event (who, when, why) to the hazard's timeline.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::model::{Category, Checklist, RiskLevel, Status};
use crate::audit::Actor;
use crate::auth::Scope;
use crate::db::query::{self, Args};
use crate::db::{Db, Tx};
use crate::error::{AppError, FieldErrors};
use crate::files::{Owner, Staged};
use crate::write;

// ---- reading ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Hazard {
    pub id: Uuid,
    pub number: String,
    pub category: String,
    pub risk_level: String,
    pub status: String,
    pub description: String,
    pub place_id: Uuid,
    pub place_name: String,
    pub path: String,
    pub estate_id: Option<Uuid>,
    pub building: Option<String>,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub responsible: String,
    pub deadline: Option<NaiveDate>,
    pub person_id: Option<Uuid>,
    pub person_name: Option<String>,
    pub case_id: Option<Uuid>,
    pub case_number: Option<String>,
    pub request_id: Option<Uuid>,
    pub request_number: Option<String>,
    pub patrol_id: Option<Uuid>,
    pub found_on: NaiveDate,
    pub rectified_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closure: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

impl Hazard {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Open)
    }
    pub fn risk(&self) -> RiskLevel {
        RiskLevel::parse(&self.risk_level).unwrap_or(RiskLevel::General)
    }
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        matches!(self.status(), Status::Open | Status::Rectifying) && self.deadline.is_some_and(|d| d < today)
    }
}

const HAZARD_COLS: &str = "h.id, h.number, h.category, h.risk_level, h.status, h.description, h.place_id, pl.name AS place_name,
    h.path, h.estate_id, h.building, h.address, h.lat, h.lon, h.responsible, h.deadline, h.person_id, pe.name AS person_name,
    h.case_id, cs.number AS case_number, h.request_id, rq.number AS request_number, h.patrol_id, h.found_on, h.rectified_at,
    h.closed_at, h.closure, h.version, h.created_at";
const HAZARD_FROM: &str =
    "FROM hazards h JOIN places pl ON pl.id = h.place_id LEFT JOIN persons pe ON pe.id = h.person_id
    LEFT JOIN cases cs ON cs.id = h.case_id LEFT JOIN requests rq ON rq.id = h.request_id";

pub async fn get(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Hazard>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {HAZARD_COLS} {HAZARD_FROM} WHERE h.id = {} AND {}",
        args.push(id),
        args.scope("h.path", scope)
    );
    query::optional(db, &sql, &args).await
}

#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Open work only (not closed).
    pub open: bool,
    pub overdue: bool,
    pub status: Option<Status>,
    pub category: Option<Category>,
    pub risk: Option<RiskLevel>,
    /// Inside this place (a street, community or grid), within the scope.
    pub place_path: Option<String>,
    pub person_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    /// With coordinates (the map).
    pub located: bool,
    /// Words in the description or address, as `search::text_matches` reads them.
    pub text: Option<String>,
}

/// One page, most urgent first: highest risk, then earliest deadline, then newest.
pub async fn list(
    db: &Db,
    scope: &Scope,
    f: &ListFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Hazard>, i64), sqlx::Error> {
    let mut args = Args::new();
    let mut wh = vec![args.scope("h.path", scope)];
    if f.open {
        wh.push("h.status <> 'closed'".into());
    }
    if f.overdue {
        wh.push(format!("h.status IN ('open', 'rectifying') AND h.deadline < {}", args.push_date(today())));
    }
    if let Some(s) = f.status {
        wh.push(format!("h.status = {}", args.push(s.as_str())));
    }
    if let Some(c) = f.category {
        wh.push(format!("h.category = {}", args.push(c.as_str())));
    }
    if let Some(r) = f.risk {
        wh.push(format!("h.risk_level = {}", args.push(r.as_str())));
    }
    if let Some(p) = &f.place_path {
        let p = args.push(format!("{p}%"));
        wh.push(format!("h.path LIKE {p}"));
    }
    if let Some(p) = f.person_id {
        wh.push(format!("h.person_id = {}", args.push(p)));
    }
    if let Some(c) = f.case_id {
        wh.push(format!("h.case_id = {}", args.push(c)));
    }
    if f.located {
        wh.push("h.lat IS NOT NULL AND h.lon IS NOT NULL".into());
    }
    if let Some(q) = f.text.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        match crate::search::text_matches("hazard", q, &mut args) {
            Some(ids) => wh.push(format!("h.id IN ({ids})")),
            None => return Ok((Vec::new(), 0)),
        }
    }
    let where_ = wh.join(" AND ");
    query::page(
        db,
        &format!(
            "SELECT {HAZARD_COLS} {HAZARD_FROM} WHERE {where_}
             ORDER BY CASE h.status WHEN 'closed' THEN 1 ELSE 0 END,
                      CASE h.risk_level WHEN 'major' THEN 0 WHEN 'high' THEN 1 WHEN 'general' THEN 2 ELSE 3 END,
                      h.deadline, h.created_at DESC, h.id"
        ),
        &format!("FROM hazards h WHERE {where_}"),
        &args,
        limit,
        offset,
    )
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Event {
    pub id: Uuid,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
    pub actor_name: String,
    /// The staff account that acted (none for residents and the system); screens show its
    /// holder's name.
    /// Absent from reads that do not select it (the public's, which name no staff).
    #[serde(skip)]
    #[sqlx(default)]
    pub actor_id: Option<Uuid>,
}

pub async fn events(db: &Db, hazard: Uuid) -> Result<Vec<Event>, sqlx::Error> {
    crate::read!(db, |c| {
        sqlx::query_as(
        "SELECT id, kind, from_status, to_status, note, at, actor_name, actor_id FROM hazard_events WHERE hazard_id = $1 ORDER BY at, id"
    )
    .bind(hazard)
    .fetch_all(c)
    .await
    })
}

/// Today on the district's calendar.
pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

// ---- registering ------------------------------------------------------------------------------

/// A validated new hazard.
#[derive(Debug, Clone, Default)]
pub struct NewHazard {
    pub category: Option<Category>,
    pub risk: Option<RiskLevel>,
    pub description: String,
    pub place_id: Option<Uuid>,
    pub estate_id: Option<Uuid>,
    pub building: Option<String>,
    pub address: Option<String>,
    pub coords: Option<(f64, f64)>,
    pub responsible: String,
    pub deadline: Option<NaiveDate>,
    pub person_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    pub request_id: Option<Uuid>,
}

pub struct Created {
    pub id: Uuid,
    pub number: String,
}

/// Where the hazard is: a community or grid in scope, or an estate (its community).
async fn locate(
    db: &Db,
    scope: &Scope,
    h: &NewHazard,
    errors: &mut FieldErrors,
) -> Result<Option<(Uuid, String, String)>, sqlx::Error> {
    let (place, estate_name) =
        crate::org::store::resolve_location(db, Some(scope), h.estate_id, h.place_id, errors).await?;
    if place.is_none() && h.place_id.is_none() && h.estate_id.is_none() {
        errors.add("place_id", "error.required");
    }
    let Some((id, path, name)) = place else { return Ok(None) };
    let mut address = name;
    for part in [estate_name, h.building.clone(), h.address.clone()].into_iter().flatten() {
        address.push(' ');
        address.push_str(&part);
    }
    Ok(Some((id, path, address)))
}

/// Checks that linked records exist and are visible to the caller.
async fn check_links(db: &Db, scope: &Scope, h: &NewHazard, errors: &mut FieldErrors) -> Result<(), sqlx::Error> {
    if let Some(id) = h.person_id {
        let mut args = Args::new();
        let sql = format!(
            "SELECT p.id FROM persons p WHERE p.merged_into IS NULL AND p.id = {} AND {}",
            args.push(id),
            crate::people::store::visible_each("p", scope, &mut args)
        );
        if query::optional::<(Uuid,)>(db, &sql, &args).await?.is_none() {
            errors.add("person_id", "error.bad_choice");
        }
    }
    let links: [(&str, Option<Uuid>, &str); 2] = [
        ("case_id", h.case_id, "SELECT id FROM cases WHERE id = "),
        ("request_id", h.request_id, "SELECT id FROM requests WHERE id = "),
    ];
    for (field, id, select) in links {
        let Some(id) = id else { continue };
        let mut args = Args::new();
        let sql = format!("{select}{} AND {}", args.push(id), args.scope("path", scope));
        if query::optional::<(Uuid,)>(db, &sql, &args).await?.is_none() {
            errors.add(field, "error.bad_choice");
        }
    }
    if let (Some(p), Some(c)) = (h.person_id, h.case_id) {
        let mut args = Args::new();
        let sql = format!("SELECT id FROM cases WHERE id = {} AND person_id = {}", args.push(c), args.push(p));
        if query::optional::<(Uuid,)>(db, &sql, &args).await?.is_none() {
            errors.add("case_id", "hazard.case_of_other_person");
        }
    }
    Ok(())
}

async fn next_number(tx: &mut Tx, now: DateTime<Utc>) -> Result<String, sqlx::Error> {
    let year = i64::from(chrono::Datelike::year(&now.with_timezone(&chrono_tz::Asia::Shanghai)));
    let (seq,): (i64,) = write!(tx, |c| sqlx::query_as(
        "INSERT INTO hazard_counters (year, last) VALUES ($1, 1)
         ON CONFLICT (year) DO UPDATE SET last = hazard_counters.last + 1 RETURNING last"
    )
    .bind(year)
    .fetch_one(c)
    .await)?;
    Ok(format!("YH{year}-{seq:05}"))
}

/// Registers a hazard with its photos, inside `tx` (a patrol registers several in one go).
pub async fn register_in(
    tx: &mut Tx,
    located: (Uuid, String, String),
    h: &NewHazard,
    patrol: Option<Uuid>,
    photos: &[Staged],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Created, AppError> {
    let (place_id, path, address) = located;
    let risk = h.risk.unwrap_or(RiskLevel::General);
    let found_on = now.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let deadline = h.deadline.unwrap_or(found_on + Duration::days(risk.default_days()));
    let status = if h.responsible.is_empty() { Status::Open } else { Status::Rectifying };
    let id = Uuid::now_v7();
    let number = next_number(tx, now).await?;
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO hazards (id, number, category, risk_level, status, description, place_id, path, estate_id, building, address,
                              lat, lon, responsible, deadline, person_id, case_id, request_id, patrol_id, found_on,
                              created_at, created_by, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $21, $22)"
    )
    .bind(id)
    .bind(&number)
    .bind(h.category.unwrap_or(Category::Other).as_str())
    .bind(risk.as_str())
    .bind(status.as_str())
    .bind(&h.description)
    .bind(place_id)
    .bind(&path)
    .bind(h.estate_id)
    .bind(&h.building)
    .bind(&address)
    .bind(h.coords.map(|c| c.0))
    .bind(h.coords.map(|c| c.1))
    .bind(&h.responsible)
    .bind(deadline)
    .bind(h.person_id)
    .bind(h.case_id)
    .bind(h.request_id)
    .bind(patrol)
    .bind(found_on)
    .bind(now)
    .bind(actor.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    event(tx, id, "registered", None, Some(status), None, actor, now).await?;
    crate::files::record(tx, Owner::Hazard(id), "finding", photos, actor, now).await?;
    crate::search::index_hazard(tx, id, &path, &h.description, &address).await?;
    Ok(Created { id, number })
}

/// Validates place and links, then registers (one transaction).
pub async fn register(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    h: &NewHazard,
    photos: &[Staged],
) -> Result<Created, AppError> {
    let mut errors = FieldErrors::default();
    let located = locate(db, scope, h, &mut errors).await?;
    check_links(db, scope, h, &mut errors).await?;
    errors.into_result()?;
    let mut tx = db.begin().await?;
    let created = register_in(&mut tx, located.expect("checked"), h, None, photos, actor, Utc::now()).await?;
    tx.commit().await?;
    Ok(created)
}

#[allow(clippy::too_many_arguments)]
async fn event(
    tx: &mut Tx,
    hazard: Uuid,
    kind: &str,
    from: Option<Status>,
    to: Option<Status>,
    note: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO hazard_events (id, hazard_id, kind, from_status, to_status, note, at, actor_id, actor_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(Uuid::now_v7())
    .bind(hazard)
    .bind(kind)
    .bind(from.map(|s| s.as_str()))
    .bind(to.map(|s| s.as_str()))
    .bind(note)
    .bind(now)
    .bind(actor.id)
    .bind(&actor.name)
    .execute(c)
    .await
    .map(|_| ()))
}

// ---- the rectification life ------------------------------------------------------------------

/// What the register records after a hazard was found.
#[derive(Debug, Clone)]
pub enum Step {
    /// 整改: who rectifies and by when (open → rectifying; again while rectifying to change them).
    Assign { responsible: String, deadline: NaiveDate },
    /// A progress note (talking with the resident, a warning posted), with photos.
    Note { note: String },
    /// 已整改: the responsible party reports the work done (rectifying → rectified).
    Rectified { note: String },
    /// 复查: passed → closed (销号); failed → back to rectifying with a new deadline.
    Reinspect { passed: bool, note: String, deadline: Option<NaiveDate> },
    /// Closed without rectification (a false report, the building demolished): reason required.
    Close { reason: String },
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Assign { .. } => "assigned",
            Step::Note { .. } => "note",
            Step::Rectified { .. } => "rectified",
            Step::Reinspect { passed: true, .. } => "reinspected_passed",
            Step::Reinspect { passed: false, .. } => "reinspected_failed",
            Step::Close { .. } => "closed",
        }
    }
}

/// Applies one step to hazard `id` as of `version`, with its photos.
pub async fn act(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    id: Uuid,
    version: i64,
    step: &Step,
    photos: &[Staged],
) -> Result<(), AppError> {
    let required = match step {
        Step::Assign { responsible, .. } => Some(("responsible", responsible)),
        Step::Note { note } | Step::Rectified { note } | Step::Reinspect { note, .. } => Some(("note", note)),
        Step::Close { reason } => Some(("reason", reason)),
    };
    if let Some((field, text)) = required
        && text.trim().is_empty()
    {
        return Err(AppError::field(field, "error.required"));
    }
    let h = get(db, scope, id).await?.ok_or(AppError::NotFound)?;
    if h.version != version {
        return Err(AppError::Stale);
    }
    let from = h.status();
    let today = today();
    let (to, note): (Status, Option<&str>) = match (step, from) {
        (_, Status::Closed) => return Err(AppError::Conflict("hazard.already_closed")),
        (Step::Assign { deadline, .. }, Status::Open | Status::Rectifying) => {
            if *deadline < today {
                return Err(AppError::field("deadline", "hazard.deadline_past"));
            }
            (Status::Rectifying, None)
        }
        (Step::Note { note }, _) => (from, Some(note.as_str())),
        (Step::Rectified { note }, Status::Rectifying) => (Status::Rectified, Some(note.as_str())),
        (Step::Reinspect { passed: true, note, .. }, Status::Rectified) => (Status::Closed, Some(note.as_str())),
        (Step::Reinspect { passed: false, note, deadline }, Status::Rectified) => {
            match deadline {
                Some(d) if *d >= today => {}
                Some(_) => return Err(AppError::field("deadline", "hazard.deadline_past")),
                None => return Err(AppError::field("deadline", "error.required")),
            }
            (Status::Rectifying, Some(note.as_str()))
        }
        (Step::Close { reason }, Status::Open | Status::Rectifying) => (Status::Closed, Some(reason.as_str())),
        _ => return Err(AppError::Conflict("hazard.wrong_state")),
    };
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let mut args = Args::new();
    let mut sets = vec![
        format!("status = {}", args.push(to.as_str())),
        format!("updated_at = {}", args.push(now)),
        format!("updated_by = {}", args.push(actor.id)),
        "version = version + 1".to_string(),
    ];
    match step {
        Step::Assign { responsible, deadline } => {
            sets.push(format!("responsible = {}", args.push(responsible.as_str())));
            sets.push(format!("deadline = {}", args.push_date(*deadline)));
        }
        Step::Rectified { .. } => sets.push(format!("rectified_at = {}", args.push(now))),
        Step::Reinspect { passed: false, deadline: Some(d), .. } => {
            sets.push(format!("deadline = {}", args.push_date(*d)));
        }
        _ => {}
    }
    if to == Status::Closed {
        sets.push(format!("closed_at = {}", args.push(now)));
        sets.push(format!("closure = {}", args.push(note.unwrap_or_default())));
    }
    let sql = format!(
        "UPDATE hazards SET {} WHERE id = {} AND version = {}",
        sets.join(", "),
        args.push(id),
        args.push(version)
    );
    if query::execute(&mut tx, &sql, &args).await? != 1 {
        return Err(AppError::Stale);
    }
    let assigned;
    let note = match step {
        Step::Assign { responsible, deadline } => {
            assigned = format!("{responsible} · {deadline}");
            Some(assigned.as_str())
        }
        _ => note,
    };
    event(&mut tx, id, step.kind(), Some(from), Some(to), note, actor, now).await?;
    let purpose = match step {
        Step::Rectified { .. } => "rectification",
        Step::Reinspect { .. } => "reinspection",
        _ => "progress",
    };
    crate::files::record(&mut tx, Owner::Hazard(id), purpose, photos, actor, now).await?;
    tx.commit().await?;
    Ok(())
}

// ---- patrols ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Patrol {
    pub id: Uuid,
    pub place_id: Uuid,
    pub place_name: String,
    pub path: String,
    pub checklist: String,
    pub area: String,
    pub due_on: NaiveDate,
    pub assignee_id: Option<Uuid>,
    pub assignee_name: Option<String>,
    pub status: String,
    pub summary: Option<String>,
    pub done_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const PATROL_COLS: &str =
    "t.id, t.place_id, pl.name AS place_name, t.path, t.checklist, t.area, t.due_on, t.assignee_id,
    u.display_name AS assignee_name, t.status, t.summary, t.done_at, t.version";
const PATROL_FROM: &str =
    "FROM patrols t JOIN places pl ON pl.id = t.place_id LEFT JOIN users u ON u.id = t.assignee_id";

pub async fn patrol(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Patrol>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {PATROL_COLS} {PATROL_FROM} WHERE t.id = {} AND {}",
        args.push(id),
        args.scope("t.path", scope)
    );
    query::optional(db, &sql, &args).await
}

/// Planned patrols first (soonest due), then done ones (latest first).
pub async fn patrols(
    db: &Db,
    scope: &Scope,
    assignee: Option<Uuid>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Patrol>, i64), sqlx::Error> {
    let mut args = Args::new();
    let mut wh = vec![args.scope("t.path", scope), "t.status <> 'cancelled'".to_string()];
    if let Some(a) = assignee {
        wh.push(format!("t.assignee_id = {}", args.push(a)));
    }
    let where_ = wh.join(" AND ");
    query::page(
        db,
        &format!(
            "SELECT {PATROL_COLS} {PATROL_FROM} WHERE {where_}
             ORDER BY CASE t.status WHEN 'planned' THEN 0 ELSE 1 END, t.due_on, t.done_at DESC, t.id"
        ),
        &format!("FROM patrols t WHERE {where_}"),
        &args,
        limit,
        offset,
    )
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct PatrolItem {
    pub seq: i64,
    pub item: String,
    pub result: Option<String>,
    pub note: Option<String>,
    pub hazard_id: Option<Uuid>,
    pub hazard_number: Option<String>,
}

/// The items of a patrol with the numbers of the hazards they found. A finding shares its
/// patrol's place, so whoever may see the patrol may see its findings.
pub async fn patrol_items(db: &Db, patrol: Uuid) -> Result<Vec<PatrolItem>, sqlx::Error> {
    crate::read!(db, |c| sqlx::query_as(
        "SELECT i.seq, i.item, i.result, i.note, i.hazard_id, h.number AS hazard_number
         FROM patrol_items i LEFT JOIN hazards h ON h.id = i.hazard_id WHERE i.patrol_id = $1 ORDER BY i.seq"
    )
    .bind(patrol)
    .fetch_all(c)
    .await)
}

pub struct NewPatrol<'a> {
    pub place_id: Uuid,
    pub checklist: &'a Checklist,
    pub area: String,
    pub due_on: NaiveDate,
    pub assignee_id: Option<Uuid>,
}

/// Plans a patrol of a grid (or community) with a checklist, for a worker whose scope covers it.
pub async fn plan_patrol(db: &Db, scope: &Scope, actor: &Actor, p: &NewPatrol<'_>) -> Result<Uuid, AppError> {
    let mut errors = FieldErrors::default();
    let mut args = Args::new();
    let sql = format!(
        "SELECT path FROM places WHERE id = {} AND active AND kind IN ('community', 'grid') AND {}",
        args.push(p.place_id),
        args.scope("path", scope)
    );
    let path = query::optional::<(String,)>(db, &sql, &args).await?.map(|r| r.0);
    if path.is_none() {
        errors.add("place_id", "error.bad_choice");
    }
    if p.due_on < today() {
        errors.add("due_on", "hazard.deadline_past");
    }
    if let (Some(a), Some(path)) = (p.assignee_id, &path) {
        // The assignee must be an active worker whose own scope reaches the patrolled place.
        let mut args = Args::new();
        let sql = format!(
            "SELECT u.id FROM users u JOIN user_places up ON up.user_id = u.id JOIN places sp ON sp.id = up.place_id
             WHERE u.id = {} AND NOT u.disabled AND u.role IN ('grid_worker', 'community_staff', 'social_worker', 'station_manager')
               AND {} LIKE sp.path || '%'",
            args.push(a),
            args.push(path.as_str())
        );
        if query::optional::<(Uuid,)>(db, &sql, &args).await?.is_none() {
            errors.add("assignee_id", "hazard.assignee_out_of_scope");
        }
    }
    errors.into_result()?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO patrols (id, place_id, path, checklist, area, due_on, assignee_id, status, created_at, created_by, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'planned', $8, $9, $8, $9)"
    )
    .bind(id)
    .bind(p.place_id)
    .bind(path.as_deref())
    .bind(p.checklist.code)
    .bind(&p.area)
    .bind(p.due_on)
    .bind(p.assignee_id)
    .bind(now)
    .bind(actor.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    for (seq, item) in p.checklist.items.iter().enumerate() {
        write!(&mut tx, |c| sqlx::query("INSERT INTO patrol_items (patrol_id, seq, item) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(seq as i64)
            .bind(*item)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(id)
}

/// What the grid worker found on one checklist item.
#[derive(Debug)]
pub struct Finding {
    pub seq: i64,
    pub result: String,
    pub note: String,
    /// For a hazard: how serious, and its photos.
    pub risk: Option<RiskLevel>,
    pub photos: Vec<Staged>,
}

/// Records a finished patrol: every item's result, and a hazard (with photos) for each finding,
/// all in one transaction. Returns the numbers of the hazards registered.
pub async fn complete_patrol(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    id: Uuid,
    version: i64,
    summary: &str,
    findings: &[Finding],
) -> Result<Vec<String>, AppError> {
    let p = patrol(db, scope, id).await?.ok_or(AppError::NotFound)?;
    if p.version != version {
        return Err(AppError::Stale);
    }
    if p.status != "planned" {
        return Err(AppError::Conflict("patrol.already_done"));
    }
    let list = super::model::checklist(&p.checklist).ok_or(AppError::Conflict("patrol.unknown_checklist"))?;
    let items = patrol_items(db, id).await?;
    let mut errors = FieldErrors::default();
    for item in &items {
        let field = format!("result_{}", item.seq);
        match findings.iter().find(|f| f.seq == item.seq) {
            None => errors.add(&field, "patrol.result_required"),
            Some(f) if !matches!(f.result.as_str(), "ok" | "hazard" | "na") => errors.add(&field, "error.bad_choice"),
            Some(f) if f.result == "hazard" && f.note.trim().is_empty() => {
                errors.add(&format!("note_{}", item.seq), "patrol.finding_needs_note")
            }
            _ => {}
        }
    }
    errors.into_result()?;
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let mut args = Args::new();
    let sql = format!(
        "UPDATE patrols SET status = 'done', summary = {}, done_at = {}, done_by = {}, updated_at = {}, updated_by = {}, version = version + 1
         WHERE id = {} AND version = {} AND status = 'planned'",
        args.push(summary),
        args.push(now),
        args.push(actor.id),
        args.push(now),
        args.push(actor.id),
        args.push(id),
        args.push(version)
    );
    if query::execute(&mut tx, &sql, &args).await? != 1 {
        return Err(AppError::Stale);
    }
    let mut numbers = Vec::new();
    for item in &items {
        let f = findings.iter().find(|f| f.seq == item.seq).expect("checked");
        let hazard = if f.result == "hazard" {
            let h = NewHazard {
                category: Some(list.category),
                risk: f.risk,
                description: f.note.trim().to_string(),
                address: Some(p.area.clone()).filter(|a| !a.is_empty()),
                ..Default::default()
            };
            let located = (p.place_id, p.path.clone(), format!("{} {}", p.place_name, p.area).trim().to_string());
            let created = register_in(&mut tx, located, &h, Some(id), &f.photos, actor, now).await?;
            numbers.push(created.number);
            Some(created.id)
        } else {
            None
        };
        let note = Some(f.note.trim()).filter(|n| !n.is_empty());
        write!(&mut tx, |c| sqlx::query(
            "UPDATE patrol_items SET result = $1, note = $2, hazard_id = $3 WHERE patrol_id = $4 AND seq = $5"
        )
        .bind(&f.result)
        .bind(note)
        .bind(hazard)
        .bind(id)
        .bind(item.seq)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(numbers)
}

// ---- the monthly ledger -----------------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LedgerLine {
    pub id: Uuid,
    pub number: String,
    pub found_on: NaiveDate,
    pub street: String,
    pub community: String,
    pub address: String,
    pub category: String,
    pub risk_level: String,
    pub description: String,
    pub responsible: String,
    pub deadline: Option<NaiveDate>,
    pub status: String,
    pub rectified_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closure: Option<String>,
}

/// Hazards of `place_path` found in [from, to], and older ones still open on `from` (carried over).
pub async fn ledger(
    db: &Db,
    scope: &Scope,
    place_path: &str,
    from: NaiveDate,
    to: NaiveDate,
    category: Option<Category>,
) -> Result<Vec<(LedgerLine, bool)>, sqlx::Error> {
    let mut args = Args::new();
    let like = args.push(format!("{place_path}%"));
    let f = args.push_date(from);
    let t = args.push_date(to);
    let from_utc = args.push(from.and_hms_opt(0, 0, 0).expect("midnight").and_utc() - Duration::hours(8));
    let mut sql = format!(
        "SELECT h.id, h.number, h.found_on, COALESCE(st.name, '') AS street, COALESCE(cm.name, pl.name) AS community, h.address,
                h.category, h.risk_level, h.description, h.responsible, h.deadline, h.status, h.rectified_at, h.closed_at, h.closure
         FROM hazards h JOIN places pl ON pl.id = h.place_id
         LEFT JOIN places cm ON cm.kind = 'community' AND h.path LIKE cm.path || '%'
         LEFT JOIN places st ON st.kind = 'street' AND h.path LIKE st.path || '%'
         WHERE {} AND h.path LIKE {like}
           AND ((h.found_on >= {f} AND h.found_on <= {t}) OR (h.found_on < {f} AND (h.closed_at IS NULL OR h.closed_at >= {from_utc})))",
        args.scope("h.path", scope)
    );
    if let Some(c) = category {
        sql.push_str(&format!(" AND h.category = {}", args.push(c.as_str())));
    }
    sql.push_str(" ORDER BY h.found_on, h.number LIMIT 100000");
    let lines: Vec<LedgerLine> = query::all(db, &sql, &args).await?;
    Ok(lines.into_iter().map(|l| (l.found_on < from, l)).map(|(old, l)| (l, old)).collect())
}

/// The photos of each of these hazards, oldest first (for the ledger's photo links; the
/// hazards were read in the caller's scope, and each link is checked again when followed).
pub async fn photo_ids(db: &Db, hazards: &[Uuid]) -> Result<HashMap<Uuid, Vec<Uuid>>, sqlx::Error> {
    let mut out: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for chunk in hazards.chunks(500) {
        let mut args = Args::new();
        let sql = format!(
            "SELECT owner_id, id FROM files WHERE owner_kind = 'hazard' AND media_type LIKE 'image/%' AND owner_id IN ({}) ORDER BY created_at, id",
            args.list(chunk)
        );
        for (owner, id) in query::all::<(Uuid, Uuid)>(db, &sql, &args).await? {
            out.entry(owner).or_default().push(id);
        }
    }
    Ok(out)
}

// ---- links to people --------------------------------------------------------------------------

/// Hazards linked to a person, visible to the caller (for the person timeline).
pub async fn for_person(db: &Db, scope: &Scope, person: Uuid) -> Result<Vec<Hazard>, sqlx::Error> {
    let f = ListFilter { person_id: Some(person), ..Default::default() };
    Ok(list(db, scope, &f, 200, 0).await?.0)
}
