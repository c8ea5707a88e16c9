//! The service ledger (服务台账): every service record of the caller's stations in a period, as
//! xlsx with Chinese headers. Counselling notes stay out; the export is audited.

use axum::extract::State;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use super::model::RecordKind;
use crate::audit::{self, Entry};
use crate::auth::Caller;
use crate::db::query::{self, Args};
use crate::error::{AppError, AppResult};
use crate::ledger_xlsx::{self, Cell, Sheet};
use crate::people::export::{unit_name, xlsx_response};
use crate::people::model::parse_date;
use crate::people::store::today;
use crate::web::AppState;
use crate::web::extract::Q;

#[derive(Deserialize, Default)]
pub struct Period {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The period asked for, this month by default; at most a year.
fn period(p: &Period) -> AppResult<(NaiveDate, NaiveDate)> {
    let today = today();
    let month_start = today - Duration::days(i64::from(chrono::Datelike::day(&today)) - 1);
    let parse = |v: &Option<String>, d: NaiveDate| match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(d),
        Some(s) => parse_date(s).ok_or_else(|| AppError::field("from", "error.date_format")),
    };
    let (from, to) = (parse(&p.from, month_start)?, parse(&p.to, today)?);
    if to < from || (to - from).num_days() > 366 {
        return Err(AppError::field("to", "ledger.bad_period"));
    }
    Ok((from, to))
}

#[derive(sqlx::FromRow)]
struct Line {
    occurred_on: NaiveDate,
    number: String,
    station: String,
    person: String,
    kind: String,
    minutes: i64,
    worker: Option<String>,
    notes: String,
    referred_to: Option<String>,
    /// The path of the station holding the case now.
    case_path: String,
}

pub async fn ledger(State(st): State<AppState>, caller: Caller, Q(p): Q<Period>) -> AppResult<Response> {
    let (from, to) = period(&p)?;
    let mut args = Args::new();
    let sql = format!(
        "SELECT r.occurred_on, c.number, s.name AS station, p.name AS person, r.kind, r.minutes, u.display_name AS worker, r.notes, r.referred_to, c.path AS case_path
         FROM service_records r JOIN cases c ON c.id = r.case_id JOIN persons p ON p.id = c.person_id JOIN stations s ON s.id = r.station_id
         LEFT JOIN users u ON u.id = r.created_by
         WHERE {} AND r.occurred_on >= {} AND r.occurred_on <= {} ORDER BY r.occurred_on, c.number LIMIT 200000",
        args.scope("r.path", &caller.scope),
        args.push(from),
        args.push(to)
    );
    let lines: Vec<Line> = query::all(&st.db, &sql, &args).await?;
    let tr = crate::i18n::Tr(crate::i18n::Lang::Zh);
    let rows: Vec<Vec<Cell>> = lines
        .iter()
        .map(|l| {
            let restricted = RecordKind::parse(&l.kind).is_some_and(|k| k.is_restricted());
            // The station's work stays on its ledger after the case moved on; who the client is
            // and what was written go with the case to the station holding it.
            let moved_on = !caller.scope.covers(&l.case_path);
            let hidden = |text: String| if moved_on { tr.t("ledger.moved_on") } else { text };
            vec![
                Cell::Date(l.occurred_on),
                Cell::text(l.station.as_str()),
                Cell::text(l.number.as_str()),
                Cell::Text(hidden(l.person.clone())),
                Cell::Text(tr.t(&format!("record.{}", l.kind))),
                Cell::Int(l.minutes),
                Cell::Text(l.worker.clone().unwrap_or_default()),
                Cell::Text(hidden(l.referred_to.clone().unwrap_or_default())),
                Cell::Text(hidden(if restricted { tr.t("record.restricted") } else { l.notes.clone() })),
            ]
        })
        .collect();
    let unit = unit_name(&st.db, &caller.scope, None).await?;
    let sheet = Sheet {
        name: "服务台账",
        title: Some("社工站服务台账"),
        unit: &unit,
        period: format!("{from} 至 {to}"),
        headers: &[
            "服务日期",
            "社工站",
            "个案编号",
            "服务对象",
            "服务类型",
            "用时(分钟)",
            "社工",
            "转介至",
            "服务内容",
        ],
        rows,
        signature: true,
        text_columns: &[],
    };
    let rows = sheet.rows.len();
    let bytes = ledger_xlsx::workbook(&[sheet]).map_err(|e| AppError::Internal(e.into()))?;
    audit::record_alone(
        &st.db,
        &caller.actor(),
        Entry {
            action: "ledger.export",
            entity: "service_record",
            entity_id: None,
            detail: serde_json::json!({ "from": from, "to": to, "rows": rows }),
        },
    )
    .await?;
    Ok(xlsx_response(bytes, &format!("服务台账-{from}-{to}.xlsx")))
}
