//! The bureau's holiday table screen (节假日与调休): one year's public holidays and make-up
//! working days, edited as rows and saved as a whole. Saving checks the year together with its
//! neighbours (no overlaps, make-up days on weekends, ranges that run forwards); a refused table
//! comes back with each row's problem and every typed value kept.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Datelike;
use serde::Deserialize;

use super::calendar::{DayKind, HolidayRange, validate_ranges};
use super::store;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::people::model::parse_date;
use crate::web::AppState;
use crate::web::extract::{PageForm, Q};
use crate::web::render::{Ctx, page, page_with_status};

/// Blank rows offered under the year's ranges for new entries.
const BLANK_ROWS: usize = 4;

#[derive(Deserialize, Default)]
pub struct YearQuery {
    pub year: Option<i32>,
    /// Set by the redirect after a save.
    pub saved: Option<String>,
}

/// The rows as typed: parallel lists, one entry per row of the form (blank rows included).
#[derive(Deserialize, Default)]
pub struct CalendarForm {
    #[serde(default)]
    pub year: i32,
    #[serde(default)]
    pub name: Vec<String>,
    #[serde(default)]
    pub kind: Vec<String>,
    #[serde(default)]
    pub start: Vec<String>,
    #[serde(default)]
    pub end: Vec<String>,
}

#[derive(Clone, Default)]
pub struct RowView {
    pub name: String,
    pub kind: String,
    pub start: String,
    pub end: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "requests/calendar.html")]
struct CalendarPage {
    ctx: Ctx,
    year: i32,
    rows: Vec<RowView>,
    error: Option<String>,
    saved: bool,
}

fn render(st: &AppState, caller: &Caller, year: i32, mut rows: Vec<RowView>, error: Option<String>) -> CalendarPage {
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/requests", "holiday.title");
    rows.extend(std::iter::repeat_n(RowView { kind: "holiday".into(), ..Default::default() }, BLANK_ROWS));
    CalendarPage { ctx, year, rows, error, saved: false }
}

pub async fn show(State(st): State<AppState>, caller: Caller, Q(q): Q<YearQuery>) -> AppResult<Response> {
    let year = q.year.unwrap_or_else(|| crate::people::store::today().year());
    if !(2000..=2100).contains(&year) {
        return Err(AppError::bad("holiday.bad_year"));
    }
    let rows = store::holiday_rows(&st.db)
        .await?
        .into_iter()
        .filter(|r| r.start_on.year() == year)
        .map(|r| RowView {
            name: r.name,
            kind: r.kind,
            start: r.start_on.to_string(),
            end: r.end_on.to_string(),
            error: None,
        })
        .collect();
    let mut view = render(&st, &caller, year, rows, None);
    view.saved = q.saved.is_some();
    Ok(page(&view))
}

pub async fn save(
    State(st): State<AppState>,
    caller: Caller,
    PageForm(f): PageForm<CalendarForm>,
) -> AppResult<Response> {
    let tr = crate::i18n::Tr(caller.lang);
    let n = f.name.len().max(f.kind.len()).max(f.start.len()).max(f.end.len());
    let at = |v: &Vec<String>, i: usize| v.get(i).map(|s| s.trim().to_string()).unwrap_or_default();
    let mut rows: Vec<RowView> = (0..n)
        .map(|i| RowView {
            name: at(&f.name, i),
            kind: at(&f.kind, i),
            start: at(&f.start, i),
            end: at(&f.end, i),
            error: None,
        })
        // A row left blank (or cleared) is not an entry.
        .filter(|r| !(r.name.is_empty() && r.start.is_empty() && r.end.is_empty()))
        .collect();
    // The rows that read as ranges, with their row numbers; the others carry their problem.
    let mut ranges = Vec::new();
    let mut at_row = Vec::new();
    let mut bad = false;
    for (i, r) in rows.iter_mut().enumerate() {
        let kind = match r.kind.as_str() {
            "holiday" => Some(DayKind::Holiday),
            "workday" => Some(DayKind::Workday),
            _ => None,
        };
        let (start, end) = (parse_date(&r.start), parse_date(&r.end));
        let code = if r.name.is_empty() {
            Some("holiday.name_required")
        } else if r.name.chars().count() > 40 {
            Some("error.too_long")
        } else if kind.is_none() {
            Some("error.bad_choice")
        } else if start.is_none() || end.is_none() {
            Some("error.date_format")
        } else if start.is_some_and(|s| s.year() != f.year) {
            Some("holiday.wrong_year")
        } else {
            None
        };
        match (code, kind, start, end) {
            (None, Some(kind), Some(start), Some(end)) => {
                ranges.push(HolidayRange { name: r.name.clone(), kind, start, end });
                at_row.push(i);
            }
            (code, ..) => {
                r.error = code.map(|c| tr.t(c));
                bad = true;
            }
        }
    }
    if let Err(problems) = validate_ranges(&ranges) {
        for p in problems {
            for i in std::iter::once(p.index).chain(p.other) {
                rows[at_row[i]].error.get_or_insert_with(|| tr.t(p.code));
            }
        }
        bad = true;
    }
    let refused = |rows: Vec<RowView>, error: Option<String>| {
        let view = render(&st, &caller, f.year, rows, error.or_else(|| Some(tr.t("error.invalid"))));
        Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY))
    };
    if bad {
        return refused(rows, None);
    }
    ranges.sort_by_key(|r| r.start);
    match store::replace_year(&st.db, &caller.actor(), f.year, &ranges).await {
        Ok(()) => Ok(Redirect::to(&format!("/request-calendar?year={}&saved=1", f.year)).into_response()),
        // The year against its neighbours (a range running into the next year's first one).
        Err(AppError::Invalid(e)) => {
            let msg = e.0.iter().map(|(_, c)| tr.t(c)).collect::<Vec<_>>().join("；");
            refused(rows, Some(msg))
        }
        Err(e) => Err(e),
    }
}
