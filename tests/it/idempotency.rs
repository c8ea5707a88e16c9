use axum::http::{Method, StatusCode};

use crate::harness::TestApp;

#[tokio::test]
async fn a_replay_returns_the_first_response() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("武定街道").await;
    let body = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"幂等社区\"}}");
    let a = c.send_json(Method::POST, "/api/v1/places", &body, &[("idempotency-key", "k-1")]).await;
    let b = c.send_json(Method::POST, "/api/v1/places", &body, &[("idempotency-key", "k-1")]).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(b.status, StatusCode::CREATED);
    assert_eq!(a.body, b.body);
    assert_eq!(b.headers.get("idempotent-replayed").unwrap(), "true");
    let other = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"别的社区\"}}");
    let r = c.send_json(Method::POST, "/api/v1/places", &other, &[("idempotency-key", "k-1")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "same key, different request");
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE name = '幂等社区'").await, 1);
}

#[tokio::test]
async fn fifty_parallel_duplicates_make_one_record() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("古城街道").await;
    let body = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"并发社区\"}}");
    let futures =
        (0..50).map(|_| c.send_json(Method::POST, "/api/v1/places", &body, &[("idempotency-key", "parallel-1")]));
    let results = futures::future::join_all(futures).await;
    let first = &results[0].body;
    for r in &results {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(&r.body, first);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE name = '并发社区'").await, 1);
}

#[tokio::test]
async fn forty_parallel_writes_all_land() {
    // On SQLite every write queues for the single writer instead of failing "database is locked".
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("水泊寺街道").await;
    let bodies: Vec<String> = (0..40)
        .map(|i| format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"并行{i}\"}}"))
        .collect();
    let results =
        futures::future::join_all(bodies.iter().map(|b| c.send_json(Method::POST, "/api/v1/places", b, &[]))).await;
    for r in &results {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE name LIKE '并行%'").await, 40);
    let report = linli::audit::store::verify_chain(&app.st.db).await.unwrap();
    assert!(report.first_break.is_none(), "the audit chain stays whole under concurrent writers");
}
