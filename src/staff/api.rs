//! JSON API for staff accounts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::{self, Staff, StaffFilter, StaffInput};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::web::AppState;
use crate::web::extract::{ApiJson, Id, Q};
use crate::web::pagination::{PageParams, Paged};

#[derive(Debug, Default, serde::Deserialize)]
pub struct StaffQuery {
    role: Option<String>,
    q: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// A page of staff accounts.
#[derive(ToSchema, Serialize)]
pub struct PagedStaff {
    pub items: Vec<Staff>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// Staff accounts bound inside the caller's scope.
#[utoipa::path(get, path = "/api/v1/staff", operation_id = "list_staff", tag = "staff", params(StaffFilter, PageParams),
    responses((status = 200, description = "A page of staff accounts", body = PagedStaff)))]
pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<StaffQuery>) -> AppResult<Json<Paged<Staff>>> {
    let pp = PageParams { page: q.page, page_size: q.page_size };
    let (items, total) =
        store::list(&st.db, &caller.scope, &StaffFilter { role: q.role, q: q.q }, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

/// One staff account; 404 when missing or outside scope.
#[utoipa::path(get, path = "/api/v1/staff/{id}", operation_id = "get_staff_member", tag = "staff", params(("id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = Staff), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Json<Staff>> {
    Ok(Json(store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?))
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: Uuid,
    /// One-time password, shown only in this response; it must be changed at first login.
    pub one_time_password: String,
}

/// Create a staff account bound to places inside the caller's scope.
#[utoipa::path(post, path = "/api/v1/staff", operation_id = "create_staff_member", tag = "staff", request_body = StaffInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response")),
    responses((status = 201, body = Created), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<StaffInput>,
) -> AppResult<Response> {
    let (id, pass) = store::create(&st.db, &caller.scope, &caller.actor(), Some(caller.role), &input, None).await?;
    Ok((StatusCode::CREATED, Json(Created { id, one_time_password: pass })).into_response())
}

/// Change a staff account: send the whole record with its `version` (or `If-Match`); a stale
/// write answers 412. Role and places follow the same rules as on creation.
#[utoipa::path(put, path = "/api/v1/staff/{id}", operation_id = "update_staff_member", tag = "staff", request_body = StaffInput,
    params(("id" = Uuid, Path, description = "Account id"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    responses((status = 200, body = Staff), (status = 404, body = crate::error::ErrorBody),
        (status = 412, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: axum::http::HeaderMap,
    ApiJson(mut input): ApiJson<StaffInput>,
) -> AppResult<Json<Staff>> {
    if let Some(m) = crate::org::api::if_match(&headers)? {
        let current = store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?;
        input.version = Some(m.or_current(current.version));
    }
    store::update(&st.db, &caller.scope, &caller.actor(), caller.role, id, &input).await?;
    Ok(Json(store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?))
}

#[derive(Debug, Default, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisabledInput {
    /// `true` ends the account's sessions and API tokens at once; `false` enables it again.
    #[serde(default)]
    pub disabled: bool,
}

/// Disable or enable a staff account.
#[utoipa::path(post, path = "/api/v1/staff/{id}/disabled", operation_id = "set_staff_member_disabled", tag = "staff",
    request_body = DisabledInput, params(("id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = Staff), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_disabled(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(input): ApiJson<DisabledInput>,
) -> AppResult<Json<Staff>> {
    store::set_disabled(&st.db, &caller.scope, &caller.actor(), Some(caller.role), id, input.disabled).await?;
    Ok(Json(store::get(&st.db, &caller.scope, id).await?.ok_or(AppError::NotFound)?))
}

#[derive(Serialize, ToSchema)]
pub struct PasswordReset {
    /// One-time password, shown only in this response; it must be changed at the next login.
    pub one_time_password: String,
}

/// Set a new one-time password; the account's sessions and API tokens end.
#[utoipa::path(post, path = "/api/v1/staff/{id}/password-reset", operation_id = "reset_staff_member_password", tag = "staff",
    params(("id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = PasswordReset), (status = 404, body = crate::error::ErrorBody)))]
pub async fn reset_password(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Json<PasswordReset>> {
    let pass = store::reset_password(&st.db, &caller.scope, &caller.actor(), Some(caller.role), id, None).await?;
    Ok(Json(PasswordReset { one_time_password: pass }))
}
