//! Rosters larger than `LINLI_EXPORT_MAX_PEOPLE`: a worker asks with a reason, a station manager
//! (or the bureau) whose scope covers the worker approves or refuses, and the worker downloads
//! the roster once, within a day of the approval. Every step is audited; the request keeps the
//! filter, so what is downloaded is what was approved (recounted in the worker's scope).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::model::Tag;
use super::pages::ListQuery;
use crate::audit::{self, Entry};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::web::AppState;
use crate::web::extract::{Id, PageForm};
use crate::web::render::{Ctx, page_with_status};

/// Who may export any roster and decide on requests.
pub const APPROVERS: &[Role] = &[Role::StationManager, Role::BureauAdmin];

/// How long an approval may wait for its download.
const VALID_HOURS: i64 = 24;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRequest {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub path: String,
    pub query: String,
    pub total: i64,
    pub reason: String,
    pub status: String,
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl ExportRequest {
    pub fn created(&self) -> String {
        self.created_at.with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
    }
    /// Approved and not yet expired: the download link shows.
    pub fn downloadable(&self) -> bool {
        self.status == "approved" && self.decided_at.is_some_and(|d| Utc::now() - d < Duration::hours(VALID_HOURS))
    }
}

const COLS: &str = "r.id, r.user_id, u.display_name AS user_name, r.path, r.query, r.total, r.reason, r.status, r.decided_at, r.created_at
                    FROM export_requests r JOIN users u ON u.id = r.user_id";

#[derive(Template)]
#[template(path = "people/export_requests.html")]
struct RequestsPage {
    ctx: Ctx,
    /// Set on the over-limit answer: the form to ask for this roster.
    ask: Option<Ask>,
    mine: Vec<ExportRequest>,
    to_decide: Vec<ExportRequest>,
}

struct Ask {
    total: i64,
    place_id: String,
    tag: String,
    clients: String,
    error: Option<String>,
}

async fn render(st: &AppState, caller: &Caller, ask: Option<Ask>, status: StatusCode) -> AppResult<Response> {
    let mine: Vec<ExportRequest> = crate::read!(&st.db, |c| sqlx::query_as(&format!(
        "SELECT {COLS} WHERE r.user_id = $1 ORDER BY r.created_at DESC LIMIT 20"
    ))
    .bind(caller.user_id)
    .fetch_all(c)
    .await)?;
    let to_decide = if caller.is(APPROVERS) {
        let mut args = crate::db::query::Args::new();
        let sql = format!(
            "SELECT {COLS} WHERE r.status = 'pending' AND {} ORDER BY r.created_at LIMIT 100",
            args.scope("r.path", &caller.scope)
        );
        crate::db::query::all(&st.db, &sql, &args).await?
    } else {
        Vec::new()
    };
    let ctx = Ctx::new(st.cfg.demo, Some(caller), None, "/people", "export_request.title");
    Ok(page_with_status(&RequestsPage { ctx, ask, mine, to_decide }, status))
}

/// The answer to a roster over the limit: the message, and the form to ask a manager.
pub async fn ask_page(st: &AppState, caller: &Caller, q: &ListQuery, total: i64) -> AppResult<Response> {
    let ask = Ask {
        total,
        place_id: q.place_id.clone().unwrap_or_default(),
        tag: q.tag.clone().unwrap_or_default(),
        clients: q.clients.clone().unwrap_or_default(),
        error: None,
    };
    render(st, caller, Some(ask), StatusCode::CONFLICT).await
}

pub async fn list(State(st): State<AppState>, caller: Caller) -> AppResult<Response> {
    render(&st, &caller, None, StatusCode::OK).await
}

#[derive(Deserialize, Default)]
pub struct AskForm {
    #[serde(default)]
    place_id: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    clients: String,
    #[serde(default)]
    reason: String,
}

pub async fn create(State(st): State<AppState>, caller: Caller, PageForm(f): PageForm<AskForm>) -> AppResult<Response> {
    let q = ListQuery {
        place_id: Some(f.place_id.trim().to_string()).filter(|s| !s.is_empty()),
        tag: Some(f.tag.trim().to_string()).filter(|s| !s.is_empty()),
        clients: Some(f.clients.trim().to_string()).filter(|s| s == "on"),
        ..Default::default()
    };
    if q.tag.as_deref().and_then(Tag::parse).is_some_and(|t| t.is_child_tag()) {
        return Err(AppError::Conflict("export.children_refused"));
    }
    let total = super::export::count(&st, &caller, &q).await?;
    let mut errors = FieldErrors::default();
    let reason = crate::web::form::clean_name(&f.reason, "reason", 500, &mut errors);
    if !errors.0.is_empty() {
        let tr = crate::i18n::Tr(caller.lang);
        let error = errors.0.first().map(|(_, code)| tr.t(code));
        let ask = Ask { total, place_id: f.place_id, tag: f.tag, clients: f.clients, error };
        return render(&st, &caller, Some(ask), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let query = crate::web::views::query_of(&[("place_id", q.place_id), ("tag", q.tag), ("clients", q.clients)]);
    let path = caller.scope.roots.first().cloned().ok_or(AppError::Forbidden)?;
    let id = Uuid::now_v7();
    let mut tx = st.db.begin().await?;
    crate::write!(&mut tx, |c| sqlx::query(
        "INSERT INTO export_requests (id, user_id, path, query, total, reason, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)"
    )
    .bind(id)
    .bind(caller.user_id)
    .bind(&path)
    .bind(&query)
    .bind(total)
    .bind(&reason)
    .bind(Utc::now())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: "export.request",
            entity: "export_request",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "query": query, "total": total, "reason": reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/people/export-requests").into_response())
}

#[derive(Deserialize, Default)]
pub struct DecisionForm {
    #[serde(default)]
    decision: String,
}

pub async fn decide(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    PageForm(f): PageForm<DecisionForm>,
) -> AppResult<Response> {
    // Only requests from the decider's area exist for them.
    let mut args = crate::db::query::Args::new();
    let sql = format!("SELECT {COLS} WHERE r.id = {} AND {}", args.push(id), args.scope("r.path", &caller.scope));
    let req: ExportRequest = crate::db::query::optional(&st.db, &sql, &args).await?.ok_or(AppError::NotFound)?;
    let status = match f.decision.as_str() {
        "approve" => "approved",
        "refuse" => "refused",
        _ => return Err(AppError::bad("error.bad_choice")),
    };
    if req.user_id == caller.user_id {
        return Err(AppError::Conflict("export_request.own"));
    }
    let mut tx = st.db.begin().await?;
    let n = crate::write!(&mut tx, |c| {
        sqlx::query(
        "UPDATE export_requests SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND status = 'pending'"
    )
    .bind(status)
    .bind(caller.user_id)
    .bind(Utc::now())
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if n == 0 {
        return Err(AppError::Conflict("export_request.decided"));
    }
    audit::record(
        &mut tx,
        &caller.actor(),
        Entry {
            action: if status == "approved" { "export.approve" } else { "export.refuse" },
            entity: "export_request",
            entity_id: Some(id.to_string()),
            detail: serde_json::json!({ "requested_by": req.user_id, "total": req.total }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/people/export-requests").into_response())
}

/// The approved roster, once: the request is used up by the download.
pub async fn download(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let req: Option<ExportRequest> =
        crate::read!(&st.db, |c| sqlx::query_as(&format!("SELECT {COLS} WHERE r.id = $1 AND r.user_id = $2"))
            .bind(id)
            .bind(caller.user_id)
            .fetch_optional(c)
            .await)?;
    let req = req.ok_or(AppError::NotFound)?;
    if !req.downloadable() {
        return Err(AppError::Conflict("export_request.not_approved"));
    }
    let mut tx = st.db.begin().await?;
    let n = crate::write!(&mut tx, |c| sqlx::query(
        "UPDATE export_requests SET status = 'used' WHERE id = $1 AND status = 'approved'"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    if n == 0 {
        return Err(AppError::Conflict("export_request.not_approved"));
    }
    let q: ListQuery = serde_urlencoded::from_str(&req.query).map_err(|_| AppError::bad("error.bad_form"))?;
    super::export::build(&st, &caller, &q, super::export::MAX_ROSTER, Some(id)).await
}
