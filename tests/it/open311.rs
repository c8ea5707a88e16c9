//! Open311 GeoReport v2 and the residents' public page, through the real router on both
//! backends. (An independent client, PyPI's `georeport`, drives `linli serve` in
//! scripts/open311-conformance.)

use axum::http::{Method, StatusCode};

use crate::harness::TestApp;

/// Fields posted, the status expected, a word the error must name.
type BadPost<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);

pub async fn api_key(app: &TestApp) -> String {
    linli::open311::clients::register(&app.st.db, "测试应用", "", None).await.unwrap().1
}

#[tokio::test]
async fn an_app_files_a_request_with_attributes_and_follows_it_in_json_and_xml() {
    let app = TestApp::new().await;
    let key = api_key(&app).await;
    let anon = app.anon();

    let services = anon.get("/open311/v2/services.json").await;
    assert_eq!(services.status, StatusCode::OK);
    let list = services.json();
    let elevator = list.as_array().unwrap().iter().find(|s| s["service_code"] == "elevator").expect("elevator");
    assert_eq!(elevator["metadata"], true);
    assert_eq!(elevator["service_name"], "电梯");
    let def = anon.get("/open311/v2/services/elevator.json").await.json();
    assert_eq!(def["attributes"][0]["code"], "trapped");
    assert_eq!(def["attributes"][0]["required"], true);
    assert_eq!(def["attributes"][0]["values"][0]["key"], "yes");
    let xml = anon.get("/open311/v2/services/elevator.xml").await;
    assert!(
        xml.body.contains("<service_definition><service_code>elevator</service_code><attributes><attribute>"),
        "{}",
        xml.body
    );

    // Bad posts: each the specification's error list with the right status; nothing written.
    let cases: &[BadPost] = &[
        (&[("service_code", "elevator"), ("lat", "40.09"), ("long", "113.3")], StatusCode::FORBIDDEN, "api_key"),
        (
            &[("api_key", "nope"), ("service_code", "elevator"), ("lat", "40.09"), ("long", "113.3")],
            StatusCode::FORBIDDEN,
            "api_key",
        ),
        (
            &[("api_key", &key), ("service_code", "no_such"), ("lat", "40.09"), ("long", "113.3")],
            StatusCode::NOT_FOUND,
            "no_such",
        ),
        (
            &[("api_key", &key), ("service_code", "street_light"), ("description", "灯不亮")],
            StatusCode::BAD_REQUEST,
            "location",
        ),
        (&[("api_key", &key), ("service_code", "street_light"), ("lat", "40.09")], StatusCode::BAD_REQUEST, "long"),
        (
            &[("api_key", &key), ("service_code", "street_light"), ("lat", "48.85"), ("long", "2.35")],
            StatusCode::BAD_REQUEST,
            "中国",
        ),
        (
            &[("api_key", &key), ("service_code", "elevator"), ("address_string", "万城华府3号楼")],
            StatusCode::BAD_REQUEST,
            "trapped",
        ),
        (
            &[
                ("api_key", &key),
                ("service_code", "elevator"),
                ("address_string", "万城华府3号楼"),
                ("attribute[trapped]", "maybe"),
            ],
            StatusCode::BAD_REQUEST,
            "trapped",
        ),
    ];
    for (fields, status, word) in cases {
        let r = anon.post_form("/open311/v2/requests.json", fields).await;
        assert_eq!(r.status, *status, "{fields:?}: {}", r.body);
        let errs = r.json();
        assert_eq!(errs[0]["code"], status.as_u16(), "{}", r.body);
        assert!(errs[0]["description"].as_str().unwrap().contains(word), "{}", r.body);
    }
    let r = anon.post_form("/open311/v2/requests.xml", &[("service_code", "elevator")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("<errors><error><code>403</code><description>"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 0, "nothing half-written");

    let r = anon
        .post_form(
            "/open311/v2/requests.json",
            &[
                ("api_key", &key),
                ("service_code", "elevator"),
                ("address_string", "万城华府小区3号楼"),
                ("lat", "40.0912"),
                ("long", "113.2981"),
                ("description", "电梯停在5楼不动"),
                ("attribute[trapped]", "yes"),
                ("first_name", "敏"),
                ("last_name", "赵"),
                ("phone", "13612345678"),
                ("media_url", "https://example.org/photo.jpg"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let posted = r.json();
    let number = posted[0]["service_request_id"].as_str().unwrap().to_string();
    let token = posted[0]["token"].as_str().unwrap().to_string();
    let channel: (String, String) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT channel, attributes FROM requests").fetch_one(c).await)
            .unwrap();
    assert_eq!(channel.0, "open311");
    assert!(channel.1.contains("\"trapped\":\"yes\""), "{}", channel.1);

    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await;
    assert_eq!(one.status, StatusCode::OK);
    let one = one.json();
    assert_eq!(one[0]["status"], "open");
    assert_eq!(one[0]["service_code"], "elevator");
    assert_eq!(one[0]["media_url"], "https://example.org/photo.jpg");
    assert!(!one.to_string().contains("13612345678") && !one.to_string().contains("赵敏"), "nothing personal: {one}");
    let xml = anon.get(&format!("/open311/v2/requests/{number}.xml")).await;
    assert!(
        xml.body.contains(&format!("<service_request_id>{number}</service_request_id><status>open</status>")),
        "{}",
        xml.body
    );
    let tok = anon.get(&format!("/open311/v2/tokens/{token}.json")).await.json();
    assert_eq!(tok[0]["service_request_id"], number.as_str());
    assert_eq!(anon.get("/open311/v2/requests/1999-000001.json").await.status, StatusCode::NOT_FOUND);

    // Filters, the 90-day limit and paging.
    let second = anon
        .post_form(
            "/open311/v2/requests.json",
            &[("api_key", &key), ("service_code", "street_light"), ("address_string", "振华南街")],
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let all = anon.get("/open311/v2/requests.json").await.json();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let lights = anon.get("/open311/v2/requests.json?service_code=street_light").await.json();
    assert_eq!(lights.as_array().unwrap().len(), 1);
    assert_eq!(anon.get("/open311/v2/requests.json?status=closed").await.json().as_array().unwrap().len(), 0);
    let page = anon.get("/open311/v2/requests.json?page_size=1&page=2").await.json();
    assert_eq!(page[0]["service_request_id"], number.as_str(), "newest first; page 2 of size 1 is the first post");
    let long =
        anon.get("/open311/v2/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z").await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    let old = anon.get("/open311/v2/requests.json?start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00Z").await;
    assert_eq!(old.json().as_array().unwrap().len(), 0);
    assert_eq!(anon.get("/open311/v2/requests.json?status=maybe").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(anon.get("/open311/v2/requests.json?start_date=yesterday").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(anon.get("/open311/v2/requests.html").await.status, StatusCode::NOT_FOUND);

    // An update from the app becomes a note on the request's public timeline.
    let upd = anon
        .post_form(
            "/open311/v2/servicerequestupdates.json",
            &[("api_key", &key), ("service_request_id", &number), ("description", "已有人被困20分钟")],
        )
        .await;
    assert_eq!(upd.status, StatusCode::CREATED, "{}", upd.body);
    let updates = anon.get("/open311/v2/servicerequestupdates.json").await.json();
    assert!(
        updates.as_array().unwrap().iter().any(|u| u["description"].as_str().unwrap().contains("已有人被困20分钟"))
    );

    // Staff see where it came from.
    let desk = app.login("bureau").await;
    let r = desk.send_json(Method::GET, "/requests?queue=dispatch", "", &[]).await;
    assert!(r.body.contains(&number), "{}", r.body);
}

#[tokio::test]
async fn a_resident_reports_without_an_account_and_follows_the_tracking_link() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let form = app.anon().get("/report").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("下水堵塞"));
    // A phone is needed for the callback; the text typed is kept.
    let r = anon
        .post_form(
            "/report",
            &[("category", "sewer_blocked"), ("description", "厨房下水返味堵塞"), ("address", "宏安小区2号楼")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("厨房下水返味堵塞"));
    // A resident cannot attach the report to someone's record.
    let r = anon
        .post_form(
            "/report",
            &[
                ("category", "sewer_blocked"),
                ("description", "厨房下水返味堵塞"),
                ("address", "宏安小区2号楼"),
                ("phone", "13912340000"),
                ("person_id", "0190b8c4-0000-7000-8000-000000000000"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let link = r.location();
    assert!(link.starts_with("/track/"));
    assert_eq!(app.count("SELECT COUNT(*) FROM requests WHERE person_id IS NOT NULL").await, 0);
    let page = anon.get(&link).await;
    assert!(page.body.contains("已收到您的诉求") && page.body.contains("data-status=\"accepted\""), "{}", page.body);
    assert!(!page.body.contains("13912340000"), "no phone on the public page");
    // It lands at the district's desk: the bureau sees it, a station elsewhere does not.
    let desk = app.login("bureau").await;
    let number: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT number FROM requests").fetch_one(c).await).unwrap();
    assert!(desk.get("/requests?queue=dispatch").await.body.contains(&number.0));
    let code = link.trim_start_matches("/track/").split('?').next().unwrap().to_string();
    let r = anon.post_form(&format!("/track/{code}/note"), &[("note", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = anon.post_form(&format!("/track/{code}/note"), &[("note", "晚上8点后家里有人")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(anon.get(&format!("/track/{code}")).await.body.contains("晚上8点后家里有人"));
    assert_eq!(anon.get("/track/not-a-code").await.status, StatusCode::NOT_FOUND);
    // Staff read who wrote it in words, not an internal code.
    let id: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM requests").fetch_one(c).await).unwrap();
    let page = desk.get(&format!("/requests/{}", id.0)).await;
    let timeline = page.between("id=\"request-timeline\"", "</ol>").unwrap();
    assert!(timeline.contains(">反映人</span>") && !timeline.contains(">resident<"), "{timeline}");
}

/// The photo-upload extension: a multipart post with `media`, checked by content like every upload.
#[tokio::test]
async fn an_app_posts_a_photo_with_the_request() {
    let app = TestApp::new().await;
    let key = api_key(&app).await;
    let anon = app.anon();
    let fields = [
        ("api_key", key.as_str()),
        ("service_code", "street_light"),
        ("lat", "40.09"),
        ("long", "113.30"),
        ("description", "路灯不亮，见照片"),
    ];
    // An HTML page named .jpg: the spec's error list with 415, nothing written.
    let bad =
        anon.post_multipart("/open311/v2/requests.json", &fields, &[("media", "lamp.jpg", b"<html>hi</html>")]).await;
    assert_eq!(bad.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", bad.body);
    assert!(bad.json()[0]["description"].as_str().unwrap().starts_with("media:"), "{}", bad.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 0);
    // Over the size limit: 413.
    let mut huge = linli::files::samples::jpeg_with_gps(16, 16);
    huge.resize(app.st.cfg.max_upload_bytes + 10, 0);
    let big = anon.post_multipart("/open311/v2/requests.json", &fields, &[("media", "big.jpg", &huge)]).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", big.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 0);
    // A camera photo: the request and its photo (EXIF gone), for the staff who handle it.
    let photo = linli::files::samples::jpeg_with_gps(200, 150);
    let ok = anon.post_multipart("/open311/v2/requests.json", &fields, &[("media", "lamp.jpg", &photo)]).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let id = ok.json()[0]["token"].as_str().unwrap().to_string();
    let files: Vec<(uuid::Uuid, String)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id, purpose FROM files WHERE owner_kind = 'request' AND owner_id = $1"
    )
    .bind(uuid::Uuid::parse_str(&id).unwrap())
    .fetch_all(c)
    .await)
    .unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].1, "intake");
    let desk = app.login("bureau").await;
    let got = desk.get(&format!("/files/{}", files[0].0)).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(!got.bytes.windows(4).any(|w| w == b"Exif"));
    // Residents and other apps cannot fetch it: files need a signed-in role that sees the request.
    assert_eq!(anon.get(&format!("/files/{}", files[0].0)).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.login("volunteer").await.get(&format!("/files/{}", files[0].0)).await.status, StatusCode::NOT_FOUND);
}

/// Sets a rate-limit bucket's count in the current window (as `ratelimit::hit` computes it).
async fn fill_bucket(app: &TestApp, bucket: &str, window: i64, hits: i64) {
    let now = chrono::Utc::now().timestamp();
    let win = now - now.rem_euclid(window);
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query(
        "INSERT INTO rate_limits (bucket, win, hits) VALUES ($1, $2, $3)
         ON CONFLICT (bucket, win) DO UPDATE SET hits = excluded.hits"
    )
    .bind(bucket)
    .bind(win)
    .bind(hits)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
}

async fn bucket_hits(app: &TestApp, bucket: &str) -> i64 {
    let row: Option<(i64,)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT hits FROM rate_limits WHERE bucket = $1 ORDER BY win DESC LIMIT 1"
    )
    .bind(bucket)
    .fetch_optional(c)
    .await)
    .unwrap();
    row.map_or(0, |r| r.0)
}

/// Posting limits: an app's new requests count in the request's own transaction (one commit a
/// post), refused posts count too, and a post over the limit is refused with nothing written.
#[tokio::test]
async fn posts_over_an_apps_or_a_residents_limit_are_refused_and_nothing_is_written() {
    let app = TestApp::new().await;
    let (_, key) = linli::open311::clients::register(&app.st.db, "限流测试", "", None).await.unwrap();
    let anon = app.anon();
    // The app's window is a clock minute: start well inside one.
    let into_minute = chrono::Utc::now().timestamp().rem_euclid(60);
    if into_minute > 45 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::try_from(62 - into_minute).unwrap())).await;
    }
    // Counted per key, so that a post's count and its app are read in one statement.
    let bucket = linli::open311::clients::post_limit(&key, 1).bucket;
    fill_bucket(&app, &bucket, 60, 118).await;
    let good = [
        ("api_key", key.as_str()),
        ("service_code", "street_light"),
        ("address_string", "万城华府小区北门"),
        ("description", "路灯不亮"),
    ];
    let r = anon.post_form("/open311/v2/requests.json", &good[..2]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(bucket_hits(&app, &bucket).await, 119, "a refused post counts");
    let r = anon.post_form("/open311/v2/requests.json", &good).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(bucket_hits(&app, &bucket).await, 120, "counted with the request");
    let r = anon.post_form("/open311/v2/requests.json", &good).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(r.json()[0]["code"], 429);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 1, "the refused post wrote nothing");

    // The public page: 20 reports an hour from one address.
    let report = [
        ("category", "sewer_blocked"),
        ("phone", "13912340000"),
        ("description", "楼道下水返味"),
        ("address", "宏安小区2号楼"),
    ];
    let r = anon.post_form("/report", &report).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (bucket,): (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT bucket FROM rate_limits WHERE bucket LIKE 'report:%'")
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!(bucket_hits(&app, &bucket).await, 1);
    let r = anon.post_form("/report", &report[..3]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bucket_hits(&app, &bucket).await, 2, "a refused report counts");
    fill_bucket(&app, &bucket, 3600, 20).await;
    let r = anon.post_form("/report", &report).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 2, "refused at the door");
}

/// A point near a demo grid's centre (`demo::coordinates`), a few metres off.
pub fn near_grid(key: &str) -> (String, String) {
    let (_, lat, lon) = linli::demo::coordinates().into_iter().find(|(k, ..)| k == key).expect("a demo grid");
    (format!("{:.6}", lat + 0.0002), format!("{:.6}", lon - 0.0002))
}

/// Beijing's Tian'anmen: inside China, ~280 km from the district.
const BEIJING: (&str, &str) = ("39.9042", "116.4074");

/// A point lands in the grid it falls in (and so counts for its street); a point outside the
/// district is refused on every intake, with nothing written.
#[tokio::test]
async fn a_point_lands_in_its_grid_and_one_outside_the_district_is_refused_everywhere() {
    let app = TestApp::new().await;
    let key = api_key(&app).await;
    let anon = app.anon();
    let post = |lat: String, lon: String| {
        let key = key.clone();
        let anon = &anon;
        async move {
            anon.post_form(
                "/open311/v2/requests.json",
                &[("api_key", &key), ("service_code", "street_light"), ("lat", &lat), ("long", &lon)],
            )
            .await
        }
    };
    let r = post(BEIJING.0.into(), BEIJING.1.into()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let e = r.json();
    assert_eq!(e[0]["code"], 400);
    assert!(e[0]["description"].as_str().unwrap().starts_with("lat:"), "{}", r.body);
    // The public page and the staff form and API refuse it too.
    let report = [
        ("category", "street_light"),
        ("description", "路灯不亮"),
        ("phone", "13912340000"),
        ("lat", BEIJING.0),
        ("lon", BEIJING.1),
    ];
    let r = anon.post_form("/report", &report).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("不在本区服务范围内") && r.body.contains("路灯不亮"), "typed text kept: {}", r.body);
    let desk = app.login("bureau").await;
    let body =
        serde_json::json!({"category": "street_light", "description": "路灯不亮", "lat": BEIJING.0, "lon": BEIJING.1});
    let r = desk.send_json(Method::POST, "/api/v1/requests", &body.to_string(), &[]).await;
    assert!(r.status.is_client_error(), "{}: {}", r.status, r.body);
    assert!(r.body.contains("lat"), "{}", r.body);
    let r = desk
        .post_form(
            "/requests",
            &[("category", "street_light"), ("description", "路灯不亮"), ("lat", BEIJING.0), ("lon", BEIJING.1)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 0, "nothing written");

    // Inside: the grid it falls in, and its street's row in the by-street metrics.
    let (lat, lon) = near_grid("和阳社区/第一网格");
    let r = post(lat, lon).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (place, owner): (String, String) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT p.name || '/' || g.name, r.owner_path FROM requests r JOIN places g ON g.id = r.place_id JOIN places p ON p.id = g.parent_id"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(place, "和阳社区/第一网格");
    let street: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT path FROM places WHERE name = '古城街道'")
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!(owner, street.0, "held by the street it falls in");
    let today = linli::hazards::store::today();
    let j = desk
        .get(&format!("/api/v1/requests/metrics?from={}&to={today}&by=street", today - chrono::Duration::days(1)))
        .await;
    assert_eq!(j.status, StatusCode::OK, "{}", j.body);
    let rows = j.json()["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["label"], "古城街道", "{rows:?}");
}

/// A point inside the district but away from every community (a street's or the district's
/// reach, not a community's) was refused as a bad address_string although the app sent none.
/// It is filed at the desk of the district it falls in, with its point, for the desk to place.
#[tokio::test]
async fn a_point_in_the_district_away_from_every_community_lands_at_its_districts_desk() {
    let app = TestApp::new().await;
    let key = api_key(&app).await;
    let anon = app.anon();
    // 12 km north of 平城区's centre: within its reach, 8 km from the nearest street's centre.
    let (lat, lon) = ("40.200000", "113.300000");
    let r = anon
        .post_form(
            "/open311/v2/requests.json",
            &[("api_key", &key), ("service_code", "street_light"), ("lat", lat), ("long", lon)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (place, kind, rlat): (String, String, f64) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT p.name, p.kind, r.lat FROM requests r JOIN places p ON p.id = r.place_id"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!((place.as_str(), kind.as_str()), ("平城区", "district"));
    assert!((rlat - 40.2).abs() < 1e-6, "the point is kept: {rlat}");
    // The staff form with the same point files it too, at the same desk.
    let desk = app.login("bureau").await;
    let r = desk
        .post_form(
            "/requests",
            &[("category", "street_light"), ("description", "路灯不亮"), ("lat", lat), ("lon", lon)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM requests r JOIN places p ON p.id = r.place_id WHERE p.name = '平城区'").await,
        2
    );
    // A city with a centre: a point within its reach but no district's is still outside.
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query("UPDATE places SET lat = 40.088, lon = 113.300 WHERE kind = 'city'")
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    let r = anon
        .post_form(
            "/open311/v2/requests.json",
            &[("api_key", &key), ("service_code", "street_light"), ("lat", "40.400000"), ("long", "113.300000")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.json()[0]["description"].as_str().unwrap().starts_with("lat:"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 2, "nothing written");
}

/// Status notes are the latest public step in words, in the caller's language, with the note
/// its writer made public; never the channel's code, never an internal note.
#[tokio::test]
async fn status_notes_are_the_latest_public_step_in_words_in_the_callers_language() {
    let app = TestApp::new().await;
    let key = api_key(&app).await;
    let anon = app.anon();
    let r = anon
        .post_form(
            "/open311/v2/requests.json",
            &[("api_key", &key), ("service_code", "street_light"), ("address_string", "振华南街")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let number = r.json()[0]["service_request_id"].as_str().unwrap().to_string();
    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json()[0].clone();
    assert_eq!(one["status_notes"], "受理", "{one}");
    let en = anon
        .raw(Method::GET, &format!("/open311/v2/requests/{number}.json"), &[("accept-language", "en")], vec![])
        .await;
    assert_eq!(en.json()[0]["status_notes"], "Accepted", "{}", en.body);
    let updates = anon.get("/open311/v2/servicerequestupdates.json").await;
    assert!(!updates.body.contains("open311"), "no channel code: {}", updates.body);
    let xml = anon.get(&format!("/open311/v2/requests/{number}.xml")).await;
    assert!(xml.body.contains("<status_notes>受理</status_notes>"), "{}", xml.body);

    // The desk dispatches with an internal note: the step shows, the note does not.
    let (id, version): (uuid::Uuid, i64) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id, version FROM requests").fetch_one(c).await).unwrap();
    let (org,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM organisations WHERE name = '大同市政排污所'")
            .fetch_one(c)
            .await)
        .unwrap();
    let desk = app.login("bureau").await;
    let body = serde_json::json!({"version": version, "units": [format!("org:{org}")], "note": "联系王小芳"});
    let r = desk.send_json(Method::POST, &format!("/api/v1/requests/{id}/dispatch"), &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json()[0].clone();
    assert_eq!(one["status_notes"], "派单 · 大同市政排污所", "{one}");
    let page = anon.get(&format!("/open311/v2/requests/{number}.json")).await;
    assert!(!page.body.contains("王小芳"));
}

/// Absent fields are null (empty elements in XML), services are described, dates may be a day
/// or a minute, descriptions take 4,000 characters, and read answers allow any origin.
#[tokio::test]
async fn the_georeport_details_integrators_rely_on() {
    let app = TestApp::new().await;
    let key = api_key(&app).await;
    let anon = app.anon();
    let long = "井".repeat(4000);
    let fields = [("api_key", key.as_str()), ("service_code", "street_light"), ("address_string", "振华南街")];
    let too_long = "井".repeat(4001);
    let mut over = fields.to_vec();
    over.push(("description", &too_long));
    let r = anon.post_form("/open311/v2/requests.json", &over).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.json()[0]["description"].as_str().unwrap().starts_with("description:"), "{}", r.body);
    let mut ok = fields.to_vec();
    ok.push(("description", &long));
    let r = anon.post_form("/open311/v2/requests.json", &ok).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(!r.headers.contains_key("access-control-allow-origin"), "posts are not for pages elsewhere");
    let created = r.json();
    assert_eq!(created[0]["account_id"], serde_json::Value::Null);
    let number = created[0]["service_request_id"].as_str().unwrap().to_string();

    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await;
    assert_eq!(one.headers.get("access-control-allow-origin").unwrap(), "*");
    assert!(!one.headers.contains_key("access-control-allow-credentials"));
    let one = one.json()[0].clone();
    for absent in ["agency_responsible", "service_notice", "address_id", "zipcode", "lat", "long", "media_url"] {
        assert_eq!(one[absent], serde_json::Value::Null, "{absent}: {one}");
    }
    assert_eq!(one["description"].as_str().unwrap().chars().count(), 4000);
    let xml = anon.get(&format!("/open311/v2/requests/{number}.xml")).await;
    assert!(
        xml.body.contains("<zipcode></zipcode>") && xml.body.contains("<service_notice></service_notice>"),
        "{}",
        xml.body
    );

    let services = anon.get("/open311/v2/services.json").await;
    assert_eq!(services.headers.get("access-control-allow-origin").unwrap(), "*");
    for s in services.json().as_array().unwrap() {
        let d = s["description"].as_str().unwrap();
        assert!(d.contains(s["service_name"].as_str().unwrap()) && d.contains("个工作日内办结"), "{s}");
        assert_eq!(s["keywords"], serde_json::Value::Null, "{s}");
    }
    let en = anon.raw(Method::GET, "/open311/v2/services.json", &[("accept-language", "en-GB,en;q=0.9")], vec![]).await;
    assert!(en.json()[0]["description"].as_str().unwrap().contains("working days"), "{}", en.body);
    for path in
        ["/open311/v2/services/elevator.json", "/open311/v2/discovery.json", "/open311/v2/servicerequestupdates.json"]
    {
        assert_eq!(anon.get(path).await.headers.get("access-control-allow-origin").unwrap(), "*", "{path}");
    }

    // A day (Beijing) or a minute, as W3C allows; the end day is included whole.
    let today = linli::hazards::store::today();
    let tomorrow = today + chrono::Duration::days(1);
    for q in [
        format!("start_date={today}&end_date={today}"),
        format!("start_date={today}T00:00%2B08:00&end_date={tomorrow}T00:00%2B08:00"),
        format!("start_date={}T16:00Z", today - chrono::Duration::days(1)),
    ] {
        let r = anon.get(&format!("/open311/v2/requests.json?{q}")).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
        assert_eq!(r.json().as_array().unwrap().len(), 1, "{q}: {}", r.body);
    }
    let r = anon.get(&format!("/open311/v2/servicerequestupdates.json?start_date={today}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.json().as_array().unwrap().is_empty());
    let yesterday = today - chrono::Duration::days(1);
    let r = anon.get(&format!("/open311/v2/requests.json?start_date={yesterday}&end_date={yesterday}")).await;
    assert_eq!(r.json().as_array().unwrap().len(), 0, "{}", r.body);
    for bad in ["2026-13-01", "2026-01-01T25:00Z", "2026-01-01T08:00"] {
        let r = anon.get(&format!("/open311/v2/requests.json?start_date={bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
}

/// The discovery document names the address apps use: the proxy's, when the request came
/// through trusted proxies, and never what a client wrote without one.
#[tokio::test]
async fn the_discovery_url_follows_a_trusted_proxy_only() {
    let mut app = TestApp::new().await;
    let forwarded = [("host", "10.0.0.5:8080"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "311.example.cn")];
    assert_eq!(discovery_url(&app, &forwarded).await, "http://10.0.0.5:8080/open311/v2/");
    app.reconfigure(|c| c.trusted_proxies = 1);
    assert_eq!(discovery_url(&app, &forwarded).await, "https://311.example.cn/open311/v2/");
    let r = app
        .anon()
        .raw(Method::GET, "/open311/v2/discovery.json", &[("host", "a.cn"), ("x-forwarded-host", "evil\"<x>")], vec![])
        .await;
    assert_eq!(r.json()["endpoints"][0]["url"], "http://a.cn/open311/v2/", "{}", r.body);
}

/// The post limit is a setting: the instance's default, and an app's own number beside it.
#[tokio::test]
async fn an_apps_own_post_limit_stands_beside_the_configured_default() {
    let mut app = TestApp::new().await;
    app.reconfigure(|c| c.open311_posts_per_minute = 3);
    let (slow_id, slow) = linli::open311::clients::register(&app.st.db, "慢应用", "", None).await.unwrap();
    let (_, usual) = linli::open311::clients::register(&app.st.db, "普通应用", "", None).await.unwrap();
    assert!(linli::open311::clients::set_post_limit(&app.st.db, slow_id, Some(1)).await.unwrap());
    assert!(!linli::open311::clients::set_post_limit(&app.st.db, uuid::Uuid::now_v7(), Some(1)).await.unwrap());
    let into_minute = chrono::Utc::now().timestamp().rem_euclid(60);
    if into_minute > 50 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::try_from(62 - into_minute).unwrap())).await;
    }
    let anon = app.anon();
    let post = |key: &str| {
        let fields = [
            ("api_key".to_string(), key.to_string()),
            ("service_code".to_string(), "street_light".to_string()),
            ("address_string".to_string(), "振华南街".to_string()),
        ];
        let anon = &anon;
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            anon.post_form("/open311/v2/requests.json", &f).await.status
        }
    };
    assert_eq!(post(&slow).await, StatusCode::CREATED);
    assert_eq!(post(&slow).await, StatusCode::TOO_MANY_REQUESTS, "the app's own limit of 1");
    for _ in 0..3 {
        assert_eq!(post(&usual).await, StatusCode::CREATED);
    }
    assert_eq!(post(&usual).await, StatusCode::TOO_MANY_REQUESTS, "the configured default of 3");
    // A key in the header is refused before the body is read, by the same numbers.
    let r = anon
        .raw(
            Method::POST,
            "/open311/v2/requests.json",
            &[("x-api-key", &slow), ("content-type", "application/x-www-form-urlencoded")],
            b"service_code=street_light&address_string=x".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 4);
}

/// Open311's own OpenAPI document: valid in shape, and every path it names is served.
#[tokio::test]
async fn open311_has_an_openapi_document_whose_paths_are_served() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let r = anon.raw(Method::GET, "/open311/v2/openapi.json", &[("host", "311.example.cn")], vec![]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["servers"][0]["url"], "http://311.example.cn/open311/v2");
    let paths = doc["paths"].as_object().unwrap();
    let mut ids = std::collections::HashSet::new();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()), "operationId once: {path}");
            assert!(op["responses"].as_object().unwrap().contains_key("404"), "{method} {path}");
            let url = format!(
                "/open311/v2{}",
                path.replace("{format}", "json")
                    .replace("{service_code}", "elevator")
                    .replace("{service_request_id}", "1999-000001")
                    .replace("{token}", "x")
            );
            let status =
                if method == "get" { anon.get(&url).await.status } else { anon.post_form(&url, &[]).await.status };
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {url}");
            let documented = op["responses"].as_object().unwrap();
            assert!(documented.contains_key(status.as_str()), "{method} {url} answered {status}, undocumented");
        }
        for p in ops.as_object().unwrap().values().flat_map(|op| op["parameters"].as_array().unwrap()) {
            let name = p["name"].as_str().unwrap();
            assert_eq!(p["in"] == "path", path.contains(&format!("{{{name}}}")), "{path}: {name}");
        }
    }
    assert_eq!(paths.len(), 7);
}

/// A place's centre is set on its edit page or through the API (audited, checked); points near
/// it then land there, and a place given a wider reach takes points further out.
#[tokio::test]
async fn a_places_centre_set_by_page_or_api_decides_where_points_land() {
    let app = TestApp::new().await;
    let key = api_key(&app).await;
    let desk = app.login("bureau").await;
    let grid = app.place_id("第二网格").await;
    // Far from every demo place: refused until a place reaches it.
    let (lat, lon) = ("40.3000", "113.6000");
    let fields = [("api_key", key.as_str()), ("service_code", "street_light"), ("lat", lat), ("long", lon)];
    let anon = app.anon();
    assert_eq!(anon.post_form("/open311/v2/requests.json", &fields).await.status, StatusCode::BAD_REQUEST);

    let page = desk.get(&format!("/places/{grid}/edit")).await;
    assert!(page.body.contains("name=\"lat\""), "{}", page.body);
    let name: (String,) = linli::read!(&app.st.db, |c| sqlx::query_as("SELECT name FROM places WHERE id = $1")
        .bind(grid)
        .fetch_one(c)
        .await)
    .unwrap();
    // Typed wrong: refused with the text kept, nothing changed.
    let v = place_version(&app, grid).await;
    let bad = [("name", name.0.as_str()), ("version", &v), ("lat", "北纬40度"), ("lon", lon), ("radius_m", "")];
    let r = desk.post_form(&format!("/places/{grid}"), &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("北纬40度"));
    let only_lat = [("name", name.0.as_str()), ("version", &v), ("lat", lat), ("lon", ""), ("radius_m", "")];
    assert_eq!(desk.post_form(&format!("/places/{grid}"), &only_lat).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(place_version(&app, grid).await, v, "nothing written");
    let ok = [("name", name.0.as_str()), ("version", &v), ("lat", lat), ("lon", lon), ("radius_m", "")];
    let r = desk.post_form(&format!("/places/{grid}"), &ok).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = anon.post_form("/open311/v2/requests.json", &fields).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (placed,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT place_id FROM requests").fetch_one(c).await).unwrap();
    assert_eq!(placed, grid);

    // Through the API: a reach of 5 km takes a point 3 km out; left-out fields are kept.
    let body = serde_json::json!({"name": name.0, "radius_m": 5000});
    let r = desk.send_json(Method::PATCH, &format!("/api/v1/places/{grid}"), &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = r.json();
    assert_eq!((p["lat"].as_f64(), p["radius_m"].as_i64()), (Some(40.3), Some(5000)), "{p}");
    let further = [("api_key", key.as_str()), ("service_code", "street_light"), ("lat", "40.3270"), ("long", lon)];
    assert_eq!(anon.post_form("/open311/v2/requests.json", &further).await.status, StatusCode::CREATED);
    let body = serde_json::json!({"name": name.0, "radius_m": 0});
    let r = desk.send_json(Method::PATCH, &format!("/api/v1/places/{grid}"), &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let body = serde_json::json!({"name": name.0, "lat": null, "lon": null});
    let r = desk.send_json(Method::PATCH, &format!("/api/v1/places/{grid}"), &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["lat"], serde_json::Value::Null);
    assert_eq!(anon.post_form("/open311/v2/requests.json", &fields).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'place.update' AND entity_id IS NOT NULL").await,
        3
    );
}

async fn discovery_url(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let r = app.anon().raw(Method::GET, "/open311/v2/discovery.json", headers, vec![]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json()["endpoints"][0]["url"].as_str().unwrap().to_string()
}

async fn place_version(app: &TestApp, id: uuid::Uuid) -> String {
    let (v,): (i64,) = linli::read!(&app.st.db, |c| sqlx::query_as("SELECT version FROM places WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
    .unwrap();
    v.to_string()
}
