//! JSON API for case work.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::*;
use super::store::{self, CaseFilter, Kpi};
use crate::app::AppState;
use crate::auth::Caller;
use crate::org::api::with_etag;
use crate::web::error::{AppError, AppResult};
use crate::web::extract::{ApiJson, Id, Q};
use crate::web::pagination::{PageParams, Paged};

#[derive(Debug, Default, Deserialize)]
pub struct CasesQuery {
    pub status: Option<String>,
    pub worker_id: Option<uuid::Uuid>,
    pub person_id: Option<uuid::Uuid>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

#[derive(ToSchema, Serialize)]
pub struct PagedCases {
    pub items: Vec<Case>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// Cases of the caller's stations.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(CaseFilter, PageParams),
    responses((status = 200, body = PagedCases)))]
pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<CasesQuery>) -> AppResult<Json<Paged<Case>>> {
    if q.status.as_deref().is_some_and(|s| s != "open" && Status::parse(s).is_none()) {
        return Err(AppError::bad("error.bad_query"));
    }
    let pp = PageParams { page: q.page, page_size: q.page_size };
    let f = CaseFilter { status: q.status, worker_id: q.worker_id, person_id: q.person_id, page: None };
    let (items, total) = store::list(&st.db, &caller.scope, &f, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

/// Open a case (intake) at the station serving the person's address.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = IntakeInput,
    responses((status = 201, body = Case), (status = 422, body = crate::openapi::ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<IntakeInput>,
) -> AppResult<Response> {
    let c = store::intake(&st.db, &caller.scope, &caller.actor(), &input).await?;
    let v = c.version;
    let mut res = (StatusCode::CREATED, Json(&c)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/cases/{}", c.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(with_etag(res, v))
}

#[derive(Serialize, ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub case: Case,
    pub assessments: Vec<store::Assessment>,
    pub plans: Vec<PlanView>,
    pub records: Vec<ServiceRecord>,
}

#[derive(Serialize, ToSchema)]
pub struct PlanView {
    #[serde(flatten)]
    pub plan: Plan,
    pub actions: Vec<PlanAction>,
}

/// A case with its assessments, plans and service records.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 200, body = CaseDetail), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let case = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    crate::cases::pages::guard_person(&st, &caller, case.person_id).await?;
    let restricted_hidden = !caller.is(super::pages::CASE_WRITERS);
    let mut records = store::records(&st.db, id).await?;
    if restricted_hidden {
        for r in &mut records {
            if RecordKind::parse(&r.kind).is_some_and(|k| k.is_restricted()) {
                r.notes = String::new();
            }
        }
    }
    let plans =
        store::plans(&st.db, id).await?.into_iter().map(|p| PlanView { actions: p.action_list(), plan: p }).collect();
    let v = case.version;
    let detail = CaseDetail { assessments: store::assessments(&st.db, id).await?, plans, records, case };
    Ok(with_etag(Json(detail).into_response(), v))
}

/// Record a service (home visit, phone follow-up …); a contact moves the next follow-up date.
#[utoipa::path(post, path = "/api/v1/cases/{id}/records", tag = "cases", request_body = RecordInput, params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 201, body = Case), (status = 422, body = crate::openapi::ErrorBody), (status = 409, body = crate::openapi::ErrorBody)))]
pub async fn add_record(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<RecordInput>,
) -> AppResult<Response> {
    store::add_record(&st.db, &caller.scope, &caller.actor(), id, &input).await?;
    let c = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

/// Save the draft support plan (ISP).
#[utoipa::path(put, path = "/api/v1/cases/{id}/plan", tag = "cases", request_body = PlanInput, params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 200, body = Vec<PlanView>), (status = 422, body = crate::openapi::ErrorBody), (status = 412, body = crate::openapi::ErrorBody)))]
pub async fn save_plan(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<PlanInput>,
) -> AppResult<Json<Vec<PlanView>>> {
    store::save_plan(&st.db, &caller.scope, &caller.actor(), id, &input).await?;
    Ok(Json(
        store::plans(&st.db, id).await?.into_iter().map(|p| PlanView { actions: p.action_list(), plan: p }).collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct DueList {
    pub cases: Vec<Case>,
    pub kpis: Vec<Kpi>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Only this worker's cases.
    pub worker_id: Option<uuid::Uuid>,
    /// Due within this many days (default 7); overdue ones always come first.
    pub days: Option<i64>,
}

/// Follow-ups due and overdue, with caseload figures per worker.
#[utoipa::path(get, path = "/api/v1/follow-ups", tag = "cases", params(DueQuery), responses((status = 200, body = DueList)))]
pub async fn due(State(st): State<AppState>, caller: Caller, Q(q): Q<DueQuery>) -> AppResult<Json<DueList>> {
    let days = q.days.unwrap_or(7).clamp(0, 366);
    let cases = store::due(&st.db, &caller.scope, q.worker_id, days, 500).await?;
    Ok(Json(DueList { cases, kpis: store::kpis(&st.db, &caller.scope).await? }))
}
