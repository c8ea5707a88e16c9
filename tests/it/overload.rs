//! Overload: past the requests in flight and the queue behind them, the answer is 503 with
//! Retry-After at once — JSON under /api/, a page elsewhere — and /healthz still answers.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::harness::{Client, TestApp};

/// A write that holds the one slot until the transaction returned is dropped: it waits for
/// the database's write lock, which the test holds. (A body held back no longer does it:
/// bodies are read before the queue.)
async fn hold_the_slot(
    app: &TestApp,
    c: &Client<'_>,
    street: uuid::Uuid,
) -> (tokio::task::JoinHandle<StatusCode>, linli::db::Tx) {
    let mut lock = app.st.db.begin().await.unwrap();
    if app.st.db.backend() == linli::db::Backend::Postgres {
        linli::write!(&mut lock, |c| sqlx::query("LOCK TABLE places IN SHARE MODE")
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .unwrap();
    }
    let json = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"过载社区\"}}");
    let write = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/places")
        .header(header::COOKIE, format!("linli_sid={}", c.cookie.as_deref().unwrap()))
        .header("x-csrf-token", &c.csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json))
        .unwrap();
    let router = app.router.clone();
    let holding = tokio::spawn(async move {
        use tower::ServiceExt;
        router.oneshot(write).await.unwrap().status()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    (holding, lock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_queue_bound_the_answer_is_503_at_once() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| {
        cfg.max_in_flight = 1;
        cfg.max_queued = 1;
    });
    let c = app.login("bureau").await;
    let street = app.place_id("武定街道").await;

    let (holding, release) = hold_the_slot(&app, &c, street).await;

    // Further requests wait in the queue (each polled once: it has taken its place) until it
    // is full; every one past that is turned away at once.
    let mut waiting = Vec::new();
    let mut until_shed = async |path: &'static str| loop {
        let mut next = Box::pin(c.get(path));
        match futures::poll!(next.as_mut()) {
            std::task::Poll::Pending => waiting.push(next),
            std::task::Poll::Ready(r) => break r,
        }
        // max_queued, plus the one the queue is handing to the limit.
        assert!(waiting.len() <= 2, "queued beyond the bound");
    };
    let shed = until_shed("/api/v1/places?limit=5").await;
    assert_eq!(shed.status, StatusCode::SERVICE_UNAVAILABLE, "{}", shed.body);
    assert!(shed.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(shed.json()["code"], "overloaded");
    let page = until_shed("/places").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.headers.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/html"));
    assert!(page.headers.contains_key(header::RETRY_AFTER));
    assert!(page.body.contains("繁忙"), "{}", page.body);
    // Liveness is not queued behind the work.
    assert_eq!(app.anon().get("/healthz").await.status, StatusCode::OK);

    // Once the slot frees, the held write and the queued read both complete.
    drop(release);
    assert_eq!(holding.await.unwrap(), StatusCode::CREATED);
    assert!(!waiting.is_empty());
    for queued in waiting {
        assert_eq!(queued.await.status, StatusCode::OK);
    }
    assert_eq!(c.get("/api/v1/places?limit=5").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_is_shed_in_its_error_format_and_the_queue_wait_is_bounded() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| {
        cfg.max_in_flight = 1;
        cfg.max_queued = 1;
        cfg.max_queue_wait = Duration::from_secs(1);
    });
    let c = app.login("bureau").await;
    let street = app.place_id("武定街道").await;
    let (holding, release) = hold_the_slot(&app, &c, street).await;

    // The one place in the queue is taken; past it, Open311 clients read the specification's
    // error list, in JSON or XML as the path names.
    let anon = app.anon();
    let mut queued = Box::pin(anon.get("/open311/v2/requests.json"));
    assert!(futures::poll!(queued.as_mut()).is_pending());
    let json = anon.get("/open311/v2/requests.json").await;
    assert_eq!(json.status, StatusCode::SERVICE_UNAVAILABLE, "{}", json.body);
    assert!(json.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(json.json()[0]["code"], 503, "{}", json.body);
    assert!(json.json()[0]["description"].as_str().is_some_and(|d| !d.is_empty()));
    let xml = anon.get("/open311/v2/services.xml").await;
    assert_eq!(xml.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(xml.body.contains("<errors><error><code>503</code><description>"), "{}", xml.body);
    assert!(xml.headers.contains_key(header::RETRY_AFTER));

    // The queued one is not kept waiting while the slot stays taken: 503 after the bound.
    let waited = std::time::Instant::now();
    let queued = tokio::time::timeout(Duration::from_secs(5), queued).await.expect("the queue wait is unbounded");
    assert_eq!(queued.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(waited.elapsed() < Duration::from_secs(2));
    assert_eq!(queued.json()[0]["code"], 503);

    drop(release);
    assert_eq!(holding.await.unwrap(), StatusCode::CREATED);
    assert_eq!(anon.get("/open311/v2/requests.json").await.status, StatusCode::OK);
}
