//! Overload: past the requests in flight and the queue behind them, the answer is 503 with
//! Retry-After at once — JSON under /api/, a page elsewhere — and /healthz still answers.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};

use crate::harness::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_queue_bound_the_answer_is_503_at_once() {
    let mut app = TestApp::new().await;
    app.reconfigure(|cfg| {
        cfg.max_in_flight = 1;
        cfg.max_queued = 1;
    });
    let c = app.login("bureau").await;
    let street = app.place_id("武定街道").await;

    // A write whose body arrives only when the test says so: once its handler reads the
    // body, it holds the one slot.
    let (reading_tx, reading) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let json = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"过载社区\"}}");
    let body = futures::stream::once(async move {
        let _ = reading_tx.send(());
        let _ = released.await;
        Ok::<_, Infallible>(Bytes::from(json))
    });
    let write = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/places")
        .header(header::COOKIE, format!("linli_sid={}", c.cookie.as_deref().unwrap()))
        .header("x-csrf-token", &c.csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .unwrap();
    let router = app.router.clone();
    let holding = tokio::spawn(async move {
        use tower::ServiceExt;
        router.oneshot(write).await.unwrap().status()
    });
    reading.await.unwrap();

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
    release.send(()).unwrap();
    assert_eq!(holding.await.unwrap(), StatusCode::CREATED);
    assert!(!waiting.is_empty());
    for queued in waiting {
        assert_eq!(queued.await.status, StatusCode::OK);
    }
    assert_eq!(c.get("/api/v1/places?limit=5").await.status, StatusCode::OK);
}
