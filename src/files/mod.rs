//! Photos and documents attached to records (requests, hazards). The bytes live in an object
//! store (a local directory by default, S3-compatible by configuration); the database keeps one
//! row per file naming its owner record, so a download is allowed exactly when the caller may see
//! that record. Uploads are checked by content ([`inspect`]) before anything is stored.

pub mod decode;
pub mod inspect;
#[doc(hidden)]
pub mod samples;
pub mod store;
pub mod sweep;
pub mod upload;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::{Db, Tx};
use crate::error::{AppError, AppResult};
use crate::web::extract::{Id, Q};
use crate::web::{Access, AppState, RouteDef, r};
pub use inspect::{Kind, Prepared, Rejected};
pub use store::Files;

/// The record a file belongs to; its visibility decides who may download the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Request(Uuid),
    Hazard(Uuid),
}

impl Owner {
    fn parts(self) -> (&'static str, Uuid) {
        match self {
            Owner::Request(id) => ("request", id),
            Owner::Hazard(id) => ("hazard", id),
        }
    }
}

/// A file written to the object store but not yet recorded: [`record`] it inside the
/// transaction that creates or changes its owner, or [`discard`] it if that fails. Cheap to
/// clone: its bytes are in the store by then.
#[derive(Debug, Clone)]
pub struct Staged {
    id: Uuid,
    prepared: Prepared,
    key: String,
    thumb_key: Option<String>,
    original_name: String,
    size: i64,
}

/// Photos decode one at a time, each within `decode::BUDGET`, so uploads add at most that much
/// to the process however many arrive together; they wait here, not in memory. One at a time
/// also leaves the second core of a small server to everything else.
static DECODING: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(1));

/// Checks every upload by content, then writes the accepted ones to the object store. Nothing is
/// written unless all of them pass.
pub async fn stage(files: &Files, uploads: Vec<upload::Upload>) -> Result<Vec<Staged>, (String, Rejected)> {
    let max = files.max_bytes;
    let mut prepared = Vec::with_capacity(uploads.len());
    for u in uploads {
        if u.oversize {
            return Err((u.field, Rejected::TooLarge));
        }
        let field = u.field.clone();
        let bytes = u.bytes;
        // The permit goes with the work: a client that hangs up does not free the slot of a
        // decode still running.
        let permit = DECODING.acquire().await.map_err(|_| (field.clone(), Rejected::Broken))?;
        let p = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inspect::prepare(&bytes, max)
        })
        .await
        .unwrap_or(Err(Rejected::Broken))
        .map_err(|r| (field.clone(), r))?;
        prepared.push((u.name, p));
    }
    let mut staged = Vec::with_capacity(prepared.len());
    for (name, p) in prepared {
        let id = Uuid::now_v7();
        // Sharded by the id's random tail so no directory grows without bound.
        let simple = id.simple().to_string();
        let key = format!("{}/{}/{}.{}", &simple[30..32], &simple[28..30], simple, p.extension);
        let thumb_key =
            p.thumb.as_ref().map(|_| format!("{}/{}/{}.thumb.jpg", &simple[30..32], &simple[28..30], simple));
        let size = p.bytes.len() as i64;
        let mut s = Staged { id, key, thumb_key, original_name: clean_name(&name), size, prepared: p };
        let result = async {
            files.put(&s.key, std::mem::take(&mut s.prepared.bytes)).await?;
            if let (Some(k), Some(t)) = (&s.thumb_key, s.prepared.thumb.take()) {
                files.put(k, t).await?;
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %format!("{e:#}"), "object store write failed");
            discard(files, staged).await;
            return Err((String::new(), Rejected::Broken));
        }
        staged.push(s);
    }
    Ok(staged)
}

/// Removes staged objects after the owning transaction failed.
pub async fn discard(files: &Files, staged: Vec<Staged>) {
    for s in staged {
        files.delete(&s.key).await;
        if let Some(t) = &s.thumb_key {
            files.delete(t).await;
        }
    }
}

fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(120).collect();
    if cleaned.trim().is_empty() { "upload".into() } else { cleaned }
}

/// Records staged files as belonging to `owner`, inside the owner's transaction.
pub async fn record(
    tx: &mut Tx,
    owner: Owner,
    purpose: &str,
    staged: &[Staged],
    actor: &crate::audit::Actor,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let (kind, owner_id) = owner.parts();
    for s in staged {
        let p = &s.prepared;
        crate::write!(tx, |c| {
            sqlx::query(
            "INSERT INTO files (id, owner_kind, owner_id, purpose, media_type, bytes, width, height, sha256, object_key,
                                thumb_key, original_name, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )
        .bind(s.id)
        .bind(kind)
        .bind(owner_id)
        .bind(purpose)
        .bind(p.media_type)
        .bind(s.size)
        .bind(p.width.map(i64::from))
        .bind(p.height.map(i64::from))
        .bind(&p.sha256)
        .bind(&s.key)
        .bind(&s.thumb_key)
        .bind(&s.original_name)
        .bind(now)
        .bind(actor.id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct FileInfo {
    pub id: Uuid,
    pub purpose: String,
    pub media_type: String,
    pub bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub original_name: String,
    pub created_at: DateTime<Utc>,
}

impl FileInfo {
    pub fn is_photo(&self) -> bool {
        self.media_type.starts_with("image/")
    }
    pub fn href(&self) -> String {
        format!("/files/{}", self.id)
    }
    pub fn thumb_href(&self) -> String {
        format!("/files/{}?thumb=1", self.id)
    }
}

/// Files of a record, oldest first. The caller has already been allowed to see the record.
pub async fn of(db: &Db, owner: Owner) -> Result<Vec<FileInfo>, sqlx::Error> {
    let (kind, id) = owner.parts();
    crate::read!(db, |c| sqlx::query_as(
        "SELECT id, purpose, media_type, bytes, width, height, original_name, created_at FROM files
         WHERE owner_kind = $1 AND owner_id = $2 ORDER BY created_at, id"
    )
    .bind(kind)
    .bind(id)
    .fetch_all(c)
    .await)
}

pub fn routes() -> Vec<RouteDef> {
    vec![r(Method::GET, "/files/{id}", Access::Signed, download)]
}

#[derive(serde::Deserialize, Default)]
pub struct DownloadQuery {
    pub thumb: Option<u8>,
}

#[derive(sqlx::FromRow)]
struct Stored {
    owner_kind: String,
    owner_id: Uuid,
    media_type: String,
    object_key: String,
    thumb_key: Option<String>,
    original_name: String,
}

/// Serves a file to a caller who may see the record it belongs to; to anyone else it does not
/// exist (404, the same as an unknown id).
pub async fn download(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Q(q): Q<DownloadQuery>,
) -> AppResult<Response> {
    let row: Option<Stored> = crate::read!(&st.db, |c| sqlx::query_as(
        "SELECT owner_kind, owner_id, media_type, object_key, thumb_key, original_name FROM files WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    let row = row.ok_or(AppError::NotFound)?;
    // The record's own rules: its roles, then its scope. A system administrator's scope covers
    // the city, but they never read case or request data.
    let visible = match row.owner_kind.as_str() {
        "request" if caller.is(crate::requests::pages::REQUEST_STAFF) => {
            let viewer = crate::requests::store::viewer(&st.db, &caller).await?;
            crate::requests::store::get(&st.db, &viewer, row.owner_id).await?.is_some()
        }
        "hazard" if caller.is(crate::hazards::pages::HAZARD_STAFF) => {
            crate::hazards::store::get(&st.db, &caller.scope, row.owner_id).await?.is_some()
        }
        _ => false,
    };
    if !visible {
        return Err(AppError::NotFound);
    }
    let (key, media_type) = match (q.thumb, &row.thumb_key) {
        (Some(1), Some(k)) => (k.as_str(), "image/jpeg"),
        _ => (row.object_key.as_str(), row.media_type.as_str()),
    };
    let bytes = st.files.get(key).await.map_err(AppError::Internal)?;
    let mut res = Body::from(bytes).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(media_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // Personal data: the browser may keep it for this user only; never a shared cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    // A stored file never runs script, even if a browser were to sniff it as HTML.
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'; img-src 'self'"));
    let disposition = if media_type.starts_with("image/") { "inline" } else { "attachment" };
    let encoded: String = url::form_urlencoded::byte_serialize(row.original_name.as_bytes()).collect();
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename*=UTF-8''{encoded}")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
