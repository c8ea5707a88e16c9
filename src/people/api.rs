//! JSON API for people: list and search, register, read, change (If-Match), tags, timeline and
//! the audited reveal.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::*;
use super::store::{self, Candidate, CreateError, PersonFilter, Secret};
use super::timeline::Event;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::org::api::{IfMatch, if_match, with_etag};
use crate::web::AppState;
use crate::web::extract::{ApiJson, Id, Q};
use crate::web::pagination::{PageParams, Paged};

#[derive(Debug, Default, Deserialize)]
pub struct PeopleQuery {
    pub place_id: Option<uuid::Uuid>,
    pub tag: Option<String>,
    pub clients: Option<bool>,
    pub q: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

#[derive(ToSchema, Serialize)]
pub struct PagedPeople {
    pub items: Vec<Person>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// People living in the caller's scope; `q` searches names (Chinese, pinyin, initials).
#[utoipa::path(get, path = "/api/v1/people", operation_id = "list_people", tag = "people", params(PersonFilter, PageParams),
    responses((status = 200, body = PagedPeople), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<PeopleQuery>) -> AppResult<Json<Paged<Person>>> {
    if q.tag.as_deref().is_some_and(|t| !t.is_empty() && Tag::parse(t).is_none()) {
        return Err(AppError::bad("error.bad_query"));
    }
    let pp = PageParams { page: q.page, page_size: q.page_size };
    let f = PersonFilter { place_id: q.place_id, tag: q.tag, clients: q.clients, q: q.q, page: None };
    let (items, total) = store::list(&st.db, &caller.scope, &f, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// Create even though records with the same name, birth date and place exist.
    pub confirm_new: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct DuplicateBody {
    pub code: String,
    pub message: String,
    /// Records that may be the same person (null for an `Idempotency-Key` conflict).
    pub details: Option<Vec<Candidate>>,
}

/// Register a person. Possible duplicates answer 409 with the candidates (repeat with
/// `confirm_new=true` to create anyway); a registered ID number always answers 409.
#[utoipa::path(post, path = "/api/v1/people", operation_id = "create_person", tag = "people", request_body = PersonInput, params(CreateQuery),
    responses((status = 201, body = Person), (status = 409, body = DuplicateBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Q(q): Q<CreateQuery>,
    ApiJson(input): ApiJson<PersonInput>,
) -> AppResult<Response> {
    let dup = |code: &'static str, c: Vec<Candidate>| Err(AppError::ConflictWith(code, serde_json::json!(c)));
    match store::create(&st.db, &st.keys, &caller.scope, &caller.actor(), &input, q.confirm_new == Some(true)).await {
        Ok(p) => {
            let v = p.version;
            let mut res = (StatusCode::CREATED, Json(&p)).into_response();
            if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/people/{}", p.id)) {
                res.headers_mut().insert(header::LOCATION, loc);
            }
            Ok(with_etag(res, v))
        }
        Err(CreateError::IdRegistered(c)) => dup("person.id_registered", c),
        Err(CreateError::PossibleDuplicate(c)) => dup("person.possible_duplicate", c),
        Err(CreateError::App(e)) => Err(e),
    }
}

/// One person (numbers masked); 404 when missing or outside the caller's scope.
#[utoipa::path(get, path = "/api/v1/people/{id}", operation_id = "get_person", tag = "people", params(("id" = uuid::Uuid, Path, description = "Person id")),
    responses((status = 200, body = Person, headers(("ETag" = String, description = "Version"))), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let p = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    crate::cases::pages::check_child_access(&st, &caller, &p).await?;
    let v = p.version;
    Ok(with_etag(Json(p).into_response(), v))
}

/// Change a person: send the whole record with `If-Match` (or `version`); a stale write is 412
/// with the current version in `details.current_version` and the `ETag` header.
/// Leave `id_number` and `phone` out to keep them unchanged.
#[utoipa::path(put, path = "/api/v1/people/{id}", operation_id = "update_person", tag = "people", request_body = PersonInput,
    params(("id" = uuid::Uuid, Path, description = "Person id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, body = Person), (status = 412, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    ApiJson(mut input): ApiJson<PersonInput>,
) -> AppResult<Response> {
    crate::cases::pages::guard_person(&st, &caller, id).await?;
    match if_match(&headers)? {
        Some(IfMatch::Version(v)) => input.version = Some(v),
        Some(IfMatch::Any) => {
            let current = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
            input.version = Some(current.version);
        }
        None => {}
    }
    let p = match store::update(&st.db, &st.keys, &caller.scope, &caller.actor(), id, &input).await {
        Err(AppError::Stale) => {
            let now = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
            return Err(AppError::StaleAt(now.version));
        }
        r => r?,
    };
    let v = p.version;
    Ok(with_etag(Json(p).into_response(), v))
}

/// Everything about the person the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/people/{id}/timeline", operation_id = "get_person_timeline", tag = "people", params(("id" = uuid::Uuid, Path, description = "Person id")),
    responses((status = 200, body = Vec<Event>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn timeline(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Json<Vec<Event>>> {
    let p = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    crate::cases::pages::check_child_access(&st, &caller, &p).await?;
    Ok(Json(super::timeline::for_person(&st, &caller, &p).await?))
}

/// A person's household as the person page shows it: the members in the caller's scope, with
/// their relation to the head. Each member's record is read through its own route (children's
/// records keep their guard there). A member is added with `POST /api/v1/people` and
/// `household_id`.
#[derive(ToSchema, Serialize)]
pub struct Household {
    /// Null for a record kept before households were recorded.
    pub id: Option<uuid::Uuid>,
    pub members: Vec<HouseholdMember>,
}

#[derive(ToSchema, Serialize)]
pub struct HouseholdMember {
    pub id: uuid::Uuid,
    pub name: String,
    /// `head`, `spouse`, `child`, … (null when not recorded).
    pub relation: Option<String>,
}

/// The person's household and its members in scope, the person included.
#[utoipa::path(get, path = "/api/v1/people/{id}/household", operation_id = "get_person_household", tag = "people", params(("id" = uuid::Uuid, Path, description = "Person id")),
    responses((status = 200, body = Household), (status = 404, body = crate::error::ErrorBody)))]
pub async fn household(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Json<Household>> {
    let p = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    crate::cases::pages::check_child_access(&st, &caller, &p).await?;
    let members = match p.household_id {
        Some(h) => store::household_members(&st.db, &caller.scope, h).await?,
        None => vec![p.clone()],
    };
    let members =
        members.into_iter().map(|m| HouseholdMember { id: m.id, name: m.name, relation: m.relation }).collect();
    Ok(Json(Household { id: p.household_id, members }))
}

/// Add a vulnerable-group tag period.
#[utoipa::path(post, path = "/api/v1/people/{id}/tags", operation_id = "add_person_tag", tag = "people", request_body = TagInput, params(("id" = uuid::Uuid, Path, description = "Person id")),
    responses((status = 201, body = PersonTag), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_tag(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<TagInput>,
) -> AppResult<Response> {
    crate::cases::pages::guard_person(&st, &caller, id).await?;
    let t = store::add_tag(&st.db, &caller.scope, &caller.actor(), id, &input).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealInput {
    /// id_number or phone
    pub field: String,
    /// Why the full value is needed; recorded in the audit log.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revealed {
    pub field: String,
    pub value: Option<String>,
}

/// The full ID or phone number, with a reason; every reveal is audited.
#[utoipa::path(post, path = "/api/v1/people/{id}/reveal", operation_id = "reveal_person_number", tag = "people", request_body = RevealInput, params(("id" = uuid::Uuid, Path, description = "Person id")),
    responses((status = 200, body = Revealed), (status = 422, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn reveal(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<RevealInput>,
) -> AppResult<Json<Revealed>> {
    crate::cases::pages::guard_person(&st, &caller, id).await?;
    let what = Secret::parse(&input.field).ok_or_else(|| AppError::field("field", "error.bad_choice"))?;
    let value = store::reveal(&st.db, &st.keys, &caller.scope, &caller.actor(), id, what, &input.reason).await?;
    Ok(Json(Revealed { field: what.as_str().into(), value }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndTagInput {
    /// YYYY-MM-DD; today when absent.
    pub ends_on: Option<String>,
}

/// End a vulnerable-group tag period (the person left the group). Answers the person.
#[utoipa::path(post, path = "/api/v1/person-tags/{id}/end", tag = "people", operation_id = "end_person_tag",
    request_body = EndTagInput, params(("id" = uuid::Uuid, Path, description = "Tag period id")),
    responses((status = 200, body = Person), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn end_tag(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<EndTagInput>,
) -> AppResult<Response> {
    let ends = match input.ends_on.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(store::today()),
        Some(s) => parse_date(s),
    };
    let ends = ends.ok_or_else(|| AppError::field("ends_on", "error.date_format"))?;
    let person_id = store::end_tag(&st.db, &caller.scope, &caller.actor(), id, ends).await?;
    let p = store::get(&st.db, &caller.scope, person_id).await?.ok_or(AppError::NotFound)?;
    let v = p.version;
    Ok(with_etag(Json(p).into_response(), v))
}
