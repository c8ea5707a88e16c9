//! JSON API for case work.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::*;
use super::store::{self, CaseFilter, Kpi};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::org::api::with_etag;
use crate::web::AppState;
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
#[utoipa::path(get, path = "/api/v1/cases", operation_id = "list_cases", tag = "cases", params(CaseFilter, PageParams),
    responses((status = 200, body = PagedCases)))]
pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<CasesQuery>) -> AppResult<Json<Paged<Case>>> {
    if q.status.as_deref().is_some_and(|s| s != "open" && Status::parse(s).is_none()) {
        return Err(AppError::bad("error.bad_query"));
    }
    let pp = PageParams { page: q.page, page_size: q.page_size };
    let f = CaseFilter { status: q.status, worker_id: q.worker_id, person_id: q.person_id, page: None };
    let (mut items, total) = store::list(&st.db, &caller.scope, &f, pp.size(), pp.offset()).await?;
    crate::cases::pages::hide_closed_children(&st, &caller, &mut items).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

/// Open a case (intake) at the station serving the person's address.
#[utoipa::path(post, path = "/api/v1/cases", operation_id = "create_case", tag = "cases", request_body = IntakeInput,
    responses((status = 201, body = Case), (status = 422, body = crate::error::ErrorBody)))]
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
#[utoipa::path(get, path = "/api/v1/cases/{id}", operation_id = "get_case", tag = "cases", params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 200, body = CaseDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let case = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    crate::cases::pages::guard_person(&st, &caller, case.person_id).await?;
    let restricted_hidden = !caller.is(super::pages::CASE_WRITERS);
    let (mut records, plans, assessments) =
        tokio::try_join!(store::records(&st.db, id), store::plans(&st.db, id), store::assessments(&st.db, id))?;
    if restricted_hidden {
        for r in &mut records {
            if RecordKind::parse(&r.kind).is_some_and(|k| k.is_restricted()) {
                r.notes = String::new();
            }
        }
    }
    let plans = plans.into_iter().map(|p| PlanView { actions: p.action_list(), plan: p }).collect();
    let v = case.version;
    let detail = CaseDetail { assessments, plans, records, case };
    Ok(with_etag(Json(detail).into_response(), v))
}

/// Record a service (home visit, phone follow-up …); a contact moves the next follow-up date.
#[utoipa::path(post, path = "/api/v1/cases/{id}/records", operation_id = "add_case_record", tag = "cases", request_body = RecordInput, params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 201, body = Case), (status = 422, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn add_record(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<RecordInput>,
) -> AppResult<Response> {
    readable(&st, &caller, id).await?;
    store::add_record(&st.db, &caller.scope, &caller.actor(), id, &input).await?;
    let c = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

/// Save the draft support plan (ISP).
#[utoipa::path(put, path = "/api/v1/cases/{id}/plan", operation_id = "save_case_plan", tag = "cases", request_body = PlanInput, params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 200, body = Vec<PlanView>), (status = 422, body = crate::error::ErrorBody), (status = 412, body = crate::error::ErrorBody)))]
pub async fn save_plan(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<PlanInput>,
) -> AppResult<Json<Vec<PlanView>>> {
    readable(&st, &caller, id).await?;
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
#[utoipa::path(get, path = "/api/v1/follow-ups", operation_id = "list_follow_ups", tag = "cases", params(DueQuery), responses((status = 200, body = DueList)))]
pub async fn due(State(st): State<AppState>, caller: Caller, Q(q): Q<DueQuery>) -> AppResult<Json<DueList>> {
    let days = q.days.unwrap_or(7).clamp(0, 366);
    let mut cases = store::due(&st.db, &caller.scope, q.worker_id, days, 500).await?;
    crate::cases::pages::hide_closed_children(&st, &caller, &mut cases).await?;
    Ok(Json(DueList { cases, kpis: store::kpis(&st.db, &caller.scope).await? }))
}

/// A case the caller may read or write (scope and, for a child's case, a grant), or 404/403.
async fn readable(st: &AppState, caller: &Caller, id: uuid::Uuid) -> AppResult<Case> {
    crate::cases::pages::guard_case(st, caller, id).await
}

/// The case as it now stands, with its version as ETag.
async fn case_answer(st: &AppState, caller: &Caller, id: uuid::Uuid, status: StatusCode) -> AppResult<Response> {
    let c = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let v = c.version;
    Ok(with_etag((status, Json(c)).into_response(), v))
}

/// The case's assessments, newest first.
#[utoipa::path(get, path = "/api/v1/cases/{id}/assessments", tag = "cases", operation_id = "list_case_assessments",
    params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 200, body = Vec<store::Assessment>), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn assessments(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> AppResult<Json<Vec<store::Assessment>>> {
    readable(&st, &caller, id).await?;
    Ok(Json(store::assessments(&st.db, id).await?))
}

/// Fields may be absent so that a case outside the caller's scope answers 404 whatever the body,
/// and a missing field answers with the page's message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentInput {
    /// A published instrument version (`GET /api/v1/instruments`).
    pub instrument_id: Option<uuid::Uuid>,
    /// Item key → the index (from 0) of the chosen option; every item of the instrument answered.
    #[serde(default)]
    pub answers: std::collections::BTreeMap<String, usize>,
    pub notes: Option<String>,
}

/// Record an assessment with a published instrument; the first one moves the case from intake
/// to assessed. Unanswered items answer 422 with a field error per item (`item_<key>`).
#[utoipa::path(post, path = "/api/v1/cases/{id}/assessments", tag = "cases", operation_id = "create_case_assessment",
    request_body = AssessmentInput, params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 201, body = store::Assessment), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The case is closed", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn assess(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<AssessmentInput>,
) -> AppResult<Response> {
    readable(&st, &caller, id).await?;
    // Scope first, as on the page: an unknown instrument on a case outside it is still 404.
    let instrument = input.instrument_id.ok_or_else(|| AppError::field("instrument_id", "error.bad_choice"))?;
    let new =
        store::assess(&st.db, &caller.scope, &caller.actor(), id, instrument, &input.answers, input.notes.as_deref())
            .await?;
    let a = store::assessments(&st.db, id).await?.into_iter().find(|a| a.id == new).ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanApprovalInput {
    /// The draft plan's `version` as last read; a plan changed since answers 412.
    pub version: Option<i64>,
}

/// The station manager approves the draft support plan: it comes into force and the plan before
/// it is superseded.
#[utoipa::path(post, path = "/api/v1/cases/{id}/plan/approval", tag = "cases", operation_id = "approve_case_plan",
    request_body = PlanApprovalInput, params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 200, body = Vec<PlanView>), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "No draft plan to approve", body = crate::error::ErrorBody),
        (status = 412, body = crate::error::ErrorBody)))]
pub async fn approve_plan(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<PlanApprovalInput>,
) -> AppResult<Json<Vec<PlanView>>> {
    readable(&st, &caller, id).await?;
    store::approve_plan(&st.db, &caller.scope, &caller.actor(), id, input.version).await?;
    Ok(Json(
        store::plans(&st.db, id).await?.into_iter().map(|p| PlanView { actions: p.action_list(), plan: p }).collect(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosureInput {
    /// Why the case can close (goals met, moved away …); required.
    #[serde(default)]
    pub reason: String,
    /// The case's `version` as last read (or send `If-Match`); a case changed since answers 412.
    pub version: Option<i64>,
}

/// Ask for the case to be closed; it waits for the station manager's decision.
#[utoipa::path(post, path = "/api/v1/cases/{id}/closure", tag = "cases", operation_id = "request_case_closure",
    request_body = ClosureInput,
    params(("id" = uuid::Uuid, Path, description = "Case id"), ("If-Match" = Option<String>, Header, description = "Expected case version")),
    responses((status = 200, body = Case), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "Closed, or closure already asked for", body = crate::error::ErrorBody),
        (status = 412, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn request_closure(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: axum::http::HeaderMap,
    ApiJson(input): ApiJson<ClosureInput>,
) -> AppResult<Response> {
    readable(&st, &caller, id).await?;
    let version = match crate::org::api::if_match(&headers)? {
        Some(crate::org::api::IfMatch::Version(v)) => Some(v),
        Some(crate::org::api::IfMatch::Any) => None,
        None => input.version,
    };
    store::request_closure(&st.db, &caller.scope, &caller.actor(), id, &input.reason, version).await?;
    case_answer(&st, &caller, id, StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// `approve` or `refuse`.
    #[serde(default)]
    pub decision: String,
}

/// The station manager approves the closure (the case closes) or refuses it (the case goes back
/// to where it was).
#[utoipa::path(post, path = "/api/v1/cases/{id}/closure/decision", tag = "cases", operation_id = "decide_case_closure",
    request_body = DecisionInput, params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 200, body = Case), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "No closure asked for", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn decide_closure(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<DecisionInput>,
) -> AppResult<Response> {
    readable(&st, &caller, id).await?;
    let approve = match input.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => return Err(AppError::field("decision", "error.bad_choice")),
    };
    store::decide_closure(&st.db, &caller.scope, &caller.actor(), id, approve).await?;
    case_answer(&st, &caller, id, StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignInput {
    /// A social worker or manager of the case's station.
    pub worker_id: Option<uuid::Uuid>,
    /// Why; recorded in the case's history.
    #[serde(default)]
    pub reason: String,
}

/// The station manager gives the case to another worker of the station.
#[utoipa::path(post, path = "/api/v1/cases/{id}/reassignment", tag = "cases", operation_id = "reassign_case",
    request_body = ReassignInput, params(("id" = uuid::Uuid, Path, description = "Case id")),
    responses((status = 200, body = Case), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The case is closed", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn reassign(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<ReassignInput>,
) -> AppResult<Response> {
    readable(&st, &caller, id).await?;
    store::reassign(&st.db, &caller.scope, &caller.actor(), id, input.worker_id, &input.reason).await?;
    case_answer(&st, &caller, id, StatusCode::OK).await
}
