//! The map page: open requests and hazards with coordinates, in the caller's scope, drawn
//! without tiles by default and over the configured tile server otherwise.

use axum::http::{Method, StatusCode};

use crate::harness::TestApp;

#[tokio::test]
async fn open_requests_and_hazards_with_coordinates_are_drawn_in_scope_with_or_without_tiles() {
    let mut app = TestApp::new().await;
    let desk = app.login("bureau").await;
    let beixin = app.place_id("北馨园社区").await.to_string();
    let yongning = app.place_id("永宁社区").await.to_string();
    let placed = desk
        .post_form(
            "/requests",
            &[
                ("category", "street_light"),
                ("description", "路灯不亮"),
                ("place_id", &beixin),
                ("lat", "40.0871"),
                ("lon", "113.3102"),
            ],
        )
        .await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    let request_href = placed.location();
    let r = desk
        .post_form("/requests", &[("category", "street_light"), ("description", "另一处路灯"), ("place_id", &beixin)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let mgr = app.login("zhenhua.mgr").await;
    let h = mgr
        .send_json(
            Method::POST,
            "/api/v1/hazards",
            &format!(
                r#"{{"category":"gas","risk_level":"major","description":"燃气管道锈蚀","place_id":"{yongning}","lat":"40.0712","lon":"113.2899"}}"#
            ),
            &[],
        )
        .await;
    assert_eq!(h.status, StatusCode::CREATED, "{}", h.body);
    let hazard_href = format!("/hazards/{}", h.json()["id"].as_str().unwrap());

    let map = desk.get("/map").await;
    assert_eq!(map.status, StatusCode::OK, "{}", map.body);
    assert!(map.body.contains(&format!("<a href=\"{request_href}\" class=\"pin request\">")), "{}", map.body);
    assert!(map.body.contains(&format!("<a href=\"{hazard_href}\" class=\"pin hazard risk-major\">")));
    let count = map.between("id=\"map-count\">", "</p>").unwrap();
    assert!(count.contains("图上 2") && count.contains("无坐标未显示 1"), "{count}");
    assert!(!map.body.contains("<image"), "no tiles unless configured");
    // Both points inside the drawing.
    for circle in map.body.match_indices("<circle cx=\"") {
        let rest = &map.body[circle.0 + 12..];
        let cx: f64 = rest[..rest.find('"').unwrap()].parse().unwrap();
        assert!((0.0..=960.0).contains(&cx), "{cx}");
    }
    let only = desk.get("/map?layer=requests").await;
    assert!(only.body.contains("pin request") && !only.body.contains("pin hazard"));
    assert_eq!(desk.get("/map?layer=weather").await.status, StatusCode::BAD_REQUEST);

    // 万城社区's staff see neither; the station sees its hazard but not 迎宾's request.
    let other = app.login("changmin").await.get("/map").await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(!other.body.contains("class=\"pin "), "{}", other.body);
    let station = mgr.get("/map").await;
    assert!(station.body.contains("pin hazard") && !station.body.contains("pin request"));

    // A tile server: tiles behind the points, and the page allows images from it alone.
    app.reconfigure(|c| {
        c.map_tiles = Some(
            linli::config::TileSource::parse("https://tiles.example.cn/{z}/{x}/{y}.png", "© 示例图源".into()).unwrap(),
        )
    });
    // (The bureau's second factor is enrolled at its first login; the station manager signs in again.)
    let mgr = app.login("zhenhua.mgr").await;
    let map = mgr.get("/map").await;
    assert!(map.body.contains("pin hazard"));
    assert!(map.body.contains("<image class=\"tile\" href=\"https://tiles.example.cn/"), "{}", map.body);
    assert!(map.body.contains("© 示例图源"));
    let csp = map.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("img-src 'self' data: https://tiles.example.cn;"), "{csp}");
    assert!(linli::config::TileSource::parse("ftp://x/{z}/{x}/{y}", String::new()).is_err());
    assert!(linli::config::TileSource::parse("https://x/{z}/{x}.png", String::new()).is_err());
}
