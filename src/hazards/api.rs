//! JSON API for the hazard register and patrols: lists, a hazard with its timeline, registering
//! a hazard and its rectification steps, a patrol with its checklist answers. Photos are sent
//! through the HTML forms (multipart); here they are listed by id for `GET /files/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::pages::{HAZARD_MANAGERS, HazardForm, ListQuery, StepForm, filter_of};
use super::store::{self, Event, Hazard, Patrol, PatrolItem, Step};
use crate::app::AppState;
use crate::auth::Caller;
use crate::files::{self, Owner};
use crate::org::api::{if_match, with_etag};
use crate::web::error::{AppError, AppResult, FieldErrors};
use crate::web::extract::{ApiJson, Id, Q};
use crate::web::pagination::{PageParams, Paged};

#[derive(ToSchema, Serialize)]
pub struct PagedHazards {
    pub items: Vec<Hazard>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// Hazards in the caller's scope, most urgent first (open ones by default).
#[utoipa::path(get, path = "/api/v1/hazards", tag = "hazards", params(ListQuery, PageParams),
    responses((status = 200, body = PagedHazards), (status = 400, body = crate::openapi::ErrorBody)))]
pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<ListQuery>) -> AppResult<Json<Paged<Hazard>>> {
    let filter = filter_of(&st, &caller, &q).await?;
    let (items, total) = store::list(&st.db, &caller.scope, &filter, q.page.size(), q.page.offset()).await?;
    Ok(Json(Paged { items, page: q.page.page(), page_size: q.page.size(), total }))
}

/// Register a hazard (登记). Coordinates must be inside China; the deadline defaults by risk.
#[utoipa::path(post, path = "/api/v1/hazards", tag = "hazards", request_body = HazardForm,
    responses((status = 201, body = Hazard), (status = 422, body = crate::openapi::ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<HazardForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let h = input.validate(&mut errors);
    errors.into_result()?;
    let created = store::register(&st.db, &caller.scope, &caller.actor(), &h, &[]).await?;
    let hazard = store::get(&st.db, &caller.scope, created.id).await?.ok_or(AppError::NotFound)?;
    let v = hazard.version;
    let mut res = (StatusCode::CREATED, Json(&hazard)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/hazards/{}", hazard.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(with_etag(res, v))
}

#[derive(Serialize, ToSchema)]
pub struct HazardDetail {
    #[serde(flatten)]
    pub hazard: Hazard,
    /// Oldest first.
    pub events: Vec<Event>,
    /// Photo and document ids, each readable at `/files/{id}` (`?thumb=1` for photos).
    pub files: Vec<Uuid>,
}

/// A hazard with its timeline and files.
#[utoipa::path(get, path = "/api/v1/hazards/{id}", tag = "hazards", params(("id" = Uuid, Path, description = "Hazard id")),
    responses((status = 200, body = HazardDetail), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn get(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let hazard = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let v = hazard.version;
    let files = files::of(&st.db, Owner::Hazard(id)).await?.into_iter().map(|f| f.id).collect();
    let detail = HazardDetail { events: store::events(&st.db, id).await?, files, hazard };
    Ok(with_etag(Json(detail).into_response(), v))
}

/// One step of the rectification life: assign (整改, responsible + deadline), note, rectified,
/// reinspect (outcome pass/fail) or close (a manager, with the reason in `note`). `version` in
/// the body or `If-Match`.
#[utoipa::path(post, path = "/api/v1/hazards/{id}/steps", tag = "hazards", request_body = StepForm,
    params(("id" = Uuid, Path, description = "Hazard id")),
    responses((status = 200, body = Hazard), (status = 403, body = crate::openapi::ErrorBody),
        (status = 409, body = crate::openapi::ErrorBody), (status = 412, body = crate::openapi::ErrorBody),
        (status = 422, body = crate::openapi::ErrorBody)))]
pub async fn step(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    ApiJson(mut input): ApiJson<StepForm>,
) -> AppResult<Response> {
    store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    if input.version == 0 {
        input.version = if_match(&headers)?.ok_or_else(|| AppError::field("version", "error.required"))?;
    }
    let mut errors = FieldErrors::default();
    let step = input.step(&mut errors).ok_or(AppError::Invalid(errors))?;
    if matches!(step, Step::Close { .. }) && !caller.is(HAZARD_MANAGERS) {
        return Err(AppError::Forbidden);
    }
    store::act(&st.db, &caller.scope, &caller.actor(), id, input.version, &step, &[]).await?;
    let hazard = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let v = hazard.version;
    Ok(with_etag(Json(hazard).into_response(), v))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct PatrolsQuery {
    /// `1`: only the caller's own patrols.
    pub mine: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

#[derive(ToSchema, Serialize)]
pub struct PagedPatrols {
    pub items: Vec<Patrol>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// Patrol tasks in the caller's scope: planned ones first (soonest due), then done ones.
#[utoipa::path(get, path = "/api/v1/patrols", tag = "hazards", params(PatrolsQuery),
    responses((status = 200, body = PagedPatrols)))]
pub async fn patrols(
    State(st): State<AppState>,
    caller: Caller,
    Q(q): Q<PatrolsQuery>,
) -> AppResult<Json<Paged<Patrol>>> {
    let pp = PageParams { page: q.page, page_size: q.page_size };
    let assignee = q.mine.as_deref().is_some_and(|m| m == "1").then_some(caller.user_id);
    let (items, total) = store::patrols(&st.db, &caller.scope, assignee, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

#[derive(Serialize, ToSchema)]
pub struct PatrolDetail {
    #[serde(flatten)]
    pub patrol: Patrol,
    /// The checklist with the answers once done; a finding names the hazard it registered.
    pub items: Vec<PatrolItem>,
}

/// A patrol with its checklist.
#[utoipa::path(get, path = "/api/v1/patrols/{id}", tag = "hazards", params(("id" = Uuid, Path, description = "Patrol id")),
    responses((status = 200, body = PatrolDetail), (status = 404, body = crate::openapi::ErrorBody)))]
pub async fn patrol(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let patrol = store::patrol(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let v = patrol.version;
    let detail = PatrolDetail { items: store::patrol_items(&st.db, id).await?, patrol };
    Ok(with_etag(Json(detail).into_response(), v))
}
