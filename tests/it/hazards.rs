//! Hazards and patrols through the real router on both backends: a flood patrol with findings and
//! photos (story 8), a hoarding hazard linked to an elderly client's case and shown on his
//! timeline (story 9), self-built houses in the monthly ledger (story 10); the rectification life
//! with its bad input; uploads decided by content with EXIF dropped; downloads scoped.

use axum::http::StatusCode;
use linli::files::samples::{jpeg_with_gps, png_bomb};
use uuid::Uuid;

use crate::harness::{Client, TestApp};

async fn hazard_state(app: &TestApp, id: &str) -> (String, i64) {
    let id = Uuid::parse_str(id).unwrap();
    linli::read!(&app.st.db, |c| sqlx::query_as("SELECT status, version FROM hazards WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
    .unwrap()
}

async fn file_ids(app: &TestApp, hazard: &str) -> Vec<(Uuid, String)> {
    let id = Uuid::parse_str(hazard).unwrap();
    linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id, purpose FROM files WHERE owner_kind = 'hazard' AND owner_id = $1 ORDER BY created_at, id"
    )
    .bind(id)
    .fetch_all(c)
    .await)
    .unwrap()
}

/// 柳航里社区's first grid (every community has a 第一网格).
pub async fn liuhangli_grid(app: &TestApp) -> String {
    let row: (Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT g.id FROM places g JOIN places c ON c.id = g.parent_id WHERE g.name = '第一网格' AND c.name = '柳航里社区'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    row.0.to_string()
}

fn today() -> String {
    linli::hazards::store::today().to_string()
}

fn in_days(n: i64) -> String {
    (linli::hazards::store::today() + chrono::Duration::days(n)).to_string()
}

async fn step(c: &Client<'_>, id: &str, fields: Vec<(&'static str, String)>) -> crate::harness::Resp {
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.post_form(&format!("/hazards/{id}/step"), &f).await
}

async fn register(c: &Client<'_>, fields: &[(&str, &str)], photo: Option<(&str, &[u8])>) -> crate::harness::Resp {
    let files: Vec<(&str, &str, &[u8])> = photo.into_iter().map(|(name, b)| ("photos", name, b)).collect();
    c.post_multipart("/hazards", fields, &files).await
}

#[tokio::test]
async fn uploads_are_decided_by_content_and_nothing_is_half_written() {
    let app = TestApp::new().await;
    let grid = app.login("yongtai.grid").await;
    let place = liuhangli_grid(&app).await;
    let base = [
        ("category", "fire"),
        ("risk_level", "general"),
        ("description", "楼道堆放杂物"),
        ("place_id", place.as_str()),
    ];
    let count = || app.count("SELECT COUNT(*) FROM hazards");

    // An HTML page named .jpg: 415, the form comes back with what was typed, nothing stored.
    let r = register(&grid, &base, Some(("evil.jpg", b"<html><script>alert(1)</script></html>"))).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.body);
    assert!(r.body.contains("只能上传照片"), "{}", r.body);
    assert!(r.body.contains("楼道堆放杂物"), "typed description kept");
    // A decompression bomb: refused at the header.
    let r = register(&grid, &base, Some(("bomb.png", &png_bomb()))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("照片尺寸过大"));
    // HEIC (no decoder in this build): a clear 415.
    let mut heic = vec![0, 0, 0, 0x18];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    heic.resize(64, 0);
    let r = register(&grid, &base, Some(("IMG_0001.HEIC", &heic))).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.body);
    assert!(r.body.contains("HEIC"));
    // Over the configured limit (20 MB by default): 413, nothing kept, the typed text stays.
    let mut huge = jpeg_with_gps(32, 32);
    huge.resize(app.st.cfg.max_upload_bytes + 1, 0);
    let r = register(&grid, &base, Some(("huge.jpg", &huge))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(r.body.contains("楼道堆放杂物"));
    // A bad field with a good photo: 422 and no file left in the store.
    let r = register(
        &grid,
        &[("category", "fire"), ("risk_level", "general"), ("description", "")],
        Some(("a.jpg", &jpeg_with_gps(20, 20))),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count().await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM files").await, 0);
    let stored = std::fs::read_dir(app.dir().join("files")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(stored, 0, "no object left behind by refused uploads");
    // Another grid's place is outside the worker's scope.
    let other = app.place_id("桥北社区").await.to_string();
    let r = register(
        &grid,
        &[("category", "fire"), ("risk_level", "low"), ("description", "x"), ("place_id", &other)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // A real camera photo: stored re-encoded without EXIF/GPS, with a thumbnail.
    let photo = jpeg_with_gps(640, 480);
    let r = register(&grid, &base, Some(("IMG_2041.jpg", &photo))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let hazard = r.location().trim_start_matches("/hazards/").to_string();
    let files = file_ids(&app, &hazard).await;
    assert_eq!(files.len(), 1);
    let f = grid.get(&format!("/files/{}", files[0].0)).await;
    assert_eq!(f.status, StatusCode::OK);
    assert_eq!(f.headers["content-type"], "image/jpeg");
    assert!(f.headers["content-security-policy"].to_str().unwrap().contains("sandbox"));
    assert_eq!(&f.bytes[..2], &[0xFF, 0xD8]);
    assert!(!f.bytes.windows(4).any(|w| w == b"Exif"), "EXIF block removed");
    assert!(!f.bytes.windows(11).any(|w| w == b"GPSLatitude"));
    let img = image::load_from_memory(&f.bytes).unwrap();
    assert_eq!((img.width(), img.height()), (640, 480));
    let t = grid.get(&format!("/files/{}?thumb=1", files[0].0)).await;
    let thumb = image::load_from_memory(&t.bytes).unwrap();
    assert_eq!(thumb.width(), 320);
    // Other scopes and roles do not see it: 404, as if it did not exist.
    for account in ["changmin", "wenbichen", "paiwu", "sysadmin"] {
        let c = app.login(account).await;
        assert_eq!(c.get(&format!("/files/{}", files[0].0)).await.status, StatusCode::NOT_FOUND, "{account}");
    }
    assert_eq!(app.login("bureau").await.get(&format!("/files/{}", files[0].0)).await.status, StatusCode::OK);
    assert_eq!(grid.get(&format!("/files/{}", Uuid::now_v7())).await.status, StatusCode::NOT_FOUND);
    assert_eq!(grid.get("/files/not-an-id").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rectification_life_with_its_bad_input() {
    let app = TestApp::new().await;
    let mgr = app.login("zhenhua.mgr").await;
    let worker = app.login("wenbichen").await;
    let place = app.place_id("永宁社区").await.to_string();
    let r = register(
        &worker,
        &[("category", "building"), ("risk_level", "major"), ("description", "外墙瓷砖脱落"), ("place_id", &place)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = r.location().trim_start_matches("/hazards/").to_string();
    // Major risk without a deadline: one day by default.
    let (status, version) = hazard_state(&app, &id).await;
    assert_eq!((status.as_str(), version), ("open", 1));
    let page = worker.get(&format!("/hazards/{id}")).await;
    assert!(page.body.contains(&in_days(1)), "default deadline from the risk level");

    // Bad input: no responsible, a past deadline, a stale version, a re-inspection before rectification.
    let r =
        step(&worker, &id, vec![("step", "assign".into()), ("version", "1".into()), ("deadline", in_days(3))]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = step(
        &worker,
        &id,
        vec![
            ("step", "assign".into()),
            ("version", "1".into()),
            ("responsible", "物业".into()),
            ("deadline", in_days(-1)),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("日期不能早于今天"));
    assert!(r.body.contains("value=\"物业\""), "typed responsible kept: {}", r.body);
    let r = step(
        &worker,
        &id,
        vec![
            ("step", "assign".into()),
            ("version", "7".into()),
            ("responsible", "物业".into()),
            ("deadline", in_days(3)),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = step(
        &worker,
        &id,
        vec![("step", "reinspect".into()), ("version", "1".into()), ("outcome", "pass".into()), ("note", "ok".into())],
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // A social worker may not close without rectification; a manager may, with a reason.
    let r = step(&worker, &id, vec![("step", "close".into()), ("version", "1".into()), ("note", "误报".into())]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = step(&mgr, &id, vec![("step", "close".into()), ("version", "1".into()), ("note", "  ".into())]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(hazard_state(&app, &id).await, ("open".into(), 1), "nothing half-written");

    // The life: assign → note with a photo → rectified with a photo → re-inspection fails →
    // rectified again → re-inspection passes (closed).
    let r = step(
        &worker,
        &id,
        vec![
            ("step", "assign".into()),
            ("version", "1".into()),
            ("responsible", "永宁社区物业 张经理".into()),
            ("deadline", in_days(2)),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let photo = jpeg_with_gps(100, 80);
    let r = worker
        .post_multipart(
            &format!("/hazards/{id}/step"),
            &[("step", "rectified"), ("version", "2"), ("note", "已拉警戒线，更换脱落瓷砖")],
            &[("photos", "after.jpg", &photo)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = step(
        &worker,
        &id,
        vec![
            ("step", "reinspect".into()),
            ("version", "3".into()),
            ("outcome", "fail".into()),
            ("note", "仍有松动".into()),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "failed re-inspection needs a new deadline");
    let r = step(
        &worker,
        &id,
        vec![
            ("step", "reinspect".into()),
            ("version", "3".into()),
            ("outcome", "fail".into()),
            ("note", "仍有松动".into()),
            ("deadline", in_days(5)),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(hazard_state(&app, &id).await.0, "rectifying");
    let r =
        step(&worker, &id, vec![("step", "rectified".into()), ("version", "4".into()), ("note", "全部加固".into())])
            .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = step(
        &mgr,
        &id,
        vec![
            ("step", "reinspect".into()),
            ("version", "5".into()),
            ("outcome", "pass".into()),
            ("note", "复查合格".into()),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(hazard_state(&app, &id).await, ("closed".into(), 6));
    let files = file_ids(&app, &id).await;
    assert_eq!(files.iter().map(|f| f.1.as_str()).collect::<Vec<_>>(), ["rectification"]);
    let page = worker.get(&format!("/hazards/{id}")).await;
    for text in ["已销号", "复查不合格", "复查合格，销号", "永宁社区物业 张经理", "仍有松动"]
    {
        assert!(page.body.contains(text), "{text} on the page");
    }
    let r = step(&worker, &id, vec![("step", "note".into()), ("version", "6".into()), ("note", "再看看".into())]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "closed hazards take no more steps");
    // 万城社区's staff cannot see or act on it.
    let other = app.login("changmin").await;
    assert_eq!(other.get(&format!("/hazards/{id}")).await.status, StatusCode::NOT_FOUND);
    let r = other.post_form(&format!("/hazards/{id}/step"), &[("step", "note"), ("version", "6"), ("note", "x")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn flood_patrol_turns_findings_into_hazards() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let grid = app.login("yongtai.grid").await;
    let grid_place = liuhangli_grid(&app).await;
    let grid_worker = app.user_id("yongtai.grid").await.to_string();
    // A worker from another street cannot be given this grid's patrol.
    let stranger = app.user_id("wenbichen").await.to_string();
    let r = bureau
        .post_form(
            "/patrols",
            &[
                ("place_id", &grid_place),
                ("checklist", "flood"),
                ("area", "小南门西街"),
                ("due_on", &today()),
                ("assignee_id", &stranger),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("不负责"));
    let r = bureau
        .post_form(
            "/patrols",
            &[
                ("place_id", &grid_place),
                ("checklist", "flood"),
                ("area", "小南门西街"),
                ("due_on", &in_days(-2)),
                ("assignee_id", &grid_worker),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = bureau
        .post_form(
            "/patrols",
            &[
                ("place_id", &grid_place),
                ("checklist", "flood"),
                ("area", "小南门西街"),
                ("due_on", &today()),
                ("assignee_id", &grid_worker),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let patrol = r.location().trim_start_matches("/patrols/").to_string();
    // The grid worker finds it in their list and opens it.
    let list = grid.get("/patrols").await;
    assert!(list.body.contains(&patrol), "{}", list.body);
    let page = grid.get(&format!("/patrols/{patrol}")).await;
    assert!(page.body.contains("道路积水") && page.body.contains("地下车库/地下室倒灌"));

    // Incomplete: items without a result and a finding without a description; typed notes kept.
    let photo = jpeg_with_gps(300, 200);
    let r = grid
        .post_multipart(
            &format!("/patrols/{patrol}"),
            &[("version", "1"), ("result_0", "hazard"), ("note_0", "小南门西街积水 30 厘米"), ("result_1", "hazard")],
            &[("photos_0", "road.jpg", &photo)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("小南门西街积水 30 厘米") && r.body.contains("请选择检查结果") && r.body.contains("请写明情况")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM files").await, 0);
    // A good photo on one finding and an HTML page named .jpg on the other: 415, and the good
    // one was not stored either (all are checked before any is written).
    let answers = [
        ("version", "1"),
        ("result_0", "hazard"),
        ("note_0", "小南门西街积水 30 厘米"),
        ("result_1", "hazard"),
        ("note_1", "蔬菜南库小区地下车库倒灌"),
        ("result_2", "ok"),
        ("result_3", "na"),
        ("result_4", "ok"),
    ];
    let html: &[u8] = b"<html><script>alert(1)</script></html>";
    let r = grid
        .post_multipart(
            &format!("/patrols/{patrol}"),
            &answers,
            &[("photos_0", "road.jpg", &photo), ("photos_1", "g.jpg", html)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.body);
    assert!(r.body.contains("蔬菜南库小区地下车库倒灌"), "typed notes kept");
    assert_eq!(walk(&app.dir().join("files")).len(), 0, "no object stored");
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards").await, 0);

    let r = grid
        .post_multipart(
            &format!("/patrols/{patrol}"),
            &[
                ("version", "1"),
                ("result_0", "hazard"),
                ("note_0", "小南门西街积水 30 厘米"),
                ("risk_0", "high"),
                ("result_1", "hazard"),
                ("note_1", "蔬菜南库小区地下车库倒灌"),
                ("risk_1", "major"),
                ("result_2", "ok"),
                ("result_3", "na"),
                ("result_4", "ok"),
                ("summary", "已在单元门口张贴警示，提醒居民挪车"),
            ],
            &[
                ("photos_0", "road.jpg", &photo),
                ("photos_1", "garage.jpg", &photo),
                ("photos_1", "garage2.jpg", &photo),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let rows: Vec<(String, String, String, Option<Uuid>)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT category, risk_level, status, patrol_id FROM hazards ORDER BY risk_level"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.0 == "flood" && r.2 == "open" && r.3.map(|p| p.to_string()) == Some(patrol.clone())));
    assert_eq!(app.count("SELECT COUNT(*) FROM files").await, 3);
    let done = grid.get(&format!("/patrols/{patrol}")).await;
    assert!(done.body.contains("已完成") && done.body.contains("class=\"finding\""), "{}", done.body);
    // Submitting again is refused; nothing doubles.
    let again = grid.post_multipart(&format!("/patrols/{patrol}"), &[("version", "2")], &[]).await;
    assert!(
        again.status == StatusCode::CONFLICT || again.status == StatusCode::PRECONDITION_FAILED,
        "{}",
        again.status
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards").await, 2);
    // The open hazards list of the grid worker, most serious first.
    let list = grid.get("/hazards").await;
    let major = list.body.find("重大风险").unwrap();
    let high = list.body.find("较大风险").unwrap();
    assert!(major < high);
}

#[tokio::test]
async fn hoarding_hazard_links_to_the_elders_case_and_timeline() {
    let app = TestApp::new().await;
    let worker = app.login("leizeyu").await;
    let dachi = app.place_id("大齿社区").await;
    // The 83-year-old as a client of 清远街道's station, with an elderly-care case.
    let body = serde_json::json!({"name": "老韩", "birth_date": "1943-02-11", "place_id": dachi}).to_string();
    let p = worker.send_json(axum::http::Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    let person = p.json()["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"person_id": person, "domain": "elderly_care", "source": "visit", "summary": "独居，家中囤积废品"});
    let c = worker.send_json(axum::http::Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    let case = c.json()["id"].as_str().unwrap().to_string();
    // A case of another person (a neighbour, also a client) is refused as the link.
    let body = serde_json::json!({"name": "老马", "birth_date": "1940-05-01", "place_id": dachi}).to_string();
    let p2 = worker.send_json(axum::http::Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(p2.status, StatusCode::CREATED, "{}", p2.body);
    let body = serde_json::json!({"person_id": p2.json()["id"], "domain": "elderly_care", "source": "visit", "summary": "邻居"});
    let c2 = worker.send_json(axum::http::Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(c2.status, StatusCode::CREATED, "{}", c2.body);
    let other = c2.json()["id"].as_str().unwrap().to_string();
    let dachi_s = dachi.to_string();
    let base = [
        ("category", "fire"),
        ("risk_level", "high"),
        ("description", "室内囤积大量废品，有火灾隐患，邻居反映有异味"),
        ("place_id", dachi_s.as_str()),
    ];
    let mut fields = base.to_vec();
    fields.extend([("person_id", person.as_str()), ("case_id", other.as_str())]);
    let r = register(&worker, &fields, None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("不属于该居民"));
    // Another station's worker cannot link this person.
    let outsider = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await.to_string();
    let r = register(
        &outsider,
        &[
            ("category", "fire"),
            ("risk_level", "low"),
            ("description", "x"),
            ("place_id", &yongning),
            ("person_id", &person),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let mut fields = base.to_vec();
    fields.extend([("person_id", person.as_str()), ("case_id", case.as_str()), ("responsible", "大齿社区 + 志愿者")]);
    let r = register(&worker, &fields, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = r.location().trim_start_matches("/hazards/").to_string();
    let note = worker
        .post_form(
            &format!("/hazards/{id}/step"),
            &[("step", "note"), ("version", "1"), ("note", "多次上门沟通，老人同意清理")],
        )
        .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER);
    let done = worker
        .post_form(
            &format!("/hazards/{id}/step"),
            &[("step", "rectified"), ("version", "2"), ("note", "社区组织志愿者清运废品两车")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let closed = worker
        .post_form(
            &format!("/hazards/{id}/step"),
            &[("step", "reinspect"), ("version", "3"), ("outcome", "pass"), ("note", "室内已清理干净")],
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER);
    let page = worker.get(&format!("/hazards/{id}")).await;
    assert!(page.body.contains(&format!("/cases/{case}")) && page.body.contains("老韩"));
    // The person's timeline shows the hazard and its closure next to the case.
    let timeline = worker.get(&format!("/people/{person}")).await;
    assert!(timeline.body.contains("登记隐患") && timeline.body.contains("隐患销号"), "{}", timeline.body);
    assert!(timeline.body.contains(&format!("/hazards/{id}")));
    // Another station's worker sees neither the person nor the hazard.
    assert_eq!(outsider.get(&format!("/hazards/{id}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn self_built_houses_ledger_per_street_and_month() {
    use calamine::Reader;
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let xinyue = app.place_id("新悦社区").await.to_string();
    for (risk, text) in [("major", "3号院自建房墙体开裂，地基沉降"), ("general", "5号院屋面渗漏")] {
        let r = register(
            &bureau,
            &[
                ("category", "self_built"),
                ("risk_level", risk),
                ("description", text),
                ("place_id", &xinyue),
                ("address", "新悦街"),
                ("responsible", "区住建局"),
            ],
            Some(("house.jpg", &jpeg_with_gps(120, 90))),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    // One in another street, and one of another category: not in this ledger.
    let yongning = app.place_id("永宁社区").await.to_string();
    let r = register(
        &bureau,
        &[("category", "self_built"), ("risk_level", "low"), ("description", "振华的房子"), ("place_id", &yongning)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = register(
        &bureau,
        &[("category", "gas"), ("risk_level", "low"), ("description", "燃气胶管老化"), ("place_id", &xinyue)],
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    let street = app.place_id("新华街道").await;
    let month = linli::hazards::store::today().format("%Y-%m").to_string();
    let x = bureau.get(&format!("/hazards/ledger.xlsx?month={month}&place_id={street}&category=self_built")).await;
    assert_eq!(x.status, StatusCode::OK, "{}", x.body);
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(x.bytes.clone())).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let all: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    // A title and the unit/period line, then the header; the lines are those numbered in 序号.
    assert_eq!(all[2][..4], ["序号", "隐患编号", "排查日期", "来源"]);
    let rows: Vec<&Vec<String>> = all[3..].iter().filter(|r| r[0].parse::<u32>().is_ok()).collect();
    assert_eq!(rows.len(), 2, "{all:?}");
    assert!(
        rows.iter().all(|r| r[4] == "新华街道" && r[5] == "新悦社区" && r[7] == "自建房安全" && r[10] == "区住建局")
    );
    assert_eq!(rows[0][8], "重大风险");
    assert_eq!(rows[0][3], "本月排查");
    // The export is audited; bad months are refused; a community outside the scope is 404.
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'ledger.export'").await, 1);
    assert_eq!(bureau.get("/hazards/ledger.xlsx?month=2026-13").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let changmin = app.login("changmin").await;
    assert_eq!(changmin.get(&format!("/hazards/ledger.xlsx?place_id={street}")).await.status, StatusCode::NOT_FOUND);
    // 万城社区's own ledger has none of them.
    let own = changmin.get("/hazards/ledger.xlsx").await;
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(own.bytes.clone())).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    assert!(sheet.rows().skip(3).all(|r| r[0].to_string().parse::<u32>().is_err()), "no lines");
}

#[tokio::test]
async fn the_sweep_deletes_only_old_unreferenced_objects_it_made() {
    let app = TestApp::new().await;
    let grid = app.login("yongtai.grid").await;
    let place = liuhangli_grid(&app).await;
    let fields =
        [("category", "fire"), ("risk_level", "general"), ("description", "楼道堆放杂物"), ("place_id", &place)];
    let r = register(&grid, &fields, Some(("IMG_1.jpg", &jpeg_with_gps(64, 48)))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let root = app.dir().join("files");
    let on_disk = || -> Vec<String> {
        let mut keys: Vec<String> =
            walk(&root).iter().map(|p| p.strip_prefix(&root).unwrap().display().to_string()).collect();
        keys.sort();
        keys
    };
    let recorded = on_disk();
    assert_eq!(recorded.len(), 2, "the photo and its thumbnail: {recorded:?}");
    // What a crash between storing and committing leaves, and what another tool put there.
    let id = Uuid::now_v7().simple().to_string();
    let orphan = format!("{}/{}/{id}.jpg", &id[30..32], &id[28..30]);
    std::fs::create_dir_all(root.join(&orphan).parent().unwrap()).unwrap();
    std::fs::write(root.join(&orphan), b"bytes").unwrap();
    std::fs::write(root.join("README.txt"), b"not ours").unwrap();
    let sweep = |older_than, delete| linli::files::sweep::sweep(&app.st.db, &app.st.files, older_than, delete);

    // Within the grace period nothing is looked at.
    let r = sweep(chrono::Utc::now() - chrono::Duration::hours(1), true).await.unwrap();
    assert_eq!((r.examined, r.young, r.orphans.len()), (4, 4, 0));
    let later = chrono::Utc::now() + chrono::Duration::minutes(1);
    // A dry run names the orphan and keeps it.
    let r = sweep(later, false).await.unwrap();
    assert_eq!(r.orphans, std::slice::from_ref(&orphan));
    assert_eq!((r.referenced, r.foreign), (2, 1));
    assert!(root.join(&orphan).exists());
    let r = sweep(later, true).await.unwrap();
    assert_eq!(r.orphans, std::slice::from_ref(&orphan));
    let mut left = recorded.clone();
    left.push("README.txt".into());
    left.sort();
    assert_eq!(on_disk(), left, "the recorded photo, its thumbnail and the foreign file stay");
    // Again: nothing more to do.
    assert!(sweep(later, true).await.unwrap().orphans.is_empty());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
