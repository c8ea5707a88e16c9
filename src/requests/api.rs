//! JSON API for resident requests: the queues, intake, the request with its parts and timeline,
//! and the work-order steps (派单, a unit's 签收/办理/退单/办结, 回访). Writes name the version
//! they were based on (`version` in the body or `If-Match`), and answer 412 when it moved.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::{Channel, IntakeInput, Status, validate_intake};
use super::publication::PublicationInput;
use super::store::{self, Event, Part, PartAction, Queue, Request};
use crate::auth::Caller;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::org::api::{if_match, with_etag};
use crate::web::AppState;
use crate::web::extract::{ApiJson, Id, Q};
use crate::web::pagination::{PageParams, Paged};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// dispatch (待派单), mine (my unit's parts), area, overdue or callback (待回访).
    pub queue: Option<String>,
    pub status: Option<String>,
    /// A category code.
    pub category: Option<String>,
    /// Words in the text (description, address, category name): Chinese words, or latin
    /// letters matching the start of a word.
    pub q: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
}

#[derive(ToSchema, Serialize)]
pub struct PagedRequests {
    pub items: Vec<Request>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// One page of a request queue, in the caller's scope.
#[utoipa::path(get, path = "/api/v1/requests", operation_id = "list_requests", tag = "requests", params(RequestsQuery),
    responses((status = 200, body = PagedRequests), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Q(q): Q<RequestsQuery>,
) -> AppResult<Json<Paged<Request>>> {
    let queue = match q.queue.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Queue::parse(s).ok_or(AppError::bad("error.bad_query"))?,
        None => Queue::Area,
    };
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Status::parse(s).ok_or(AppError::bad("error.bad_query"))?),
        None => None,
    };
    let pp = PageParams { page: q.page, page_size: q.page_size };
    let viewer = store::viewer(&st.db, &caller).await?;
    let filter =
        store::ListFilter { status, category: q.category.filter(|c| !c.is_empty()), text: q.q, ..Default::default() };
    let (items, total) = store::list(&st.db, &viewer, queue, &filter, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

/// Take a request (staff intake: a call or a visit). The answer is the request as stored; its
/// `number` is what the resident quotes.
#[utoipa::path(post, path = "/api/v1/requests", operation_id = "create_request", tag = "requests", request_body = IntakeInput,
    responses((status = 201, body = Request), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<IntakeInput>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let clean = validate_intake(&input, false, &mut errors).ok_or(AppError::Invalid(errors))?;
    let actor = caller.actor();
    let intake = store::Intake {
        channel: Channel::Staff,
        actor: &actor,
        staff_scope: Some(&caller.scope),
        client_id: None,
        attributes: serde_json::json!({}),
        photos: &[],
        limit: None,
        category: None,
    };
    // Built from what was written, not read back: one round trip less per request.
    let r = store::create(&st.db, &st.keys, &intake, &clean).await?.request;
    let v = r.version;
    let mut res = (StatusCode::CREATED, Json(&r)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/requests/{}", r.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(with_etag(res, v))
}

#[derive(Serialize, ToSchema)]
pub struct RequestDetail {
    #[serde(flatten)]
    pub request: Request,
    /// One per handling unit (co-handling has several).
    pub parts: Vec<Part>,
    /// Everything that happened, oldest first: who, when, why.
    pub events: Vec<Event>,
    /// Extensions of a part's deadline waiting for the dispatcher's decision.
    pub pending_extensions: Vec<ExtensionView>,
}

/// A request with its parts and timeline.
#[utoipa::path(get, path = "/api/v1/requests/{id}", operation_id = "get_request", tag = "requests", params(("id" = Uuid, Path, description = "Request id")),
    responses((status = 200, body = RequestDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = store::get(&st.db, &viewer, id).await?.ok_or(AppError::NotFound)?;
    let v = request.version;
    let detail = RequestDetail {
        parts: store::parts(&st.db, id).await?,
        events: store::events(&st.db, id, false).await?,
        pending_extensions: store::pending_extensions(&st.db, id).await?.into_iter().map(Into::into).collect(),
        request,
    };
    Ok(with_etag(Json(detail).into_response(), v))
}

/// The body's version, else `If-Match` (`*`: the record's `current` one).
fn version_of(body: Option<i64>, headers: &HeaderMap, current: i64) -> AppResult<i64> {
    body.or(if_match(headers)?.map(|m| m.or_current(current)))
        .ok_or_else(|| AppError::field("version", "error.required"))
}

async fn answer(st: &AppState, caller: &Caller, id: Uuid) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, caller).await?;
    // After a step that moved the request out of the caller's sight (a department handing back
    // its only part), there is nothing left to show.
    match store::get(&st.db, &viewer, id).await? {
        Some(r) => {
            let v = r.version;
            Ok(with_etag(Json(r).into_response(), v))
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchInput {
    pub version: Option<i64>,
    /// Units as `place:<id>` (a community or station's street) or `org:<id>` (a department);
    /// several for co-handling.
    #[serde(default)]
    pub units: Vec<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// Show the note to the resident on the tracking page and in Open311 (off by default).
    #[serde(default)]
    pub note_public: bool,
}

/// 派单: send the request to one or more units.
#[utoipa::path(post, path = "/api/v1/requests/{id}/dispatch", operation_id = "dispatch_request", tag = "requests", request_body = DispatchInput,
    params(("id" = Uuid, Path, description = "Request id")),
    responses((status = 200, body = Request), (status = 409, body = crate::error::ErrorBody),
        (status = 412, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn dispatch(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    ApiJson(input): ApiJson<DispatchInput>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = store::get(&st.db, &viewer, id).await?.ok_or(AppError::NotFound)?;
    let version = version_of(input.version, &headers, request.version)?;
    let mut units = Vec::new();
    for key in input.units.iter().filter(|k| !k.is_empty()) {
        units.push(store::unit(&st.db, &caller.scope, key).await?.ok_or(AppError::field("units", "error.bad_choice"))?);
    }
    let note = store::StaffNote { text: input.note.as_deref().unwrap_or_default(), public: input.note_public };
    store::dispatch(&st.db, &viewer, &caller.actor(), id, version, &units, note).await?;
    answer(&st, &caller, id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartStepInput {
    pub version: Option<i64>,
    /// sign (签收), note (办理: a contact or progress note), return (退单, with a reason) or
    /// resolve (办结, with resolution notes).
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub note: String,
    /// Show the note to the resident on the tracking page and in Open311.
    #[serde(default)]
    pub public: bool,
}

/// A unit's step on its part. Photos go through the HTML form or Open311.
#[utoipa::path(post, path = "/api/v1/request-parts/{id}/actions", operation_id = "act_on_request_part", tag = "requests", request_body = PartStepInput,
    params(("id" = Uuid, Path, description = "Part id")),
    responses((status = 200, body = Request), (status = 204, description = "Done; the request is no longer visible to the caller"),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 412, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn part_step(
    State(st): State<AppState>,
    caller: Caller,
    Id(part): Id,
    headers: HeaderMap,
    ApiJson(input): ApiJson<PartStepInput>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    // As on the page: a part of a request the caller cannot see is 404, one of another unit 403,
    // before anything about the body is said.
    let request = match store::part_request(&st.db, part).await? {
        Some(r) => store::get(&st.db, &viewer, r).await?.ok_or(AppError::NotFound)?.id,
        None => return Err(AppError::NotFound),
    };
    let parts = store::parts(&st.db, request).await?;
    let Some(current) = parts.iter().find(|p| p.id == part && viewer.handles(p)) else {
        return Err(AppError::Forbidden);
    };
    let version = version_of(input.version, &headers, current.version)?;
    let action = match input.action.as_str() {
        "sign" => PartAction::Sign,
        "note" => PartAction::Note,
        "return" => PartAction::Return,
        "resolve" => PartAction::Resolve,
        _ => return Err(AppError::field("action", "error.bad_choice")),
    };
    let step = store::PartStep { action, text: &input.note, public: input.public, photos: &[] };
    let request = store::act_on_part(&st.db, &viewer, &caller.actor(), part, version, step).await?;
    answer(&st, &caller, request).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackInput {
    pub version: Option<i64>,
    /// very_satisfied, satisfied, basically_satisfied, dissatisfied or very_dissatisfied; the
    /// last two reopen the request and need a note.
    #[serde(default)]
    pub satisfaction: String,
    #[serde(default)]
    pub note: String,
    /// Show the note to the resident on the tracking page and in Open311 (off by default).
    #[serde(default)]
    pub note_public: bool,
}

/// 回访: record the resident's satisfaction after resolution.
#[utoipa::path(post, path = "/api/v1/requests/{id}/callback", operation_id = "record_request_callback", tag = "requests", request_body = CallbackInput,
    params(("id" = Uuid, Path, description = "Request id")),
    responses((status = 200, body = Request), (status = 409, body = crate::error::ErrorBody),
        (status = 412, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn callback(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    ApiJson(input): ApiJson<CallbackInput>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = store::get(&st.db, &viewer, id).await?.ok_or(AppError::NotFound)?;
    let version = version_of(input.version, &headers, request.version)?;
    let note = store::StaffNote { text: &input.note, public: input.note_public };
    store::callback(&st.db, &viewer, &caller.actor(), id, version, &input.satisfaction, note).await?;
    answer(&st, &caller, id).await
}

/// What the public reads of a request: published or not, its public wording and address
/// (empty: derived from the original, redacted). The original stays internal.
#[utoipa::path(post, path = "/api/v1/requests/{id}/publication", operation_id = "set_request_publication", tag = "requests", request_body = PublicationInput,
    params(("id" = Uuid, Path, description = "Request id")),
    responses((status = 200, body = Request), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 412, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn publication(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    ApiJson(input): ApiJson<PublicationInput>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = store::get(&st.db, &viewer, id).await?.ok_or(AppError::NotFound)?;
    let version = version_of(input.version, &headers, request.version)?;
    super::publication::publish(&st.db, &viewer, &caller.actor(), id, version, &input).await?;
    answer(&st, &caller, id).await
}

/// An extension of a part's deadline asked for by its unit, waiting for the dispatcher.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtensionView {
    pub id: Uuid,
    pub part_id: Uuid,
    /// Working days asked for.
    pub days: i64,
    pub reason: String,
    /// `pending` until decided.
    pub status: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

impl From<store::Extension> for ExtensionView {
    fn from(e: store::Extension) -> Self {
        ExtensionView {
            id: e.id,
            part_id: e.part_id,
            days: e.days,
            reason: e.reason,
            status: e.status,
            requested_at: e.requested_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionInput {
    /// Working days more (1–30).
    pub days: Option<i64>,
    /// Why the unit needs them; shown to the dispatcher.
    #[serde(default)]
    pub reason: String,
}

/// The handling unit asks for more time on its part; the dispatcher decides
/// (`POST /api/v1/request-extensions/{id}/decision`).
#[utoipa::path(post, path = "/api/v1/request-parts/{id}/extension", tag = "requests", operation_id = "ask_part_extension",
    request_body = ExtensionInput, params(("id" = Uuid, Path, description = "Part id")),
    responses((status = 201, body = ExtensionView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The part is not open, or an extension already waits", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn ask_extension(
    State(st): State<AppState>,
    caller: Caller,
    Id(part): Id,
    ApiJson(input): ApiJson<ExtensionInput>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    // As on the page: a part of a request the caller cannot see answers like a missing one.
    let request = store::part_request(&st.db, part).await?.ok_or(AppError::NotFound)?;
    store::get(&st.db, &viewer, request).await?.ok_or(AppError::NotFound)?;
    let request = store::ask_extension(
        &st.db,
        &viewer,
        &caller.actor(),
        part,
        &input.days.map(|d| d.to_string()).unwrap_or_default(),
        &input.reason,
    )
    .await?;
    let asked = store::pending_extensions(&st.db, request)
        .await?
        .into_iter()
        .find(|e| e.part_id == part)
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(ExtensionView::from(asked))).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionDecisionInput {
    /// `approve` (the part's deadline moves by the working days asked for) or `refuse`.
    #[serde(default)]
    pub decision: String,
    /// Required when refusing.
    #[serde(default)]
    pub note: String,
}

/// The dispatcher approves or refuses an extension. Answers the request as it now stands.
#[utoipa::path(post, path = "/api/v1/request-extensions/{id}/decision", tag = "requests", operation_id = "decide_part_extension",
    request_body = ExtensionDecisionInput, params(("id" = Uuid, Path, description = "Extension id")),
    responses((status = 200, body = Request), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "Already decided", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn decide_extension(
    State(st): State<AppState>,
    caller: Caller,
    Id(ext): Id,
    ApiJson(input): ApiJson<ExtensionDecisionInput>,
) -> AppResult<Response> {
    let viewer = store::viewer(&st.db, &caller).await?;
    let request = store::extension_request(&st.db, ext).await?.ok_or(AppError::NotFound)?;
    store::get(&st.db, &viewer, request).await?.ok_or(AppError::NotFound)?;
    let approve = match input.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => return Err(AppError::field("decision", "error.bad_choice")),
    };
    store::decide_extension(&st.db, &viewer, &caller.actor(), ext, approve, &input.note).await?;
    answer(&st, &caller, request).await
}
