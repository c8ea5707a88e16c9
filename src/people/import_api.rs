//! The resident import over the JSON API, with the page's rules: upload a file and get the
//! check (good rows waiting as a batch, bad rows listed and downloadable), then commit the batch.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::import::{self, Started};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::tabular;
use crate::web::AppState;
use crate::web::extract::Id;

/// One problem of one row.
#[derive(Serialize, ToSchema)]
pub struct ImportProblem {
    /// The row number as the spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// The column's header (Chinese).
    pub column: String,
    /// A stable code, e.g. `people_import.place_unknown`.
    pub code: String,
    /// The code in the caller's language.
    pub message: String,
}

/// What a checked upload holds.
#[derive(Serialize, ToSchema)]
pub struct ImportPreview {
    /// The good rows, waiting for `POST /api/v1/people/imports/{id}/commit` (for an hour);
    /// null when there is nothing new to import.
    pub batch: Option<Uuid>,
    /// The bad rows as xlsx at `GET /api/v1/people/imports/{id}/rejects`; null when none.
    pub rejects: Option<Uuid>,
    /// Rows that will be imported.
    pub ready: usize,
    /// Rows of people already registered (skipped, never imported twice).
    pub existing: usize,
    /// Rows with at least one problem (left out of the batch).
    pub bad_rows: usize,
    /// Every problem, row by row.
    pub problems: Vec<ImportProblem>,
}

/// How a commit went.
#[derive(Serialize, ToSchema)]
pub struct ImportCommitted {
    pub batch: Uuid,
    /// `done`, `failed` or `running` (a large file: follow `GET /api/v1/people/imports/{id}`).
    pub status: String,
    /// People written so far.
    pub done: i64,
    /// Rows in the batch.
    pub total: i64,
    /// Why it failed (a code), when it did.
    pub error: Option<String>,
}

impl ImportCommitted {
    fn of(b: import::BatchStatus) -> ImportCommitted {
        ImportCommitted { batch: b.id, status: b.status, done: b.done, total: b.total, error: b.error }
    }
}

/// Checks a spreadsheet (xlsx, xls, ods or CSV in UTF-8 or GBK; the `file` part). Nothing is
/// written to the register yet.
#[utoipa::path(post, path = "/api/v1/people/imports", tag = "people",
    request_body(content = String, content_type = "multipart/form-data", description = "The spreadsheet as the part `file`"),
    responses((status = 200, body = ImportPreview), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn preview(
    State(st): State<AppState>,
    caller: Caller,
    mp: Result<Multipart, MultipartRejection>,
) -> AppResult<Json<ImportPreview>> {
    let tr = crate::i18n::Tr(caller.lang);
    let (name, bytes) =
        crate::web::form::uploaded_file(mp, "file").await?.ok_or(AppError::field("file", "import.no_file"))?;
    let table = tabular::read_off_runtime(bytes, name.clone()).await.map_err(|e| AppError::field("file", e.code()))?;
    let rows = import::rows_from_table(&table).map_err(|p| {
        AppError::field("file", if p.is_empty() { "import.empty" } else { "people_import.missing_columns" })
    })?;
    let checked = import::check(&st, &caller, &name, &rows).await?;
    Ok(Json(ImportPreview {
        batch: checked.batch,
        rejects: checked.rejects,
        ready: checked.ready_total,
        existing: checked.existing,
        bad_rows: checked.bad_rows,
        problems: checked
            .problems
            .into_iter()
            .map(|p| ImportProblem { row: p.row, column: p.column, message: tr.t(&p.reason), code: p.reason })
            .collect(),
    }))
}

/// Imports the good rows of a checked upload, in one transaction; rows of people registered
/// meanwhile are skipped. 200 when done (or failed, with the reason), 202 while a large file runs.
#[utoipa::path(post, path = "/api/v1/people/imports/{id}/commit", tag = "people",
    params(("id" = Uuid, Path, description = "The batch of a preview")),
    responses((status = 200, body = ImportCommitted), (status = 202, body = ImportCommitted),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn commit(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    match import::start(&st, &caller, id).await? {
        Started::Finished(b) => Ok(Json(ImportCommitted::of(b)).into_response()),
        Started::Running | Started::Taken => {
            let b = import::batch_status(&st.db, caller.user_id, id).await?.ok_or(AppError::NotFound)?;
            Ok((StatusCode::ACCEPTED, Json(ImportCommitted::of(b))).into_response())
        }
        Started::Expired => Err(AppError::NotFound),
    }
}

/// A batch of the caller's: how far its import got.
#[utoipa::path(get, path = "/api/v1/people/imports/{id}", tag = "people",
    params(("id" = Uuid, Path, description = "The batch of a preview")),
    responses((status = 200, body = ImportCommitted), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn status(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Json<ImportCommitted>> {
    let b = import::batch_status(&st.db, caller.user_id, id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(ImportCommitted::of(b)))
}

/// The bad rows of an upload as xlsx: the template's columns, the original row number and the
/// problems; fixed, the file goes back to `POST /api/v1/people/imports` as it is.
#[utoipa::path(get, path = "/api/v1/people/imports/{id}/rejects", tag = "people",
    params(("id" = Uuid, Path, description = "The `rejects` id of a preview")),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = crate::ledger_xlsx::XlsxFile),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn rejects(st: State<AppState>, caller: Caller, id: Id) -> AppResult<Response> {
    super::import_files::rejects(st, caller, id).await
}
