//! Reference data the bureau edits: request categories with their default units and time
//! limits, and the holiday table behind the working-day calendar.

use super::*;
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

pub(super) const CATEGORY_COLS: &str = "code, name, group_name, description, keywords, default_unit, default_org_id, response_hours, resolve_days, attributes, active, version";

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
    pub(super) calendar_stamp: Option<String>,
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

pub(super) fn positive(v: &str, field: &str, max: i64, errors: &mut FieldErrors) -> i64 {
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

pub(super) fn to_range(r: &HolidayRow) -> HolidayRange {
    HolidayRange {
        name: r.name.clone(),
        kind: if r.kind == "workday" { DayKind::Workday } else { DayKind::Holiday },
        start: r.start_on,
        end: r.end_on,
    }
}

/// The holiday table's stamp (`reference_stamps`), as a scalar subquery to read with other rows.
pub(super) const CALENDAR_STAMP: &str = "(SELECT stamp FROM reference_stamps WHERE name = 'holidays')";

/// This process's parsed copy of the holiday table and the stamp it was read at.
pub(super) static CALENDAR: RwLock<Option<(String, Arc<Calendar>)>> = RwLock::new(None);

/// The calendar as the bureau keeps it. An edit on one instance must count on every other at
/// once, so each use reads the table's stamp, and the table itself only when the stamp differs
/// from this process's copy.
pub async fn calendar(db: &Db) -> Result<Arc<Calendar>, sqlx::Error> {
    let (stamp,): (Option<String>,) = query::one(db, &format!("SELECT {CALENDAR_STAMP}"), &Args::new()).await?;
    calendar_at(db, stamp).await
}

/// The calendar at `stamp`, read with some other row (intake reads it with the category).
pub(super) async fn calendar_at(db: &Db, stamp: Option<String>) -> Result<Arc<Calendar>, sqlx::Error> {
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
pub(super) struct StampedHoliday {
    #[sqlx(flatten)]
    row: HolidayRow,
    stamp: Option<String>,
}

/// Marks a change of the holiday table, in the transaction that makes it.
pub(in crate::requests) async fn restamp_calendar(tx: &mut Tx) -> Result<(), sqlx::Error> {
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

pub(in crate::requests) async fn insert_range(
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
    if let Err(problems) = crate::requests::calendar::validate_ranges(&all) {
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
