use axum::http::{Method, StatusCode};

use crate::harness::TestApp;

#[tokio::test]
async fn openapi_document_lists_every_api_route() {
    let app = TestApp::new().await;
    let doc = app.anon().get("/api/v1/openapi.json").await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for def in linli::app::all_routes() {
        if !def.path.starts_with("/api/v1/") || def.path == "/api/v1/openapi.json" {
            continue;
        }
        let item = paths.get(def.path).unwrap_or_else(|| panic!("{} missing from OpenAPI", def.path));
        let m = def.method.as_str().to_lowercase();
        assert!(item.get(&m).is_some(), "{} {} missing from OpenAPI", def.method, def.path);
    }
}

#[tokio::test]
async fn create_read_update_move_through_the_api_with_a_token() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let page = c.post_form("/account/tokens", &[("name", "集成")]).await;
    let mut api = app.anon();
    api.token = page.between("id=\"new-token\">", "<");
    let street = app.place_id("白登山街道").await;
    let r = api
        .send_json(
            Method::POST,
            "/api/v1/places",
            &format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"接口社区\",\"code\":\"API-1\"}}"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(r.location(), format!("/api/v1/places/{id}"));
    assert_eq!(created["parent_name"], "白登山街道");
    let r = api.send_json(Method::PATCH, &format!("/api/v1/places/{id}"), "{\"name\":\"接口社区二\"}", &[]).await;
    assert_eq!(r.json()["version"], 2);
    let target = app.place_id("武定街道").await;
    let r = api
        .send_json(
            Method::POST,
            &format!("/api/v1/places/{id}/move"),
            &format!("{{\"new_parent_id\":\"{target}\"}}"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["parent_name"], "武定街道");
    let r = api.send_json(Method::POST, "/api/v1/staff", &format!("{{\"account\":\"api.user\",\"display_name\":\"接口用户\",\"role\":\"grid_worker\",\"place_ids\":[\"{id}\"],\"organisation_id\":null}}"), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["one_time_password"].as_str().unwrap().len(), 16);
    let me = api.get("/api/v1/me").await.json();
    assert_eq!(me["account"], "bureau");
}

#[tokio::test]
async fn ops_endpoints_and_security_headers() {
    let app = TestApp::new().await;
    let c = app.anon();
    let r = c.get("/healthz").await;
    assert_eq!(r.body, "ok");
    for h in ["content-security-policy", "x-content-type-options", "referrer-policy"] {
        assert!(r.headers.contains_key(h), "{h}");
    }
    assert_eq!(c.get("/readyz").await.status, StatusCode::OK);
    let m = {
        use tower::ServiceExt;
        let req = axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap();
        let res = linli::ops::metrics_router(app.st.clone()).oneshot(req).await.unwrap();
        let bytes = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    assert!(m.contains("linli_http_requests_total"), "{}", &m[..m.len().min(300)]);
    let login = c.get("/login").await;
    assert_eq!(login.headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(c.get("/static/linli.css").await.status, StatusCode::OK);
    assert_eq!(c.get("/static/../Cargo.toml").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_janitor_removes_only_what_has_expired() {
    let app = TestApp::new().await;
    let _live = app.login("wenbichen").await;
    let c = app.login("leizeyu").await;
    c.send_json(Method::POST, "/api/v1/places", "{}", &[("idempotency-key", "old-key")]).await;
    let max = std::time::Duration::from_secs(12 * 3600);
    assert_eq!(linli::ops::sweep(&app.st.db, max, chrono::Utc::now()).await.unwrap(), 0, "nothing expired yet");
    let later = chrono::Utc::now() + chrono::Duration::hours(25);
    let gone = linli::ops::sweep(&app.st.db, max, later).await.unwrap();
    assert!(gone >= 3, "two sessions and the idempotency key: {gone}");
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM idempotency_keys").await, 0);
}

#[tokio::test]
async fn hsts_over_tls_no_store_on_personal_data_and_metrics_off_the_public_listener() {
    let mut app = TestApp::new().await;
    let c = app.login("bureau").await;
    // Without TLS in front, a browser must not be told to insist on it.
    assert!(!c.get("/api/v1/me").await.headers.contains_key("strict-transport-security"));
    // API answers, their errors and exports carry personal data: never stored by a cache.
    for path in ["/api/v1/me", "/api/v1/places?limit=5", "/api/v1/no-such-thing", "/people/export.xlsx", "/places"] {
        let r = c.get(path).await;
        assert_eq!(
            r.headers.get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{path}: {}",
            r.status
        );
    }
    assert_eq!(
        app.anon().get("/api/v1/me").await.headers.get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    // Static files stay cacheable.
    assert_ne!(c.get("/static/linli.css").await.headers.get("cache-control").unwrap(), "no-store");
    // Prometheus reads /metrics on its own listener, not on the public one.
    assert_eq!(c.get("/metrics").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.anon().get("/metrics").await.status, StatusCode::NOT_FOUND);
    app.reconfigure(|cfg| cfg.secure_cookies = true);
    let r = app.anon().get("/login").await;
    assert_eq!(r.headers.get("strict-transport-security").unwrap(), "max-age=31536000");
}
