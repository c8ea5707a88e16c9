//! Request bodies are read in full before a request joins the overload queue (`overload`).
//! Otherwise a client that sends its head and then trickles the body, a byte every few
//! seconds, holds one of the `max_in_flight` slots (and, in a handler that opened a
//! transaction before reading, the SQLite writer) for as long as it likes: 64 such clients
//! stopped every other request. Here a body must arrive whole within `body_timeout` (408
//! otherwise), within its route's limit (413), and within a process-wide budget of body bytes
//! held in memory (503 with Retry-After), so that many large uploads at once are refused
//! rather than taking the process's memory. Handlers then read a body already in memory.
//!
//! An Open311 post whose api_key is in the query string or the X-Api-Key header has the key
//! checked before a byte of its body is read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

use crate::app::AppState;
use crate::error::AppError;
use crate::web::body_limit::{RouteLimits, lang_before_session};

/// Seconds a client turned away for want of budget is asked to wait.
const RETRY_AFTER: &str = "2";

pub struct BodyRead {
    limits: Arc<RouteLimits>,
    budget: Arc<Budget>,
    timeout: Duration,
}

impl BodyRead {
    /// `budget` is raised to the largest route limit: a budget smaller than one allowed body
    /// would refuse that body every time.
    pub fn new(limits: Arc<RouteLimits>, largest: usize, budget: usize, timeout: Duration) -> BodyRead {
        let max = budget.max(largest);
        let per_client = (max / CLIENT_SHARE).max(largest);
        let budget = Budget { max, per_client, held: AtomicUsize::new(0), by_client: Mutex::new(HashMap::new()) };
        BodyRead { limits, budget: Arc::new(budget), timeout }
    }
}

/// One client address may hold at most this fraction of the budget (but always one body of
/// the largest route limit): a few connections from one address, each sending a large body
/// slowly, must not turn every other client's post away.
const CLIENT_SHARE: usize = 8;

/// The most capacity reserved up front for a declared length; the rest grows as bytes come.
const MAX_PREALLOCATED: usize = 1 << 20;

/// Body bytes held in memory across all requests, and per client address (IPv6 by its /64).
/// Counted as they arrive, not as declared: a client that declares 60 MB and sends nothing
/// holds none of the budget.
struct Budget {
    max: usize,
    per_client: usize,
    held: AtomicUsize,
    by_client: Mutex<HashMap<String, usize>>,
}

impl Budget {
    fn has_room(&self, client: &str, n: u64) -> bool {
        let mine = self.by_client.lock().map_or(0, |m| m.get(client).copied().unwrap_or(0));
        (self.held.load(Ordering::Acquire) as u64).saturating_add(n) <= self.max as u64
            && (mine as u64).saturating_add(n) <= self.per_client as u64
    }
}

/// One request's share of the budget, given back when its answer is made.
struct Held {
    budget: Arc<Budget>,
    client: String,
    n: usize,
}

impl Held {
    fn take(&mut self, n: usize) -> bool {
        let Ok(mut by_client) = self.budget.by_client.lock() else { return false };
        let mine = by_client.entry(self.client.clone()).or_insert(0);
        if mine.saturating_add(n) > self.budget.per_client {
            return false;
        }
        let taken = self.budget.held.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            held.checked_add(n).filter(|&total| total <= self.budget.max)
        });
        if taken.is_ok() {
            *mine += n;
            self.n += n;
        }
        taken.is_ok()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.n, Ordering::AcqRel);
        if let Ok(mut by_client) = self.budget.by_client.lock()
            && let Some(mine) = by_client.get_mut(&self.client)
        {
            *mine = mine.saturating_sub(self.n);
            if *mine == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}

enum Refused {
    TooLarge,
    Budget,
    Broken,
}

/// Middleware outside the overload gate: see the module comment.
pub async fn read(State((st, br)): State<(AppState, Arc<BodyRead>)>, req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let path = req.uri().path().to_owned();
    let limit = br.limits.of_request(req.method(), &path);
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let lang = lang_before_session(req.headers(), &path);
    let refuse = |e: AppError| {
        let mut res = crate::web::render::error_at(e, lang, &path);
        // The rest of the body is not read: the connection cannot carry another request.
        res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        res
    };
    let busy = || {
        metrics::counter!("linli_http_body_budget_refused_total").increment(1);
        let mut res = refuse(AppError::Overloaded);
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
        res
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return refuse(AppError::TooLarge);
    }
    let client = crate::ratelimit::address_key(&crate::auth::client_ip(&st, &req));
    // Refused before it is sent when it cannot fit now; what is sent is counted as it comes.
    if declared.is_some_and(|n| !br.budget.has_room(&client, n)) {
        return busy();
    }
    let (parts, body) = req.into_parts();
    if let Some(res) = crate::open311::refuse_before_body(&st, &parts).await {
        return res;
    }
    let mut held = Held { budget: br.budget.clone(), client, n: 0 };
    // Capacity for the declared length is only address space until the bytes arrive, but
    // many connections each declaring the limit would reserve a lot of it: capped.
    let capacity = declared.map_or(0, |n| (n as usize).min(MAX_PREALLOCATED));
    let read = tokio::time::timeout(br.timeout, collect(body, limit, capacity, &mut held)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(Refused::TooLarge)) => return refuse(AppError::TooLarge),
        Ok(Err(Refused::Budget)) => return busy(),
        Ok(Err(Refused::Broken)) => return refuse(AppError::bad("error.bad_request")),
        Err(_) => {
            metrics::counter!("linli_http_body_timeout_total").increment(1);
            return refuse(AppError::BodyTimeout);
        }
    };
    let res = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    drop(held);
    res
}

async fn collect(mut body: Body, limit: usize, capacity: usize, held: &mut Held) -> Result<Bytes, Refused> {
    let mut buf = Vec::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Refused::Broken)?;
        let Ok(data) = frame.into_data() else { continue };
        if buf.len() + data.len() > limit {
            return Err(Refused::TooLarge);
        }
        if !held.take(data.len()) {
            return Err(Refused::Budget);
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}
