//! Hazard stories end to end in headless Chromium, clicked through the real pages: the desk plans
//! a flood patrol and the grid worker does it on a phone with photos, then follows a finding to
//! closure (story 8); a social worker registers a hoarding hazard from an elder's case and sees it
//! on his timeline (story 9); the desk registers self-built houses with photos and downloads the
//! ledger (story 10). The database is read only to check.

use fantoccini::{Client, Locator};

use crate::browser::{browser, click, fill, login, serve, start_driver, text_of};
use crate::browser_requests::{desk_login, logout, path, select};
use crate::harness::TestApp;

async fn status_of(c: &Client) -> String {
    c.find(Locator::Css("#hazard-status")).await.unwrap().attr("data-status").await.unwrap().unwrap_or_default()
}

async fn attach(c: &Client, css: &str, file: &std::path::Path) {
    let el = c.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("{css} on the page"));
    el.send_keys(&file.display().to_string()).await.unwrap();
}

async fn check(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("{css} on the page")).click().await.unwrap();
}

/// Photos on the page that the browser fetched and decoded (thumbnails load lazily: scroll to
/// them and give them a moment).
async fn photos_loaded(c: &Client, want: u64) -> u64 {
    c.execute("document.querySelector('#hazard-photos').scrollIntoView();", vec![]).await.unwrap();
    let js = "return Array.from(document.querySelectorAll('#hazard-photos img')).filter(i => i.complete && i.naturalWidth > 0).length;";
    let mut n = 0;
    for _ in 0..50 {
        n = c.execute(js, vec![]).await.unwrap().as_u64().unwrap();
        if n >= want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    n
}

fn photo_file(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, linli::files::samples::jpeg_with_gps(800, 600)).unwrap();
    p
}

async fn id_of(app: &TestApp, sql: &str) -> String {
    let row: (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(sql).fetch_one(c).await).unwrap();
    row.0.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_8_a_flood_patrol_on_a_phone_with_photos_followed_to_closure_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    let dir = tempfile::tempdir().unwrap();
    let road = photo_file(dir.path(), "road.jpg");
    let garage = photo_file(dir.path(), "garage.jpg");
    let grid = id_of(
        &app,
        "SELECT g.id FROM places g JOIN places c ON c.id = g.parent_id WHERE g.name = '第一网格' AND c.name = '柳航里社区'",
    )
    .await;
    let worker = app.user_id("yongtai.grid").await.to_string();

    // The desk plans the patrol for the grid worker.
    let mut totp = None;
    desk_login(&c, &base, &app, &mut totp).await;
    c.goto(&format!("{base}/patrols/new")).await.unwrap();
    select(&c, "#f-place_id", &grid).await;
    select(&c, "#f-checklist", "flood").await;
    fill(&c, "#f-area", "小南门西街、蔬菜南库小区").await;
    select(&c, "#f-assignee_id", &worker).await;
    click(&c, "form.card.form button.primary").await;
    let patrol = path(&c).await;
    assert!(patrol.starts_with("/patrols/"), "on the patrol page, not {patrol}");
    logout(&c).await;

    // The grid worker, on a phone, finds it in their list and does it.
    c.set_window_size(360, 740).await.unwrap();
    login(&c, &base, "yongtai.grid", &app.password).await;
    c.goto(&format!("{base}/patrols")).await.unwrap();
    click(&c, &format!("a[href='{patrol}']")).await;
    check(&c, "input[name=result_0][value=hazard]").await;
    fill(&c, "#f-note-0", "小南门西街积水约 30 厘米，车辆熄火").await;
    select(&c, "#f-risk-0", "high").await;
    attach(&c, "#f-photos-0", &road).await;
    check(&c, "input[name=result_1][value=hazard]").await;
    fill(&c, "#f-note-1", "蔬菜南库小区地下车库倒灌").await;
    select(&c, "#f-risk-1", "major").await;
    attach(&c, "#f-photos-1", &garage).await;
    for i in 2..5 {
        check(&c, &format!("input[name=result_{i}][value=ok]")).await;
    }
    fill(&c, "#f-summary", "已在单元门口张贴警示，提醒居民挪车").await;
    let width = c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap().as_u64().unwrap();
    assert!(width <= 360, "patrol form is {width} px wide on a phone");
    click(&c, "#patrol-form button.primary").await;
    assert_eq!(path(&c).await, patrol);
    assert!(text_of(&c, "#patrol-results").await.contains("发现隐患"));
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards WHERE category = 'flood'").await, 2);

    // The garage finding: photo shown, rectification assigned, done, re-inspected and closed.
    // Findings are listed in checklist order: the garage is the second.
    let link = c.find_all(Locator::Css("a.finding")).await.unwrap().pop().unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    c.goto(&format!("{base}{href}")).await.unwrap();
    assert_eq!(status_of(&c).await, "open");
    assert!(text_of(&c, "#hazard-description").await.contains("地下车库倒灌"));
    assert_eq!(photos_loaded(&c, 1).await, 1, "the finding's photo is served to its grid worker");
    fill(&c, "#f-responsible", "桥北社区 + 物业抽水").await;
    click(&c, "#assign-form button").await;
    assert_eq!(status_of(&c).await, "rectifying");
    fill(&c, "#f-rectified-note", "已抽排积水，沙袋封堵车库入口").await;
    attach(&c, "#f-rectified-photos", &road).await;
    click(&c, "#rectified-form button").await;
    assert_eq!(status_of(&c).await, "rectified");
    assert_eq!(photos_loaded(&c, 2).await, 2);
    check(&c, "#reinspect-form input[value=pass]").await;
    fill(&c, "#f-reinspect-note", "复查无积水").await;
    click(&c, "#reinspect-form button").await;
    assert_eq!(status_of(&c).await, "closed");
    assert!(text_of(&c, "#hazard-timeline").await.contains("复查合格"));
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_9_a_hoarding_hazard_from_an_elders_case_shows_on_his_timeline_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let base = serve(&app).await;
    // The elder and his case exist already (case work is tested in its own stories).
    let api = app.login("leizeyu").await;
    let dachi = app.place_id("大齿社区").await;
    let body = serde_json::json!({"name": "老韩", "birth_date": "1943-02-11", "place_id": dachi}).to_string();
    let p = api.send_json(axum::http::Method::POST, "/api/v1/people", &body, &[]).await;
    let person = p.json()["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"person_id": person, "domain": "elderly_care", "source": "visit", "summary": "83岁独居，家中囤积废品"});
    let case = api.send_json(axum::http::Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    let case = case.json()["id"].as_str().unwrap().to_string();

    let c = browser(&driver).await;
    login(&c, &base, "leizeyu", &app.password).await;
    c.goto(&format!("{base}/cases/{case}")).await.unwrap();
    click(&c, "#register-hazard").await;
    select(&c, "#f-category", "fire").await;
    select(&c, "#f-risk_level", "high").await;
    fill(&c, "#f-description", "室内囤积大量废品，有火灾隐患，邻居反映有异味").await;
    select(&c, "#f-place_id", &dachi.to_string()).await;
    fill(&c, "#f-responsible", "大齿社区 + 志愿者").await;
    click(&c, "form.card.form button.primary").await;
    assert!(path(&c).await.starts_with("/hazards/"));
    assert_eq!(text_of(&c, "#hazard-person").await, "老韩");
    assert!(!text_of(&c, "#hazard-case").await.is_empty());
    let number = text_of(&c, "#hazard-number").await;
    check(&c, "details:has(#note-form) > summary").await;
    fill(&c, "#f-note", "多次上门沟通，老人同意清理").await;
    click(&c, "#note-form button").await;
    fill(&c, "#f-rectified-note", "社区组织志愿者清运废品两车").await;
    click(&c, "#rectified-form button").await;
    check(&c, "#reinspect-form input[value=pass]").await;
    fill(&c, "#f-reinspect-note", "室内已清理干净").await;
    click(&c, "#reinspect-form button").await;
    assert_eq!(status_of(&c).await, "closed");
    // His timeline: the case and the hazard, registered and closed.
    c.goto(&format!("{base}/people/{person}")).await.unwrap();
    let timeline = text_of(&c, "#timeline").await;
    assert!(timeline.contains(&number) && timeline.contains("登记隐患") && timeline.contains("隐患销号"), "{timeline}");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_10_self_built_houses_registered_with_photos_and_the_ledger_downloaded_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    let dir = tempfile::tempdir().unwrap();
    let house = photo_file(dir.path(), "house.jpg");
    let xinyue = app.place_id("新悦社区").await.to_string();
    let mut totp = None;
    desk_login(&c, &base, &app, &mut totp).await;
    for (risk, text) in [("major", "3号院自建房墙体开裂、地基沉降"), ("general", "5号院屋面渗漏")] {
        c.goto(&format!("{base}/hazards/new")).await.unwrap();
        select(&c, "#f-category", "self_built").await;
        select(&c, "#f-risk_level", risk).await;
        fill(&c, "#f-description", text).await;
        select(&c, "#f-place_id", &xinyue).await;
        fill(&c, "#f-address", "新悦街").await;
        fill(&c, "#f-responsible", "区住建局").await;
        attach(&c, "#f-photos", &house).await;
        click(&c, "form.card.form button.primary").await;
        assert_eq!(status_of(&c).await, "rectifying");
        assert_eq!(photos_loaded(&c, 1).await, 1);
    }
    c.goto(&format!("{base}/hazards?category=self_built")).await.unwrap();
    let list = text_of(&c, "table").await;
    assert!(list.contains("重大风险") && list.contains("新悦"), "{list}");
    let ledger = c.find(Locator::Css("a.button[href^='/hazards/ledger.xlsx']")).await.unwrap();
    let href = ledger.attr("href").await.unwrap().unwrap();
    assert!(href.contains("category=self_built"), "{href}");
    // The browser downloads it with the session: a spreadsheet.
    let got = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.arrayBuffer().then(b => done([r.status, r.headers.get('content-type'), b.byteLength])));",
            vec![serde_json::json!(href)],
        )
        .await
        .unwrap();
    assert_eq!(got[0], 200);
    assert_eq!(got[1], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(got[2].as_u64().unwrap() > 1000);
    c.close().await.unwrap();
}
