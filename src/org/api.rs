//! JSON API for the organisation tree.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::model::*;
use super::store::{self, PlaceFilter};
use crate::auth::{Caller, Role};
use crate::error::{AppError, AppResult};
use crate::web::AppState;
use crate::web::extract::{ApiJson, Id, Q};
use crate::web::pagination::{PageParams, Paged};

#[derive(Debug, Default, serde::Deserialize)]
pub struct PlaceQuery {
    pub kind: Option<String>,
    pub q: Option<String>,
    pub parent_id: Option<Uuid>,
    pub inactive: Option<bool>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// An `If-Match` precondition (RFC 9110). Absent means "no precondition".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// `"3"` (or `W/"3"`): the version the client last saw.
    Version(i64),
    /// `*`: whatever version is current; the record only has to exist.
    Any,
}

impl IfMatch {
    /// The version a change is checked against: the one named, or for `*` the record's own.
    pub fn or_current(self, current: i64) -> i64 {
        match self {
            IfMatch::Version(v) => v,
            IfMatch::Any => current,
        }
    }
}

pub fn if_match(headers: &HeaderMap) -> AppResult<Option<IfMatch>> {
    let Some(v) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let text = v.to_str().map_err(|_| AppError::bad("error.bad_if_match"))?.trim();
    if text == "*" {
        return Ok(Some(IfMatch::Any));
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(|v| Some(IfMatch::Version(v)))
        .map_err(|_| AppError::bad("error.bad_if_match"))
}

/// Applies `If-Match` to a change whose version may be left out: a number replaces the body's,
/// `*` waives the check.
pub fn apply_if_match(headers: &HeaderMap, version: &mut Option<i64>) -> AppResult<()> {
    match if_match(headers)? {
        Some(IfMatch::Version(v)) => *version = Some(v),
        Some(IfMatch::Any) => *version = None,
        None => {}
    }
    Ok(())
}

pub fn with_etag(mut res: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// List places in the caller's scope.
#[utoipa::path(get, path = "/api/v1/places", tag = "org",
    params(PlaceFilter, PageParams),
    responses((status = 200, description = "A page of places", body = PagedPlaces), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list_places(
    State(st): State<AppState>,
    caller: Caller,
    Q(q): Q<PlaceQuery>,
) -> AppResult<Json<Paged<Place>>> {
    let pp = PageParams { page: q.page, page_size: q.page_size };
    if q.kind.as_deref().is_some_and(|k| !k.is_empty() && PlaceKind::parse(k).is_none()) {
        return Err(AppError::bad("error.bad_query"));
    }
    let filter = PlaceFilter { kind: q.kind, q: q.q, parent_id: q.parent_id, inactive: q.inactive };
    let (items, total) = store::list_places(&st.db, &caller.scope, &filter, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

/// A page of organisations.
#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct PagedOrganisations {
    pub items: Vec<Organisation>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// A page of estates.
#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct PagedEstates {
    pub items: Vec<Estate>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// A page of stations.
#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct PagedStations {
    pub items: Vec<Station>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct PagedPlaces {
    pub items: Vec<Place>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// One place; 404 when missing or outside the caller's scope.
#[utoipa::path(get, path = "/api/v1/places/{id}", tag = "org",
    params(("id" = Uuid, Path, description = "Place id")),
    responses((status = 200, body = Place, headers(("ETag" = String, description = "Version"))), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_place(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let p = store::get_place(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let v = p.version;
    Ok(with_etag(Json(p).into_response(), v))
}

/// Create a place under a parent of the right kind (bureau and system administrators).
#[utoipa::path(post, path = "/api/v1/places", tag = "org", request_body = NewPlace,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response")),
    responses((status = 201, body = Place), (status = 422, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn create_place(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<NewPlace>,
) -> AppResult<Response> {
    let p =
        store::create_place(&st.db, &caller.scope, &caller.actor(), &input, caller.role == Role::SystemAdmin).await?;
    let v = p.version;
    let mut res = (StatusCode::CREATED, Json(&p)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/places/{}", p.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(with_etag(res, v))
}

/// Rename or re-code a place. Send `If-Match` (or `version`) to refuse stale writes with 412.
#[utoipa::path(patch, path = "/api/v1/places/{id}", tag = "org", request_body = PlaceChange,
    params(("id" = Uuid, Path, description = "Place id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, body = Place), (status = 412, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_place(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    ApiJson(mut change): ApiJson<PlaceChange>,
) -> AppResult<Response> {
    apply_if_match(&headers, &mut change.version)?;
    let p = stale_at(&st, &caller, id, store::update_place(&st.db, &caller.scope, &caller.actor(), id, &change).await)
        .await?;
    let v = p.version;
    Ok(with_etag(Json(p).into_response(), v))
}

/// A stale write answered with the place's current version (its `details` and ETag).
async fn stale_at(st: &AppState, caller: &Caller, id: Uuid, r: AppResult<Place>) -> AppResult<Place> {
    match r {
        Err(AppError::Stale) => {
            let now = store::get_place(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
            Err(AppError::StaleAt(now.version))
        }
        r => r,
    }
}

/// Move a place and its subtree under another parent of the right kind.
#[utoipa::path(post, path = "/api/v1/places/{id}/move", tag = "org", request_body = PlaceMove,
    params(("id" = Uuid, Path, description = "Place id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, body = Place), (status = 422, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn move_place(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    ApiJson(mut m): ApiJson<PlaceMove>,
) -> AppResult<Response> {
    apply_if_match(&headers, &mut m.version)?;
    let p = stale_at(&st, &caller, id, store::move_place(&st.db, &caller.scope, &caller.actor(), id, &m).await).await?;
    let v = p.version;
    Ok(with_etag(Json(p).into_response(), v))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// department, partner_org, property_company or governance_center.
    pub kind: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

/// Organisations visible to the caller (inside the scope, or serving an area above it).
#[utoipa::path(get, path = "/api/v1/organisations", tag = "org", params(OrgQuery),
    responses((status = 200, description = "A page of organisations", body = PagedOrganisations)))]
pub async fn list_organisations(
    State(st): State<AppState>,
    caller: Caller,
    Q(q): Q<OrgQuery>,
) -> AppResult<Json<Paged<Organisation>>> {
    let pp = PageParams { page: q.page, page_size: q.page_size };
    let kind = match q.kind.as_deref().filter(|k| !k.is_empty()) {
        Some(k) => Some(OrgKind::parse(k).ok_or(AppError::bad("error.bad_query"))?),
        None => None,
    };
    let (items, total) = store::list_organisations(&st.db, &caller.scope, kind, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

/// Estates (小区) in the caller's scope.
#[utoipa::path(get, path = "/api/v1/estates", tag = "org", params(PageParams),
    responses((status = 200, description = "A page of estates", body = PagedEstates)))]
pub async fn list_estates(
    State(st): State<AppState>,
    caller: Caller,
    Q(pp): Q<PageParams>,
) -> AppResult<Json<Paged<Estate>>> {
    let (items, total) = store::list_estates(&st.db, &caller.scope, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

/// Social work stations in the caller's scope.
#[utoipa::path(get, path = "/api/v1/stations", tag = "org", params(PageParams),
    responses((status = 200, description = "A page of stations", body = PagedStations)))]
pub async fn list_stations(
    State(st): State<AppState>,
    caller: Caller,
    Q(pp): Q<PageParams>,
) -> AppResult<Json<Paged<Station>>> {
    let (items, total) = store::list_stations(&st.db, &caller.scope, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}
