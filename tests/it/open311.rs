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
