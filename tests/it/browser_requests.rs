//! Resident-request stories end to end in headless Chromium, clicked through the real pages:
//! a resident reports a blocked sewer from a phone and follows the tracking link; the hotline
//! desk takes a call, dispatches it to the community (story 6) or to several departments at
//! once (story 7); each unit signs and resolves its part; the desk calls back. The database is
//! read only to check.

use fantoccini::{Client, Locator};

use crate::browser::{browser, click, fill, login, serve, start_driver, text_of};
use crate::harness::TestApp;

pub(crate) async fn select(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("{css} has no option {value}: {e}"));
}

pub(crate) async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

async fn page_width(c: &Client) -> u64 {
    c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap().as_u64().unwrap()
}

async fn status_of(c: &Client) -> String {
    c.find(Locator::Css("#request-status")).await.unwrap().attr("data-status").await.unwrap().unwrap_or_default()
}

pub(crate) async fn logout(c: &Client) {
    click(c, "#logout").await;
}

/// The district desk (a bureau administrator) signs in with the second factor: the first
/// sign-in enrols and shows the secret, later ones use the next time step (the last is spent).
pub(crate) async fn desk_login(c: &Client, base: &str, app: &TestApp, secret: &mut Option<String>) {
    login(c, base, "bureau", &app.password).await;
    if !path(c).await.ends_with("/login/totp") {
        return;
    }
    let now = linli::auth::totp::now_secs();
    let (s, at) = match secret {
        Some(s) => (s.clone(), now + 30),
        None => (text_of(c, "#totp-secret").await, now),
    };
    *secret = Some(s.clone());
    fill(c, "#f-code", &linli::auth::totp::code_at(&s, "bureau", at)).await;
    click(c, "#totp-form button[type=submit]").await;
    assert_eq!(path(c).await, "/", "the desk is signed in");
}

/// Signs for and resolves the first part the signed-in unit may work on.
async fn sign_and_resolve(c: &Client, resolution: &str) {
    click(c, ".sign-form button").await;
    fill(c, ".work-form textarea[name=note]", resolution).await;
    click(c, ".work-form button[value=resolve]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_6_a_resident_reports_a_blocked_sewer_from_a_phone_and_the_desk_sees_it_through_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    let mut totp = None;
    let hongan: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM estates WHERE name = '宏安小区'")
            .fetch_one(c)
            .await)
        .unwrap();

    // The resident, on a phone, without an account.
    c.set_window_size(360, 740).await.unwrap();
    c.goto(&format!("{base}/report")).await.unwrap();
    assert!(page_width(&c).await <= 360, "report form is {} px wide on a phone", page_width(&c).await);
    select(&c, "#f-category", "sewage_overflow").await;
    fill(&c, "#f-description", "我是刘桂兰，电话13912345678，2号楼下水井污水外溢，3单元402室门口全是污水").await;
    select(&c, "#f-estate_id", &hongan.0.to_string()).await;
    fill(&c, "#f-building", "2号楼").await;
    fill(&c, "#f-address", "2号楼3单元402室").await;
    fill(&c, "#f-reporter_name", "刘桂兰").await;
    click(&c, "form.card.form button.primary").await;
    // No phone: refused, with what was typed still there.
    assert!(c.source().await.unwrap().contains("2号楼下水井污水外溢"), "typed text kept");
    fill(&c, "#f-phone", "13912345678").await;
    click(&c, "form.card.form button.primary").await;
    assert!(path(&c).await.starts_with("/track/"), "on the tracking page");
    let tracking = c.current_url().await.unwrap().path().to_string();
    let number = text_of(&c, "#request-number").await;
    assert!(text_of(&c, "#report-filed").await.contains(&number));
    assert_eq!(status_of(&c).await, "accepted");
    assert!(page_width(&c).await <= 360);
    // What the public reads: the tracking page and the Open311 feed show no phone, name or room.
    for page in [tracking.clone(), format!("/open311/v2/requests/{number}.json"), "/open311/v2/requests.xml".into()] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        let source = c.source().await.unwrap();
        assert!(source.contains("下水井污水外溢"), "{page} shows the report: {source}");
        for secret in ["13912345678", "刘桂兰", "402室", "3单元"] {
            assert!(!source.contains(secret), "{page} shows {secret}: {source}");
        }
    }
    c.goto(&format!("{base}{tracking}")).await.unwrap();
    c.set_window_size(1280, 900).await.unwrap();

    // The district desk dispatches it to the community, the suggested unit for this category.
    desk_login(&c, &base, &app, &mut totp).await;
    c.goto(&format!("{base}/requests?queue=dispatch")).await.unwrap();
    c.find(Locator::LinkText(&number)).await.expect("in the dispatch queue").click().await.unwrap();
    assert_eq!(text_of(&c, "#request-number").await, number);
    assert_eq!(text_of(&c, "#request-phone").await, "139****5678", "masked for staff too");
    let chosen = c
        .find(Locator::Css("#f-units label.chip:has(input:checked)"))
        .await
        .expect("a unit is suggested")
        .text()
        .await
        .unwrap();
    assert_eq!(chosen, "北馨园社区");
    click(&c, "#dispatch-form button.primary").await;
    assert_eq!(status_of(&c).await, "dispatched");
    let request_path = path(&c).await;
    logout(&c).await;

    // 迎宾街道's social worker signs and resolves it.
    login(&c, &base, "hanjianwei", &app.password).await;
    c.goto(&format!("{base}/requests")).await.unwrap();
    assert!(c.source().await.unwrap().contains(&number), "in the unit's queue");
    c.goto(&format!("{base}{request_path}")).await.unwrap();
    click(&c, ".sign-form button").await;
    assert_eq!(status_of(&c).await, "in_progress");
    // A resolution without notes is refused on the page.
    click(&c, ".work-form button[value=resolve]").await;
    assert!(text_of(&c, ".work-form .error").await.len() > 1);
    fill(&c, ".work-form textarea[name=note]", "清掏检查井，发现油污堵塞，已疏通").await;
    // Work notes are internal unless the unit shows them to the resident.
    click(&c, ".work-form input[name=public]").await;
    click(&c, ".work-form button[value=resolve]").await;
    assert_eq!(status_of(&c).await, "resolved");
    logout(&c).await;

    // The desk calls back; the resident is satisfied.
    desk_login(&c, &base, &app, &mut totp).await;
    c.goto(&format!("{base}{request_path}")).await.unwrap();
    c.find(Locator::Css("#callback-form input[value=satisfied]")).await.unwrap().click().await.unwrap();
    click(&c, "#callback-form button.primary").await;
    assert_eq!(status_of(&c).await, "closed");
    assert!(text_of(&c, "#request-satisfaction").await.contains("满意"));
    let timeline = text_of(&c, "#request-timeline").await;
    for step in ["受理", "派单", "签收", "办结", "回访"] {
        assert!(timeline.contains(step), "timeline shows {step}: {timeline}");
    }

    // The resident's link shows the outcome, without staff names.
    c.goto(&format!("{base}{tracking}")).await.unwrap();
    assert_eq!(status_of(&c).await, "closed");
    let public = text_of(&c, "#track-timeline").await;
    assert!(public.contains("清掏检查井"), "{public}");
    assert!(!c.source().await.unwrap().contains("韩建伟"), "no staff names on the public page");
    let times: (Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT responded_at, resolved_at FROM requests")
            .fetch_one(c)
            .await)
        .unwrap();
    assert!(times.0.is_some() && times.1.is_some(), "response and resolution times are measured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_7_one_manhole_several_departments_one_outcome_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    let mut totp = None;
    let id = |sql: &'static str| {
        let db = app.st.db.clone();
        async move {
            let row: (uuid::Uuid,) = linli::read!(&db, |c| sqlx::query_as(sql).fetch_one(c).await).unwrap();
            row.0.to_string()
        }
    };
    let zhenxing = id("SELECT id FROM places WHERE name = '振兴街社区'").await;
    let estate = id("SELECT id FROM estates WHERE name = '建筑三公司家属院'").await;
    let paiwu = id("SELECT id FROM organisations WHERE name = '大同市政排污所'").await;

    // The desk takes the call.
    desk_login(&c, &base, &app, &mut totp).await;
    c.goto(&format!("{base}/requests/new")).await.unwrap();
    select(&c, "#f-category", "sewage_overflow").await;
    fill(&c, "#f-description", "建筑三公司家属院附近检查井反复外溢，路面积水").await;
    select(&c, "#f-place_id", &zhenxing).await;
    select(&c, "#f-estate_id", &estate).await;
    fill(&c, "#f-phone", "13700001111").await;
    click(&c, "form.card.form button.primary").await;
    assert!(path(&c).await.starts_with("/requests/"), "on the request page");
    let request_path = path(&c).await;

    // Co-handling: the community and 排污所 at once.
    // Units are chips: a tap on each one wanted, and on a suggested one not wanted.
    let units = c.find(Locator::Css("#f-units")).await.unwrap();
    for chip in units.find_all(Locator::Css("label.chip")).await.unwrap() {
        let input = chip.find(Locator::Css("input")).await.unwrap();
        let value = input.attr("value").await.unwrap().unwrap_or_default();
        let checked = input.prop("checked").await.unwrap().as_deref() == Some("true");
        let wanted = value == format!("place:{zhenxing}") || value == format!("org:{paiwu}");
        if checked != wanted {
            c.execute("arguments[0].scrollIntoView({block: 'center'});", vec![serde_json::to_value(&chip).unwrap()])
                .await
                .unwrap();
            chip.click().await.unwrap();
        }
    }
    fill(&c, "#f-dispatch-note", "街道统筹：排污所清掏，社区配合恢复").await;
    click(&c, "#dispatch-form button.primary").await;
    assert_eq!(c.find_all(Locator::Css(".part")).await.unwrap().len(), 2, "two parts");
    logout(&c).await;

    login(&c, &base, "paiwu", &app.password).await;
    c.goto(&format!("{base}{request_path}")).await.unwrap();
    sign_and_resolve(&c, "清掏检查井7座，疏通管道100余米，用时4小时").await;
    assert_eq!(status_of(&c).await, "in_progress", "one of two parts is not the outcome");
    logout(&c).await;

    login(&c, &base, "hanjianwei", &app.password).await;
    c.goto(&format!("{base}{request_path}")).await.unwrap();
    sign_and_resolve(&c, "配合排污所疏导交通，路面已清理").await;
    assert_eq!(status_of(&c).await, "resolved", "both parts resolved: one outcome");
    let parts = text_of(&c, "#parts + section").await;
    assert!(parts.contains("清掏检查井7座") && parts.contains("路面已清理"), "{parts}");
}

/// Item 6's public page at 360 px: the resident uses their location (the browser's position is
/// set by the test), sees the open report a neighbour filed nearby, attaches a photo, files
/// and lands on the tracking page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_locates_sees_the_report_nearby_attaches_a_photo_and_files_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let key = crate::open311::api_key(&app).await;
    let (lat, lon) = crate::open311::near_grid("和阳社区/第一网格");
    let neighbour = [
        ("api_key", key.as_str()),
        ("service_code", "sewer_blocked"),
        ("lat", lat.as_str()),
        ("long", lon.as_str()),
        ("description", "路口井盖缺失，电话13812341234"),
    ];
    let r = app.anon().post_form("/open311/v2/requests.json", &neighbour).await;
    assert_eq!(r.status, axum::http::StatusCode::CREATED, "{}", r.body);
    let near_number = r.json()[0]["service_request_id"].as_str().unwrap().to_string();
    let base = serve(&app).await;
    let c = browser(&driver).await;
    c.set_window_size(360, 740).await.unwrap();
    c.goto(&format!("{base}/report")).await.unwrap();
    assert!(page_width(&c).await <= 360, "report form is {} px wide on a phone", page_width(&c).await);
    select(&c, "#f-category", "sewer_blocked").await;
    fill(&c, "#f-description", "井盖没了，晚上很危险").await;
    // Headless Chromium has no position source: the page's script gets this one when it asks.
    let js = format!(
        "navigator.geolocation.getCurrentPosition = function (ok) {{ ok({{ coords: {{ latitude: {lat}, longitude: {lon} }} }}); }};"
    );
    c.execute(&js, vec![]).await.unwrap();
    click(&c, "#use-location").await;
    let mut listed = String::new();
    for _ in 0..50 {
        listed = c.find(Locator::Css("#nearby")).await.unwrap().text().await.unwrap();
        if listed.contains(&near_number) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(listed.contains(&near_number) && listed.contains("井盖缺失"), "the neighbour's report: {listed}");
    assert!(!listed.contains("13812341234"), "in its public form: {listed}");
    let typed = c.find(Locator::Css("#f-lat")).await.unwrap().prop("value").await.unwrap().unwrap_or_default();
    assert!(typed.starts_with(&lat[..6]), "the point is in the form: {typed}");
    assert!(page_width(&c).await <= 360, "with the list, {} px", page_width(&c).await);
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("well.jpg");
    std::fs::write(&photo, linli::files::samples::jpeg_with_gps(800, 600)).unwrap();
    c.find(Locator::Css("#f-photos")).await.unwrap().send_keys(&photo.display().to_string()).await.unwrap();
    fill(&c, "#f-phone", "13912345678").await;
    click(&c, "#report-submit").await;
    assert!(path(&c).await.starts_with("/track/"), "on the tracking page: {}", c.source().await.unwrap());
    let number = text_of(&c, "#request-number").await;
    assert_ne!(number, near_number);
    let (photos,): (i64,) = linli::read!(&app.st.db, |db| sqlx::query_as(
        "SELECT COUNT(*) FROM files f JOIN requests r ON r.id = f.owner_id WHERE r.number = $1"
    )
    .bind(&number)
    .fetch_one(db)
    .await)
    .unwrap();
    assert_eq!(photos, 1, "the photo came with the report");
}
