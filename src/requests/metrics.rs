//! Request metrics (考核指标): 响应率, 按时办结率, 解决率, 满意率 and average handling time by
//! street, community, category, department or month. Every figure is a numerator over a
//! denominator that can be counted by hand from the request list; the rules are versioned
//! ([`FORMULA_VERSION`]) and written out in docs/metrics.md and on the page.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::store::{self, Viewer};
use crate::auth::Role;
use crate::db::query::{self, Args};
use crate::db::{Backend, Db};

/// Bumped whenever a counting rule changes, so a figure names the rules it was computed by.
pub const FORMULA_VERSION: &str = "1.0";

crate::code_enum!(
    /// What a metrics table is broken down by.
    Dimension, "metrics_by", [
    Street = "street",
    Community = "community",
    Category = "category",
    Department = "department",
    Month = "month",
]);

/// The counts behind one row. Rates are derived, never stored, so the page and the
/// spreadsheet show the same numerator and denominator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Tally {
    /// Requests taken in the period, in scope, not merged into another.
    pub counted: i64,
    /// Of those, the ones already answered or whose response deadline has passed.
    pub response_due: i64,
    /// Answered (first unit signed) no later than the response deadline.
    pub responded_on_time: i64,
    /// Requests resolved, or whose resolution deadline has passed.
    pub resolve_due: i64,
    /// Resolved no later than the resolution deadline (as extended by approved 延期).
    pub resolved_on_time: i64,
    /// Now resolved (办结) or closed after the callback.
    pub resolved: i64,
    /// With a satisfaction rating from the callback (the latest one).
    pub rated: i64,
    /// Rated 非常满意, 满意 or 基本满意.
    pub satisfied: i64,
    /// Hours from intake to resolution, summed over the resolved requests.
    pub handling_hours: f64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.counted += o.counted;
        self.response_due += o.response_due;
        self.responded_on_time += o.responded_on_time;
        self.resolve_due += o.resolve_due;
        self.resolved_on_time += o.resolved_on_time;
        self.resolved += o.resolved;
        self.rated += o.rated;
        self.satisfied += o.satisfied;
        self.handling_hours += o.handling_hours;
    }
    pub fn response_rate(&self) -> Option<f64> {
        ratio(self.responded_on_time, self.response_due)
    }
    pub fn on_time_rate(&self) -> Option<f64> {
        ratio(self.resolved_on_time, self.resolve_due)
    }
    pub fn resolution_rate(&self) -> Option<f64> {
        ratio(self.resolved, self.counted)
    }
    pub fn satisfaction_rate(&self) -> Option<f64> {
        ratio(self.satisfied, self.rated)
    }
    pub fn average_hours(&self) -> Option<f64> {
        (self.resolved > 0).then(|| self.handling_hours / self.resolved as f64)
    }
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// A percentage with one decimal, or a dash when nothing counts yet.
pub fn percent(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "—".into())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Row {
    /// The street's or community's path, the category code, the department's name or `YYYY-MM`.
    pub key: String,
    pub label: String,
    #[serde(flatten)]
    pub tally: Tally,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    pub formula_version: &'static str,
    pub by: String,
    /// First and last day of the period (local dates, both included).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The moment the request states were read: "deadline has passed" means before this.
    pub as_of: DateTime<Utc>,
    pub rows: Vec<Row>,
    /// All counted requests once. With `department`, a request handled by two departments is
    /// in two rows but once here.
    pub total: Tally,
}

/// Midnight in Beijing time of a local date, as an instant.
fn local_midnight(d: NaiveDate) -> DateTime<Utc> {
    let naive = d.and_hms_opt(0, 0, 0).expect("midnight exists");
    chrono_tz::Asia::Shanghai.from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc)).unwrap_or_else(|| {
        // China has no daylight saving time; this is unreachable but harmless.
        Utc.from_utc_datetime(&naive) - Duration::hours(8)
    })
}

#[derive(sqlx::FromRow)]
struct Group {
    key: String,
    category: String,
    month: String,
    #[sqlx(flatten)]
    tally: Tally,
}

pub async fn report(
    db: &Db,
    viewer: &Viewer,
    by: Dimension,
    from: NaiveDate,
    to: NaiveDate,
    as_of: DateTime<Utc>,
) -> Result<Report, sqlx::Error> {
    let (start, end) = (local_midnight(from), local_midnight(to + Duration::days(1)));
    let backend = db.backend();
    let hours = match backend {
        Backend::Sqlite => "(julianday(r.resolved_at) - julianday(r.created_at)) * 24.0",
        Backend::Postgres => "EXTRACT(EPOCH FROM (r.resolved_at - r.created_at))::float8 / 3600.0",
    };
    let month = match (by, backend) {
        (Dimension::Month, Backend::Sqlite) => "strftime('%Y-%m', r.created_at, '+8 hours')",
        (Dimension::Month, Backend::Postgres) => "to_char(r.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
        _ => "''",
    };
    let mut args = Args::new();
    let now = args.push(as_of);
    let tallies = format!(
        "COUNT(*) AS counted,
         COALESCE(SUM(CASE WHEN r.responded_at IS NOT NULL OR r.response_due <= {now} THEN 1 ELSE 0 END), 0) AS response_due,
         COALESCE(SUM(CASE WHEN r.responded_at IS NOT NULL AND r.responded_at <= r.response_due THEN 1 ELSE 0 END), 0) AS responded_on_time,
         COALESCE(SUM(CASE WHEN r.resolved_at IS NOT NULL OR r.resolve_due <= {now} THEN 1 ELSE 0 END), 0) AS resolve_due,
         COALESCE(SUM(CASE WHEN r.resolved_at IS NOT NULL AND r.resolved_at <= r.resolve_due THEN 1 ELSE 0 END), 0) AS resolved_on_time,
         COALESCE(SUM(CASE WHEN r.resolved_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS resolved,
         COALESCE(SUM(CASE WHEN r.satisfaction IS NOT NULL THEN 1 ELSE 0 END), 0) AS rated,
         COALESCE(SUM(CASE WHEN r.satisfaction IN ('very_satisfied', 'satisfied', 'basically_satisfied') THEN 1 ELSE 0 END), 0) AS satisfied,
         COALESCE(SUM(CASE WHEN r.resolved_at IS NOT NULL THEN {hours} ELSE 0.0 END), 0.0) AS handling_hours"
    );
    // Requests located in the caller's area; a department sees the requests it has a part in.
    let scope = if viewer.role == Role::DepartmentHandler {
        viewer.sees(&mut args)
    } else {
        args.scope("r.path", &viewer.scope)
    };
    let counted = format!(
        "{scope} AND r.status <> 'merged' AND r.created_at >= {} AND r.created_at < {}",
        args.push(start),
        args.push(end)
    );
    // The total once, then the groups: by place path and category (rolled up below) or by
    // the departments holding a part.
    let total: Tally = query::one(db, &format!("SELECT {tallies} FROM requests r WHERE {counted}"), &args).await?;
    let sql = if by == Dimension::Department {
        format!(
            "SELECT d.unit_name AS key, '' AS category, '' AS month, {tallies}
             FROM requests r JOIN (SELECT DISTINCT request_id, unit_name FROM request_parts
                                   WHERE unit_kind = 'org' AND status NOT IN ('returned', 'withdrawn')) d ON d.request_id = r.id
             WHERE {counted} GROUP BY d.unit_name"
        )
    } else {
        let group = if by == Dimension::Month { format!(", {month}") } else { String::new() };
        format!(
            "SELECT r.path AS key, r.category AS category, {month} AS month, {tallies}
             FROM requests r WHERE {counted} GROUP BY r.path, r.category{group}"
        )
    };
    let groups: Vec<Group> = query::all(db, &sql, &args).await?;
    let rows = roll_up(db, by, groups).await?;
    Ok(Report { formula_version: FORMULA_VERSION, by: by.as_str().into(), from, to, as_of, rows, total })
}

async fn roll_up(db: &Db, by: Dimension, groups: Vec<Group>) -> Result<Vec<Row>, sqlx::Error> {
    let mut acc: BTreeMap<String, (String, Tally)> = BTreeMap::new();
    let mut put = |key: String, label: String, t: &Tally| acc.entry(key).or_insert((label, Tally::default())).1.add(t);
    match by {
        Dimension::Department => groups.iter().for_each(|g| put(g.key.clone(), g.key.clone(), &g.tally)),
        Dimension::Month => groups.iter().for_each(|g| put(g.month.clone(), g.month.clone(), &g.tally)),
        Dimension::Category => {
            let names: HashMap<String, String> =
                store::categories(db, false).await?.into_iter().map(|c| (c.code, c.name)).collect();
            for g in &groups {
                put(
                    g.category.clone(),
                    names.get(&g.category).cloned().unwrap_or_else(|| g.category.clone()),
                    &g.tally,
                );
            }
        }
        Dimension::Street | Dimension::Community => {
            let kind = if by == Dimension::Street { "street" } else { "community" };
            let mut args = Args::new();
            let sql = format!("SELECT path, name FROM places WHERE kind = {}", args.push(kind));
            let areas: HashMap<String, String> =
                query::all::<(String, String)>(db, &sql, &args).await?.into_iter().collect();
            for g in &groups {
                // The place's own path or its nearest ancestor of the wanted kind; paths are
                // `/seg/seg/…/`, so every ancestor is a prefix ending in '/'.
                let found = g
                    .key
                    .char_indices()
                    .filter(|(_, c)| *c == '/')
                    .map(|(i, _)| &g.key[..=i])
                    .find_map(|p| areas.get(p).map(|name| (p.to_string(), name.clone())));
                let (key, label) = found.unwrap_or_else(|| (String::new(), String::new()));
                put(key, label, &g.tally);
            }
        }
    }
    let mut rows: Vec<Row> = acc.into_iter().map(|(key, (label, tally))| Row { key, label, tally }).collect();
    if by != Dimension::Month {
        rows.sort_by(|a, b| a.label.cmp(&b.label));
    }
    Ok(rows)
}
