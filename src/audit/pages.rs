//! The audit log screen and API (auditor and bureau administrator).

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, AuditFilter, AuditRow};
use super::view;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::roles::AUDIT_READERS;
use crate::web::extract::Q;
use crate::web::form::{Cell, Field};
use crate::web::render::{Ctx, page};
use crate::web::views::{ListPage, query_of};
use crate::web::{Access, AppState, RouteDef, r};

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
            exact_action: false,
        }
    }
}

const PAGE: i64 = 100;

async fn list_page(State(st): State<AppState>, caller: Caller, Q(q): Q<AuditQuery>) -> AppResult<Response> {
    // The screen offers whole actions from a list; a value that is none of them is refused
    // like any other bad choice rather than read as a prefix.
    let action = q.action.as_deref().map(str::trim).filter(|a| !a.is_empty());
    if action.is_some_and(|a| !view::actions().any(|x| x == a)) {
        return Err(AppError::bad("error.bad_query"));
    }
    let filter = AuditFilter { exact_action: true, ..q.filter() };
    let rows = store::list(&st.db, &filter, q.before, PAGE + 1).await?;
    let more = rows.len() as i64 > PAGE;
    let rows: Vec<AuditRow> = rows.into_iter().take(PAGE as usize).collect();
    let names = crate::staff::store::names_of(&st.db, rows.iter().filter_map(|r| r.actor_id)).await?;
    let labels = view::record_labels(&st, &caller, &rows).await?;
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
            // The person's name, and the account the log recorded (an account may be renamed
            // or its holder change; the account is what the chain vouches for).
            let actor = match r.actor_id.and_then(|id| names.get(&id)) {
                Some((name, _)) => format!("{name} ({})", r.actor),
                None => r.actor.clone(),
            };
            let kind = view::entity_label(tr, &r.entity);
            let record = match r.entity_id.as_deref() {
                None => Cell::text(kind),
                Some(id) => match labels.get(&(r.entity.clone(), id.to_string())) {
                    Some(l) => {
                        let text = format!("{kind} {}", l.text);
                        match &l.href {
                            Some(h) => Cell::link(text, h.clone()),
                            None => Cell::text(text),
                        }
                    }
                    None => Cell::text(format!("{kind} {id}")),
                },
            };
            vec![
                Cell::text(crate::web::local_time(&r.at)),
                Cell::text(actor),
                Cell::text(view::action_label(tr, &r.action)),
                record,
                Cell::text(r.ip.unwrap_or_default()),
                Cell::lines(view::detail_lines(&r.detail)),
            ]
        })
        .collect::<Vec<_>>();
    let n = cells.len() as i64;
    let mut view = ListPage::new(ctx, headers, cells, n, 1, PAGE);
    let mut choices = vec![(String::new(), tr.t("audit_view.any_action"))];
    let mut named: Vec<(String, String)> =
        view::actions().map(|a| (a.to_string(), view::action_label(tr, a))).collect();
    named.sort_by(|a, b| a.1.cmp(&b.1));
    choices.extend(named);
    view.filters = vec![
        Field::text(tr, "actor", "audit_view.account", q.actor.as_deref().unwrap_or(""), 64, false),
        Field::select(tr, "action", "audit.action", action.unwrap_or(""), choices, false),
        Field::text(tr, "entity", "audit.entity", q.entity.as_deref().unwrap_or(""), 64, false),
        Field::date(tr, "from", "audit.from", q.from.as_deref().unwrap_or(""), false),
        Field::date(tr, "to", "audit.to", q.to.as_deref().unwrap_or(""), false),
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
    responses((status = 200, body = AuditPage), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list_api(State(st): State<AppState>, Q(q): Q<AuditQuery>) -> AppResult<Json<AuditPage>> {
    let size = q.page_size.unwrap_or(50).clamp(1, 200);
    let mut items = store::list(&st.db, &q.filter(), q.before, size + 1).await?;
    let more = items.len() as i64 > size;
    items.truncate(size as usize);
    let next_before = if more { items.last().map(|r| r.seq) } else { None };
    Ok(Json(AuditPage { items, next_before }))
}
