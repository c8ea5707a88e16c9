//! Roster export to xlsx with Chinese headers. Numbers stay masked; children under 14 never
//! leave in bulk; a roster larger than `LINLI_EXPORT_MAX_PEOPLE` needs a station manager (or
//! the bureau), who exports it or approves a worker's request; every export is audited.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::model::Tag;
use super::pages::ListQuery;
use super::store::{self, PersonFilter, today};
use crate::audit::{self, Entry};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::ledger_xlsx::{self, Cell, Sheet};
use crate::web::AppState;
use crate::web::extract::Q;

/// An xlsx download with a file name people recognise (RFC 5987 for the Chinese part).
pub fn xlsx_response(bytes: Vec<u8>, name: &str) -> Response {
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    );
    let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"export.xlsx\"; filename*=UTF-8''{encoded}")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// A list of text cells under a header, through the ledger writer (frozen header, filter,
/// fitted widths, neutralised text). Exports that have types use `ledger_xlsx` directly.
pub fn workbook(headers: &[&str], rows: &[Vec<String>]) -> Result<Vec<u8>, AppError> {
    let sheet = Sheet {
        name: "Sheet1",
        title: None,
        unit: "",
        period: String::new(),
        headers,
        rows: rows.iter().map(|r| r.iter().map(|v| Cell::text(v.as_str())).collect()).collect(),
        signature: false,
        text_columns: &[],
    };
    ledger_xlsx::workbook(&[sheet]).map_err(|e| AppError::Internal(e.into()))
}

/// The name of the place a ledger covers: the chosen place, or the caller's own (several
/// places are joined with 、).
pub async fn unit_name(
    db: &crate::db::Db,
    scope: &crate::auth::Scope,
    place_id: Option<uuid::Uuid>,
) -> AppResult<String> {
    let mut args = crate::db::query::Args::new();
    let sql = match place_id {
        Some(id) => format!("SELECT name FROM places WHERE id = {} AND {} ", args.push(id), args.scope("path", scope)),
        None => {
            if scope.roots.is_empty() {
                return Ok(String::new());
            }
            format!("SELECT name FROM places WHERE path IN ({}) ORDER BY path", args.list(&scope.roots))
        }
    };
    let names: Vec<(String,)> = crate::db::query::all(db, &sql, &args).await?;
    Ok(names.into_iter().map(|n| n.0).collect::<Vec<_>>().join("、"))
}

pub async fn roster(State(st): State<AppState>, caller: Caller, Q(q): Q<ListQuery>) -> AppResult<Response> {
    let tag = q.tag.clone().filter(|t| !t.is_empty());
    if tag.as_deref().and_then(Tag::parse).is_some_and(|t| t.is_child_tag()) {
        return Err(AppError::Conflict("export.children_refused"));
    }
    // Above the configured size a roster needs a station manager (or the bureau): they export it
    // themselves, or approve a worker's request (people::export_requests).
    let limit = st.cfg.export_max_people as i64;
    let approver = caller.is(super::export_requests::APPROVERS);
    let fetch = if approver { MAX_ROSTER } else { limit };
    build(&st, &caller, &q, fetch, None).await
}

/// The most people one roster holds, approved or not.
pub const MAX_ROSTER: i64 = 100_000;

fn filter_of(q: &ListQuery) -> PersonFilter {
    PersonFilter {
        place_id: q.place_id.as_deref().and_then(|p| uuid::Uuid::parse_str(p).ok()),
        tag: q.tag.clone().filter(|t| !t.is_empty()),
        clients: Some(q.clients.as_deref() == Some("on")),
        q: q.q.clone().filter(|s| !s.trim().is_empty()),
        page: None,
    }
}

/// How many people a roster with this filter would hold for the caller.
pub async fn count(st: &AppState, caller: &Caller, q: &ListQuery) -> AppResult<i64> {
    Ok(store::list(&st.db, &caller.scope, &filter_of(q), 1, 0).await?.1)
}

/// The roster as xlsx, audited; over `fetch` people it is a request page instead (409).
pub async fn build(
    st: &AppState,
    caller: &Caller,
    q: &ListQuery,
    fetch: i64,
    approved: Option<uuid::Uuid>,
) -> AppResult<Response> {
    let limit = st.cfg.export_max_people as i64;
    let (people, total) = store::list(&st.db, &caller.scope, &filter_of(q), fetch, 0).await?;
    if total > fetch {
        return super::export_requests::ask_page(st, caller, q, total).await;
    }
    let today = today();
    let kept: Vec<_> = people.into_iter().filter(|p| !p.is_child(today)).collect();
    let tr = crate::i18n::Tr(crate::i18n::Lang::Zh);
    let mut tags: std::collections::HashMap<uuid::Uuid, Vec<String>> = std::collections::HashMap::new();
    for chunk in kept.chunks(500) {
        let ids: Vec<uuid::Uuid> = chunk.iter().map(|p| p.id).collect();
        let mut args = crate::db::query::Args::new();
        let sql = format!(
            "SELECT person_id, tag FROM person_tags WHERE person_id IN ({}) AND starts_on <= {d} AND (ends_on IS NULL OR ends_on >= {d}) ORDER BY starts_on",
            args.list(&ids),
            d = args.push(today),
        );
        for (pid, tag) in crate::db::query::all::<(uuid::Uuid, String)>(&st.db, &sql, &args).await? {
            if let Some(t) = Tag::parse(&tag) {
                tags.entry(pid).or_default().push(tr.t(&t.label_key()));
            }
        }
    }
    let mut rows = Vec::new();
    for p in &kept {
        let tags = tags.remove(&p.id).unwrap_or_default();
        rows.push(vec![
            Cell::Int(rows.len() as i64 + 1),
            Cell::text(p.name.as_str()),
            Cell::text(p.sex.as_deref().map(|s| tr.t(&format!("sex.{s}"))).unwrap_or_default()),
            Cell::opt_date(p.birth_date),
            // Text cells: masked or not, an ID number must never become 1.4e17 in Excel.
            Cell::text(p.id_masked.clone().unwrap_or_default()),
            Cell::text(p.phone_masked.clone().unwrap_or_default()),
            Cell::text(p.place_name.as_str()),
            Cell::text(p.address()),
            Cell::text(tags.join("、")),
        ]);
    }
    let unit = unit_name(&st.db, &caller.scope, filter_of(q).place_id).await?;
    let sheet = Sheet {
        name: "居民名册",
        title: Some("居民花名册"),
        unit: &unit,
        period: format!("截至 {today}"),
        headers: &[
            "序号",
            "姓名",
            "性别",
            "出生日期",
            "身份证号(脱敏)",
            "联系电话(脱敏)",
            "社区/网格",
            "住址",
            "人群标签",
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
            action: "person.export",
            entity: "person",
            entity_id: None,
            detail: serde_json::json!({ "rows": rows, "children_left_out": total as usize - rows, "over_limit": total > limit, "tag": q.tag, "place_id": q.place_id, "request": approved }),
        },
    )
    .await?;
    Ok(xlsx_response(bytes, &format!("居民名册-{today}.xlsx")))
}
