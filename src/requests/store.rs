//! All SQL of resident requests: categories, the holiday table, intake, the queues, every
//! work-order transition (each one transaction, checked against the row's version), the
//! timeline, duplicates and the overdue sweep.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, RwLock};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::calendar::{Calendar, DayKind, HolidayRange, OfficeHours};
use super::model::{Channel, CleanIntake, DefaultUnit, PartStatus, Satisfaction, Status, status_from_parts};
use crate::audit::Actor;
use crate::auth::{Caller, Role, Scope};
use crate::crypto::Keyring;
use crate::db::query::{self, Args};
use crate::db::{Backend, Db, Tx};
use crate::error::{AppError, FieldErrors};
use crate::write;

// ---- categories -------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub group_name: String,
    pub description: String,
    pub keywords: String,
    pub default_unit: String,
    pub default_org_id: Option<Uuid>,
    pub response_hours: i64,
    pub resolve_days: i64,
    /// Open311 attributes, a JSON array.
    pub attributes: String,
    pub active: bool,
    pub version: i64,
}

const CATEGORY_COLS: &str = "code, name, group_name, description, keywords, default_unit, default_org_id, response_hours, resolve_days, attributes, active, version";

pub async fn categories(db: &Db, active_only: bool) -> Result<Vec<Category>, sqlx::Error> {
    let filter = if active_only { "WHERE active" } else { "" };
    let sql = format!("SELECT {CATEGORY_COLS} FROM request_categories {filter} ORDER BY group_name, code");
    query::all(db, &sql, &Args::new()).await
}

pub async fn category(db: &Db, code: &str) -> Result<Option<Category>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT {CATEGORY_COLS} FROM request_categories WHERE code = {}", args.push(code));
    query::optional(db, &sql, &args).await
}

/// A category and the holiday table's stamp, read together for intake. A handler that needs
/// the category before intake (Open311 checks its attributes) reads it this way and hands it
/// on in [`Intake::category`], so that intake does not read it again.
#[derive(Clone, sqlx::FromRow)]
pub struct IntakeCategory {
    #[sqlx(flatten)]
    pub category: Category,
    calendar_stamp: Option<String>,
}

pub async fn intake_category(db: &Db, code: &str) -> Result<Option<IntakeCategory>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT {CATEGORY_COLS}, {CALENDAR_STAMP} AS calendar_stamp FROM request_categories WHERE code = {}",
        args.push(code)
    );
    query::optional(db, &sql, &args).await
}

/// What the bureau edits about a category.
#[derive(Debug, Clone, Default, serde::Deserialize, ToSchema)]
pub struct CategoryInput {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub group_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub default_unit: String,
    #[serde(default)]
    pub default_org_id: Option<String>,
    #[serde(default)]
    pub response_hours: String,
    #[serde(default)]
    pub resolve_days: String,
    #[serde(default)]
    pub active: Option<String>,
    /// The version the form was loaded with; absent for a new category.
    #[serde(default)]
    pub version: Option<i64>,
}

fn positive(v: &str, field: &str, max: i64, errors: &mut FieldErrors) -> i64 {
    match v.trim().parse::<i64>() {
        Ok(n) if n > 0 && n <= max => n,
        Ok(_) => {
            errors.add(field, "request.limit_out_of_range");
            0
        }
        Err(_) => {
            errors.add(field, "error.not_a_number");
            0
        }
    }
}

/// Creates or updates a category (bureau). A stale version is refused. The default department
/// must serve the bureau's scope (inside it or above it), like any unit it dispatches to.
pub async fn save_category(db: &Db, scope: &Scope, actor: &Actor, input: &CategoryInput) -> Result<Category, AppError> {
    let mut errors = FieldErrors::default();
    let code = input.code.trim().to_string();
    if code.is_empty() {
        errors.add("code", "error.required");
    } else if code.len() > 40 || !code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        errors.add("code", "request.bad_category_code");
    }
    let name = crate::web::form::clean_name(&input.name, "name", 40, &mut errors);
    let group_name = crate::web::form::clean_name(&input.group_name, "group_name", 40, &mut errors);
    let description =
        crate::web::form::clean_optional(Some(&input.description), "description", 500, &mut errors).unwrap_or_default();
    let unit = DefaultUnit::parse(&input.default_unit);
    if unit.is_none() {
        errors.add("default_unit", "error.bad_choice");
    }
    let org = match input.default_org_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => match Uuid::parse_str(s) {
            Ok(id) => {
                if self::unit(db, scope, &format!("org:{id}")).await?.is_none() {
                    errors.add("default_org_id", "error.bad_choice");
                }
                Some(id)
            }
            Err(_) => {
                errors.add("default_org_id", "error.bad_choice");
                None
            }
        },
        None => None,
    };
    if unit == Some(DefaultUnit::Department) && org.is_none() && errors.get("default_org_id").is_none() {
        errors.add("default_org_id", "request.department_required");
    }
    let response_hours = positive(&input.response_hours, "response_hours", 240, &mut errors);
    let resolve_days = positive(&input.resolve_days, "resolve_days", 90, &mut errors);
    errors.into_result()?;
    let active = input.active.is_some();
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let n = match input.version {
        Some(v) => write!(&mut tx, |c| sqlx::query(
            "UPDATE request_categories SET name = $1, group_name = $2, description = $3, default_unit = $4, default_org_id = $5,
                    response_hours = $6, resolve_days = $7, active = $8, version = version + 1, updated_at = $9, updated_by = $10
             WHERE code = $11 AND version = $12"
        )
        .bind(&name)
        .bind(&group_name)
        .bind(&description)
        .bind(unit.map(|u| u.as_str()))
        .bind(org)
        .bind(response_hours)
        .bind(resolve_days)
        .bind(active)
        .bind(now)
        .bind(actor.id)
        .bind(&code)
        .bind(v)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?,
        None => write!(&mut tx, |c| sqlx::query(
            "INSERT INTO request_categories (code, name, group_name, description, default_unit, default_org_id, response_hours, resolve_days,
                                             active, created_at, created_by, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $11)"
        )
        .bind(&code)
        .bind(&name)
        .bind(&group_name)
        .bind(&description)
        .bind(unit.map(|u| u.as_str()))
        .bind(org)
        .bind(response_hours)
        .bind(resolve_days)
        .bind(active)
        .bind(now)
        .bind(actor.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .map_err(crate::error::on_unique("code", "request.category_exists"))?,
    };
    if n == 0 {
        return Err(AppError::Stale);
    }
    crate::audit::record(
        &mut tx,
        actor,
        crate::audit::Entry {
            action: if input.version.is_some() { "request_category.update" } else { "request_category.create" },
            entity: "request_category",
            entity_id: Some(code.clone()),
            detail: serde_json::json!({ "response_hours": response_hours, "resolve_days": resolve_days, "active": active }),
        },
    )
    .await?;
    tx.commit().await?;
    category(db, &code).await?.ok_or(AppError::NotFound)
}

// ---- the working calendar ---------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct HolidayRow {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub start_on: chrono::NaiveDate,
    pub end_on: chrono::NaiveDate,
}

pub async fn holiday_rows(db: &Db) -> Result<Vec<HolidayRow>, sqlx::Error> {
    query::all(db, "SELECT id, name, kind, start_on, end_on FROM holiday_ranges ORDER BY start_on", &Args::new()).await
}

fn to_range(r: &HolidayRow) -> HolidayRange {
    HolidayRange {
        name: r.name.clone(),
        kind: if r.kind == "workday" { DayKind::Workday } else { DayKind::Holiday },
        start: r.start_on,
        end: r.end_on,
    }
}

/// The holiday table's stamp (`reference_stamps`), as a scalar subquery to read with other rows.
const CALENDAR_STAMP: &str = "(SELECT stamp FROM reference_stamps WHERE name = 'holidays')";

/// This process's parsed copy of the holiday table and the stamp it was read at.
static CALENDAR: RwLock<Option<(String, Arc<Calendar>)>> = RwLock::new(None);

/// The calendar as the bureau keeps it. An edit on one instance must count on every other at
/// once, so each use reads the table's stamp, and the table itself only when the stamp differs
/// from this process's copy.
pub async fn calendar(db: &Db) -> Result<Arc<Calendar>, sqlx::Error> {
    let (stamp,): (Option<String>,) = query::one(db, &format!("SELECT {CALENDAR_STAMP}"), &Args::new()).await?;
    calendar_at(db, stamp).await
}

/// The calendar at `stamp`, read with some other row (intake reads it with the category).
async fn calendar_at(db: &Db, stamp: Option<String>) -> Result<Arc<Calendar>, sqlx::Error> {
    if let (Some(stamp), Some((held, cal))) = (&stamp, &*CALENDAR.read().unwrap_or_else(|e| e.into_inner()))
        && held == stamp
    {
        return Ok(cal.clone());
    }
    // The rows and their stamp in one statement: one snapshot, so the copy is kept under the
    // stamp of exactly these rows even while the bureau edits.
    let sql = format!(
        "SELECT id, name, kind, start_on, end_on, {CALENDAR_STAMP} AS stamp FROM holiday_ranges ORDER BY start_on"
    );
    let rows: Vec<StampedHoliday> = query::all(db, &sql, &Args::new()).await?;
    let cal = Arc::new(Calendar::new(&rows.iter().map(|r| to_range(&r.row)).collect::<Vec<_>>()));
    if let Some(stamp) = rows.first().and_then(|r| r.stamp.clone()) {
        *CALENDAR.write().unwrap_or_else(|e| e.into_inner()) = Some((stamp, cal.clone()));
    }
    Ok(cal)
}

#[derive(sqlx::FromRow)]
struct StampedHoliday {
    #[sqlx(flatten)]
    row: HolidayRow,
    stamp: Option<String>,
}

/// Marks a change of the holiday table, in the transaction that makes it.
pub(super) async fn restamp_calendar(tx: &mut Tx) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO reference_stamps (name, stamp) VALUES ('holidays', $1)
         ON CONFLICT (name) DO UPDATE SET stamp = excluded.stamp"
    )
    .bind(Uuid::now_v7().to_string())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

pub(super) async fn insert_range(
    tx: &mut Tx,
    r: &HolidayRange,
    now: DateTime<Utc>,
    by: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO holiday_ranges (id, name, kind, start_on, end_on, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(Uuid::now_v7())
    .bind(&r.name)
    .bind(if r.kind == DayKind::Workday { "workday" } else { "holiday" })
    .bind(r.start)
    .bind(r.end)
    .bind(now)
    .bind(by)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Replaces one year's ranges (bureau). The whole table is validated as it would stand, so an
/// overlap with a neighbouring year is caught too; nothing is written unless all of it is valid.
pub async fn replace_year(db: &Db, actor: &Actor, year: i32, ranges: &[HolidayRange]) -> Result<(), AppError> {
    use chrono::Datelike;
    let mut errors = FieldErrors::default();
    if !(2000..=2100).contains(&year) {
        errors.add("year", "holiday.bad_year");
        return Err(AppError::Invalid(errors));
    }
    for r in ranges {
        if r.start.year() != year {
            errors.add("ranges", "holiday.wrong_year");
            return Err(AppError::Invalid(errors));
        }
    }
    let mut all: Vec<HolidayRange> =
        holiday_rows(db).await?.iter().filter(|r| r.start_on.year() != year).map(to_range).collect();
    all.extend(ranges.iter().cloned());
    if let Err(problems) = super::calendar::validate_ranges(&all) {
        for p in problems {
            errors.add("ranges", p.code);
        }
        return Err(AppError::Invalid(errors));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let (lo, hi) = (
        chrono::NaiveDate::from_ymd_opt(year, 1, 1).expect("valid"),
        chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("valid"),
    );
    write!(&mut tx, |c| sqlx::query("DELETE FROM holiday_ranges WHERE start_on >= $1 AND start_on < $2")
        .bind(lo)
        .bind(hi)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    for r in ranges {
        insert_range(&mut tx, r, now, actor.id).await?;
    }
    restamp_calendar(&mut tx).await?;
    crate::audit::record(
        &mut tx,
        actor,
        crate::audit::Entry {
            action: "holiday.replace_year",
            entity: "holiday",
            entity_id: Some(year.to_string()),
            detail: serde_json::json!({ "ranges": ranges.len() }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---- who is looking ---------------------------------------------------------------------------

/// A caller as the request queues see them: a place scope, or (department handlers) their
/// department.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: Uuid,
    pub role: Role,
    pub scope: Scope,
    pub org: Option<Uuid>,
}

pub async fn viewer(db: &Db, caller: &Caller) -> Result<Viewer, sqlx::Error> {
    let org = if caller.role == Role::DepartmentHandler {
        let mut args = Args::new();
        let sql = format!("SELECT organisation_id FROM users WHERE id = {}", args.push(caller.user_id));
        query::optional::<(Option<Uuid>,)>(db, &sql, &args).await?.and_then(|r| r.0)
    } else {
        None
    };
    Ok(Viewer { user_id: caller.user_id, role: caller.role, scope: caller.scope.clone(), org })
}

impl Viewer {
    /// SQL that is true when the viewer may see request `r`.
    pub(super) fn sees(&self, args: &mut Args) -> String {
        self.area(args).predicate("", false)
    }

    /// The ways a request comes into the viewer's sight: a department through its parts; a
    /// place through where the request is, who holds it, or a part dispatched there.
    fn area(&self, args: &mut Args) -> AreaSql {
        if self.role == Role::DepartmentHandler {
            return AreaSql::Org(args.push(self.org.unwrap_or(Uuid::nil())));
        }
        AreaSql::Places {
            located: args.scope("r.path", &self.scope),
            held: args.scope("r.owner_path", &self.scope),
            // Unqualified: it names the column of whichever request_parts it is tested on (the
            // requests table has no such column), so one set of placeholders serves each use.
            parts: args.scope("unit_path", &self.scope),
            guard_parts: !self.scope.is_district_wide(),
        }
    }

    /// The overdue queue's scope: requests located in or held by the viewer's area, or with a
    /// part a unit there has still to handle (dispatched or signed). Unlike [`Viewer::sees`], a
    /// part that is finished, returned or withdrawn no longer puts an overdue request on the
    /// unit's list. For a street or a community the parts are read once as a set (a few
    /// hundred active parts) instead of probing the parts of every overdue request; a
    /// district's scope already holds nearly every request by place, so there the set — all
    /// active parts, 5 ms at a million requests — would be built for nothing, and the parts of
    /// the rare request outside are probed one by one instead. Both forms select the same rows.
    fn owes(&self, args: &mut Args) -> String {
        const ACTIVE: &str = "vp.status IN ('dispatched', 'signed')";
        if self.role == Role::DepartmentHandler {
            let org = args.push(self.org.unwrap_or(Uuid::nil()));
            return format!(
                "r.id IN (SELECT vp.request_id FROM request_parts vp WHERE vp.unit_kind = 'org' AND vp.unit_id = {org} AND {ACTIVE})"
            );
        }
        let a = args.scope("r.path", &self.scope);
        let b = args.scope("r.owner_path", &self.scope);
        let c = args.scope("vp.unit_path", &self.scope);
        let owed = format!("vp.unit_kind = 'place' AND {c} AND {ACTIVE}");
        let parts = if self.scope.is_district_wide() {
            format!("EXISTS (SELECT 1 FROM request_parts vp WHERE vp.request_id = r.id AND {owed})")
        } else {
            format!("r.id IN (SELECT vp.request_id FROM request_parts vp WHERE {owed})")
        };
        format!("({a} OR {b} OR {parts})")
    }

    /// May act for the unit of this part (sign, note, return, resolve, ask for more time).
    pub fn handles(&self, part: &Part) -> bool {
        match part.unit_kind.as_str() {
            "org" => self.role == Role::DepartmentHandler && self.org == Some(part.unit_id),
            _ => {
                matches!(self.role, Role::StationManager | Role::SocialWorker | Role::CommunityStaff | Role::GridWorker)
                    && self.scope.covers(&part.unit_path)
            }
        }
    }

    /// May dispatch, re-route, call back and decide extensions: a dispatcher whose scope covers
    /// the unit holding the request (首接负责) or the request's place.
    pub fn dispatches(&self, r: &Request) -> bool {
        matches!(self.role, Role::BureauAdmin | Role::StationManager | Role::CommunityStaff)
            && (self.scope.covers(&r.owner_path) || self.scope.covers(&r.path))
    }

    /// May escalate (督办): the street or the bureau.
    pub fn escalates(&self, r: &Request) -> bool {
        matches!(self.role, Role::BureauAdmin | Role::StationManager) && self.scope.covers(&r.path)
    }
}

// ---- intake -----------------------------------------------------------------------------------

pub struct Created {
    /// The request as written, as [`get`] would read it back.
    pub request: Request,
    /// The secret of the resident's tracking link; only its hash is stored.
    pub tracking_code: String,
}

/// [`Viewer::area`]: the scope tests, placeholders already bound.
enum AreaSql {
    Org(String),
    Places {
        located: String,
        held: String,
        parts: String,
        /// The area page asks once whether any part lies in the area before probing each
        /// request's parts ([`AreaSql::page_predicate`]).
        guard_parts: bool,
    },
}

impl AreaSql {
    /// As [`AreaSql::predicate`], for a page read in order through many requests. PostgreSQL
    /// turns an EXISTS under OR into a hash of every part the area ever had, built before the
    /// first row: a community's 37,000 parts read from the heap, 107 ms a page at a million
    /// requests (its street's 1 ms). `OFFSET 0` keeps the subquery as written, a probe of the
    /// request's own parts (2 ms; 12 ms for a grid, which holds few requests). SQLite probes
    /// anyway.
    ///
    /// Below the district the probe is guarded by whether any part lies in the area at all, a
    /// question that does not depend on the request and that the database answers once per
    /// page. The page reads requests newest first and probes the parts of each one that lies
    /// and is held elsewhere: a grid, which work is rarely dispatched to, probed thousands for
    /// its 50 rows (4.8 ms on SQLite at a million requests; 0.6 ms guarded). District-wide,
    /// every row lies in the area and no probe runs, while the question would read past every
    /// department's part before the first place's (85 ms).
    fn page_predicate(&self, backend: Backend) -> String {
        let probe = match backend {
            Backend::Sqlite => "",
            Backend::Postgres => " OFFSET 0",
        };
        self.predicate(probe, matches!(self, AreaSql::Places { guard_parts: true, .. }))
    }

    /// True when request `r` is in the area; `probe` ends the parts subquery, `guard` puts the
    /// question of any part in the area before it.
    fn predicate(&self, probe: &str, guard: bool) -> String {
        match self {
            AreaSql::Org(org) => format!(
                "EXISTS (SELECT 1 FROM request_parts vp WHERE vp.request_id = r.id AND vp.unit_kind = 'org' AND vp.unit_id = {org}{probe})"
            ),
            AreaSql::Places { located, held, parts, .. } => {
                let guard = if guard {
                    format!("EXISTS (SELECT 1 FROM request_parts ap WHERE ap.unit_kind = 'place' AND {parts}) AND ")
                } else {
                    String::new()
                };
                format!(
                    "({located} OR {held} OR {guard}EXISTS (SELECT 1 FROM request_parts vp WHERE vp.request_id = r.id AND vp.unit_kind = 'place' AND {parts}{probe}))"
                )
            }
        }
    }

    /// Counts the requests of the area kept to `filters` (SQL over `r`, may be empty) up to
    /// `cap + 1` ([`query::capped_count`]) as a union of index ranges, each yielding `key` of
    /// `r`. Counting with [`AreaSql::predicate`] tests request after request until the cap:
    /// cheap where the area holds most requests, but a grid's count went through the whole
    /// table, probing the parts of every request outside (176 ms at a million requests; 1.7 ms
    /// as a union).
    fn count(&self, key: &str, filters: &str, cap: i64) -> String {
        let and = if filters.is_empty() { String::new() } else { format!(" AND {filters}") };
        let by_parts = "FROM request_parts vp JOIN requests r ON r.id = vp.request_id WHERE";
        match self {
            AreaSql::Org(org) => query::capped_count(
                &format!("SELECT DISTINCT {key} {by_parts} vp.unit_kind = 'org' AND vp.unit_id = {org}{and}"),
                cap,
            ),
            AreaSql::Places { located, held, parts, .. } => {
                // Each way capped on its own (a union reads its parts whole before the outer
                // LIMIT applies), which keeps the count exact up to the cap. Requests located
                // in the area usually reach the cap alone and are counted first, from the path
                // index; the union runs only when they do not.
                let n = cap + 1;
                let located = format!("SELECT {key} AS k FROM requests r WHERE {located}{and} LIMIT {n}");
                let ways = [
                    located.clone(),
                    format!("SELECT {key} AS k FROM requests r WHERE {held}{and} LIMIT {n}"),
                    format!("SELECT {key} AS k {by_parts} vp.unit_kind = 'place' AND {parts}{and} LIMIT {n}"),
                ]
                .map(|w| format!("SELECT k FROM ({w}) w"))
                .join(" UNION ");
                format!(
                    "SELECT CASE WHEN (SELECT COUNT(*) FROM ({located}) l) >= {n} THEN {n} \
                     ELSE (SELECT COUNT(*) FROM ({ways} LIMIT {n}) u) END"
                )
            }
        }
    }
}

pub fn tracking_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().as_bytes()))
}

fn new_tracking_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// Where a request lies and who holds it until dispatch.
struct Location {
    place_id: Uuid,
    path: String,
    place_name: String,
    estate_id: Option<Uuid>,
    address: String,
    /// No place was given: `path` is the top of the tree (or of the caller's scope), and no
    /// street office lies above it.
    unplaced: bool,
}

/// Resolves the place of an intake: a community or grid (inside `scope` for staff), an estate
/// (its community), or — when the caller gives only an address or coordinates — the top of the
/// tree, for the dispatcher to route.
/// The grid or community a reported point falls in (`org::geo`), when the caller named neither
/// a place nor an estate; a point outside the jurisdiction is refused. A point in a place
/// outside a staff caller's scope leaves the request with the caller's own unit, as before.
async fn point_place(
    db: &Db,
    scope: Option<&Scope>,
    clean: &CleanIntake,
    errors: &mut FieldErrors,
) -> Result<Option<Uuid>, sqlx::Error> {
    let Some(point) = clean.coords else { return Ok(None) };
    Ok(match crate::org::store::locate_point(db, point).await? {
        crate::org::geo::Located::Outside => {
            errors.add("lat", "request.outside_jurisdiction");
            None
        }
        crate::org::geo::Located::In { id, path, .. }
            if clean.place_id.is_none() && clean.estate_id.is_none() && scope.is_none_or(|s| s.covers(&path)) =>
        {
            Some(id)
        }
        _ => None,
    })
}

async fn locate(
    db: &Db,
    scope: Option<&Scope>,
    clean: &CleanIntake,
    errors: &mut FieldErrors,
) -> Result<Option<Location>, sqlx::Error> {
    let from_point = point_place(db, scope, clean, errors).await?;
    if !errors.is_empty() {
        return Ok(None);
    }
    let (place, estate_name) =
        crate::org::store::resolve_location(db, scope, clean.estate_id, clean.place_id.or(from_point), errors).await?;
    if !errors.is_empty() {
        return Ok(None);
    }
    let unplaced = place.is_none();
    let (place_id, path, place_name) = match place {
        Some(p) => p,
        None => {
            let mut args = Args::new();
            let mut sql = "SELECT id, path, name FROM places WHERE active".to_string();
            if let Some(s) = scope {
                sql.push_str(&format!(" AND {}", args.scope("path", s)));
            }
            // Unplaced requests land at the district's desk (the hotline), or the caller's top unit.
            sql.push_str(" ORDER BY CASE WHEN kind = 'district' THEN 0 ELSE 1 END, depth, path LIMIT 1");
            match query::optional::<(Uuid, String, String)>(db, &sql, &args).await? {
                Some(p) => p,
                None => {
                    errors.add("place_id", "error.required");
                    return Ok(None);
                }
            }
        }
    };
    let mut address = String::new();
    for part in
        [Some(place_name.clone()), estate_name, clean.building.clone(), clean.address.clone()].into_iter().flatten()
    {
        if !address.is_empty() {
            address.push(' ');
        }
        address.push_str(&part);
    }
    Ok(Some(Location { place_id, path, place_name, estate_id: clean.estate_id, address, unplaced }))
}

/// The street above a path (whose office holds a request nobody dispatched yet), else the path.
async fn street_of(db: &Db, path: &str) -> Result<String, sqlx::Error> {
    let mut args = Args::new();
    let p = args.push(path);
    let sql = format!("SELECT path FROM places WHERE kind = 'street' AND path = substr({p}, 1, length(path))");
    Ok(query::optional::<(String,)>(db, &sql, &args).await?.map(|r| r.0).unwrap_or_else(|| path.to_string()))
}

/// The person a staff intake links to, if one was chosen: `Some(None)` when that person is not
/// in the caller's scope (or no longer exists).
async fn linked_person(
    db: &Db,
    person: Option<Uuid>,
    scope: Option<&Scope>,
) -> Result<Option<Option<Uuid>>, sqlx::Error> {
    let (Some(pid), Some(scope)) = (person, scope) else { return Ok(None) };
    let mut args = Args::new();
    let sql = format!(
        "SELECT p.id FROM persons p WHERE p.id = {} AND p.merged_into IS NULL AND {}",
        args.push(pid),
        crate::people::store::visible(db.backend(), "p", scope, &mut args)
    );
    Ok(Some(query::optional::<(Uuid,)>(db, &sql, &args).await?.map(|r| r.0)))
}

pub struct Intake<'a> {
    pub channel: Channel,
    pub actor: &'a Actor,
    /// Staff intake: the caller's scope bounds the place, and their unit holds the request (首接负责).
    pub staff_scope: Option<&'a Scope>,
    pub client_id: Option<Uuid>,
    /// Open311 attributes answered, a JSON object.
    pub attributes: serde_json::Value,
    /// Photos sent with the report, already checked and staged.
    pub photos: &'a [crate::files::Staged],
    /// A post limit counted in the request's own transaction (public page, Open311 apps).
    pub limit: Option<&'a crate::ratelimit::Limit>,
    /// The category, when the caller has already read it for intake (its code is the form's).
    pub category: Option<&'a IntakeCategory>,
}

pub async fn create(db: &Db, keys: &Keyring, intake: &Intake<'_>, clean: &CleanIntake) -> Result<Created, AppError> {
    // The reads are independent: on separate connections at once, a call waits for one
    // round trip instead of three. The calendar comes from this process's copy when the stamp
    // read with the category matches it.
    let mut place_errors = FieldErrors::default();
    let known = intake.category.filter(|c| c.category.code == clean.category);
    let (cat, loc, person) = tokio::try_join!(
        async {
            match known {
                Some(c) => Ok(Some(c.clone())),
                None => intake_category(db, &clean.category).await,
            }
        },
        locate(db, intake.staff_scope, clean, &mut place_errors),
        linked_person(db, clean.person_id, intake.staff_scope),
    )?;
    let (cat, stamp) = match cat {
        Some(c) if c.category.active => (Some(c.category), c.calendar_stamp),
        _ => (None, None),
    };
    let mut errors = FieldErrors::default();
    if cat.is_none() {
        errors.add("category", "request.unknown_category");
    }
    errors.0.append(&mut place_errors.0);
    if person == Some(None) {
        errors.add("person_id", "error.bad_choice");
    }
    errors.into_result()?;
    let person = person.flatten();
    let (cat, loc) = (cat.expect("checked"), loc.expect("checked"));
    let owner_path = match intake.staff_scope.and_then(|s| s.roots.first()) {
        Some(root) => root.clone(),
        None if loc.unplaced => loc.path.clone(),
        None => street_of(db, &loc.path).await?,
    };
    let cal = calendar_at(db, stamp).await?;
    // To the microsecond, as PostgreSQL keeps it: the request returned is the one stored.
    let now = Utc::now().trunc_subsecs(6);
    let office = OfficeHours::default();
    let response_due = cal.add_working_hours(now, u32::try_from(cat.response_hours).unwrap_or(u32::MAX), office);
    let resolve_due = cal.add_working_days(now, u32::try_from(cat.resolve_days).unwrap_or(u32::MAX), office);
    let code = new_tracking_code();
    let phone = clean.phone.as_ref();
    let year = i64::from(chrono::Datelike::year(&now.with_timezone(&chrono_tz::Asia::Shanghai)));
    let row = NewRequest {
        id: Uuid::now_v7(),
        year,
        number: number_ahead(db, year).await?,
        limit: intake.limit.cloned(),
        category_name: cat.name.clone(),
        category: cat.code,
        channel: intake.channel,
        description: clean.description.clone(),
        place_id: loc.place_id,
        path: loc.path,
        estate_id: loc.estate_id,
        building: clean.building.clone(),
        address: loc.address,
        coords: clean.coords,
        reporter_name: clean.reporter_name.clone(),
        phone_sealed: phone.map(|p| keys.seal(p.as_str().as_bytes())),
        phone_hash: phone.map(|p| keys.blind("phone", p.as_str())),
        phone_masked: phone.map(|p| p.masked()),
        person,
        attributes: intake.attributes.to_string(),
        owner_path,
        response_due,
        resolve_due,
        tracking_hash: tracking_hash(&code),
        client_id: intake.client_id,
        published: super::publication::published_on_intake(intake.channel, person),
        now,
        actor: intake.actor.clone(),
        photos: intake.photos.to_vec(),
    };
    let mut request = row.as_read(cat.name, loc.place_name);
    // Intake is the write that arrives in crowds (a burst of calls, a busy 311 app): on
    // SQLite, requests accepted together share one commit.
    request.number = db.write_grouped(row, |row, tx| Box::pin(row.write(tx))).await?;
    Ok(Created { request, tracking_code: code })
}

/// Takes the year's next number from its counter row and returns the new count.
const NEXT_NUMBER: &str = "INSERT INTO request_counters (year, last) VALUES ($1, 1)
    ON CONFLICT (year) DO UPDATE SET last = request_counters.last + 1 RETURNING last";

/// The request row and its "accepted" event; `{number}` is `$2` where the number was taken
/// ahead, or the expression that reads it from the year's counter. `$26` is the event's id,
/// `$27` the actor's name, `$28` the numbering year, `$29` whether it is published.
const INSERT_REQUEST: &str = "INSERT INTO requests (id, number, category, channel, description, place_id, path, estate_id, building,
        address, lat, lon, reporter_name, phone_sealed, phone_hash, phone_masked, person_id, attributes, status, owner_path,
        response_due, resolve_due, tracking_hash, client_id, created_at, created_by, updated_at, updated_by, published)
    VALUES ($1, {number}, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 'accepted', $19, $20, $21,
        $22, $23, $24, $25, $24, $25, $29)
    RETURNING number";
const INSERT_ACCEPTED: &str =
    "INSERT INTO request_events (id, request_id, part_id, kind, from_status, to_status, note, detail,
        public, at, actor_id, actor_name)
    VALUES ($26, $1, NULL, 'accepted', NULL, 'accepted', $4, '{}', TRUE, $24, $25, $27)";

/// Intake's write as one round trip to the database. SQLite runs a string of statements in
/// one call to its connection's thread, so the counter, the request and its event go
/// together, the number read back from the counter row; each call to that thread costs
/// about as much as the insert itself. PostgreSQL has the number already and takes the
/// event in a data-modifying CTE.
static INTAKE_SQLITE: LazyLock<String> = LazyLock::new(|| {
    let number = "(SELECT printf('%d-%06d', year, last) FROM request_counters WHERE year = $28)";
    format!(
        "INSERT INTO request_counters (year, last) VALUES ($28, 1)
             ON CONFLICT (year) DO UPDATE SET last = request_counters.last + 1;
         {};
         {INSERT_ACCEPTED}",
        INSERT_REQUEST.replace("{number}", number)
    )
});
static INTAKE_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!("WITH r AS ({}), e AS ({INSERT_ACCEPTED}) SELECT number FROM r", INSERT_REQUEST.replace("{number}", "$2"))
});

fn request_number(year: i64, seq: i64) -> String {
    format!("{year}-{seq:06}")
}

/// On PostgreSQL the number is taken in a statement of its own before the request's
/// transaction. Inside it, the counter row's lock was held from the number to the commit, so
/// concurrent intakes ran one after the other however many connections served them; alone,
/// the lock lasts one short commit. The price is a gap in the year's numbers when the
/// request's transaction then fails, which validation ahead of it makes rare. On SQLite
/// writes are serialised anyway, and the number is taken inside the (grouped) transaction.
async fn number_ahead(db: &Db, year: i64) -> Result<Option<String>, sqlx::Error> {
    match db {
        Db::Postgres(pool, _) => {
            let (seq,): (i64,) = sqlx::query_as(NEXT_NUMBER).bind(year).fetch_one(pool).await?;
            Ok(Some(request_number(year, seq)))
        }
        Db::Sqlite { .. } => Ok(None),
    }
}

/// A request as intake writes it, checked and with its clocks set: everything
/// [`NewRequest::write`] needs, owned, because on SQLite the write may run in a batch.
struct NewRequest {
    id: Uuid,
    /// The numbering year (Beijing time).
    year: i64,
    /// The number, when it was taken ahead of the transaction ([`number_ahead`]).
    number: Option<String>,
    limit: Option<crate::ratelimit::Limit>,
    category: String,
    /// The category's name, indexed with the text.
    category_name: String,
    channel: Channel,
    description: String,
    place_id: Uuid,
    path: String,
    estate_id: Option<Uuid>,
    building: Option<String>,
    address: String,
    coords: Option<(f64, f64)>,
    reporter_name: Option<String>,
    phone_sealed: Option<String>,
    phone_hash: Option<String>,
    phone_masked: Option<String>,
    person: Option<Uuid>,
    attributes: String,
    owner_path: String,
    response_due: DateTime<Utc>,
    resolve_due: DateTime<Utc>,
    tracking_hash: String,
    client_id: Option<Uuid>,
    published: bool,
    now: DateTime<Utc>,
    actor: Actor,
    photos: Vec<crate::files::Staged>,
}

impl NewRequest {
    /// The request as it reads once written, but for its number (taken in the write).
    fn as_read(&self, category_name: String, place_name: String) -> Request {
        Request {
            id: self.id,
            number: self.number.clone().unwrap_or_default(),
            category: self.category.clone(),
            category_name,
            channel: self.channel.as_str().to_string(),
            description: self.description.clone(),
            place_id: self.place_id,
            place_name,
            path: self.path.clone(),
            estate_id: self.estate_id,
            building: self.building.clone(),
            address: self.address.clone(),
            lat: self.coords.map(|c| c.0),
            lon: self.coords.map(|c| c.1),
            reporter_name: self.reporter_name.clone(),
            phone_masked: self.phone_masked.clone(),
            person_id: self.person,
            attributes: self.attributes.clone(),
            status: Status::Accepted.as_str().to_string(),
            owner_path: self.owner_path.clone(),
            response_due: self.response_due,
            resolve_due: self.resolve_due,
            responded_at: None,
            resolved_at: None,
            closed_at: None,
            escalation: 0,
            satisfaction: None,
            merged_into: None,
            version: 1,
            created_at: self.now,
            updated_at: self.now,
            published: self.published,
            public_text: None,
            public_address: None,
        }
    }

    /// Counts the post against its limit, numbers the request, and writes it with its first
    /// event and photos; returns its number.
    async fn write(&self, tx: &mut Tx) -> Result<String, AppError> {
        if let Some(limit) = &self.limit
            && !limit.hit_in(tx).await?
        {
            return Err(AppError::TooMany);
        }
        let sql: &str = match tx {
            Tx::Sqlite(_) => &INTAKE_SQLITE,
            Tx::Postgres(_) => &INTAKE_POSTGRES,
        };
        let numbers: Vec<(String,)> = write!(tx, |c| {
            sqlx::query_as(sql)
                .bind(self.id)
                .bind(self.number.as_deref().unwrap_or_default())
                .bind(&self.category)
                .bind(self.channel.as_str())
                .bind(&self.description)
                .bind(self.place_id)
                .bind(&self.path)
                .bind(self.estate_id)
                .bind(&self.building)
                .bind(&self.address)
                .bind(self.coords.map(|c| c.0))
                .bind(self.coords.map(|c| c.1))
                .bind(&self.reporter_name)
                .bind(&self.phone_sealed)
                .bind(&self.phone_hash)
                .bind(&self.phone_masked)
                .bind(self.person)
                .bind(&self.attributes)
                .bind(&self.owner_path)
                .bind(self.response_due)
                .bind(self.resolve_due)
                .bind(&self.tracking_hash)
                .bind(self.client_id)
                .bind(self.now)
                .bind(self.actor.id)
                .bind(Uuid::now_v7())
                .bind(&self.actor.name)
                .bind(self.year)
                .bind(self.published)
                .fetch_all(c)
                .await
        })?;
        let number = numbers.into_iter().next().ok_or(sqlx::Error::RowNotFound)?.0;
        let owner = crate::files::Owner::Request(self.id);
        crate::files::record(tx, owner, "intake", &self.photos, &self.actor, self.now).await?;
        crate::search::index_request(tx, self.id, &self.path, &self.description, &self.address, &self.category_name)
            .await?;
        Ok(number)
    }
}

// ---- reading ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Request {
    pub id: Uuid,
    pub number: String,
    pub category: String,
    pub category_name: String,
    pub channel: String,
    pub description: String,
    pub place_id: Uuid,
    pub place_name: String,
    pub path: String,
    pub estate_id: Option<Uuid>,
    pub building: Option<String>,
    pub address: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub reporter_name: Option<String>,
    pub phone_masked: Option<String>,
    pub person_id: Option<Uuid>,
    pub attributes: String,
    pub status: String,
    pub owner_path: String,
    pub response_due: DateTime<Utc>,
    pub resolve_due: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub escalation: i64,
    pub satisfaction: Option<String>,
    pub merged_into: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Shown on Open311 and the public feed (see [`super::publication`]).
    pub published: bool,
    /// The public wording as staff wrote it; None while it is derived from the description.
    pub public_text: Option<String>,
    /// The public address as staff wrote it; None while it is derived from the address.
    pub public_address: Option<String>,
}

impl Request {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Accepted)
    }
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status().is_open() && self.resolve_due < now
    }
}

pub(super) const REQUEST_COLS: &str = "r.id, r.number, r.category, c.name AS category_name, r.channel, r.description, r.place_id, pl.name AS place_name,
    r.path, r.estate_id, r.building, r.address, r.lat, r.lon, r.reporter_name, r.phone_masked, r.person_id, r.attributes, r.status,
    r.owner_path, r.response_due, r.resolve_due, r.responded_at, r.resolved_at, r.closed_at, r.escalation, r.satisfaction,
    r.merged_into, r.version, r.created_at, r.updated_at, r.published, r.public_text, r.public_address";
macro_rules! request_joins {
    () => {
        "JOIN request_categories c ON c.code = r.category JOIN places pl ON pl.id = r.place_id"
    };
}
pub(super) const REQUEST_FROM: &str = concat!("FROM requests r ", request_joins!());

/// `requests r` for the open requests past due (the overdue queue, the sweep). SQLite, which
/// has no statistics here, otherwise takes the (status, created_at) index for the `status IN
/// (…)` and sorts every open request; at a million requests that was 90–240 ms a page. Naming
/// the partial index reads them in due order and stops at the page. PostgreSQL's statistics
/// choose it unaided.
fn open_due_requests(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Sqlite => "requests r INDEXED BY requests_open_due",
        Backend::Postgres => "requests r",
    }
}

pub async fn get(db: &Db, viewer: &Viewer, id: Uuid) -> Result<Option<Request>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.id = {} AND {}", args.push(id), viewer.sees(&mut args));
    query::optional(db, &sql, &args).await
}

pub async fn by_tracking_code(db: &Db, code: &str) -> Result<Option<Request>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.tracking_hash = {}", args.push(tracking_hash(code)));
    query::optional(db, &sql, &args).await
}

pub async fn by_number(db: &Db, number: &str) -> Result<Option<Request>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.number = {}", args.push(number.trim()));
    query::optional(db, &sql, &args).await
}

crate::code_enum!(
    /// The queues of the request screens: 待派单, my unit's work, everything in my area,
    /// overdue, awaiting callback.
    Queue, "request_queue", [
    Dispatch = "dispatch",
    Mine = "mine",
    Area = "area",
    Overdue = "overdue",
    Callback = "callback",
]);

#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub category: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub ids: Option<Vec<Uuid>>,
    /// Requests linked to this person (the person timeline).
    pub person: Option<Uuid>,
    /// Not yet closed (nor merged).
    pub open: bool,
    /// With coordinates (the map).
    pub located: bool,
    /// Words in the text (description, address, category), as `search::text_matches` reads them.
    pub text: Option<String>,
}

/// Queue totals are counted up to this many; a larger total reads as "more than".
pub const LIST_COUNT_CAP: i64 = 2000;

/// One page of a queue, newest first (overdue: soonest due first), and the total (at most
/// [`LIST_COUNT_CAP`] + 1: an exact count of a district's million requests would read them all).
pub async fn list(
    db: &Db,
    viewer: &Viewer,
    queue: Queue,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Request>, i64), sqlx::Error> {
    let mut args = Args::new();
    let mut wh: Vec<String> = Vec::new();
    let mut order = "r.created_at DESC, r.id DESC";
    let mut from = "requests r";
    let mut area = None;
    match queue {
        Queue::Dispatch => {
            wh.push("r.status = 'accepted'".into());
            wh.push(args.scope("r.owner_path", &viewer.scope));
        }
        Queue::Mine => {
            let unit = if viewer.role == Role::DepartmentHandler {
                format!("mp.unit_kind = 'org' AND mp.unit_id = {}", args.push(viewer.org.unwrap_or(Uuid::nil())))
            } else {
                format!("mp.unit_kind = 'place' AND {}", args.scope("mp.unit_path", &viewer.scope))
            };
            wh.push(format!(
                "r.id IN (SELECT mp.request_id FROM request_parts mp WHERE {unit} AND mp.status IN ('dispatched', 'signed'))"
            ));
            order = "r.resolve_due, r.id";
        }
        Queue::Area => {
            let a = viewer.area(&mut args);
            wh.push(a.page_predicate(db.backend()));
            area = Some(a);
        }
        Queue::Overdue => {
            wh.push("r.status IN ('accepted', 'dispatched', 'in_progress')".into());
            wh.push(format!("r.resolve_due < {}", args.push(Utc::now())));
            wh.push(viewer.owes(&mut args));
            order = "r.resolve_due, r.id";
            from = open_due_requests(db);
        }
        Queue::Callback => {
            wh.push("r.status = 'resolved'".into());
            let a = args.scope("r.path", &viewer.scope);
            let b = args.scope("r.owner_path", &viewer.scope);
            wh.push(format!("({a} OR {b})"));
            order = "r.resolved_at, r.id";
        }
    }
    if let Some(s) = filter.status {
        wh.push(format!("r.status = {}", args.push(s.as_str())));
    }
    if let Some(c) = &filter.category {
        wh.push(format!("r.category = {}", args.push(c.as_str())));
    }
    if let Some(t) = filter.since {
        wh.push(format!("r.created_at >= {}", args.push(t)));
    }
    if let Some(t) = filter.until {
        wh.push(format!("r.created_at <= {}", args.push(t)));
    }
    if let Some(p) = filter.person {
        wh.push(format!("r.person_id = {}", args.push(p)));
    }
    if filter.open {
        wh.push("r.status IN ('accepted', 'dispatched', 'in_progress', 'resolved')".into());
    }
    if filter.located {
        wh.push("r.lat IS NOT NULL AND r.lon IS NOT NULL".into());
    }
    if let Some(ids) = &filter.ids {
        if ids.is_empty() {
            return Ok((Vec::new(), 0));
        }
        wh.push(format!("r.id IN ({})", args.list(ids)));
    }
    if let Some(q) = filter.text.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        match crate::search::text_matches("request", q, &mut args) {
            Some(ids) => wh.push(format!("r.id IN ({ids})")),
            None => return Ok((Vec::new(), 0)),
        }
    }
    let where_ = wh.join(" AND ");
    let counted = match &area {
        // The area's own test is wh[0]; the rest are the filters.
        Some(a) => {
            let key = match db.backend() {
                Backend::Sqlite => "r.rowid",
                Backend::Postgres => "r.id",
            };
            a.count(key, &wh[1..].join(" AND "), LIST_COUNT_CAP)
        }
        None => query::capped_count(&format!("SELECT 1 FROM {from} WHERE {where_}"), LIST_COUNT_CAP),
    };
    query::page_counted(
        db,
        &format!("SELECT {REQUEST_COLS} FROM {from} {} WHERE {where_} ORDER BY {order}", request_joins!()),
        &counted,
        &args,
        limit,
        offset,
    )
    .await
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Part {
    pub id: Uuid,
    pub request_id: Uuid,
    pub unit_kind: String,
    pub unit_id: Uuid,
    pub unit_name: String,
    pub unit_path: String,
    pub status: String,
    pub due: DateTime<Utc>,
    pub signed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub version: i64,
}

impl Part {
    pub fn status(&self) -> PartStatus {
        PartStatus::parse(&self.status).unwrap_or(PartStatus::Withdrawn)
    }
}

const PART_COLS: &str = "id, request_id, unit_kind, unit_id, unit_name, unit_path, status, due, signed_at, resolved_at, resolution, version";

pub async fn parts(db: &Db, request: Uuid) -> Result<Vec<Part>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {PART_COLS} FROM request_parts WHERE request_id = {} ORDER BY created_at", args.push(request));
    query::all(db, &sql, &args).await
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Event {
    pub id: Uuid,
    pub part_id: Option<Uuid>,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub note: Option<String>,
    pub detail: String,
    pub public: bool,
    /// The note is shown with the event where the public reads it.
    pub note_public: bool,
    pub at: DateTime<Utc>,
    pub actor_name: String,
    /// The staff account that acted (none for residents and the system); screens show its
    /// holder's name.
    /// Absent from reads that do not select it (the public's, which name no staff).
    #[serde(skip)]
    #[sqlx(default)]
    pub actor_id: Option<Uuid>,
}

impl Event {
    /// The note as the public may read it: only a note meant for the public, redacted.
    pub fn public_note(&self, names: &[&str]) -> Option<String> {
        // The accepted step's note is the channel's code, never a note.
        self.note
            .as_deref()
            .filter(|_| self.public && self.note_public && self.kind != "accepted")
            .map(|n| crate::redact::text(n, names))
    }
}

/// The timeline, oldest first; `public_only` for the resident and Open311.
pub async fn events(db: &Db, request: Uuid, public_only: bool) -> Result<Vec<Event>, sqlx::Error> {
    let mut args = Args::new();
    let public = if public_only { " AND public" } else { "" };
    let sql = format!(
        "SELECT id, part_id, kind, from_status, to_status, note, detail, public, note_public, at, actor_name, actor_id FROM request_events
         WHERE request_id = {}{public} ORDER BY at, id",
        args.push(request)
    );
    query::all(db, &sql, &args).await
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Extension {
    pub id: Uuid,
    pub part_id: Uuid,
    pub days: i64,
    pub reason: String,
    pub status: String,
    pub requested_at: DateTime<Utc>,
}

pub async fn pending_extensions(db: &Db, request: Uuid) -> Result<Vec<Extension>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT id, part_id, days, reason, status, requested_at FROM request_extensions WHERE request_id = {} AND status = 'pending'
         ORDER BY requested_at",
        args.push(request)
    );
    query::all(db, &sql, &args).await
}

/// Open requests of the same category at the same estate and building within `days`: offered
/// for merging at dispatch.
pub async fn duplicates(db: &Db, viewer: &Viewer, r: &Request, days: i64) -> Result<Vec<Request>, sqlx::Error> {
    let Some(estate) = r.estate_id else { return Ok(Vec::new()) };
    let mut args = Args::new();
    let mut sql = format!(
        "SELECT {REQUEST_COLS} {REQUEST_FROM} WHERE r.estate_id = {} AND r.category = {} AND r.created_at >= {} AND r.id <> {}
         AND r.status IN ('accepted', 'dispatched', 'in_progress')",
        args.push(estate),
        args.push(r.category.as_str()),
        args.push(r.created_at - Duration::days(days)),
        args.push(r.id),
    );
    if let Some(b) = &r.building {
        sql.push_str(&format!(" AND r.building = {}", args.push(b.as_str())));
    }
    sql.push_str(&format!(" AND {} ORDER BY r.created_at LIMIT 10", viewer.sees(&mut args)));
    query::all(db, &sql, &args).await
}

// ---- units --------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unit {
    pub kind: String,
    pub id: Uuid,
    pub name: String,
    pub path: String,
}

impl Unit {
    /// `place:<uuid>` / `org:<uuid>`, as forms send it.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }
}

/// Units a dispatcher can send work to: communities and streets (stations) in their scope, and
/// the active departments serving it (placed inside the scope or above it: a city department
/// serves the district). A department of another district is not a unit here: its handlers would
/// read the request.
pub async fn units(db: &Db, scope: &Scope) -> Result<Vec<Unit>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT 'place', id, name, path FROM places WHERE active AND kind IN ('street', 'community') AND {}
         UNION ALL
         SELECT 'org', o.id, o.name, p.path FROM organisations o JOIN places p ON p.id = o.place_id WHERE o.active AND o.kind = 'department' AND {}
         ORDER BY 1 DESC, 4",
        args.scope("path", scope),
        args.scope_visible("p.path", scope)
    );
    let rows: Vec<(String, Uuid, String, String)> = query::all(db, &sql, &args).await?;
    Ok(rows.into_iter().map(|(kind, id, name, path)| Unit { kind, id, name, path }).collect())
}

pub async fn unit(db: &Db, scope: &Scope, key: &str) -> Result<Option<Unit>, sqlx::Error> {
    let Some((kind, id)) = key.split_once(':') else { return Ok(None) };
    let Ok(id) = Uuid::parse_str(id.trim()) else { return Ok(None) };
    let mut args = Args::new();
    let sql = match kind {
        "place" => format!(
            "SELECT 'place', id, name, path FROM places WHERE id = {} AND active AND kind IN ('street', 'community', 'grid') AND {}",
            args.push(id),
            args.scope("path", scope)
        ),
        "org" => format!(
            "SELECT 'org', o.id, o.name, p.path FROM organisations o JOIN places p ON p.id = o.place_id
             WHERE o.id = {} AND o.active AND o.kind = 'department' AND {}",
            args.push(id),
            args.scope_visible("p.path", scope)
        ),
        _ => return Ok(None),
    };
    let row: Option<(String, Uuid, String, String)> = query::optional(db, &sql, &args).await?;
    Ok(row.map(|(kind, id, name, path)| Unit { kind, id, name, path }))
}

/// The category's default unit for a request: its community, the station of its street, or the
/// category's department.
pub async fn default_unit(db: &Db, r: &Request) -> Result<Option<Unit>, sqlx::Error> {
    let Some(cat) = category(db, &r.category).await? else { return Ok(None) };
    let everywhere = Scope { roots: vec!["/".into()], casework: false };
    match DefaultUnit::parse(&cat.default_unit) {
        Some(DefaultUnit::Department) => match cat.default_org_id {
            Some(org) => unit(db, &everywhere, &format!("org:{org}")).await,
            None => Ok(None),
        },
        Some(DefaultUnit::Station) => {
            let street = street_of(db, &r.path).await?;
            let mut args = Args::new();
            let sql = format!("SELECT id FROM places WHERE path = {} AND kind = 'street'", args.push(street));
            match query::optional::<(Uuid,)>(db, &sql, &args).await? {
                Some((id,)) => unit(db, &everywhere, &format!("place:{id}")).await,
                None => Ok(None),
            }
        }
        _ => {
            let mut args = Args::new();
            let p = args.push(r.path.as_str());
            let sql = format!("SELECT id FROM places WHERE kind = 'community' AND path = substr({p}, 1, length(path))");
            match query::optional::<(Uuid,)>(db, &sql, &args).await? {
                Some((id,)) => unit(db, &everywhere, &format!("place:{id}")).await,
                None => Ok(None),
            }
        }
    }
}

// ---- transitions --------------------------------------------------------------------------------

struct Ev<'a> {
    request: Uuid,
    part: Option<Uuid>,
    kind: &'a str,
    from: Option<&'a str>,
    to: Option<&'a str>,
    shown: Shown,
}

/// Who reads an event: staff only, or the public too — with its note only when whoever wrote
/// the note chose so (a resident's own note was written for the public).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Staff,
    Public,
    PublicWithNote,
}

impl Shown {
    /// A public event whose note is public only if its writer chose so.
    fn public(note_public: bool) -> Shown {
        if note_public { Shown::PublicWithNote } else { Shown::Public }
    }
}

/// A note staff write with a step, and whether the resident may read it (off by default:
/// notes name residents, neighbours and staff).
#[derive(Debug, Clone, Copy, Default)]
pub struct StaffNote<'a> {
    pub text: &'a str,
    pub public: bool,
}

impl<'a> StaffNote<'a> {
    pub fn internal(text: &'a str) -> StaffNote<'a> {
        StaffNote { text, public: false }
    }
    fn text(&self) -> Option<&'a str> {
        Some(self.text.trim()).filter(|t| !t.is_empty())
    }
}

/// A staff-only event without a note (the desk's publication steps).
pub(super) async fn staff_event(
    tx: &mut Tx,
    request: Uuid,
    kind: &str,
    actor: &Actor,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let ev = Ev { request, part: None, kind, from: None, to: None, shown: Shown::Staff };
    event(tx, ev, None, actor, at).await
}

async fn event(
    tx: &mut Tx,
    ev: Ev<'_>,
    note: Option<&str>,
    actor: &Actor,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    event_with(tx, ev, note, serde_json::json!({}), actor, at).await
}

async fn event_with(
    tx: &mut Tx,
    ev: Ev<'_>,
    note: Option<&str>,
    detail: serde_json::Value,
    actor: &Actor,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO request_events (id, request_id, part_id, kind, from_status, to_status, note, detail, public, note_public,
            at, actor_id, actor_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )
    .bind(Uuid::now_v7())
    .bind(ev.request)
    .bind(ev.part)
    .bind(ev.kind)
    .bind(ev.from)
    .bind(ev.to)
    .bind(note)
    .bind(detail.to_string())
    .bind(ev.shown != Shown::Staff)
    .bind(ev.shown == Shown::PublicWithNote)
    .bind(at)
    .bind(actor.id)
    .bind(&actor.name)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The request row as a transition sees it, read inside its transaction.
#[derive(sqlx::FromRow)]
struct Row {
    status: String,
    version: i64,
    resolve_due: DateTime<Utc>,
}

async fn row(tx: &mut Tx, id: Uuid) -> Result<Row, AppError> {
    let mut args = Args::new();
    let sql = format!("SELECT status, version, resolve_due FROM requests WHERE id = {}", args.push(id));
    query::tx_optional(tx, &sql, &args).await?.ok_or(AppError::NotFound)
}

async fn tx_parts(tx: &mut Tx, request: Uuid) -> Result<Vec<Part>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {PART_COLS} FROM request_parts WHERE request_id = {} ORDER BY created_at", args.push(request));
    query::tx_all(tx, &sql, &args).await
}

/// Sets the request's status from its parts (and the times that go with it), bumping its version
/// only if the caller's version still holds. Returns the new status.
async fn settle(
    tx: &mut Tx,
    request: Uuid,
    version: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Status, Status), AppError> {
    let before = row(tx, request).await?;
    if before.version != version {
        return Err(AppError::Stale);
    }
    let parts = tx_parts(tx, request).await?;
    let after = status_from_parts(&parts.iter().map(Part::status).collect::<Vec<_>>());
    let from = Status::parse(&before.status).unwrap_or(Status::Accepted);
    let resolve_due =
        parts.iter().filter(|p| p.status().is_active()).map(|p| p.due).max().unwrap_or(before.resolve_due);
    let n = write!(tx, |c| {
        sqlx::query(
        "UPDATE requests SET status = $1, resolve_due = $2,
                resolved_at = CASE WHEN $1 = 'resolved' THEN $3 ELSE NULL END,
                responded_at = CASE WHEN $1 = 'in_progress' OR $1 = 'resolved' THEN COALESCE(responded_at, $3) ELSE responded_at END,
                version = version + 1, updated_at = $3, updated_by = $4
         WHERE id = $5 AND version = $6"
    )
    .bind(after.as_str())
    .bind(resolve_due)
    .bind(now)
    .bind(actor.id)
    .bind(request)
    .bind(version)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    Ok((from, after))
}

/// 派单: sends the request to one or more units (co-handling). The dispatcher must hold it, and
/// it must still be open. Each unit gets a part due when the request is.
pub async fn dispatch(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    id: Uuid,
    version: i64,
    units: &[Unit],
    note: StaffNote<'_>,
) -> Result<(), AppError> {
    let r = get(db, viewer, id).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    if !r.status().is_open() {
        return Err(AppError::Conflict("request.not_open"));
    }
    if r.version != version {
        return Err(AppError::Stale);
    }
    if units.is_empty() {
        return Err(AppError::field("units", "request.unit_required"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let existing = tx_parts(&mut tx, id).await?;
    let mut seen: HashSet<Uuid> = existing.iter().filter(|p| p.status().is_active()).map(|p| p.unit_id).collect();
    for u in units {
        if !seen.insert(u.id) {
            return Err(AppError::field("units", "request.unit_already_has_part"));
        }
        let part = Uuid::now_v7();
        write!(&mut tx, |c| {
            sqlx::query(
            "INSERT INTO request_parts (id, request_id, unit_kind, unit_id, unit_name, unit_path, status, due, created_at, created_by, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, 'dispatched', $7, $8, $9, $8, $9)"
        )
        .bind(part)
        .bind(id)
        .bind(&u.kind)
        .bind(u.id)
        .bind(&u.name)
        .bind(&u.path)
        .bind(r.resolve_due)
        .bind(now)
        .bind(actor.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        event_with(
            &mut tx,
            Ev {
                request: id,
                part: Some(part),
                kind: "dispatched",
                from: None,
                to: Some("dispatched"),
                shown: Shown::public(note.public),
            },
            note.text(),
            serde_json::json!({ "unit": u.name }),
            actor,
            now,
        )
        .await?;
    }
    settle(&mut tx, id, version, actor, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Loads a part the viewer handles, with its request, for a unit's transition.
async fn handled_part(db: &Db, viewer: &Viewer, part: Uuid) -> Result<(Part, Request), AppError> {
    let mut args = Args::new();
    let sql = format!("SELECT {PART_COLS} FROM request_parts WHERE id = {}", args.push(part));
    let p: Part = query::optional(db, &sql, &args).await?.ok_or(AppError::NotFound)?;
    let r = get(db, viewer, p.request_id).await?.ok_or(AppError::NotFound)?;
    if !viewer.handles(&p) {
        return Err(AppError::Forbidden);
    }
    Ok((p, r))
}

/// Moves a part from one of `from` to `to`, checking its version; then settles the request.
#[allow(clippy::too_many_arguments)]
async fn move_part(
    tx: &mut Tx,
    p: &Part,
    from: &[PartStatus],
    to: PartStatus,
    resolution: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if !from.contains(&p.status()) {
        return Err(AppError::Conflict("request.part_wrong_status"));
    }
    let n = write!(tx, |c| sqlx::query(
        "UPDATE request_parts SET status = $1,
                signed_at = CASE WHEN $1 = 'signed' THEN COALESCE(signed_at, $2) ELSE signed_at END,
                resolved_at = CASE WHEN $1 = 'resolved' THEN $2 ELSE NULL END,
                resolution = COALESCE($3, resolution),
                version = version + 1, updated_at = $2, updated_by = $4
         WHERE id = $5 AND version = $6"
    )
    .bind(to.as_str())
    .bind(now)
    .bind(resolution)
    .bind(actor.id)
    .bind(p.id)
    .bind(p.version)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    Ok(())
}

/// The unit's actions on its part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartAction {
    /// 签收
    Sign,
    /// 办理: a contact or progress note, the part stays signed.
    Note,
    /// 退单, with a reason; the dispatcher re-routes.
    Return,
    /// 办结, with resolution notes.
    Resolve,
}

/// One step on a part: what is done, its note or reason, and whether the resident sees the note.
pub struct PartStep<'a> {
    pub action: PartAction,
    pub text: &'a str,
    pub public: bool,
    /// Photos of the work (a note or the resolution), already checked and staged.
    pub photos: &'a [crate::files::Staged],
}

pub async fn act_on_part(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    part: Uuid,
    version: i64,
    step: PartStep<'_>,
) -> Result<Uuid, AppError> {
    let PartStep { action, text, public, photos } = step;
    let (p, r) = handled_part(db, viewer, part).await?;
    if p.version != version {
        return Err(AppError::Stale);
    }
    let text = text.trim();
    let mut errors = FieldErrors::default();
    match action {
        PartAction::Sign => {}
        PartAction::Note | PartAction::Resolve if text.chars().count() < 2 => errors
            .add("note", if action == PartAction::Resolve { "request.resolution_required" } else { "error.required" }),
        PartAction::Return => {
            super::model::reason(text, "note", &mut errors);
        }
        _ if text.chars().count() > 2000 => errors.add("note", "error.too_long"),
        _ => {}
    }
    errors.into_result()?;
    let now = Utc::now();
    let note = (!text.is_empty()).then_some(text);
    let mut tx = db.begin().await?;
    let (kind, to) = match action {
        PartAction::Sign => {
            move_part(&mut tx, &p, &[PartStatus::Dispatched], PartStatus::Signed, None, actor, now).await?;
            ("signed", Some(PartStatus::Signed))
        }
        PartAction::Note => {
            if p.status() != PartStatus::Signed {
                return Err(AppError::Conflict("request.sign_first"));
            }
            ("progress", None)
        }
        PartAction::Return => {
            move_part(
                &mut tx,
                &p,
                &[PartStatus::Dispatched, PartStatus::Signed],
                PartStatus::Returned,
                None,
                actor,
                now,
            )
            .await?;
            ("returned", Some(PartStatus::Returned))
        }
        PartAction::Resolve => {
            move_part(&mut tx, &p, &[PartStatus::Signed], PartStatus::Resolved, note, actor, now).await?;
            ("resolved_part", Some(PartStatus::Resolved))
        }
    };
    event_with(
        &mut tx,
        Ev {
            request: r.id,
            part: Some(p.id),
            kind,
            from: Some(p.status.as_str()),
            to: to.map(|s| s.as_str()),
            // Signing and resolving are news for the resident; a note, a return, only if
            // its writer says so. The note itself is public only by choice.
            shown: match (public, action) {
                (true, _) => Shown::PublicWithNote,
                (false, PartAction::Sign | PartAction::Resolve) => Shown::Public,
                (false, _) => Shown::Staff,
            },
        },
        note,
        serde_json::json!({ "unit": p.unit_name }),
        actor,
        now,
    )
    .await?;
    if to.is_some() {
        let current = row(&mut tx, r.id).await?;
        let (from, after) = settle(&mut tx, r.id, current.version, actor, now).await?;
        if from != after && after == Status::Resolved {
            event(
                &mut tx,
                Ev {
                    request: r.id,
                    part: None,
                    kind: "resolved",
                    from: Some(from.as_str()),
                    to: Some("resolved"),
                    shown: Shown::Public,
                },
                None,
                actor,
                now,
            )
            .await?;
        }
    } else {
        touch(&mut tx, r.id, actor, now).await?;
    }
    if !photos.is_empty() {
        let purpose = if matches!(action, PartAction::Resolve) { "resolution" } else { "progress" };
        crate::files::record(&mut tx, crate::files::Owner::Request(r.id), purpose, photos, actor, now).await?;
    }
    tx.commit().await?;
    Ok(r.id)
}

/// Marks a request changed (a note) so open forms see a new version.
async fn touch(tx: &mut Tx, id: Uuid, actor: &Actor, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "UPDATE requests SET version = version + 1, updated_at = $1, updated_by = $2 WHERE id = $3"
    )
    .bind(now)
    .bind(actor.id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Takes a unit off the request with a reason and, if given, sends it to another (改派).
pub async fn reassign(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    part: Uuid,
    version: i64,
    to: Option<&Unit>,
    reason: &str,
) -> Result<Uuid, AppError> {
    let mut args = Args::new();
    let sql = format!("SELECT {PART_COLS} FROM request_parts WHERE id = {}", args.push(part));
    let p: Part = query::optional(db, &sql, &args).await?.ok_or(AppError::NotFound)?;
    let r = get(db, viewer, p.request_id).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    let mut errors = FieldErrors::default();
    let reason = super::model::reason(reason, "reason", &mut errors);
    errors.into_result()?;
    if r.version != version {
        return Err(AppError::Stale);
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    move_part(
        &mut tx,
        &p,
        &[PartStatus::Dispatched, PartStatus::Signed, PartStatus::Returned],
        PartStatus::Withdrawn,
        None,
        actor,
        now,
    )
    .await?;
    event_with(
        &mut tx,
        Ev {
            request: r.id,
            part: Some(p.id),
            kind: "withdrawn",
            from: Some(p.status.as_str()),
            to: Some("withdrawn"),
            shown: Shown::Staff,
        },
        Some(&reason),
        serde_json::json!({ "unit": p.unit_name }),
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    if let Some(u) = to {
        let fresh = get(db, viewer, r.id).await?.ok_or(AppError::NotFound)?;
        dispatch(db, viewer, actor, r.id, fresh.version, std::slice::from_ref(u), StaffNote::internal(&reason)).await?;
    } else {
        let mut tx = db.begin().await?;
        let current = row(&mut tx, r.id).await?;
        settle(&mut tx, r.id, current.version, actor, now).await?;
        tx.commit().await?;
    }
    Ok(r.id)
}

/// 延期: the unit asks for more working days with a reason.
pub async fn ask_extension(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    part: Uuid,
    days: &str,
    reason: &str,
) -> Result<Uuid, AppError> {
    let (p, r) = handled_part(db, viewer, part).await?;
    let mut errors = FieldErrors::default();
    let days = positive(days, "days", 30, &mut errors);
    let reason = super::model::reason(reason, "reason", &mut errors);
    errors.into_result()?;
    if !matches!(p.status(), PartStatus::Dispatched | PartStatus::Signed) {
        return Err(AppError::Conflict("request.part_wrong_status"));
    }
    if !pending_extensions(db, r.id).await?.iter().all(|e| e.part_id != p.id) {
        return Err(AppError::Conflict("request.extension_already_pending"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| sqlx::query(
        "INSERT INTO request_extensions (id, request_id, part_id, days, reason, status, requested_by, requested_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)"
    )
    .bind(Uuid::now_v7())
    .bind(r.id)
    .bind(p.id)
    .bind(days)
    .bind(&reason)
    .bind(actor.id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    event_with(
        &mut tx,
        Ev { request: r.id, part: Some(p.id), kind: "extension_requested", from: None, to: None, shown: Shown::Staff },
        Some(&reason),
        serde_json::json!({ "days": days, "unit": p.unit_name }),
        actor,
        now,
    )
    .await?;
    touch(&mut tx, r.id, actor, now).await?;
    tx.commit().await?;
    Ok(r.id)
}

/// The dispatcher approves (moving the part's deadline by working days) or refuses an extension.
pub async fn decide_extension(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    extension: Uuid,
    approve: bool,
    note: &str,
) -> Result<Uuid, AppError> {
    let mut args = Args::new();
    let sql =
        format!("SELECT request_id, part_id, days, status FROM request_extensions WHERE id = {}", args.push(extension));
    let (request, part, days, status): (Uuid, Uuid, i64, String) =
        query::optional(db, &sql, &args).await?.ok_or(AppError::NotFound)?;
    let r = get(db, viewer, request).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    if status != "pending" {
        return Err(AppError::Conflict("request.extension_decided"));
    }
    let note = note.trim();
    if !approve && note.chars().count() < 2 {
        return Err(AppError::field("note", "request.reason_required"));
    }
    let now = Utc::now();
    let cal = calendar(db).await?;
    let mut tx = db.begin().await?;
    let n = write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE request_extensions SET status = $1, decided_by = $2, decided_at = $3, decision_note = $4 WHERE id = $5 AND status = 'pending'"
    )
    .bind(if approve { "approved" } else { "refused" })
    .bind(actor.id)
    .bind(now)
    .bind((!note.is_empty()).then_some(note))
    .bind(extension)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Conflict("request.extension_decided"));
    }
    let mut detail = serde_json::json!({ "days": days });
    if approve {
        let mut args = Args::new();
        let sql = format!("SELECT due FROM request_parts WHERE id = {}", args.push(part));
        let (due,): (DateTime<Utc>,) = query::tx_optional(&mut tx, &sql, &args).await?.ok_or(AppError::NotFound)?;
        let new_due = cal.add_working_days(due.max(now), u32::try_from(days).unwrap_or(30), OfficeHours::default());
        write!(&mut tx, |c| sqlx::query(
            "UPDATE request_parts SET due = $1, version = version + 1, updated_at = $2, updated_by = $3 WHERE id = $4"
        )
        .bind(new_due)
        .bind(now)
        .bind(actor.id)
        .bind(part)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        detail["due"] = serde_json::json!(new_due);
    }
    event_with(
        &mut tx,
        Ev {
            request,
            part: Some(part),
            kind: if approve { "extension_approved" } else { "extension_refused" },
            from: None,
            to: None,
            shown: Shown::Staff,
        },
        (!note.is_empty()).then_some(note),
        detail,
        actor,
        now,
    )
    .await?;
    let current = row(&mut tx, request).await?;
    settle(&mut tx, request, current.version, actor, now).await?;
    tx.commit().await?;
    Ok(request)
}

/// 回访: the resident's rating after resolution. 不满意 or worse reopens the request: every
/// resolved part goes back to its unit (signed) for rework.
pub async fn callback(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    id: Uuid,
    version: i64,
    satisfaction: &str,
    note: StaffNote<'_>,
) -> Result<Status, AppError> {
    let StaffNote { text: note, public: note_public } = note;
    let r = get(db, viewer, id).await?.ok_or(AppError::NotFound)?;
    if !viewer.dispatches(&r) {
        return Err(AppError::Forbidden);
    }
    let Some(level) = Satisfaction::parse(satisfaction) else {
        return Err(AppError::field("satisfaction", "error.required"));
    };
    if r.status() != Status::Resolved {
        return Err(AppError::Conflict("request.callback_before_resolution"));
    }
    if r.version != version {
        return Err(AppError::Stale);
    }
    let note = note.trim();
    if level.reopens() && note.chars().count() < 2 {
        return Err(AppError::field("note", "request.dissatisfied_reason"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let after = if level.reopens() {
        write!(&mut tx, |c| {
            sqlx::query(
            "UPDATE request_parts SET status = 'signed', resolved_at = NULL, version = version + 1, updated_at = $1, updated_by = $2
             WHERE request_id = $3 AND status = 'resolved'"
        )
        .bind(now)
        .bind(actor.id)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        Status::InProgress
    } else {
        Status::Closed
    };
    let n = write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE requests SET status = $1, satisfaction = $2, closed_at = CASE WHEN $1 = 'closed' THEN $3 ELSE NULL END,
                resolved_at = CASE WHEN $1 = 'closed' THEN resolved_at ELSE NULL END,
                version = version + 1, updated_at = $3, updated_by = $4
         WHERE id = $5 AND version = $6"
    )
    .bind(after.as_str())
    .bind(level.as_str())
    .bind(now)
    .bind(actor.id)
    .bind(id)
    .bind(version)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    event_with(
        &mut tx,
        Ev {
            request: id,
            part: None,
            kind: if level.reopens() { "reopened" } else { "closed" },
            from: Some("resolved"),
            to: Some(after.as_str()),
            shown: Shown::public(note_public),
        },
        (!note.is_empty()).then_some(note),
        serde_json::json!({ "satisfaction": level.as_str() }),
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// 督办 by hand: the street or the bureau presses an open request, with a reason.
pub async fn escalate(db: &Db, viewer: &Viewer, actor: &Actor, id: Uuid, reason: &str) -> Result<(), AppError> {
    let r = get(db, viewer, id).await?.ok_or(AppError::NotFound)?;
    if !viewer.escalates(&r) {
        return Err(AppError::Forbidden);
    }
    let mut errors = FieldErrors::default();
    let reason = super::model::reason(reason, "reason", &mut errors);
    errors.into_result()?;
    if !r.status().is_open() {
        return Err(AppError::Conflict("request.not_open"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE requests SET escalation = escalation + 1, escalated_at = $1, version = version + 1, updated_at = $1, updated_by = $2 WHERE id = $3"
    )
    .bind(now)
    .bind(actor.id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    event(
        &mut tx,
        Ev { request: id, part: None, kind: "escalated", from: None, to: None, shown: Shown::Staff },
        Some(&reason),
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Folds a duplicate into an earlier request: the duplicate's active parts are withdrawn and it
/// is marked merged; its reporter follows the surviving request.
pub async fn merge(
    db: &Db,
    viewer: &Viewer,
    actor: &Actor,
    dup: Uuid,
    version: i64,
    into: Uuid,
) -> Result<(), AppError> {
    let d = get(db, viewer, dup).await?.ok_or(AppError::NotFound)?;
    let keep = get(db, viewer, into).await?.ok_or_else(|| AppError::field("into", "error.bad_choice"))?;
    if !viewer.dispatches(&d) {
        return Err(AppError::Forbidden);
    }
    if d.id == keep.id || !d.status().is_open() || !keep.status().is_open() {
        return Err(AppError::Conflict("request.not_open"));
    }
    if d.version != version {
        return Err(AppError::Stale);
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| sqlx::query(
        "UPDATE request_parts SET status = 'withdrawn', version = version + 1, updated_at = $1, updated_by = $2
         WHERE request_id = $3 AND status IN ('dispatched', 'signed')"
    )
    .bind(now)
    .bind(actor.id)
    .bind(dup)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    let n = write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE requests SET status = 'merged', merged_into = $1, closed_at = $2, version = version + 1, updated_at = $2, updated_by = $3
         WHERE id = $4 AND version = $5"
    )
    .bind(into)
    .bind(now)
    .bind(actor.id)
    .bind(dup)
    .bind(version)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    event_with(
        &mut tx,
        Ev {
            request: dup,
            part: None,
            kind: "merged",
            from: Some(d.status.as_str()),
            to: Some("merged"),
            shown: Shown::Public,
        },
        None,
        serde_json::json!({ "into": keep.number }),
        actor,
        now,
    )
    .await?;
    event_with(
        &mut tx,
        Ev { request: into, part: None, kind: "merged_in", from: None, to: None, shown: Shown::Staff },
        None,
        serde_json::json!({ "from": d.number }),
        actor,
        now,
    )
    .await?;
    touch(&mut tx, into, actor, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A public note on the request (the resident adds detail on the tracking page, or an Open311
/// app posts an update).
pub async fn public_note(db: &Db, actor: &Actor, id: Uuid, note: &str) -> Result<(), AppError> {
    let note = note.trim();
    if note.chars().count() < 2 {
        return Err(AppError::field("note", "error.required"));
    }
    if note.chars().count() > 1000 {
        return Err(AppError::field("note", "error.too_long"));
    }
    if note.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(AppError::field("note", "error.control_chars"));
    }
    let now = Utc::now();
    let mut tx = db.begin().await?;
    event(
        &mut tx,
        Ev { request: id, part: None, kind: "resident_note", from: None, to: None, shown: Shown::PublicWithNote },
        Some(note),
        actor,
        now,
    )
    .await?;
    touch(&mut tx, id, actor, now).await?;
    tx.commit().await?;
    Ok(())
}

// ---- the overdue sweep ----------------------------------------------------------------------------

/// Escalates every open request past its resolution deadline once (level 0 → 1), with a
/// timeline entry. A conditional UPDATE per row, so several instances running it at once
/// escalate each request exactly once. Returns how many it escalated.
pub async fn escalate_overdue(db: &Db, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT r.id FROM {} WHERE r.status IN ('accepted', 'dispatched', 'in_progress') AND r.resolve_due < {} AND r.escalation = 0
         ORDER BY r.resolve_due LIMIT 500",
        open_due_requests(db),
        args.push(now)
    );
    let due: Vec<(Uuid,)> = query::all(db, &sql, &args).await?;
    let actor = Actor::system("system");
    let mut done = 0;
    for (id,) in due {
        let mut tx = db.begin().await?;
        let n = write!(&mut tx, |c| {
            sqlx::query(
            "UPDATE requests SET escalation = 1, escalated_at = $1, version = version + 1, updated_at = $1 WHERE id = $2 AND escalation = 0"
        )
        .bind(now)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        if n == 1 {
            event(
                &mut tx,
                Ev { request: id, part: None, kind: "auto_escalated", from: None, to: None, shown: Shown::Staff },
                None,
                &actor,
                now,
            )
            .await?;
            done += 1;
        }
        tx.commit().await?;
    }
    Ok(done)
}

/// Phone number of a request, for the callback: permission and a reason, audited first.
pub async fn reveal_phone(
    db: &Db,
    keys: &Keyring,
    viewer: &Viewer,
    actor: &Actor,
    id: Uuid,
    reason: &str,
) -> Result<String, AppError> {
    let r = get(db, viewer, id).await?.ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::default();
    let reason = crate::people::store::reveal_reason(reason, "reason", &mut errors);
    errors.into_result()?;
    let mut args = Args::new();
    let sql = format!("SELECT phone_sealed FROM requests WHERE id = {}", args.push(r.id));
    let Some((Some(sealed),)) = query::optional::<(Option<String>,)>(db, &sql, &args).await? else {
        return Err(AppError::NotFound);
    };
    // Opened before the reveal is recorded: one that fails (its key gone) revealed nothing.
    let phone = keys.open_text(&sealed)?;
    crate::audit::record_alone(
        db,
        actor,
        crate::audit::Entry {
            action: "request.reveal_phone",
            entity: "request",
            entity_id: Some(r.id.to_string()),
            detail: serde_json::json!({ "reason": reason, "number": r.number }),
        },
    )
    .await?;
    Ok(phone)
}

/// The request a part belongs to (for redirects; access is checked by the action itself).
pub async fn part_request(db: &Db, part: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT request_id FROM request_parts WHERE id = {}", args.push(part));
    Ok(query::optional::<(Uuid,)>(db, &sql, &args).await?.map(|r| r.0))
}

pub async fn extension_request(db: &Db, extension: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT request_id FROM request_extensions WHERE id = {}", args.push(extension));
    Ok(query::optional::<(Uuid,)>(db, &sql, &args).await?.map(|r| r.0))
}
