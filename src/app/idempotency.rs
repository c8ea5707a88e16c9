//! `Idempotency-Key` on POSTs: the first request claims the key in a committed row of its own,
//! later ones with the same key wait for and replay its answer. Because the claim is a unique
//! insert, 50 parallel duplicates still make one record, on any number of instances.
//!
//! What became of the first attempt must be known even when its process dies halfway:
//! - every write transaction of the handler marks the claim `committed` in that same
//!   transaction (`db::claims`), so the claim says whether the write happened;
//! - the claim names the attempt that holds it (`owner`), and only that attempt can mark it:
//!   an attempt whose claim was taken over cannot commit beside the one that took it;
//! - the attempt holds a lease on the claim and renews it while it runs. A retry that finds the
//!   lease run out takes the claim over and runs the request if nothing was committed, and
//!   answers `idempotency_answer_lost` if the write committed but its answer was never stored
//!   (the process died between the two): the write happened, its answer is gone;
//! - the handler runs in a task of its own, so a client that hangs up does not stop it between
//!   its commit and the stored answer.
//!
//! Nothing of this is kept in memory: claims, leases and answers are rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Caller, RequestInfo};
use crate::db::claims::{self, Claim};
use crate::db::{BoxFuture, Tx};
use crate::error::AppError;
use crate::web::body_limit::RouteLimits;
use crate::{read, write};

const MAX_STORED: usize = 1024 * 1024;
/// How long a retry waits for the first attempt's answer before saying it is still running.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

#[derive(sqlx::FromRow)]
struct Stored {
    request_hash: String,
    done: bool,
    status: i32,
    content_type: Option<String>,
    location: Option<String>,
    body: Option<Vec<u8>>,
    /// None on claims made before leases (they are never taken over).
    owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    committed: bool,
}

pub async fn layer(State((st, limits)): State<(AppState, Arc<RouteLimits>)>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return next.run(req).await;
    };
    let lang = req.extensions().get::<RequestInfo>().map(|i| i.lang).unwrap_or_default();
    let path = req.uri().path().to_string();
    // This layer sits outside `render_errors`, so its own errors are rendered here.
    let fail = |e: AppError| crate::web::render::error_at(e, lang, &path);
    if key.is_empty() || key.len() > 255 {
        return fail(AppError::bad("error.idempotency_key"));
    }
    // Answers that show what a reveal or an export uncovered (ID numbers, phones, notes) are
    // never stored: the table would hold them in clear, and a replay would show them again
    // without the audit row each showing must write.
    if answers_with_secrets(&path) {
        return next.run(req).await;
    }
    let caller = req.extensions().get::<Caller>().map(|c| c.user_id.to_string());
    let (parts, body) = req.into_parts();
    // The body is held to the route's own limit: uploads take more than other posts.
    let bytes = match to_bytes(body, limits.of(&path)).await {
        Ok(b) => b,
        Err(_) => return fail(AppError::TooLarge),
    };
    // Keys are honoured for signed-in callers and for Open311 apps with a valid api_key: an
    // anonymous caller gets nothing from a claim but could fill the table with answers.
    let principal = match caller {
        Some(user) => user,
        None => match open311_app(&st, &path, &parts.headers, &bytes).await {
            Ok(Some(app)) => format!("open311:{app}"),
            Ok(None) => return next.run(Request::from_parts(parts, Body::from(bytes))).await,
            Err(e) => return fail(e),
        },
    };
    let attempt = Attempt {
        st: st.clone(),
        claim: Claim {
            key: hex::encode(Sha256::digest(format!("{principal}\n{}\n{path}\n{key}", parts.method))),
            // A fresh owner per attempt: the fence that keeps a taken-over attempt from committing.
            owner: Uuid::now_v7().to_string(),
        },
        request_hash: hex::encode(Sha256::digest(&bytes)),
    };
    // Twice at most: an attempt that loses its claim to a retry answers with the retry's outcome.
    for _ in 0..2 {
        match attempt.acquire().await {
            Ok(Acquired::Answer(res)) => return res,
            Ok(Acquired::Claimed) => {}
            Err(e) => return fail(e),
        }
        let req = Request::from_parts(parts.clone(), Body::from(bytes.clone()));
        match tokio::spawn(attempt.clone().run(req, next.clone())).await {
            Ok(Ran::Answer(res)) => return res,
            Ok(Ran::Failed(e)) => return fail(e),
            Ok(Ran::Lost) => continue,
            Err(e) => {
                let _ = attempt.release().await;
                return fail(AppError::Internal(anyhow::anyhow!("handler of a keyed request: {e}")));
            }
        }
    }
    fail(AppError::Conflict("error.idempotency_in_progress"))
}

/// POST routes whose answers carry what a reveal or an export uncovered.
fn answers_with_secrets(path: &str) -> bool {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    last.contains("reveal") || last.ends_with("export")
}

/// The Open311 app a post to `/open311/` names by a valid `api_key` (form or multipart body).
async fn open311_app(
    st: &AppState,
    path: &str,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<Option<Uuid>, AppError> {
    if !path.starts_with("/open311/") {
        return Ok(None);
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let key = if ct.starts_with("application/x-www-form-urlencoded") {
        serde_html_form::from_bytes::<Vec<(String, String)>>(body)
            .ok()
            .and_then(|ps| ps.into_iter().find(|(k, _)| k == "api_key").map(|(_, v)| v))
    } else if ct.starts_with("multipart/form-data") {
        multipart_field(body, "api_key")
    } else {
        None
    };
    let Some(key) = key else { return Ok(None) };
    let limit = crate::open311::clients::post_limit(&key, u32::MAX);
    Ok(crate::open311::clients::by_key(&st.db, &key, &limit).await?.map(|(c, _)| c.id))
}

/// A short text field of a multipart body, found by its part header. Only used to know which
/// app holds a key; the Open311 handler parses the body properly and checks the key itself.
fn multipart_field(body: &[u8], name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = body.windows(marker.len()).position(|w| w == marker.as_bytes())? + marker.len();
    let rest = &body[at..];
    let start = rest.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let value = &rest[start..];
    let end = value.windows(2).position(|w| w == b"\r\n")?;
    let v = std::str::from_utf8(&value[..end.min(256)]).ok()?;
    Some(v.to_string())
}

#[derive(Clone)]
struct Attempt {
    st: AppState,
    claim: Claim,
    request_hash: String,
}

enum Acquired {
    /// This attempt holds the claim: run the request.
    Claimed,
    /// The answer the attempt that held the claim stored, replayed.
    Answer(Response),
}

enum Ran {
    Answer(Response),
    Failed(AppError),
    /// The claim was taken over while the handler ran; nothing it did was committed.
    Lost,
}

impl Attempt {
    fn lease(&self) -> Duration {
        self.st.cfg.idempotency_lease
    }

    fn lease_until(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.lease()).unwrap_or(chrono::Duration::seconds(5))
    }

    /// Claims the key, or waits for the attempt that holds it: its answer, or its claim once
    /// its lease runs out with nothing committed.
    async fn acquire(&self) -> Result<Acquired, AppError> {
        let deadline = Instant::now() + WAIT.max(self.lease() * 2);
        let mut absent = true;
        loop {
            if absent && self.insert().await? {
                return Ok(Acquired::Claimed);
            }
            let row: Option<Stored> = read!(&self.st.db, |c| {
                sqlx::query_as(
                    "SELECT request_hash, done, status, content_type, location, body, owner, lease_until, committed
                     FROM idempotency_keys WHERE key = $1",
                )
                .bind(&self.claim.key)
                .fetch_optional(c)
                .await
            })?;
            // Gone: the attempt that held it failed and freed it; claim it again.
            let Some(s) = row else {
                absent = true;
                continue;
            };
            absent = false;
            if s.request_hash != self.request_hash {
                return Err(AppError::bad("error.idempotency_mismatch"));
            }
            if s.done {
                return Ok(Acquired::Answer(replay(s, &self.st.keys)?));
            }
            let expired = s.lease_until.is_some_and(|t| t < Utc::now());
            match (&s.owner, expired, s.committed) {
                (Some(_), true, true) => return Err(AppError::Conflict("error.idempotency_answer_lost")),
                (Some(holder), true, false) if self.take_over(holder).await? => return Ok(Acquired::Claimed),
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(AppError::Conflict("error.idempotency_in_progress"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs the handler as the claim's holder, renewing the lease until its answer is stored.
    async fn run(self, req: Request, next: Next) -> Ran {
        let renewing = tokio::spawn(self.clone().renew());
        let _stop = AbortOnDrop(renewing);
        let res = claims::scope(self.claim.clone(), next.run(req)).await;
        let (parts, body) = res.into_parts();
        let Ok(bytes) = to_bytes(body, MAX_STORED).await else {
            // Freed when nothing was committed; otherwise the retry learns the answer was lost.
            let _ = self.release().await;
            return Ran::Failed(AppError::Internal(anyhow::anyhow!("response too large to store for idempotency")));
        };
        // A failed attempt (5xx) that committed nothing frees the key so the client can retry;
        // anything else is final.
        let settled = if parts.status.is_server_error() {
            match self.release().await {
                Ok(true) => Ok(true),
                _ => self.finish(&parts, &bytes).await,
            }
        } else {
            self.finish(&parts, &bytes).await
        };
        match settled {
            Ok(true) => Ran::Answer(Response::from_parts(parts, Body::from(bytes))),
            Ok(false) => Ran::Lost,
            Err(e) => {
                tracing::error!(error = %e, "storing idempotent response");
                Ran::Answer(Response::from_parts(parts, Body::from(bytes)))
            }
        }
    }

    async fn renew(self) {
        let every = self.lease() / 3;
        loop {
            tokio::time::sleep(every).await;
            let data = (self.claim.clone(), self.lease_until());
            match self.st.db.write_grouped(data, renew_lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!(error = %e, "renewing an idempotency lease"),
            }
        }
    }

    async fn insert(&self) -> Result<bool, sqlx::Error> {
        let data = (self.claim.clone(), self.request_hash.clone(), self.lease_until());
        self.st.db.write_grouped(data, insert_claim).await
    }

    async fn take_over(&self, holder: &str) -> Result<bool, sqlx::Error> {
        let data = (self.claim.clone(), holder.to_string(), self.lease_until());
        self.st.db.write_grouped(data, take_over).await
    }

    /// Deletes the claim if this attempt holds it and committed nothing; whether it did.
    async fn release(&self) -> Result<bool, sqlx::Error> {
        self.st.db.write_grouped(self.claim.clone(), release).await
    }

    /// Stores the answer if this attempt still holds the claim; whether it did.
    async fn finish(&self, parts: &axum::http::response::Parts, body: &Bytes) -> Result<bool, sqlx::Error> {
        let text = |h| parts.headers.get(h).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_string);
        let answer = Answer {
            claim: self.claim.clone(),
            status: i32::from(parts.status.as_u16()),
            content_type: text(header::CONTENT_TYPE),
            location: text(header::LOCATION),
            body: self.st.keys.seal(body).into_bytes(),
        };
        self.st.db.write_grouped(answer, finish).await
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn insert_claim<'t>(
    (claim, request_hash, lease_until): &'t (Claim, String, DateTime<Utc>),
    tx: &'t mut Tx,
) -> BoxFuture<'t, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        let n = write!(tx, |c| {
            sqlx::query(
            "INSERT INTO idempotency_keys (key, request_hash, done, status, created_at, owner, lease_until, committed)
             VALUES ($1, $2, FALSE, 0, $3, $4, $5, FALSE) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&claim.key)
        .bind(request_hash)
        .bind(Utc::now())
        .bind(&claim.owner)
        .bind(lease_until)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    })
}

/// Conditional on the holder, an expired lease and nothing committed: of several retries, one
/// takes it; and a commit of the old holder, serialised with this on the row, either landed
/// first (then this changes nothing) or finds the claim gone and rolls back.
fn take_over<'t>(
    (claim, holder, lease_until): &'t (Claim, String, DateTime<Utc>),
    tx: &'t mut Tx,
) -> BoxFuture<'t, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        let n = write!(tx, |c| sqlx::query(
            "UPDATE idempotency_keys SET owner = $1, lease_until = $2
             WHERE key = $3 AND owner = $4 AND NOT committed AND NOT done AND lease_until < $5",
        )
        .bind(&claim.owner)
        .bind(lease_until)
        .bind(&claim.key)
        .bind(holder)
        .bind(Utc::now())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    })
}

fn renew_lease<'t>(
    (claim, lease_until): &'t (Claim, DateTime<Utc>),
    tx: &'t mut Tx,
) -> BoxFuture<'t, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        let n = write!(tx, |c| sqlx::query(
            "UPDATE idempotency_keys SET lease_until = $1 WHERE key = $2 AND owner = $3 AND NOT done"
        )
        .bind(lease_until)
        .bind(&claim.key)
        .bind(&claim.owner)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    })
}

fn release<'t>(claim: &'t Claim, tx: &'t mut Tx) -> BoxFuture<'t, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        let n = write!(tx, |c| sqlx::query(
            "DELETE FROM idempotency_keys WHERE key = $1 AND owner = $2 AND NOT committed"
        )
        .bind(&claim.key)
        .bind(&claim.owner)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    })
}

struct Answer {
    claim: Claim,
    status: i32,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
}

fn finish<'t>(a: &'t Answer, tx: &'t mut Tx) -> BoxFuture<'t, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        let n = write!(tx, |c| sqlx::query(
            "UPDATE idempotency_keys SET done = TRUE, status = $1, content_type = $2, location = $3, body = $4
             WHERE key = $5 AND owner = $6",
        )
        .bind(a.status)
        .bind(&a.content_type)
        .bind(&a.location)
        .bind(&a.body)
        .bind(&a.claim.key)
        .bind(&a.claim.owner)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    })
}

/// The stored answer, unsealed: answers hold what the caller was shown once (a new API token,
/// a one-time password, a TOTP secret, an import preview's names), so they are sealed at rest
/// like every other secret. One that cannot be opened (the key is gone) is an answer lost.
fn replay(s: Stored, keys: &crate::crypto::Keyring) -> Result<Response, AppError> {
    let body = match s.body {
        Some(sealed) => std::str::from_utf8(&sealed)
            .ok()
            .and_then(|sealed| keys.open(sealed).ok())
            .ok_or(AppError::Conflict("error.idempotency_answer_lost"))?,
        None => Vec::new(),
    };
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = StatusCode::from_u16(s.status as u16).unwrap_or(StatusCode::OK);
    let h = res.headers_mut();
    if let Some(ct) = s.content_type.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(l) = s.location.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::LOCATION, l);
    }
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(res)
}
