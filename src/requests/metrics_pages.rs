//! The metrics page, its spreadsheet (rates as live formulas over the counts beside them) and
//! the same figures as JSON.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate, Utc};
use rust_xlsxwriter::{Format, Workbook};
use serde::Deserialize;

use super::metrics::{self, Dimension, Report, Tally, percent};
use super::store;
use crate::audit::{self, Entry};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::i18n::{Lang, Tr};
use crate::ledger_xlsx::{self, Cell, Sheet};
use crate::people::export::{unit_name, xlsx_response};
use crate::people::model::parse_date;
use crate::people::store::today;
use crate::web::AppState;
use crate::web::extract::Q;
use crate::web::render::{Ctx, page, page_with_status};

/// Who reads the figures: the bureau, stations and communities for their area, a department
/// for the requests it had a part in.
pub const METRICS_READERS: &[Role] =
    &[Role::BureauAdmin, Role::StationManager, Role::CommunityStaff, Role::DepartmentHandler];

/// The counting rules in the order they are shown; the same text is in docs/metrics.md.
pub const FORMULA_KEYS: &[&str] = &[
    "metrics.formula_counted",
    "metrics.formula_response",
    "metrics.formula_on_time",
    "metrics.formula_resolution",
    "metrics.formula_satisfaction",
    "metrics.formula_average",
    "metrics.formula_department",
];

#[derive(Deserialize, Default, Clone, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// First day, YYYY-MM-DD (default: the first of this month).
    pub from: Option<String>,
    /// Last day, included (default: today). At most a year after `from`.
    pub to: Option<String>,
    /// street, community, category, department or month (default street).
    pub by: Option<String>,
}

struct Asked {
    by: Dimension,
    from: NaiveDate,
    to: NaiveDate,
}

fn parse(q: &MetricsQuery) -> Result<Asked, FieldErrors> {
    let mut errors = FieldErrors::default();
    let today = today();
    let month_start = today.with_day(1).unwrap_or(today);
    let date = |v: &Option<String>, field: &str, d: NaiveDate, errors: &mut FieldErrors| match v
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Some(d),
        // Years far outside any request's life are typos (and would overflow the period's end).
        Some(s) => parse_date(s).filter(|d| (2000..=2100).contains(&d.year())).or_else(|| {
            errors.add(field, "error.date_format");
            None
        }),
    };
    let from = date(&q.from, "from", month_start, &mut errors);
    let to = date(&q.to, "to", today, &mut errors);
    let by = match q.by.as_deref().filter(|s| !s.is_empty()) {
        None => Some(Dimension::Street),
        Some(s) => Dimension::parse(s).or_else(|| {
            errors.add("by", "error.bad_choice");
            None
        }),
    };
    if let (Some(f), Some(t)) = (from, to)
        && (t < f || (t - f).num_days() > 366)
    {
        errors.add("to", "ledger.bad_period");
    }
    match (by, from, to) {
        (Some(by), Some(from), Some(to)) if errors.is_empty() => Ok(Asked { by, from, to }),
        _ => Err(errors),
    }
}

async fn compute(st: &AppState, caller: &Caller, a: &Asked) -> AppResult<Report> {
    let viewer = store::viewer(&st.db, caller).await?;
    Ok(metrics::report(&st.db, &viewer, a.by, a.from, a.to, Utc::now()).await?)
}

fn row_label(tr: Tr, label: &str) -> String {
    if label.is_empty() { tr.t("metrics.unassigned") } else { label.to_string() }
}

pub struct RowView {
    pub label: String,
    pub counted: i64,
    /// (the rate's name, its percentage, numerator/denominator): the name labels the cell on a phone.
    pub cells: Vec<(String, String, String)>,
    pub average: String,
}

fn row_view(tr: Tr, label: &str, t: &Tally) -> RowView {
    RowView {
        label: row_label(tr, label),
        counted: t.counted,
        cells: vec![
            (
                tr.t("metrics.response_rate"),
                percent(t.response_rate()),
                format!("{}/{}", t.responded_on_time, t.response_due),
            ),
            (
                tr.t("metrics.on_time_rate"),
                percent(t.on_time_rate()),
                format!("{}/{}", t.resolved_on_time, t.resolve_due),
            ),
            (tr.t("metrics.resolution_rate"), percent(t.resolution_rate()), format!("{}/{}", t.resolved, t.counted)),
            (tr.t("metrics.satisfaction_rate"), percent(t.satisfaction_rate()), format!("{}/{}", t.satisfied, t.rated)),
        ],
        average: t.average_hours().map(|h| format!("{h:.1}")).unwrap_or_else(|| "—".into()),
    }
}

#[derive(Template)]
#[template(path = "requests/metrics.html")]
struct MetricsPage {
    ctx: Ctx,
    from: String,
    to: String,
    by: String,
    dims: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    report: Option<(Vec<RowView>, RowView)>,
    version: &'static str,
    as_of: String,
    formulas: Vec<String>,
    xlsx: String,
}

impl MetricsPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

pub async fn page_view(State(st): State<AppState>, caller: Caller, Q(q): Q<MetricsQuery>) -> AppResult<Response> {
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/requests", "metrics.title");
    let tr = ctx.tr;
    let asked = parse(&q);
    let (report, errors) = match &asked {
        Ok(a) => (Some(compute(&st, &caller, a).await?), Vec::new()),
        Err(e) => (None, e.0.iter().map(|(f, code)| (f.clone(), tr.t(code))).collect()),
    };
    let shown = |v: &Option<String>, d: Option<NaiveDate>| d.map(|d| d.to_string()).or(v.clone()).unwrap_or_default();
    let view = MetricsPage {
        from: shown(&q.from, asked.as_ref().ok().map(|a| a.from)),
        to: shown(&q.to, asked.as_ref().ok().map(|a| a.to)),
        by: asked.as_ref().map(|a| a.by.as_str().to_string()).unwrap_or_else(|_| q.by.clone().unwrap_or_default()),
        dims: Dimension::ALL.iter().map(|d| (d.as_str().to_string(), tr.t(&d.label_key()))).collect(),
        errors,
        report: report.as_ref().map(|r| {
            (
                r.rows.iter().map(|row| row_view(tr, &row.label, &row.tally)).collect(),
                row_view(tr, &tr.t("metrics.total"), &r.total),
            )
        }),
        version: metrics::FORMULA_VERSION,
        as_of: report.as_ref().map(|r| super::pages::local(r.as_of)).unwrap_or_default(),
        formulas: FORMULA_KEYS.iter().map(|k| tr.t(k)).collect(),
        xlsx: report
            .as_ref()
            .map(|r| format!("/requests/metrics.xlsx?from={}&to={}&by={}", r.from, r.to, r.by))
            .unwrap_or_default(),
        ctx,
    };
    if report.is_some() { Ok(page(&view)) } else { Ok(page_with_status(&view, StatusCode::UNPROCESSABLE_ENTITY)) }
}

/// The figures as JSON: counts per row, with the formula version they were computed by.
#[utoipa::path(get, path = "/api/v1/requests/metrics", operation_id = "get_request_metrics", tag = "requests", params(MetricsQuery),
    responses((status = 200, body = Report), (status = 422, body = crate::error::ErrorBody)))]
pub async fn api(State(st): State<AppState>, caller: Caller, Q(q): Q<MetricsQuery>) -> AppResult<Json<Report>> {
    let asked = parse(&q).map_err(AppError::Invalid)?;
    Ok(Json(compute(&st, &caller, &asked).await?))
}

pub async fn xlsx(State(st): State<AppState>, caller: Caller, Q(q): Q<MetricsQuery>) -> AppResult<Response> {
    let asked = parse(&q).map_err(AppError::Invalid)?;
    let report = compute(&st, &caller, &asked).await?;
    let unit = unit_name(&st.db, &caller.scope, None).await?;
    let bytes = workbook(&report, &unit).map_err(|e| AppError::Internal(e.into()))?;
    audit::record_alone(
        &st.db,
        &caller.actor(),
        Entry {
            action: "metrics.export",
            entity: "request",
            entity_id: None,
            detail: serde_json::json!({ "from": report.from, "to": report.to, "by": report.by, "rows": report.rows.len() }),
        },
    )
    .await?;
    Ok(xlsx_response(bytes, &format!("诉求考核指标-{}-{}-{}.xlsx", report.by, report.from, report.to)).into_response())
}

/// Column headers of the spreadsheet; rate columns are formulas over the two columns before.
const HEADERS: [&str; 15] = [
    "维度",
    "纳入统计数",
    "应响应数",
    "按时响应数",
    "响应率",
    "应办结数",
    "按时办结数",
    "按时办结率",
    "已办结数",
    "解决率",
    "已回访数",
    "满意数",
    "满意率",
    "办理总时长(小时)",
    "平均办理时长(小时)",
];

fn workbook(r: &Report, unit: &str) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let tr = Tr(Lang::Zh);
    let bold = Format::new().set_bold();
    let mut lines: Vec<(String, &Tally)> = r.rows.iter().map(|row| (row_label(tr, &row.label), &row.tally)).collect();
    lines.push((tr.t("metrics.total"), &r.total));
    // Each rate is the formula with its computed value cached, so the sheet opens with the
    // figures and anyone can see (and re-check) what divides what; 0/0 caches a blank.
    let rate = |num: char, den: char, value: Option<f64>, percent: bool| Cell::Rate {
        formula: format!("=IF({den}{{r}}=0,\"\",{num}{{r}}/{den}{{r}})"),
        value,
        percent,
    };
    let rows = lines
        .iter()
        .map(|(label, t)| {
            vec![
                Cell::text(label.as_str()),
                Cell::Int(t.counted),
                Cell::Int(t.response_due),
                Cell::Int(t.responded_on_time),
                rate('D', 'C', t.response_rate(), true),
                Cell::Int(t.resolve_due),
                Cell::Int(t.resolved_on_time),
                rate('G', 'F', t.on_time_rate(), true),
                Cell::Int(t.resolved),
                rate('I', 'B', t.resolution_rate(), true),
                Cell::Int(t.rated),
                Cell::Int(t.satisfied),
                rate('L', 'K', t.satisfaction_rate(), true),
                Cell::Decimal(t.handling_hours),
                rate('N', 'I', t.average_hours(), false),
            ]
        })
        .collect();
    let mut book = Workbook::new();
    ledger_xlsx::add_sheet(
        &mut book,
        &Sheet {
            name: "指标",
            title: Some("诉求办理考核指标"),
            unit,
            period: format!("{} 至 {}", r.from, r.to),
            headers: &HEADERS,
            rows,
            signature: false,
            text_columns: &[],
        },
    )?;
    let notes = book.add_worksheet().set_name("口径")?;
    notes.set_column_width(0, 16)?;
    notes.set_column_width(1, 100)?;
    let facts = [
        ("口径版本", metrics::FORMULA_VERSION.to_string()),
        ("统计期间", format!("{} 至 {}（按受理时间，北京时间）", r.from, r.to)),
        ("统计时点", super::pages::local(r.as_of)),
        ("维度", tr.t(&format!("metrics_by.{}", r.by))),
    ];
    for (i, (k, v)) in facts.iter().enumerate() {
        notes.write_string_with_format(i as u32, 0, *k, &bold)?;
        notes.write_string(i as u32, 1, v)?;
    }
    for (i, key) in FORMULA_KEYS.iter().enumerate() {
        notes.write_string((facts.len() + 1 + i) as u32, 1, tr.t(key))?;
    }
    book.save_to_buffer()
}
