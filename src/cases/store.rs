//! All SQL of case work. A case's scope path is its station's place (the street), so a
//! station's workers see its cases and nobody else's; every read filters by it in the query.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::instruments::{self, Instrument};
use super::model::*;
use crate::audit::{self, Actor, Entry};
use crate::auth::Scope;
use crate::db::query::{self, Args};
use crate::db::{Backend, Db, Tx};
use crate::error::{AppError, FieldErrors};
use crate::people::model::{Person, Tag};
use crate::people::store::today;
use crate::{read, write};

const CASE_COLS: &str = "c.id, c.number, c.person_id, p.name AS person_name, c.station_id, s.name AS station_name, c.path, c.domain, c.source, c.status, c.summary, c.worker_id, u.display_name AS worker_name, c.tier, c.next_follow_up_on, c.opened_on, c.plan_approved_on, c.closure_reason, c.closed_on, c.version, c.updated_at";
const CASE_FROM: &str = "FROM cases c JOIN persons p ON p.id = c.person_id JOIN stations s ON s.id = c.station_id JOIN users u ON u.id = c.worker_id";

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseFilter {
    /// intake, assessed, planned, closing, closed; `open` for all but closed.
    pub status: Option<String>,
    /// Only cases of this worker.
    pub worker_id: Option<Uuid>,
    /// Only cases of this person.
    pub person_id: Option<Uuid>,
    /// Pages pass it here; the API's `page` is `PageParams`'.
    #[param(ignore)]
    pub page: Option<i64>,
}

fn case_where(scope: &Scope, f: &CaseFilter, args: &mut Args) -> String {
    let mut wh = args.scope("c.path", scope);
    match f.status.as_deref() {
        Some("open") => wh.push_str(" AND c.status <> 'closed'"),
        Some(s) => {
            if let Some(st) = Status::parse(s) {
                wh.push_str(&format!(" AND c.status = {}", args.push(st.as_str())));
            }
        }
        None => {}
    }
    if let Some(w) = f.worker_id {
        wh.push_str(&format!(" AND c.worker_id = {}", args.push(w)));
    }
    if let Some(p) = f.person_id {
        wh.push_str(&format!(" AND c.person_id = {}", args.push(p)));
    }
    wh
}

pub async fn list(
    db: &Db,
    scope: &Scope,
    f: &CaseFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Case>, i64), sqlx::Error> {
    let mut args = Args::new();
    let wh = case_where(scope, f, &mut args);
    let select = format!("SELECT {CASE_COLS} {CASE_FROM} WHERE {wh} ORDER BY c.id DESC");
    query::page(db, &select, &format!("FROM cases c WHERE {wh}"), &args, limit, offset).await
}

pub async fn get(db: &Db, scope: &Scope, id: Uuid) -> Result<Option<Case>, sqlx::Error> {
    let mut args = Args::new();
    let sql =
        format!("SELECT {CASE_COLS} {CASE_FROM} WHERE c.id = {} AND {}", args.push(id), args.scope("c.path", scope));
    query::optional(db, &sql, &args).await
}

/// The station serving a person's address: the nearest station above it.
pub async fn station_for(db: &Db, path: &str) -> Result<Option<(Uuid, String, String)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT s.id, s.name, pl.path FROM stations s JOIN places pl ON pl.id = s.place_id
         WHERE s.active = $2 AND $1 LIKE pl.path || '%' ORDER BY LENGTH(pl.path) DESC LIMIT 1"
    )
    .bind(path)
    .bind(true)
    .fetch_optional(c)
    .await)
}

pub async fn tiers(db: &Db) -> Result<Vec<Tier>, sqlx::Error> {
    read!(db, |c| sqlx::query_as("SELECT code, name, interval_days FROM follow_up_tiers ORDER BY sort, code")
        .fetch_all(c)
        .await)
}

async fn tier(db: &Db, code: &str) -> Result<Option<Tier>, sqlx::Error> {
    read!(db, |c| sqlx::query_as("SELECT code, name, interval_days FROM follow_up_tiers WHERE code = $1")
        .bind(code)
        .fetch_optional(c)
        .await)
}

/// The tier a person's situation suggests: the over-80 living alone weekly, other lone elders
/// fortnightly, children and everyone else monthly.
pub fn suggested_tier(person: &Person, tags: &[Tag], today: NaiveDate) -> &'static str {
    let age = person.age(today).unwrap_or(0);
    let alone = tags.iter().any(|t| t.is_elder_tag());
    if alone && age >= 80 && tags.contains(&Tag::LivingAlone) {
        "elder_80_alone"
    } else if alone {
        "elder_alone"
    } else if tags.iter().any(|t| t.is_child_tag()) {
        "child"
    } else {
        "standard"
    }
}

/// "振华街道社工站" → "振华": the prefix of case numbers.
pub fn station_short(name: &str) -> String {
    let short = name.trim_end_matches("社会工作服务站").trim_end_matches("社工站").trim_end_matches("街道");
    let short = short.trim_end_matches("镇").trim_end_matches("乡");
    if short.is_empty() { name.chars().take(4).collect() } else { short.to_string() }
}

/// Opens a case for a person in scope at the station that serves their address.
pub async fn intake(db: &Db, scope: &Scope, actor: &Actor, input: &IntakeInput) -> Result<Case, AppError> {
    let mut errors = FieldErrors::default();
    let clean = validate_intake(input, &mut errors);
    let person = crate::people::store::get(db, scope, input.person_id).await?;
    if person.is_none() {
        errors.add("person_id", "case.person_not_found");
    }
    let station = match &person {
        Some(p) => match station_for(db, &p.path).await? {
            Some(s) if scope.covers(&s.2) => Some(s),
            Some(_) | None => {
                errors.add("person_id", "case.no_station");
                None
            }
        },
        None => None,
    };
    let worker = input.worker_id.or(actor.id);
    if let (Some(w), Some(st)) = (worker, &station)
        && !worker_serves(db, w, &st.2).await?
    {
        errors.add("worker_id", "case.worker_not_at_station");
    }
    let tags: Vec<Tag> = match &person {
        Some(p) => current_tags(db, p.id).await?,
        None => Vec::new(),
    };
    let today = today();
    let tier_code = match input.tier.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(t.to_string()),
        None => person.as_ref().map(|p| suggested_tier(p, &tags, today).to_string()),
    };
    let tier = match &tier_code {
        Some(code) => match tier(db, code).await? {
            Some(t) => Some(t),
            None => {
                errors.add("tier", "error.bad_choice");
                None
            }
        },
        None => None,
    };
    errors.into_result()?;
    let (clean, person, (station_id, station_name, station_path), tier, worker) = (
        clean.expect("validated"),
        person.expect("validated"),
        station.expect("validated"),
        tier.expect("validated"),
        worker.expect("signed in"),
    );
    let id = Uuid::now_v7();
    let now = Utc::now();
    let year = chrono::Datelike::year(&today);
    let mut tx = db.begin().await?;
    let (seq,): (i64,) = write!(&mut tx, |c| sqlx::query_as(
        "INSERT INTO case_counters (station_id, year, last) VALUES ($1, $2, 1)
         ON CONFLICT (station_id, year) DO UPDATE SET last = case_counters.last + 1 RETURNING last"
    )
    .bind(station_id)
    .bind(year as i64)
    .fetch_one(c)
    .await)?;
    let number = format!("{}-{year}-{seq:04}", station_short(&station_name));
    // The first contact is due one interval after intake.
    let due = today + Duration::days(tier.interval_days);
    write!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO cases (id, number, person_id, station_id, path, domain, source, status, summary, worker_id, tier, next_follow_up_on, opened_on,
                            created_at, created_by, updated_at, updated_by, person_path)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'intake', $8, $9, $10, $11, $12, $13, $14, $13, $14, $15)"
    )
    .bind(id)
    .bind(&number)
    .bind(person.id)
    .bind(station_id)
    .bind(&station_path)
    .bind(clean.domain.as_str())
    .bind(clean.source.as_str())
    .bind(&clean.summary)
    .bind(worker)
    .bind(&tier.code)
    .bind(due)
    .bind(today)
    .bind(now)
    .bind(actor.id)
    .bind(&person.path)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    crate::search::index(&mut tx, "case", id, person.id, &station_path, &crate::search::text_terms(&clean.summary))
        .await?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "case.intake",
            entity: "case",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "number": number, "person_id": person.id, "domain": clean.domain.as_str() }),
        },
    )
    .await?;
    tx.commit().await?;
    get(db, scope, id).await?.ok_or(AppError::NotFound)
}

/// Whether a user works cases (a social worker or station manager) and is bound to a place at
/// or above or below the station's street. An operator or a bureau account bound above every
/// station is no case worker.
async fn worker_serves(db: &Db, user_id: Uuid, station_path: &str) -> Result<bool, sqlx::Error> {
    let rows: Vec<(String,)> = read!(db, |c| sqlx::query_as(
        "SELECT pl.path FROM user_places up JOIN places pl ON pl.id = up.place_id JOIN users u ON u.id = up.user_id
         WHERE up.user_id = $1 AND u.disabled = $2 AND u.role IN ('social_worker', 'station_manager')"
    )
    .bind(user_id)
    .bind(false)
    .fetch_all(c)
    .await)?;
    Ok(rows.iter().any(|(p,)| station_path.starts_with(p.as_str()) || p.starts_with(station_path)))
}

pub async fn current_tags(db: &Db, person_id: Uuid) -> Result<Vec<Tag>, sqlx::Error> {
    let today = today();
    Ok(crate::people::store::tags_of(db, person_id)
        .await?
        .into_iter()
        .filter(|t| t.starts_on <= today && t.ends_on.is_none_or(|e| e >= today))
        .filter_map(|t| Tag::parse(&t.tag))
        .collect())
}

/// Bumps the version of a case read at `version`, or answers Stale.
pub(super) async fn bump(
    tx: &mut Tx,
    actor: &Actor,
    id: Uuid,
    version: Option<i64>,
    set: &str,
    binds: Vec<query::Arg>,
) -> Result<(), AppError> {
    let mut args = Args::new();
    for b in binds {
        args.push(b);
    }
    let now = args.push(Utc::now());
    let by = match actor.id {
        Some(u) => args.push(u),
        None => "NULL".into(),
    };
    let mut sql = format!(
        "UPDATE cases SET {set}, version = version + 1, updated_at = {now}, updated_by = {by} WHERE id = {}",
        args.push(id)
    );
    if let Some(v) = version {
        sql.push_str(&format!(" AND version = {}", args.push(v)));
    }
    let n = query::execute(tx, &sql, &args).await?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    Ok(())
}

pub async fn assess(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    case_id: Uuid,
    instrument_id: Uuid,
    answers: &BTreeMap<String, usize>,
    notes: Option<&str>,
) -> Result<Uuid, AppError> {
    let case = get(db, scope, case_id).await?.ok_or(AppError::NotFound)?;
    if !case.is_open() {
        return Err(AppError::Conflict("case.closed"));
    }
    let inst: Instrument = instruments::get(db, instrument_id)
        .await?
        .ok_or_else(|| AppError::field("instrument_id", "error.bad_choice"))?;
    let mut errors = FieldErrors::default();
    let notes = crate::web::form::clean_optional(notes, "notes", 3000, &mut errors);
    let scored = inst.score(answers, &mut errors);
    errors.into_result()?;
    let (score, band) = scored.expect("validated");
    let today = today();
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO assessments (id, case_id, instrument_id, answers, score, band, assessed_on, reassess_on, notes, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
    .bind(id)
    .bind(case_id)
    .bind(inst.id)
    .bind(serde_json::to_string(answers).unwrap_or_default())
    .bind(score)
    .bind(&band.code)
    .bind(today)
    .bind(today + Duration::days(inst.reassess_days))
    .bind(&notes)
    .bind(Utc::now())
    .bind(actor.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if case.status() == Status::Intake {
        bump(&mut tx, actor, case_id, None, "status = 'assessed'", vec![]).await?;
    }
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "case.assess",
            entity: "case",
            entity_id: Some(case_id.to_string()),
            detail: serde_json::json!({ "instrument": inst.code, "version": inst.version, "score": score, "band": band.code }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Assessment {
    pub id: Uuid,
    /// Read so that one statement can serve several cases (a person's timeline).
    #[serde(skip)]
    #[schema(ignore)]
    pub case_id: Uuid,
    pub instrument_name: String,
    pub instrument_version: i64,
    pub score: i64,
    pub band: String,
    pub assessed_on: NaiveDate,
    pub reassess_on: NaiveDate,
    pub notes: Option<String>,
    /// The instrument version's bands (JSON), for the band's label.
    #[serde(skip)]
    pub bands: String,
}

impl Assessment {
    /// The result band as the instrument names it (中度依赖, 高风险 …).
    pub fn band_label(&self) -> String {
        serde_json::from_str::<Vec<super::instruments::Band>>(&self.bands)
            .ok()
            .and_then(|bands| bands.into_iter().find(|b| b.code == self.band).map(|b| b.label))
            .unwrap_or_else(|| self.band.clone())
    }
}

pub async fn assessments(db: &Db, case_id: Uuid) -> Result<Vec<Assessment>, sqlx::Error> {
    assessments_of(db, &[case_id]).await
}

/// The assessments of several cases in one read (a person's timeline), newest first.
pub async fn assessments_of(db: &Db, cases: &[Uuid]) -> Result<Vec<Assessment>, sqlx::Error> {
    of_cases(
        db,
        "SELECT a.id, a.case_id, i.name AS instrument_name, i.version AS instrument_version, a.score, a.band, a.assessed_on,
                a.reassess_on, a.notes, i.bands
         FROM assessments a JOIN instruments i ON i.id = a.instrument_id WHERE a.case_id IN",
        cases,
        "ORDER BY a.id DESC",
    )
    .await
}

/// `select … WHERE col IN` completed with `cases` and `order`: the rows of several cases in one
/// statement, where a read per case would be a trip to a connection each. None for no case.
pub(super) async fn of_cases<T: query::DbRow>(
    db: &Db,
    select: &str,
    cases: &[Uuid],
    order: &str,
) -> Result<Vec<T>, sqlx::Error> {
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = Args::new();
    let sql = format!("{select} ({}) {order}", args.list(cases));
    query::all(db, &sql, &args).await
}

/// The plan being drafted or in force (newest first), and its predecessors.
pub async fn plans(db: &Db, case_id: Uuid) -> Result<Vec<Plan>, sqlx::Error> {
    plans_of(db, &[case_id]).await
}

/// [`plans`] of several cases in one read.
pub async fn plans_of(db: &Db, cases: &[Uuid]) -> Result<Vec<Plan>, sqlx::Error> {
    of_cases(
        db,
        "SELECT id, case_id, goals, actions, review_on, status, approved_at, version FROM support_plans WHERE case_id IN",
        cases,
        "ORDER BY id DESC",
    )
    .await
}

/// Saves the draft plan (creating one when the newest plan is already approved).
pub async fn save_plan(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    case_id: Uuid,
    input: &PlanInput,
) -> Result<Uuid, AppError> {
    let case = get(db, scope, case_id).await?.ok_or(AppError::NotFound)?;
    if !case.is_open() {
        return Err(AppError::Conflict("case.closed"));
    }
    let mut errors = FieldErrors::default();
    let clean = validate_plan(input, today(), &mut errors);
    if let Some(t) = input.tier.as_deref().filter(|t| !t.is_empty())
        && tier(db, t).await?.is_none()
    {
        errors.add("tier", "error.bad_choice");
    }
    errors.into_result()?;
    let clean = clean.expect("validated");
    let actions = serde_json::to_string(&clean.actions).unwrap_or_default();
    let draft = plans(db, case_id).await?.into_iter().find(|p| p.status == "draft");
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let id = match draft {
        Some(d) => {
            let version = input.version.ok_or_else(|| AppError::field("version", "error.required"))?;
            let n = write!(&mut tx, |c| {
                sqlx::query(
                "UPDATE support_plans SET goals = $1, actions = $2, review_on = $3, version = version + 1, updated_at = $4, updated_by = $5
                 WHERE id = $6 AND version = $7"
            )
            .bind(&clean.goals)
            .bind(&actions)
            .bind(clean.review_on)
            .bind(now)
            .bind(actor.id)
            .bind(d.id)
            .bind(version)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
            })?;
            if n == 0 {
                return Err(AppError::Stale);
            }
            d.id
        }
        None => {
            let id = Uuid::now_v7();
            write!(&mut tx, |c| {
                sqlx::query(
                "INSERT INTO support_plans (id, case_id, goals, actions, review_on, status, created_at, created_by, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $6, $7)"
            )
            .bind(id)
            .bind(case_id)
            .bind(&clean.goals)
            .bind(&actions)
            .bind(clean.review_on)
            .bind(now)
            .bind(actor.id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
            })?;
            id
        }
    };
    if let Some(t) = input.tier.as_deref().filter(|t| !t.is_empty())
        && case.tier.as_deref() != Some(t)
    {
        set_tier(&mut tx, db, actor, &case, t).await?;
    }
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "plan.save",
            entity: "case",
            entity_id: Some(case_id.to_string()),
            detail: serde_json::json!({ "plan_id": id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Moves the follow-up schedule to a new tier: the next contact is due one new interval after
/// the last contact (or after intake when there was none), never later than it was.
async fn set_tier(tx: &mut Tx, db: &Db, actor: &Actor, case: &Case, code: &str) -> Result<(), AppError> {
    let t = tier(db, code).await?.ok_or_else(|| AppError::field("tier", "error.bad_choice"))?;
    let last = last_contact(db, case.id).await?.unwrap_or(case.opened_on);
    let due = last + Duration::days(t.interval_days);
    let due = case.next_follow_up_on.map_or(due, |d| d.min(due));
    bump(tx, actor, case.id, None, "tier = $1, next_follow_up_on = $2", vec![t.code.into(), due.into()]).await
}

async fn last_contact(db: &Db, case_id: Uuid) -> Result<Option<NaiveDate>, sqlx::Error> {
    let kinds: Vec<&str> = RecordKind::ALL.iter().filter(|k| k.is_contact()).map(|k| k.as_str()).collect();
    let mut args = Args::new();
    let sql = format!(
        "SELECT MAX(occurred_on) FROM service_records WHERE case_id = {} AND kind IN ({})",
        args.push(case_id),
        args.list(&kinds)
    );
    let row: (Option<NaiveDate>,) = query::one(db, &sql, &args).await?;
    Ok(row.0)
}

/// A station manager approves the draft plan: it comes into force and the one before it is
/// superseded.
pub async fn approve_plan(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    case_id: Uuid,
    plan_version: Option<i64>,
) -> Result<(), AppError> {
    let case = get(db, scope, case_id).await?.ok_or(AppError::NotFound)?;
    let draft = plans(db, case_id)
        .await?
        .into_iter()
        .find(|p| p.status == "draft")
        .ok_or(AppError::Conflict("plan.no_draft"))?;
    let now = Utc::now();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| sqlx::query(
        "UPDATE support_plans SET status = 'superseded' WHERE case_id = $1 AND status = 'approved'"
    )
    .bind(case_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    let n = write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE support_plans SET status = 'approved', approved_at = $1, approved_by = $2, version = version + 1 WHERE id = $3 AND version = $4"
    )
    .bind(now)
    .bind(actor.id)
    .bind(draft.id)
    .bind(plan_version.unwrap_or(draft.version))
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Stale);
    }
    let status =
        if matches!(case.status(), Status::Intake | Status::Assessed) { "planned" } else { case.status().as_str() };
    bump(
        &mut tx,
        actor,
        case_id,
        None,
        "status = $1, plan_approved_on = COALESCE(plan_approved_on, $2)",
        vec![status.into(), today().into()],
    )
    .await?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "plan.approve",
            entity: "case",
            entity_id: Some(case_id.to_string()),
            detail: serde_json::json!({ "plan_id": draft.id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records a service; a contact moves the next follow-up to one interval after it.
pub async fn add_record(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    case_id: Uuid,
    input: &RecordInput,
) -> Result<Uuid, AppError> {
    let case = get(db, scope, case_id).await?.ok_or(AppError::NotFound)?;
    if !case.is_open() {
        return Err(AppError::Conflict("case.closed"));
    }
    let mut errors = FieldErrors::default();
    let clean = validate_record(input, case.opened_on, today(), &mut errors);
    errors.into_result()?;
    let clean = clean.expect("validated");
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO service_records (id, case_id, station_id, path, kind, occurred_on, minutes, notes, referred_to, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
    .bind(id)
    .bind(case_id)
    .bind(case.station_id)
    .bind(&case.path)
    .bind(clean.kind.as_str())
    .bind(clean.occurred_on)
    .bind(clean.minutes)
    .bind(&clean.notes)
    .bind(&clean.referred_to)
    .bind(Utc::now())
    .bind(actor.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if !clean.kind.is_restricted() {
        crate::search::index(
            &mut tx,
            "record",
            id,
            case.person_id,
            &case.path,
            &crate::search::text_terms(&clean.notes),
        )
        .await?;
    }
    if clean.kind.is_contact()
        && let Some(t) = case.tier.as_deref()
        && let Some(t) = tier(db, t).await?
    {
        let due = clean.occurred_on + Duration::days(t.interval_days);
        if case.next_follow_up_on.is_none_or(|d| due > d) {
            bump(&mut tx, actor, case_id, None, "next_follow_up_on = $1", vec![due.into()]).await?;
        }
    }
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "record.create",
            entity: "case",
            entity_id: Some(case_id.to_string()),
            detail: serde_json::json!({ "record_id": id, "kind": clean.kind.as_str(), "minutes": clean.minutes }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Every record of a case, whichever station wrote it: the station holding the case reads its
/// whole history.
pub async fn records(db: &Db, case_id: Uuid) -> Result<Vec<ServiceRecord>, sqlx::Error> {
    records_of(db, &[case_id]).await
}

const RECORD_COLUMNS: &str = "SELECT r.id, r.case_id, r.kind, r.occurred_on, r.minutes, r.notes, r.referred_to,
        u.display_name AS created_by_name, s.name AS station_name
     FROM service_records r JOIN stations s ON s.id = r.station_id LEFT JOIN users u ON u.id = r.created_by";

/// Newest first; the id orders the records of one day by creation (UUIDv7), as the timeline does.
const RECORD_ORDER: &str = "ORDER BY r.occurred_on DESC, r.id DESC";

/// The service records of several cases in one read, newest first.
pub async fn records_of(db: &Db, cases: &[Uuid]) -> Result<Vec<ServiceRecord>, sqlx::Error> {
    newest_records_of(db, cases, None).await
}

/// [`records_of`], only the newest `limit` of them when given.
pub async fn newest_records_of(
    db: &Db,
    cases: &[Uuid],
    limit: Option<usize>,
) -> Result<Vec<ServiceRecord>, sqlx::Error> {
    let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    of_cases(db, &format!("{RECORD_COLUMNS} WHERE r.case_id IN"), cases, &format!("{RECORD_ORDER}{limit}")).await
}

/// Records a case page shows at once. A case of weekly visits over years holds hundreds; the
/// page showed every one, and those pages were the slow tail of the case page (6 ms and 100 KB
/// at 500 records against 2 ms at ten).
pub const RECORDS_PER_PAGE: i64 = 50;

/// One page of a case's records, newest first, and how many it has.
pub async fn records_page(db: &Db, case_id: Uuid, page: i64) -> Result<(Vec<ServiceRecord>, i64), sqlx::Error> {
    let mut args = Args::new();
    let case = args.push(case_id);
    let select = format!("{RECORD_COLUMNS} WHERE r.case_id = {case} {RECORD_ORDER}");
    let count = format!("SELECT COUNT(*) FROM service_records WHERE case_id = {case}");
    let offset = (page.max(1) - 1) * RECORDS_PER_PAGE;
    query::page_counted(db, &select, &count, &args, RECORDS_PER_PAGE, offset).await
}

/// The page of its case's records (as [`records_page`] numbers them) that holds a record.
pub async fn page_of_record(db: &Db, case_id: Uuid, record_id: Uuid) -> Result<i64, sqlx::Error> {
    let mut args = Args::new();
    let (case, record) = (args.push(case_id), args.push(record_id));
    let sql = format!(
        "SELECT COUNT(*) FROM service_records n JOIN service_records r ON r.id = {record}
         WHERE n.case_id = {case} AND (n.occurred_on > r.occurred_on OR (n.occurred_on = r.occurred_on AND n.id > r.id))"
    );
    let (newer,): (i64,) = query::one(db, &sql, &args).await?;
    Ok(newer / RECORDS_PER_PAGE + 1)
}

/// A worker asks to close a case; the reason is required.
pub async fn request_closure(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    case_id: Uuid,
    reason: &str,
    version: Option<i64>,
) -> Result<(), AppError> {
    let case = get(db, scope, case_id).await?.ok_or(AppError::NotFound)?;
    if !case.is_open() || case.status() == Status::Closing {
        return Err(AppError::Conflict("case.not_closable"));
    }
    let mut errors = FieldErrors::default();
    let reason = crate::web::form::clean_name(reason, "reason", 1000, &mut errors);
    errors.into_result()?;
    let mut tx = db.begin().await?;
    bump(
        &mut tx,
        actor,
        case_id,
        version,
        "status = 'closing', closure_reason = $1, closure_requested_by = $2",
        vec![reason.clone().into(), actor.id.unwrap_or_default().into()],
    )
    .await?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "case.close_request",
            entity: "case",
            entity_id: Some(case_id.to_string()),
            detail: serde_json::json!({ "reason": reason }),
        },
    )
    .await?;
    tx.commit().await.map_err(AppError::from)
}

/// The manager approves (the case closes) or refuses (it goes back to where it was).
pub async fn decide_closure(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    case_id: Uuid,
    approve: bool,
) -> Result<(), AppError> {
    let case = get(db, scope, case_id).await?.ok_or(AppError::NotFound)?;
    if case.status() != Status::Closing {
        return Err(AppError::Conflict("case.no_closure_request"));
    }
    let mut tx = db.begin().await?;
    if approve {
        bump(
            &mut tx,
            actor,
            case_id,
            None,
            "status = 'closed', closed_on = $1, closed_by = $2, next_follow_up_on = NULL",
            vec![today().into(), actor.id.unwrap_or_default().into()],
        )
        .await?;
        // A closed case is nobody's to accept: an offer still pending is withdrawn with it, so
        // it leaves the receiving manager's list instead of waiting there to answer 409.
        write!(&mut tx, |c| sqlx::query(
            "UPDATE case_transfer_offers SET state = 'withdrawn', decided_at = $1, decided_by = $2
             WHERE case_id = $3 AND state = 'pending'"
        )
        .bind(Utc::now())
        .bind(actor.id)
        .bind(case_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    } else {
        let back = if case.plan_approved_on.is_some() {
            "planned"
        } else if assessments(db, case_id).await?.is_empty() {
            "intake"
        } else {
            "assessed"
        };
        bump(&mut tx, actor, case_id, None, "status = $1", vec![back.into()]).await?;
    }
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: if approve { "case.close" } else { "case.close_refused" },
            entity: "case",
            entity_id: Some(case_id.to_string()),
            detail: serde_json::Value::Null,
        },
    )
    .await?;
    tx.commit().await.map_err(AppError::from)
}

/// Open cases whose next follow-up is due within `days` (overdue ones first).
pub async fn due(
    db: &Db,
    scope: &Scope,
    worker: Option<Uuid>,
    days: i64,
    limit: i64,
) -> Result<Vec<Case>, sqlx::Error> {
    let mut args = Args::new();
    let mut wh = format!(
        "{} AND c.status <> 'closed' AND c.next_follow_up_on <= {}",
        args.scope("c.path", scope),
        args.push(today() + Duration::days(days))
    );
    if let Some(w) = worker {
        wh.push_str(&format!(" AND c.worker_id = {}", args.push(w)));
    }
    // The due ids first, from cases_open_due alone, then the rows and names of those only.
    let sql = format!(
        "SELECT {CASE_COLS} {CASE_FROM} WHERE c.id IN (SELECT c.id FROM cases c WHERE {wh} ORDER BY c.next_follow_up_on, c.id LIMIT {})
         ORDER BY c.next_follow_up_on, c.id",
        args.push(limit)
    );
    query::all(db, &sql, &args).await
}

/// Caseload and timing per worker, inside the scope.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Kpi {
    pub worker_id: Uuid,
    pub worker_name: String,
    pub station_name: String,
    pub open_cases: i64,
    pub overdue: i64,
    pub closed_cases: i64,
    /// Average days from intake to an approved plan.
    pub days_to_plan: Option<f64>,
    /// Average days from intake to closure.
    pub days_to_close: Option<f64>,
}

pub async fn kpis(db: &Db, scope: &Scope) -> Result<Vec<Kpi>, sqlx::Error> {
    let diff = |a: &str, b: &str| match db.backend() {
        Backend::Sqlite => format!("julianday({a}) - julianday({b})"),
        Backend::Postgres => format!("({a} - {b})::float8"),
    };
    let mut args = Args::new();
    // Aggregated from the caseload index alone, then named: the names never multiply the scan.
    let sql = format!(
        "SELECT k.worker_id, u.display_name AS worker_name, s.name AS station_name, k.open_cases, k.overdue,
                k.closed_cases, k.days_to_plan, k.days_to_close
         FROM (SELECT c.worker_id, c.station_id,
                      SUM(CASE WHEN c.status <> 'closed' THEN 1 ELSE 0 END) AS open_cases,
                      SUM(CASE WHEN c.status <> 'closed' AND c.next_follow_up_on < {t} THEN 1 ELSE 0 END) AS overdue,
                      SUM(CASE WHEN c.status = 'closed' THEN 1 ELSE 0 END) AS closed_cases,
                      AVG({to_plan}) AS days_to_plan, AVG({to_close}) AS days_to_close
               FROM cases c WHERE {scope} GROUP BY c.worker_id, c.station_id) k
         JOIN users u ON u.id = k.worker_id JOIN stations s ON s.id = k.station_id
         ORDER BY s.name, u.display_name",
        t = args.push(today()),
        to_plan = diff("c.plan_approved_on", "c.opened_on"),
        to_close = diff("c.closed_on", "c.opened_on"),
        scope = args.scope("c.path", scope),
    );
    query::all(db, &sql, &args).await
}

/// Keeps the client's address beside each of their cases (`cases.person_path`, read by
/// `people::store::visible`), inside the transaction that moves them or merges their record.
pub async fn repath_client(tx: &mut Tx, person_id: Uuid, path: &str) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query("UPDATE cases SET person_path = $1 WHERE person_id = $2")
        .bind(path)
        .bind(person_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Social workers and managers of a station, active: who a case can be given to.
pub async fn station_workers(db: &Db, station_id: Uuid) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT DISTINCT u.id, u.display_name FROM users u JOIN user_places up ON up.user_id = u.id
         JOIN stations s ON s.place_id = up.place_id
         WHERE s.id = $1 AND u.disabled = $2 AND u.role IN ('social_worker', 'station_manager')
         ORDER BY u.display_name"
    )
    .bind(station_id)
    .bind(false)
    .fetch_all(c)
    .await)
}

/// Gives an open case to another worker of the same station, with a reason; the case number,
/// plan and follow-up dates stay.
pub async fn reassign(
    db: &Db,
    scope: &Scope,
    actor: &Actor,
    case_id: Uuid,
    worker_id: Option<Uuid>,
    reason: &str,
) -> Result<(), AppError> {
    let case = get(db, scope, case_id).await?.ok_or(AppError::NotFound)?;
    if !case.is_open() {
        return Err(AppError::Conflict("case.closed"));
    }
    let mut errors = FieldErrors::default();
    let reason = crate::web::form::clean_name(reason, "reason", 500, &mut errors);
    let workers = station_workers(db, case.station_id).await?;
    let target = worker_id.and_then(|w| workers.iter().find(|(id, _)| *id == w).cloned());
    match &target {
        None => errors.add("worker_id", "error.bad_choice"),
        Some((id, _)) if *id == case.worker_id => errors.add("worker_id", "reassign.same_worker"),
        Some(_) => {}
    }
    errors.into_result()?;
    let (target_id, target_name) = target.expect("validated");
    let mut tx = db.begin().await?;
    bump(&mut tx, actor, case_id, None, "worker_id = $1", vec![target_id.into()]).await?;
    audit::record(
        &mut tx,
        actor,
        Entry {
            action: "case.reassign",
            entity: "case",
            entity_id: Some(case_id.to_string()),
            detail: serde_json::json!({ "from": case.worker_name, "to": target_name, "reason": reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
