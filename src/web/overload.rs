//! Load shedding. While `max_in_flight` requests are being handled, up to `max_queued` more
//! wait for a slot, each for at most `max_wait`; past either the answer is 503 with
//! Retry-After (JSON under /api/, Open311's error list under /open311/, a page elsewhere)
//! instead of a place in a queue whose wait grows without bound. It sits before the session
//! lookup, so a turned-away request costs no database work, and after `body_read`, so a slot
//! is never held waiting for a body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;

use super::body_limit::lang_before_session;
use super::error::AppError;

/// Seconds a turned-away client is asked to wait before trying again.
const RETRY_AFTER: &str = "2";

/// The slots for requests being handled and the count of those waiting for one. A semaphore
/// and a counter rather than tower's buffer: the buffer passes every request through one
/// worker task (a hop per request, and a runtime needed to build the router), and under
/// overload on PostgreSQL that worker, not the database, set the pace.
#[derive(Clone)]
struct Gate {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    /// A client waiting longer than this is better told to come back: by then it has likely
    /// given up, and its slot would go to work nobody reads.
    max_wait: Duration,
}

/// A place in the queue, given back when the request gets its slot or goes away.
struct Place(Arc<AtomicUsize>);

impl Place {
    fn take(gate: &Gate) -> Option<Place> {
        if gate.waiting.fetch_add(1, Ordering::AcqRel) >= gate.max_waiting {
            gate.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Place(gate.waiting.clone()))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `app` behind one concurrency limit with a bounded queue, except /healthz, which answers
/// beside the queue: a load balancer must not take a busy instance for a dead one.
pub fn shed(app: Router, max_in_flight: usize, max_queued: usize, max_wait: Duration) -> Router {
    let gate = Gate {
        slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
        waiting: Arc::new(AtomicUsize::new(0)),
        max_waiting: max_queued,
        max_wait,
    };
    // One layer around the whole router (a limit per route would be no limit at all).
    let limited = ServiceBuilder::new().layer(from_fn_with_state(gate, admit)).service(app.clone());
    Router::new().route_service("/healthz", app.into_service::<Body>()).fallback_service(limited)
}

/// Runs the request in a slot, waiting in the queue if there is room in it; 503 otherwise.
/// The semaphore is fair: waiting requests get slots in the order they came.
async fn admit(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let slot = match gate.slots.clone().try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            let Some(place) = Place::take(&gate) else {
                return overloaded(req.uri(), req.headers());
            };
            let Ok(Ok(slot)) = tokio::time::timeout(gate.max_wait, gate.slots.clone().acquire_owned()).await else {
                metrics::counter!("linli_http_queue_timeout_total").increment(1);
                return overloaded(req.uri(), req.headers());
            };
            drop(place);
            slot
        }
    };
    let res = next.run(req).await;
    drop(slot);
    res
}

fn overloaded(uri: &Uri, headers: &HeaderMap) -> Response {
    metrics::counter!("linli_http_shed_total").increment(1);
    let path = uri.path();
    let mut res = super::render::error_at(AppError::Overloaded, lang_before_session(headers, path), path);
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
    res
}
