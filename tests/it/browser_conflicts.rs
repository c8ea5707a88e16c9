//! Edits that meet, and transfers as offers, clicked through in headless Chromium: a save over a
//! newer version shows both values side by side and saves once the user has chosen; a case
//! offered by one station's manager moves when the other's manager accepts it.

use fantoccini::{Client, Locator};
use uuid::Uuid;

use crate::browser::{browser, click, fill, login, serve, start_driver, text_of};
use crate::harness::TestApp;

async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_string()
}

/// Accepts, on the offers page, the pending offer of `case_id` (the caller is its receiving
/// manager), confirming the dialog; lands on the case page.
pub(crate) async fn accept_offer(c: &Client, base: &str, app: &TestApp, case_id: Uuid) {
    let (offer,): (Uuid,) = linli::read!(&app.st.db, |db| sqlx::query_as(
        "SELECT id FROM case_transfer_offers WHERE case_id = $1 AND state = 'pending'"
    )
    .bind(case_id)
    .fetch_one(db)
    .await)
    .unwrap();
    c.goto(&format!("{base}/cases/transfers")).await.unwrap();
    let card = text_of(c, &format!("#offer-{offer}")).await;
    assert!(card.contains("振华街道社工站"), "{card}");
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css(&format!("#offer-{offer} .accept-form button"))).await.unwrap().click().await.unwrap();
    c.accept_alert().await.unwrap();
    crate::browser::wait_gone(c, old).await;
    assert_eq!(path(c).await, format!("/cases/{case_id}"), "{}", c.source().await.unwrap());
}

/// 温碧晨 opens 李桂兰's record to add a building; meanwhile her manager saves room 302A. Her
/// save shows the room both ways and her building, masked numbers only; sending it unchosen
/// does nothing; choosing "theirs" for the room and "mine" for the building saves both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_edit_is_resolved_field_by_field_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    let other = app.login("zhenhua.mgr").await;
    let place = app.place_id("永宁社区").await;
    let body = serde_json::json!({"name": "李桂兰", "birth_date": "1950-05-05", "place_id": place, "room": "301", "phone": "13800138000"});
    let r = other.send_json(axum::http::Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    let pid = r.json()["id"].as_str().unwrap().to_string();

    login(&c, &base, "wenbichen", &app.password).await;
    c.goto(&format!("{base}/people/{pid}/edit")).await.unwrap();
    fill(&c, "#f-building", "5号楼").await;
    // The manager saves first.
    let mut put = body.clone();
    put["room"] = "302A".into();
    let r = other
        .send_json(
            axum::http::Method::PUT,
            &format!("/api/v1/people/{pid}"),
            &put.to_string(),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.body);

    click(&c, "form.card.form button.primary").await;
    assert_eq!(path(&c).await, format!("/people/{pid}"), "still on the form");
    let table = text_of(&c, "#conflict").await;
    assert!(table.contains("302A") && table.contains("301") && table.contains("5号楼"), "{table}");
    assert!(!table.contains("13800138000"), "{table}");
    assert_eq!(
        c.find_all(Locator::Css("#conflict tbody tr")).await.unwrap().len(),
        2,
        "only the room and the building differ"
    );
    // Unchosen, the browser does not send it (each choice is required) and nothing changes.
    c.find(Locator::Css("form.card.form button.primary")).await.unwrap().click().await.unwrap();
    assert!(c.find(Locator::Css("#conflict")).await.is_ok(), "still asking");
    let (room, version): (Option<String>, i64) =
        linli::read!(&app.st.db, |db| sqlx::query_as("SELECT room, version FROM persons WHERE id = $1")
            .bind(Uuid::parse_str(&pid).unwrap())
            .fetch_one(db)
            .await)
        .unwrap();
    assert_eq!((room.as_deref(), version), (Some("302A"), 2));

    click(&c, "tr[data-field='room'] input[value='theirs']").await;
    click(&c, "tr[data-field='building'] input[value='mine']").await;
    click(&c, "form.card.form button.primary").await;
    assert_eq!(path(&c).await, format!("/people/{pid}"));
    let facts = text_of(&c, "#person-facts").await;
    assert!(facts.contains("5号楼") && facts.contains("302A"), "{facts}");
    c.close().await.unwrap();
}

/// 振华's manager offers a case to 开源 on the case page; it stays with 振华, marked as offered;
/// 开源's manager reads the offer (not the notes), accepts, and the case opens at 开源.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_offered_by_one_manager_is_accepted_by_the_other_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    let worker = app.login("wenbichen").await;
    let place = app.place_id("永宁社区").await;
    let p = crate::casework::register(
        &worker,
        serde_json::json!({"name": "赵桂芬", "birth_date": "1949-04-04", "place_id": place}),
    )
    .await;
    let body = serde_json::json!({"person_id": p["id"], "domain": "elderly_care", "source": "visit", "summary": "准备搬去女儿家"});
    let r = worker.send_json(axum::http::Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    let case_id = Uuid::parse_str(r.json()["id"].as_str().unwrap()).unwrap();
    let rec = serde_json::json!({"kind": "home_visit", "minutes": 30, "notes": "振华站走访：行李已打包"});
    worker
        .send_json(axum::http::Method::POST, &format!("/api/v1/cases/{case_id}/records"), &rec.to_string(), &[])
        .await;
    let (kaiyuan,): (Uuid,) =
        linli::read!(&app.st.db, |db| sqlx::query_as("SELECT id FROM stations WHERE name = '开源街道社工站'")
            .fetch_one(db)
            .await)
        .unwrap();

    login(&c, &base, "zhenhua.mgr", &app.password).await;
    c.goto(&format!("{base}/cases/{case_id}")).await.unwrap();
    c.find(Locator::Css("#f-station_id")).await.unwrap().select_by_value(&kaiyuan.to_string()).await.unwrap();
    fill(&c, "#f-transfer-reason", "随女儿迁居开源街道").await;
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css("#transfer-form button[type=submit]")).await.unwrap().click().await.unwrap();
    c.accept_alert().await.unwrap();
    crate::browser::wait_gone(&c, old).await;
    assert_eq!(path(&c).await, format!("/cases/{case_id}"));
    assert!(text_of(&c, "#offer-pending").await.contains("开源街道社工站"));
    assert!(c.find(Locator::Css("#withdraw-form")).await.is_ok(), "the sender may withdraw it");
    click(&c, "#logout").await;

    login(&c, &base, "kaiyuan.mgr", &app.password).await;
    c.goto(&format!("{base}/cases/transfers")).await.unwrap();
    let incoming = text_of(&c, "main").await;
    assert!(incoming.contains("赵桂芬") && incoming.contains("随女儿迁居开源街道"), "{incoming}");
    assert!(!c.source().await.unwrap().contains("行李已打包"), "no notes before accepting");
    accept_offer(&c, &base, &app, case_id).await;
    assert!(text_of(&c, "#case-facts").await.contains("开源街道社工站"));
    assert!(text_of(&c, "#record-list").await.contains("行李已打包"), "the history came with it");
    assert!(text_of(&c, "#offer-list").await.contains("已接收"));
    c.close().await.unwrap();
}
