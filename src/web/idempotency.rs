//! `Idempotency-Key` on creating POSTs: the first request claims the key in its own committed
//! row, later ones with the same key wait for and replay its response. Because the claim is a
//! unique insert, 50 parallel duplicates still make one record, on any number of instances.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::auth::{Caller, RequestInfo};
use crate::web::error::AppError;
use crate::{read, write};

const MAX_STORED: usize = 1024 * 1024;

#[derive(sqlx::FromRow)]
struct Stored {
    request_hash: String,
    done: bool,
    status: i32,
    content_type: Option<String>,
    location: Option<String>,
    body: Option<Vec<u8>>,
}

pub async fn layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return next.run(req).await;
    };
    let lang = req.extensions().get::<RequestInfo>().map(|i| i.lang).unwrap_or_default();
    let is_api = req.uri().path().starts_with("/api/");
    // This layer sits outside `render_errors`, so its own errors are rendered here.
    let fail = |e: AppError| crate::web::render::error_response(e, lang, is_api, None);
    if key.is_empty() || key.len() > 255 {
        return fail(AppError::bad("error.idempotency_key"));
    }
    let principal = match (req.extensions().get::<Caller>(), req.extensions().get::<RequestInfo>()) {
        (Some(c), _) => c.user_id.to_string(),
        (None, Some(i)) => format!("ip:{}", i.ip),
        _ => "unknown".into(),
    };
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, st.cfg.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return fail(AppError::TooLarge),
    };
    let slot = hex::encode(Sha256::digest(format!("{principal}\n{}\n{}\n{key}", parts.method, parts.uri.path())));
    let request_hash = hex::encode(Sha256::digest(&bytes));
    match claim(&st, &slot, &request_hash).await {
        Ok(true) => {}
        Ok(false) => return replay(&st, &slot, &request_hash).await.unwrap_or_else(fail),
        Err(e) => return fail(e.into()),
    }
    let res = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (rparts, rbody) = res.into_parts();
    let rbytes = match to_bytes(rbody, MAX_STORED).await {
        Ok(b) => b,
        Err(_) => {
            let _ = release(&st, &slot).await;
            return fail(AppError::Internal(anyhow::anyhow!("response too large to store for idempotency")));
        }
    };
    // A failed attempt (5xx) frees the key so the client can retry; anything else is final.
    let stored = if rparts.status.is_server_error() {
        release(&st, &slot).await
    } else {
        finish(&st, &slot, &rparts, &rbytes).await
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "storing idempotent response");
    }
    Response::from_parts(rparts, Body::from(rbytes))
}

async fn claim(st: &AppState, slot: &str, request_hash: &str) -> Result<bool, sqlx::Error> {
    let mut tx = st.db.begin().await?;
    let n = write!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO idempotency_keys (key, request_hash, done, status, created_at) VALUES ($1, $2, FALSE, 0, $3)
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(slot)
        .bind(request_hash)
        .bind(Utc::now())
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    Ok(n == 1)
}

async fn release(st: &AppState, slot: &str) -> Result<(), sqlx::Error> {
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| sqlx::query("DELETE FROM idempotency_keys WHERE key = $1")
        .bind(slot)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await
}

async fn finish(
    st: &AppState,
    slot: &str,
    parts: &axum::http::response::Parts,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let loc = parts.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut tx = st.db.begin().await?;
    write!(&mut tx, |c| {
        sqlx::query("UPDATE idempotency_keys SET done = TRUE, status = $1, content_type = $2, location = $3, body = $4 WHERE key = $5")
            .bind(i32::from(parts.status.as_u16()))
            .bind(ct)
            .bind(loc)
            .bind(body)
            .bind(slot)
            .execute(c)
            .await.map(|r| r.rows_affected())
    })?;
    tx.commit().await
}

async fn replay(st: &AppState, slot: &str, request_hash: &str) -> Result<Response, AppError> {
    // The first request may still be running: wait for its answer, up to 10 s.
    for _ in 0..200 {
        let row: Result<Option<Stored>, sqlx::Error> = read!(&st.db, |c| {
            sqlx::query_as(
                "SELECT request_hash, done, status, content_type, location, body FROM idempotency_keys WHERE key = $1",
            )
            .bind(slot)
            .fetch_optional(c)
            .await
        });
        match row {
            Err(e) => return Err(e.into()),
            Ok(None) => return Err(AppError::Conflict("error.idempotency_retry")),
            Ok(Some(s)) if s.request_hash != request_hash => {
                return Err(AppError::BadRequest("error.idempotency_mismatch", serde_json::Value::Null));
            }
            Ok(Some(s)) if s.done => {
                let mut res = Response::new(Body::from(s.body.unwrap_or_default()));
                *res.status_mut() = StatusCode::from_u16(s.status as u16).unwrap_or(StatusCode::OK);
                let h = res.headers_mut();
                if let Some(ct) = s.content_type.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    h.insert(header::CONTENT_TYPE, ct);
                }
                if let Some(l) = s.location.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    h.insert(header::LOCATION, l);
                }
                h.insert("idempotent-replayed", HeaderValue::from_static("true"));
                return Ok(res);
            }
            Ok(Some(_)) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    Err(AppError::Conflict("error.idempotency_in_progress"))
}
