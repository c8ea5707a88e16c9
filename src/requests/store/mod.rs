//! All SQL of resident requests, by stage: reference data (categories, the holiday table),
//! intake, reading (the queues, a request's record, its timeline, duplicates), dispatch (units,
//! parts, reassignment, extensions) and callback (rating, escalation, merging, the overdue sweep).
//! This file holds who is looking ([`Viewer`]) and how every transition is written: each one
//! transaction, checked against the row's version, with its timeline event.

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

mod callback;
mod dispatch;
mod intake;
mod reading;
mod reference;

pub use callback::*;
pub use dispatch::*;
pub use intake::*;
pub use reading::*;
pub use reference::*;

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
    pub(in crate::requests) fn sees(&self, args: &mut Args) -> String {
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
pub(in crate::requests) async fn staff_event(
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
    pub(super) fn page_predicate(&self, backend: Backend) -> String {
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

    /// As [`AreaSql::count`], for the requests whose text holds a word: `walk` is the word's
    /// condition on a `search_terms` row `s` ([`crate::search::TextQuery::Walk`]) and
    /// `located` the area's test on `s.path` (a request's index rows carry its path). The
    /// requests located in the area are counted from the term index alone, a range of its
    /// path; only when they stay under the cap are the requests held by the area or with a part
    /// there added, each way reading the word's ids.
    pub(super) fn count_words(&self, walk: &str, located: &str, filters: &str, cap: i64) -> String {
        let and = if filters.is_empty() { String::new() } else { format!(" AND {filters}") };
        let located = if filters.is_empty() {
            format!("SELECT s.entity_id AS k FROM search_terms s WHERE {walk} AND {located} LIMIT {}", cap + 1)
        } else {
            format!(
                "SELECT r.id AS k FROM search_terms s CROSS JOIN requests r
                 WHERE r.id = s.entity_id AND {walk} AND {located}{and} LIMIT {}",
                cap + 1
            )
        };
        let word = format!("r.id IN (SELECT s.entity_id FROM search_terms s WHERE {walk}){and}");
        self.count_ways("r.id", &word, cap, Some(located))
    }

    /// Counts the requests of the area kept to `filters` (SQL over `r`, may be empty) up to
    /// `cap + 1` ([`query::capped_count`]) as a union of index ranges, each yielding `key` of
    /// `r`. Counting with [`AreaSql::predicate`] tests request after request until the cap:
    /// cheap where the area holds most requests, but a grid's count went through the whole
    /// table, probing the parts of every request outside (176 ms at a million requests; 1.7 ms
    /// as a union).
    pub(super) fn count(&self, key: &str, filters: &str, cap: i64) -> String {
        self.count_ways(key, filters, cap, None)
    }

    /// [`AreaSql::count`], with the located way given (`located`, yielding `k`) or read from
    /// the requests' path.
    fn count_ways(&self, key: &str, filters: &str, cap: i64, located: Option<String>) -> String {
        let and = if filters.is_empty() { String::new() } else { format!(" AND {filters}") };
        let by_parts = "FROM request_parts vp JOIN requests r ON r.id = vp.request_id WHERE";
        match self {
            AreaSql::Org(org) => query::capped_count(
                &format!("SELECT DISTINCT {key} {by_parts} vp.unit_kind = 'org' AND vp.unit_id = {org}{and}"),
                cap,
            ),
            AreaSql::Places { located: in_area, held, parts, .. } => {
                // Each way capped on its own (a union reads its parts whole before the outer
                // LIMIT applies), which keeps the count exact up to the cap. Requests located
                // in the area usually reach the cap alone and are counted first, from the path
                // index; the union runs only when they do not.
                let n = cap + 1;
                let located = located
                    .unwrap_or_else(|| format!("SELECT {key} AS k FROM requests r WHERE {in_area}{and} LIMIT {n}"));
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
