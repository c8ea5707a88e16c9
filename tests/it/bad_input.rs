//! Hostile input: every answer is a 4xx with the error body (or the form with messages), never
//! a 500, and nothing is half-written.

use axum::http::{Method, StatusCode};

use crate::harness::TestApp;

#[tokio::test]
async fn malformed_api_bodies_get_the_error_body() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let before = app.count("SELECT COUNT(*) FROM places").await;
    let street = app.place_id("开源街道").await;
    let cases: Vec<(&str, Vec<u8>, &str, StatusCode)> = vec![
        ("application/json", b"{not json".to_vec(), "bad_json", StatusCode::BAD_REQUEST),
        (
            "application/json",
            format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"x\",\"colour\":\"red\"}}")
                .into_bytes(),
            "json_data",
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":42}}").into_bytes(),
            "json_data",
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            format!("{{\"parent_id\":\"{street}\",\"kind\":\"planet\",\"name\":\"x\"}}").into_bytes(),
            "json_data",
            StatusCode::BAD_REQUEST,
        ),
        ("application/json", b"{\"name\":\"\xff\xfe\"}".to_vec(), "bad_json", StatusCode::BAD_REQUEST),
        ("text/plain", b"{}".to_vec(), "json_content_type", StatusCode::BAD_REQUEST),
        (
            "application/json",
            format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"{}\"}}", "长".repeat(61))
                .into_bytes(),
            "invalid",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "application/json",
            format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"  \"}}").into_bytes(),
            "invalid",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "application/json",
            format!("{{\"parent_id\":\"{}\",\"kind\":\"community\",\"name\":\"x\"}}", uuid::Uuid::now_v7())
                .into_bytes(),
            "invalid",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (ct, body, code, status) in cases {
        let r = c
            .raw(Method::POST, "/api/v1/places", &[("content-type", ct), ("x-csrf-token", &c.csrf)], body.clone())
            .await;
        assert_eq!(r.status, status, "{}: {}", String::from_utf8_lossy(&body), r.body);
        let j = r.json();
        assert_eq!(j["code"], code, "{}", r.body);
        assert!(j["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(j.get("details").is_some());
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM places").await, before, "nothing written");
}

#[tokio::test]
async fn oversize_bodies_are_refused() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let r = c
        .raw(
            Method::POST,
            "/api/v1/places",
            &[("content-type", "application/json"), ("x-csrf-token", &c.csrf)],
            big.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["code"], "too_large");
    let r = c
        .raw(
            Method::POST,
            "/places",
            &[("content-type", "application/x-www-form-urlencoded")],
            format!("_csrf={}&name={}", c.csrf, "x".repeat(3 * 1024 * 1024)).into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn ids_that_are_not_ids_and_unknown_paths() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let r = c.get("/api/v1/places/not-a-uuid").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "bad_id");
    let r = c.get("/places/12345").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("编号格式不正确"));
    let r = c.get("/api/v1/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], "not_found");
    let r = c.get("/api/v1/places?page=abc").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c.get("/api/v1/places?kind=planet").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c.send_json(Method::DELETE, "/api/v1/places", "", &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["code"], "method_not_allowed");
}

#[tokio::test]
async fn page_size_is_capped() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let r = c.get("/api/v1/places?page_size=100000").await.json();
    assert_eq!(r["page_size"], 200);
    assert!(r["items"].as_array().unwrap().len() <= 200);
    let p2 = c.get("/api/v1/places?page_size=10&page=2").await.json();
    let p1 = c.get("/api/v1/places?page_size=10&page=1").await.json();
    assert_ne!(p1["items"][0]["id"], p2["items"][0]["id"]);
    assert_eq!(p1["total"], p2["total"]);
}

#[tokio::test]
async fn forms_with_missing_or_long_fields_re_render_with_messages() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let r = c.post_form("/places", &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("class=\"error\""));
    let long = "很".repeat(61);
    let street = app.place_id("开源街道").await;
    let r = c.post_form("/places", &[("kind", "community"), ("parent_id", &street.to_string()), ("name", &long)]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains(&long), "typed input kept");
    assert!(r.body.contains("最多 60 个字"));
    let r = c.post_form("/places", &[("kind", "community"), ("parent_id", "garbage"), ("name", "x")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = c
        .raw(
            Method::POST,
            "/places",
            &[("content-type", "application/x-www-form-urlencoded")],
            [b"_csrf=".as_slice(), c.csrf.as_bytes(), b"&name=%ff%fe".as_slice()].concat(),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
}

#[tokio::test]
async fn stale_api_writes_get_412() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let id = app.place_id("民和社区").await;
    let r = c.get(&format!("/api/v1/places/{id}")).await;
    assert_eq!(r.headers.get("etag").unwrap(), "\"1\"");
    let r = c
        .send_json(
            Method::PATCH,
            &format!("/api/v1/places/{id}"),
            "{\"name\":\"民和社区\",\"code\":\"MH\"}",
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers.get("etag").unwrap(), "\"2\"");
    let r = c
        .send_json(Method::PATCH, &format!("/api/v1/places/{id}"), "{\"name\":\"旧版本\"}", &[("if-match", "\"1\"")])
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.json()["code"], "stale");
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE name = '旧版本'").await, 0);
}

#[tokio::test]
async fn api_messages_follow_accept_language_pages_stay_chinese() {
    let app = TestApp::new().await;
    let c = app.login("wenbichen").await;
    let r = c.raw(Method::GET, "/api/v1/places/x", &[("accept-language", "en-US,en;q=0.9")], Vec::new()).await;
    assert_eq!(r.json()["message"], "Malformed id");
    let r = c.raw(Method::GET, "/api/v1/places/x", &[], Vec::new()).await;
    assert_eq!(r.json()["message"], "编号格式不正确");
    let page = c.raw(Method::GET, "/places", &[("accept-language", "en-US")], Vec::new()).await;
    assert!(page.body.contains("lang=\"zh-CN\""), "Chinese first until the user switches");
}

/// An organisation that does not exist is a field error, not a foreign-key 500; fields a body
/// type does not have (a request's status or owner, nested instrument items) are refused.
#[tokio::test]
async fn unknown_organisations_and_unknown_fields_are_refused_and_nothing_is_written() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let users = app.count("SELECT COUNT(*) FROM users").await;
    let pingcheng = app.place_id("平城区").await;
    let nobody = uuid::Uuid::now_v7().to_string();
    let body = serde_json::json!({"account": "ghost.handler", "display_name": "经办人", "role": "department_handler",
        "place_ids": [pingcheng], "organisation_id": nobody});
    let r = c.send_json(Method::POST, "/api/v1/staff", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.json()["details"][0]["field"], "organisation_id", "{}", r.body);
    let r = c
        .post_form(
            "/staff",
            &[
                ("account", "ghost.handler"),
                ("display_name", "经办人"),
                ("role", "department_handler"),
                ("place_ids", &pingcheng.to_string()),
                ("organisation_id", &nobody),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("value=\"ghost.handler\""), "the form comes back with what was typed");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users);

    let beixin = app.place_id("北馨园社区").await;
    for (field, value) in [("evil", "1"), ("status", "resolved"), ("owner_path", "/")] {
        let mut body =
            serde_json::json!({"category": "sewage_overflow", "description": "污水外溢", "place_id": beixin});
        body[field] = serde_json::Value::String(value.into());
        let r = c.send_json(Method::POST, "/api/v1/requests", &body.to_string(), &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.body);
        assert_eq!(r.json()["code"], "json_data", "{field}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 0);

    let instrument = |item: serde_json::Value, band: serde_json::Value| {
        serde_json::json!({"code": "new_screen", "name": "新量表", "domain": "elderly_care", "items": [item],
            "bands": [band], "reassess_days": 90})
        .to_string()
    };
    let item = serde_json::json!({"key": "a", "label": "进食", "options": [["自理", 10], ["依赖", 0]]});
    let band = serde_json::json!({"min": 0, "code": "low", "label": "低"});
    let mut evil_item = item.clone();
    evil_item["weight"] = 5.into();
    let mut evil_band = band.clone();
    evil_band["colour"] = "red".into();
    for body in [instrument(evil_item, band.clone()), instrument(item.clone(), evil_band)] {
        let r = c.send_json(Method::POST, "/api/v1/instruments", &body, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM instruments WHERE code = 'new_screen'").await, 0);
    let r = c.send_json(Method::POST, "/api/v1/instruments", &instrument(item, band), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "the same body without them is taken: {}", r.body);
}
