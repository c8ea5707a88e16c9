//! JSON API for staff accounts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::{self, Staff, StaffFilter, StaffInput};
use crate::app::AppState;
use crate::auth::Caller;
use crate::web::error::{AppError, AppResult};
use crate::web::extract::{ApiJson, Id, Q};
use crate::web::pagination::{PageParams, Paged};

#[derive(Debug, Default, serde::Deserialize)]
pub struct StaffQuery {
    role: Option<String>,
    q: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

/// Staff accounts bound inside the caller's scope.
#[utoipa::path(get, path = "/api/v1/staff", tag = "staff", params(StaffFilter, PageParams),
    responses((status = 200, description = "A page of staff accounts", body = Vec<Staff>)))]
pub async fn list(State(st): State<AppState>, caller: Caller, Q(q): Q<StaffQuery>) -> AppResult<Json<Paged<Staff>>> {
    let pp = PageParams { page: q.page, page_size: q.page_size };
    let (items, total) =
        store::list(&st.db, &caller.scope, &StaffFilter { role: q.role, q: q.q }, pp.size(), pp.offset()).await?;
    Ok(Json(Paged { items, page: pp.page(), page_size: pp.size(), total }))
}

/// One staff account; 404 when missing or outside scope.
#[utoipa::path(get, path = "/api/v1/staff/{id}", tag = "staff", params(("id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = Staff), (status = 404, body = crate::openapi::ErrorBody)))]
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
#[utoipa::path(post, path = "/api/v1/staff", tag = "staff", request_body = StaffInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first response")),
    responses((status = 201, body = Created), (status = 422, body = crate::openapi::ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<StaffInput>,
) -> AppResult<Response> {
    let (id, pass) = store::create(&st.db, &caller.scope, &caller.actor(), Some(caller.role), &input, None).await?;
    Ok((StatusCode::CREATED, Json(Created { id, one_time_password: pass })).into_response())
}
