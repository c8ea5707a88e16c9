//! The audit log screen and API (auditor and bureau administrator).

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, AuditFilter, AuditRow};
use crate::app::{Access, AppState, RouteDef, r};
use crate::auth::Caller;
use crate::auth::roles::AUDIT_READERS;
use crate::web::error::AppResult;
use crate::web::extract::Q;
use crate::web::form::{Cell, Field};
use crate::web::render::{Ctx, page};
use crate::web::views::{ListPage, query_of};

pub fn routes() -> Vec<RouteDef> {
    vec![
        r(Method::GET, "/audit", Access::Roles(AUDIT_READERS), list_page),
        r(Method::GET, "/api/v1/audit", Access::Roles(AUDIT_READERS), list_api),
    ]
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    entity: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Keyset cursor: rows with a smaller sequence number.
    before: Option<i64>,
    page_size: Option<i64>,
}

impl AuditQuery {
    fn filter(&self) -> AuditFilter {
        AuditFilter {
            actor: self.actor.clone(),
            action: self.action.clone(),
            entity: self.entity.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }
}

const PAGE: i64 = 100;

async fn list_page(State(st): State<AppState>, caller: Caller, Q(q): Q<AuditQuery>) -> AppResult<Response> {
    let rows = store::list(&st.db, &q.filter(), q.before, PAGE + 1).await?;
    let more = rows.len() as i64 > PAGE;
    let rows: Vec<AuditRow> = rows.into_iter().take(PAGE as usize).collect();
    let ctx = Ctx::new(st.cfg.demo, Some(&caller), None, "/audit", "nav.audit");
    let tr = ctx.tr;
    let headers = ["audit.at", "audit.actor", "audit.action", "audit.entity", "audit.ip", "audit.detail"]
        .iter()
        .map(|k| tr.t(k).to_string())
        .collect();
    let last = rows.last().map(|r| r.seq);
    let cells = rows
        .into_iter()
        .map(|r| {
            vec![
                Cell::text(crate::web::local_time(&r.at)),
                Cell::text(r.actor),
                Cell::text(r.action),
                Cell::text(format!("{} {}", r.entity, r.entity_id.unwrap_or_default())),
                Cell::text(r.ip.unwrap_or_default()),
                Cell::text(if r.detail == "null" { String::new() } else { r.detail }),
            ]
        })
        .collect::<Vec<_>>();
    let n = cells.len() as i64;
    let mut view = ListPage::new(ctx, headers, cells, n, 1, PAGE);
    view.filters = vec![
        Field::text(tr, "actor", "audit.actor", q.actor.as_deref().unwrap_or(""), 64, false),
        Field::text(tr, "action", "audit.action", q.action.as_deref().unwrap_or(""), 64, false),
        Field::text(tr, "entity", "audit.entity", q.entity.as_deref().unwrap_or(""), 64, false),
        Field::text(tr, "from", "audit.from", q.from.as_deref().unwrap_or(""), 32, false).hint("YYYY-MM-DD".into()),
        Field::text(tr, "to", "audit.to", q.to.as_deref().unwrap_or(""), 32, false).hint("YYYY-MM-DD".into()),
    ];
    let base =
        query_of(&[("actor", q.actor), ("action", q.action), ("entity", q.entity), ("from", q.from), ("to", q.to)]);
    if more && let Some(seq) = last {
        view.actions.push((tr.t("audit.older").to_string(), format!("/audit?{base}before={seq}")));
    }
    Ok(page(&view))
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRow>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Audit rows, newest first, filtered; keyset-paginated with `before`.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit_entries", tag = "audit",
    params(AuditFilter, ("before" = Option<i64>, Query, description = "Only rows older than this sequence number"),
           ("page_size" = Option<i64>, Query, description = "At most 200")),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::openapi::ErrorBody)))]
pub async fn list_api(State(st): State<AppState>, Q(q): Q<AuditQuery>) -> AppResult<Json<AuditPage>> {
    let size = q.page_size.unwrap_or(50).clamp(1, 200);
    let mut items = store::list(&st.db, &q.filter(), q.before, size + 1).await?;
    let more = items.len() as i64 > size;
    items.truncate(size as usize);
    let next_before = if more { items.last().map(|r| r.seq) } else { None };
    Ok(Json(AuditPage { items, next_before }))
}
