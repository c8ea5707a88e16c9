//! JSON API for the hazard register and patrols: lists, a hazard with its timeline, registering
//! a hazard and its rectification steps, planning a patrol and recording it done. Writes that
//! may carry photos take JSON, or multipart/form-data with the same fields and the photos as
//! file parts (checked by content as on the pages: 415 for what is not an image or PDF, 413
//! over the size limit); photos are listed by id for `GET /files/{id}`.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::model::RiskLevel;
use super::pages::{HAZARD_MANAGERS, HazardForm, ListQuery, PatrolForm, StepForm, filter_of};
use super::store::{self, Event, Finding, Hazard, Patrol, PatrolItem, Step};
use crate::auth::Caller;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::files::upload::{ApiWithFiles, Upload, is_multipart, read_multipart};
use crate::files::{self, Owner, Staged};
use crate::org::api::{if_match, with_etag};
use crate::web::AppState;
use crate::web::extract::{ApiJson, Id, Q, rejection_detail};
use crate::web::pagination::{PageParams, Paged};

#[derive(ToSchema, Serialize)]
pub struct PagedHazards {
    pub items: Vec<Hazard>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// Hazards in the caller's scope, most urgent first (open ones by default).
#[utoipa::path(get, path = "/api/v1/hazards", operation_id = "list_hazards", tag = "hazards", params(ListQuery, PageParams),
    responses((status = 200, body = PagedHazards), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<ListQuery>) -> AppResult<Json<Paged<Hazard>>> {
    let filter = filter_of(&st, &caller, &q).await?;
    let (items, total) = store::list(&st.db, &caller.scope, &filter, q.page.size(), q.page.offset()).await?;
    Ok(Json(Paged { items, page: q.page.page(), page_size: q.page.size(), total }))
}

/// Checks uploads by content and stores them, each under the field it came in; a refusal
/// answers with its own status (413, 415 or 422) and the field's error.
async fn stage(st: &AppState, uploads: Vec<Upload>) -> Result<Vec<Staged>, Response> {
    files::stage(&st.files, uploads).await.map_err(|(field, rejected)| refused_file(field, rejected))
}

fn refused_file(field: String, rejected: files::Rejected) -> Response {
    let field = if field.is_empty() { "photos".to_string() } else { field };
    let mut res = AppError::field(&field, rejected.code()).into_response();
    *res.status_mut() = rejected.status();
    res
}

/// Only `photos` carries files on a hazard or a step.
fn photos_only(uploads: &[Upload]) -> AppResult<()> {
    match uploads.iter().find(|u| u.field != "photos") {
        Some(u) => Err(AppError::field(&u.field, "error.bad_choice")),
        None => Ok(()),
    }
}

/// Register a hazard (登记). Coordinates must be inside China; the deadline defaults by risk.
/// JSON, or multipart/form-data with the same fields and photos in `photos`.
#[utoipa::path(post, path = "/api/v1/hazards", operation_id = "create_hazard", tag = "hazards",
    request_body(content((HazardForm = "application/json"), (HazardForm = "multipart/form-data"))),
    responses((status = 201, body = Hazard), (status = 413, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    input: ApiWithFiles<HazardForm>,
) -> AppResult<Response> {
    let ApiWithFiles { body: input, files: uploads } = input;
    let mut errors = FieldErrors::default();
    let h = input.validate(&mut errors);
    errors.into_result()?;
    photos_only(&uploads)?;
    let photos = match stage(&st, uploads).await {
        Ok(p) => p,
        Err(res) => return Ok(res),
    };
    let created = match store::register(&st.db, &caller.scope, &caller.actor(), &h, &photos).await {
        Ok(c) => c,
        Err(e) => {
            files::discard(&st.files, photos).await;
            return Err(e);
        }
    };
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
#[utoipa::path(get, path = "/api/v1/hazards/{id}", operation_id = "get_hazard", tag = "hazards", params(("id" = Uuid, Path, description = "Hazard id")),
    responses((status = 200, body = HazardDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let hazard = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let v = hazard.version;
    let files = files::of(&st.db, Owner::Hazard(id)).await?.into_iter().map(|f| f.id).collect();
    let detail = HazardDetail { events: store::events(&st.db, id).await?, files, hazard };
    Ok(with_etag(Json(detail).into_response(), v))
}

/// One step of the rectification life: assign (整改, responsible + deadline), note, rectified,
/// reinspect (outcome pass/fail) or close (a manager, with the reason in `note`). `version` in
/// the body or `If-Match`. JSON, or multipart/form-data with the same fields and photos (of
/// the rectified work, the re-inspection, progress) in `photos`.
#[utoipa::path(post, path = "/api/v1/hazards/{id}/steps", operation_id = "take_hazard_step", tag = "hazards",
    request_body(content((StepForm = "application/json"), (StepForm = "multipart/form-data"))),
    params(("id" = Uuid, Path, description = "Hazard id")),
    responses((status = 200, body = Hazard), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 412, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn step(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    input: ApiWithFiles<StepForm>,
) -> AppResult<Response> {
    let ApiWithFiles { body: mut input, files: uploads } = input;
    let hazard = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    if input.version == 0 {
        input.version = if_match(&headers)?
            .map(|m| m.or_current(hazard.version))
            .ok_or_else(|| AppError::field("version", "error.required"))?;
    }
    let mut errors = FieldErrors::default();
    let step = input.step(&mut errors).ok_or(AppError::Invalid(errors))?;
    if matches!(step, Step::Close { .. }) && !caller.is(HAZARD_MANAGERS) {
        return Err(AppError::Forbidden);
    }
    photos_only(&uploads)?;
    let photos = match stage(&st, uploads).await {
        Ok(p) => p,
        Err(res) => return Ok(res),
    };
    if let Err(e) = store::act(&st.db, &caller.scope, &caller.actor(), id, input.version, &step, &photos).await {
        files::discard(&st.files, photos).await;
        return Err(e);
    }
    let hazard = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let v = hazard.version;
    Ok(with_etag(Json(hazard).into_response(), v))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
#[utoipa::path(get, path = "/api/v1/patrols", operation_id = "list_patrols", tag = "hazards", params(PatrolsQuery),
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
#[utoipa::path(get, path = "/api/v1/patrols/{id}", operation_id = "get_patrol", tag = "hazards", params(("id" = Uuid, Path, description = "Patrol id")),
    responses((status = 200, body = PatrolDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn patrol(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let patrol = store::patrol(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    let v = patrol.version;
    let detail = PatrolDetail { items: store::patrol_items(&st.db, id).await?, patrol };
    Ok(with_etag(Json(detail).into_response(), v))
}

/// Plan a patrol task (巡查任务) of a grid or community with a checklist, for a worker whose
/// scope covers it. Station managers and the bureau.
#[utoipa::path(post, path = "/api/v1/patrols", operation_id = "plan_patrol", tag = "hazards", request_body = PatrolForm,
    responses((status = 201, body = PatrolDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn plan(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<PatrolForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let p = input.validate(&mut errors).ok_or(AppError::Invalid(errors))?;
    let id = store::plan_patrol(&st.db, &caller.scope, &caller.actor(), &p).await?;
    let mut res = patrol(State(st), caller, Id(id)).await?;
    *res.status_mut() = StatusCode::CREATED;
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/patrols/{id}")) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// A patrol as the grid worker finished it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatrolCompletion {
    /// The patrol's version; or `If-Match`.
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub summary: String,
    /// One answer for every item of the checklist.
    pub items: Vec<ItemAnswer>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemAnswer {
    /// The item's `seq` in the patrol.
    pub seq: i64,
    /// `ok`, `hazard` (a finding: registers a hazard of the checklist's category) or `na`.
    pub result: String,
    /// Required for a finding: what was found, where.
    #[serde(default)]
    pub note: String,
    /// For a finding: major, high, general (the default) or low.
    #[serde(default)]
    pub risk: String,
}

/// Record a patrol done (巡查完成): every checklist item answered, and each finding registered
/// as a hazard with its photos, in one transaction. JSON; or multipart/form-data with the same
/// JSON in a part named `completion` and each finding's photos in parts named `photos_{seq}`.
/// The assigned worker, or a manager (anyone of the place when nobody is assigned).
#[utoipa::path(post, path = "/api/v1/patrols/{id}/completion", operation_id = "complete_patrol", tag = "hazards",
    request_body(content((PatrolCompletion = "application/json"), (PatrolCompletion = "multipart/form-data"))),
    params(("id" = Uuid, Path, description = "Patrol id")),
    responses((status = 200, body = PatrolDetail), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 412, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn complete(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    req: Request,
) -> AppResult<Response> {
    // Who may is settled before the body is read: outside the scope is 404 whatever was sent.
    let p = store::patrol(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
    if !super::pages::may_complete(&p, &caller) {
        return Err(AppError::Forbidden);
    }
    let (mut input, uploads) = completion_body(&st, req).await?;
    if input.version == 0 {
        input.version = if_match(&headers)?
            .map(|m| m.or_current(p.version))
            .ok_or_else(|| AppError::field("version", "error.required"))?;
    }
    let mut errors = FieldErrors::default();
    if input.summary.chars().count() > 2000 {
        errors.add("summary", "error.too_long");
    }
    let items = store::patrol_items(&st.db, id).await?;
    let mut findings: Vec<Finding> = Vec::new();
    for a in std::mem::take(&mut input.items) {
        if !items.iter().any(|i| i.seq == a.seq) || findings.iter().any(|f| f.seq == a.seq) {
            errors.add(&format!("result_{}", a.seq), "error.bad_choice");
            continue;
        }
        if a.note.chars().count() > 2000 {
            errors.add(&format!("note_{}", a.seq), "error.too_long");
        }
        let risk = match (a.result.as_str(), a.risk.trim()) {
            ("hazard", "") => Some(RiskLevel::General),
            ("hazard", r) => {
                let parsed = RiskLevel::parse(r);
                if parsed.is_none() {
                    errors.add(&format!("risk_{}", a.seq), "error.bad_choice");
                }
                parsed
            }
            _ => None,
        };
        findings.push(Finding { seq: a.seq, result: a.result, note: a.note, risk, photos: Vec::new() });
    }
    // Photos belong to a finding: the hazard it registers keeps them.
    let mut photos: Vec<(i64, Upload)> = Vec::new();
    for u in uploads {
        let seq = u.field.strip_prefix("photos_").and_then(|s| s.parse::<i64>().ok());
        match seq.filter(|seq| findings.iter().any(|f| f.seq == *seq && f.result == "hazard")) {
            Some(seq) => photos.push((seq, u)),
            None => errors.add(&u.field, "patrol.photos_need_finding"),
        }
    }
    errors.into_result()?;
    if let Err((field, rejected)) = super::pages::stage_findings(&st, &mut findings, photos).await {
        return Ok(refused_file(field, rejected));
    }
    let summary = input.summary.trim().to_string();
    let done =
        store::complete_patrol(&st.db, &caller.scope, &caller.actor(), id, input.version, &summary, &findings).await;
    if let Err(e) = done {
        files::discard(&st.files, findings.into_iter().flat_map(|f| f.photos).collect()).await;
        return Err(e);
    }
    patrol(State(st), caller, Id(id)).await
}

/// The completion as JSON, or from a multipart body's `completion` part with its photo parts.
async fn completion_body(st: &AppState, req: Request) -> AppResult<(PatrolCompletion, Vec<Upload>)> {
    if !is_multipart(&req) {
        let ApiJson(body) = ApiJson::<PatrolCompletion>::from_request(req, st).await?;
        return Ok((body, Vec::new()));
    }
    let mp = Multipart::from_request(req, st)
        .await
        .map_err(|_| AppError::BadRequest("error.form_content_type", serde_json::Value::Null))?;
    let (pairs, uploads) = read_multipart(mp, st.files.max_bytes).await?;
    let mut json = None;
    for (name, value) in pairs {
        match name.as_str() {
            "completion" if json.is_none() => json = Some(value),
            "_csrf" => {}
            _ => return Err(AppError::field(&name, "error.bad_choice")),
        }
    }
    let json = json.ok_or_else(|| AppError::field("completion", "error.required"))?;
    let body = serde_json::from_str(&json)
        .map_err(|e| AppError::BadRequest("error.json_data", rejection_detail(e.to_string())))?;
    Ok((body, uploads))
}
