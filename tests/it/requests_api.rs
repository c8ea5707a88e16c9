//! The JSON API for requests, hazards and patrols, driven with personal tokens: intake with bad
//! input, dispatch, a unit's steps, callback, stale versions, scope; a hazard registered and
//! rectified; patrols planned and done with photos (JSON and multipart), with their bad input.

use axum::http::{Method, StatusCode};

use crate::harness::{Client, TestApp, urlencode};

async fn token_client<'a>(app: &'a TestApp, account: &str) -> Client<'a> {
    let c = app.login(account).await;
    let page = c.post_form("/account/tokens", &[("name", "接口")]).await;
    let mut api = app.anon();
    api.token = page.between("id=\"new-token\">", "<");
    assert!(api.token.is_some(), "{account} got a token");
    api
}

#[tokio::test]
async fn a_request_goes_through_its_life_over_the_api() {
    let app = TestApp::new().await;
    let desk = token_client(&app, "bureau").await;
    let beixin = app.place_id("北馨园社区").await;

    // Bad input: no category and no place; Paris; nothing written.
    let r = desk.send_json(Method::POST, "/api/v1/requests", r#"{"description":"污水外溢"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let fields: Vec<String> =
        r.json()["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap().to_string()).collect();
    assert!(fields.contains(&"category".to_string()), "{fields:?}");
    let r = desk
        .send_json(
            Method::POST,
            "/api/v1/requests",
            r#"{"category":"sewage_overflow","description":"污水外溢","lat":"48.85","lon":"2.35"}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = desk.send_json(Method::POST, "/api/v1/requests", "{not json", &[]).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 0);

    let r = desk
        .send_json(
            Method::POST,
            "/api/v1/requests",
            &format!(
                r#"{{"category":"sewage_overflow","description":"2号楼污水外溢","place_id":"{beixin}","phone":"13912345678"}}"#
            ),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(r.location(), format!("/api/v1/requests/{id}"));
    assert_eq!(created["status"], "accepted");
    assert_eq!(created["channel"], "staff");
    assert_eq!(created["phone_masked"], "139****5678");
    assert!(!r.body.contains("13912345678"), "the phone is masked in the API too");
    let v = created["version"].as_i64().unwrap();
    // The answer is built from what was written, not read back: it is what a read returns.
    let read = desk.get(&format!("/api/v1/requests/{id}")).await.json();
    for (field, value) in created.as_object().unwrap() {
        assert_eq!(&read[field], value, "{field}: as created and as read");
    }

    // The dispatch queue lists it; a stale dispatch is 412; an unknown unit 422.
    let q = desk.get("/api/v1/requests?queue=dispatch").await.json();
    assert_eq!(q["total"], 1);
    assert_eq!(desk.get("/api/v1/requests?queue=nonsense").await.status, StatusCode::BAD_REQUEST);
    let path = format!("/api/v1/requests/{id}/dispatch");
    let r = desk
        .send_json(Method::POST, &path, &format!(r#"{{"version":{},"units":["place:{beixin}"]}}"#, v + 5), &[])
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.body);
    let r = desk.send_json(Method::POST, &path, &format!(r#"{{"version":{v},"units":["place:nope"]}}"#), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = desk
        .send_json(
            Method::POST,
            &path,
            &format!(r#"{{"units":["place:{beixin}"],"note":"请社区处理"}}"#),
            &[("if-match", &format!("\"{v}\""))],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "dispatched");

    // Another community's staff cannot see it.
    let other = token_client(&app, "changmin").await;
    assert_eq!(other.get(&format!("/api/v1/requests/{id}")).await.status, StatusCode::NOT_FOUND);

    // The community's social worker signs, tries to resolve without notes, resolves.
    let worker = token_client(&app, "hanjianwei").await;
    let detail = worker.get(&format!("/api/v1/requests/{id}")).await.json();
    let parts = detail["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1);
    let part = parts[0]["id"].as_str().unwrap().to_string();
    assert!(detail["events"].as_array().unwrap().iter().any(|e| e["kind"] == "dispatched"));
    let step = |action: &str, note: &str, version: i64| {
        format!(r#"{{"action":"{action}","note":"{note}","version":{version}}}"#)
    };
    let part_path = format!("/api/v1/request-parts/{part}/actions");
    let pv = parts[0]["version"].as_i64().unwrap();
    let r = worker.send_json(Method::POST, &part_path, &step("sign", "", pv), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "in_progress");
    let r = worker.send_json(Method::POST, &part_path, &step("resolve", " ", pv + 1), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a resolution without notes: {}", r.body);
    let r = worker.send_json(Method::POST, &part_path, &step("fly", "x", pv + 1), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The bureau may not act for the community's part.
    let r = desk.send_json(Method::POST, &part_path, &step("resolve", "已疏通", pv + 1), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = worker.send_json(Method::POST, &part_path, &step("resolve", "清理油污堵塞，管道已通", pv + 1), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let resolved = r.json();
    assert_eq!(resolved["status"], "resolved");

    // The callback: a wrong level is 422, then 满意 closes it.
    let cb = format!("/api/v1/requests/{id}/callback");
    let v = resolved["version"].as_i64().unwrap();
    let r = desk.send_json(Method::POST, &cb, &format!(r#"{{"version":{v},"satisfaction":"meh"}}"#), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = desk.send_json(Method::POST, &cb, &format!(r#"{{"version":{v},"satisfaction":"satisfied"}}"#), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "closed");
    assert_eq!(r.json()["satisfaction"], "satisfied");
    let r =
        desk.send_json(Method::POST, &cb, &format!(r#"{{"version":{},"satisfaction":"satisfied"}}"#, v + 1), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "no second callback on a closed request");
}

#[tokio::test]
async fn hazards_and_patrols_over_the_api() {
    let app = TestApp::new().await;
    let mgr = token_client(&app, "zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;

    let r = mgr.send_json(Method::POST, "/api/v1/hazards", r#"{"category":"fire","description":""}"#, &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = mgr
        .send_json(
            Method::POST,
            "/api/v1/hazards",
            &format!(
                r#"{{"category":"fire","risk_level":"major","description":"3号楼楼道堆放纸箱","place_id":"{yongning}","lat":"40.0","lon":"200.0"}}"#
            ),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "coordinates outside China: {}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards").await, 0);
    let r = mgr
        .send_json(
            Method::POST,
            "/api/v1/hazards",
            &format!(
                r#"{{"category":"fire","risk_level":"major","description":"3号楼楼道堆放纸箱","place_id":"{yongning}","building":"3号楼"}}"#
            ),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let h = r.json();
    let id = h["id"].as_str().unwrap().to_string();
    assert_eq!(h["status"], "open");
    assert!(h["deadline"].is_string(), "a major hazard gets a default deadline");

    let listed = mgr.get("/api/v1/hazards?risk=major").await.json();
    assert_eq!(listed["total"], 1);
    assert_eq!(mgr.get("/api/v1/hazards?risk=tiny").await.status, StatusCode::BAD_REQUEST);
    let outside = token_client(&app, "changmin").await;
    assert_eq!(outside.get(&format!("/api/v1/hazards/{id}")).await.status, StatusCode::NOT_FOUND);

    let steps = format!("/api/v1/hazards/{id}/steps");
    let v = h["version"].as_i64().unwrap();
    let deadline = (linli::hazards::store::today() + chrono::Duration::days(2)).to_string();
    let r = mgr.send_json(Method::POST, &steps, r#"{"step":"assign","responsible":"物业"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "no version: {}", r.body);
    let r = mgr
        .send_json(
            Method::POST,
            &steps,
            &format!(r#"{{"step":"assign","responsible":"物业公司","deadline":"{deadline}","version":{v}}}"#),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "rectifying");
    let r = mgr
        .send_json(Method::POST, &steps, &format!(r#"{{"step":"note","note":"已张贴告知","version":{v}}}"#), &[])
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "stale: {}", r.body);
    let detail = mgr.get(&format!("/api/v1/hazards/{id}")).await.json();
    let kinds: Vec<&str> = detail["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["registered", "assigned"]);

    // Patrols: plan one on the page, read it over the API.
    let desk = app.login("zhenhua.mgr").await;
    let r = desk
        .post_form(
            "/patrols",
            &[
                ("place_id", &yongning.to_string()),
                ("checklist", "fire"),
                ("area", "永宁社区3号楼"),
                ("due_on", &deadline),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let patrols = mgr.get("/api/v1/patrols").await.json();
    assert_eq!(patrols["total"], 1, "{patrols}");
    let pid = patrols["items"][0]["id"].as_str().unwrap();
    let p = mgr.get(&format!("/api/v1/patrols/{pid}")).await.json();
    assert_eq!(p["status"], "planned");
    assert!(p["items"].as_array().unwrap().len() >= 3, "{p}");
    assert_eq!(outside.get(&format!("/api/v1/patrols/{pid}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_patrol_planned_and_done_over_the_api_with_photos() {
    use linli::files::samples::jpeg_with_gps;
    let app = TestApp::new().await;
    let bureau = token_client(&app, "bureau").await;
    let grid = token_client(&app, "yongtai.grid").await;
    let worker = app.user_id("yongtai.grid").await;
    let place: (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT g.id FROM places g JOIN places c ON c.id = g.parent_id WHERE g.name = '第一网格' AND c.name = '柳航里社区'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    let due = linli::hazards::store::today().to_string();
    let stored = || std::fs::read_dir(app.dir().join("files")).map(|d| d.count()).unwrap_or(0);

    // Planning: an unknown field is refused as such; missing ones are named; a grid worker may not plan.
    let plan = format!(
        r#"{{"place_id":"{}","checklist":"flood","area":"小南门西街","due_on":"{due}","assignee_id":"{worker}""#,
        place.0
    );
    let r = bureau.send_json(Method::POST, "/api/v1/patrols", &format!(r#"{plan},"priority":"high"}}"#), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("priority"), "{}", r.body);
    let r = bureau.send_json(Method::POST, "/api/v1/patrols", r#"{"checklist":"typhoon"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    for field in ["place_id", "checklist", "area", "due_on"] {
        assert!(r.body.contains(&format!("\"{field}\"")), "{field} named: {}", r.body);
    }
    assert_eq!(
        grid.send_json(Method::POST, "/api/v1/patrols", &format!("{plan}}}"), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM patrols").await, 0);
    let r = bureau.send_json(Method::POST, "/api/v1/patrols", &format!("{plan}}}"), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let p = r.json();
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(r.location(), format!("/api/v1/patrols/{id}"));
    assert_eq!(p["status"], "planned");
    assert_eq!(p["items"].as_array().unwrap().len(), 5, "the flood checklist: {p}");
    let done = format!("/api/v1/patrols/{id}/completion");

    // Outside the patrol's place: 404, whatever the body.
    let outside = token_client(&app, "changmin").await;
    assert_eq!(outside.send_json(Method::POST, &done, "{}", &[]).await.status, StatusCode::NOT_FOUND);

    let answers = |risk0: &str| {
        format!(
            r#"{{"version":1,"summary":"已张贴警示","items":[
                {{"seq":0,"result":"hazard","note":"小南门西街积水 30 厘米","risk":"{risk0}"}},
                {{"seq":1,"result":"hazard","note":"地下车库倒灌"}},
                {{"seq":2,"result":"ok"}},{{"seq":3,"result":"na"}},{{"seq":4,"result":"ok"}}]}}"#
        )
    };
    let photo = jpeg_with_gps(300, 200);
    // Bad input, nothing written each time: a risk that is no level; an item left out; a photo
    // on an item without a finding; an HTML page named .jpg (415); an unknown part.
    let r = grid.send_json(Method::POST, &done, &answers("severe"), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("risk_0"), "{}", r.body);
    let short = r#"{"version":1,"items":[{"seq":0,"result":"ok"}]}"#;
    let r = grid.send_json(Method::POST, &done, short, &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("result_1"), "{}", r.body);
    let r = grid.post_multipart(&done, &[("completion", &answers("high"))], &[("photos_2", "ok.jpg", &photo)]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("photos_2"), "{}", r.body);
    let html: &[u8] = b"<html><script>alert(1)</script></html>";
    let r = grid
        .post_multipart(
            &done,
            &[("completion", &answers("high"))],
            &[("photos_0", "road.jpg", &photo), ("photos_1", "garage.jpg", html)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.body);
    assert!(r.body.contains("photos_1"), "{}", r.body);
    let r = grid.post_multipart(&done, &[("completion", &answers("high")), ("mood", "good")], &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM files").await, 0);
    assert_eq!(stored(), 0, "no object left behind by refused completions");

    // Done from the phone: the answers as JSON, a photo for each finding.
    let r = grid
        .post_multipart(
            &done,
            &[("completion", &answers("high"))],
            &[("photos_0", "road.jpg", &photo), ("photos_1", "garage.jpg", &photo)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = r.json();
    assert_eq!(p["status"], "done");
    let findings: Vec<&str> = p["items"].as_array().unwrap().iter().filter_map(|i| i["hazard_id"].as_str()).collect();
    assert_eq!(findings.len(), 2, "{p}");
    let h = grid.get(&format!("/api/v1/hazards/{}", findings[0])).await.json();
    assert_eq!((h["category"].as_str(), h["risk_level"].as_str()), (Some("flood"), Some("high")), "{h}");
    assert_eq!(h["files"].as_array().unwrap().len(), 1, "{h}");
    assert_eq!(app.count("SELECT COUNT(*) FROM files").await, 2);
    // Sent again: refused, nothing doubles.
    let r = grid.send_json(Method::POST, &done, &answers("high"), &[]).await;
    assert!(matches!(r.status.as_u16(), 409 | 412), "{}", r.status);
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards").await, 2);

    // A progress note with a photo on one of the hazards, multipart as well; a stray file field
    // and an unknown JSON field are refused.
    let steps = format!("/api/v1/hazards/{}/steps", findings[0]);
    let v = h["version"].as_i64().unwrap().to_string();
    let r = grid
        .send_json(Method::POST, &steps, &format!(r#"{{"step":"note","note":"x","version":{v},"urgent":true}}"#), &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let fields = [("step", "note"), ("note", "已放置警示牌"), ("version", v.as_str())];
    let r = grid.post_multipart(&steps, &fields, &[("evidence", "sign.jpg", &photo)]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = grid.post_multipart(&steps, &fields, &[("photos", "sign.jpg", &photo)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let files: Vec<(String,)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT purpose FROM files WHERE owner_id = $1 ORDER BY created_at, id"
    )
    .bind(uuid::Uuid::parse_str(findings[0]).unwrap())
    .fetch_all(c)
    .await)
    .unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[1].0, "progress");
}

#[tokio::test]
async fn capped_counts_stop_one_past_the_cap_and_are_exact_below_it() {
    let app = TestApp::new().await;
    let exact = app.count("SELECT COUNT(*) FROM places").await;
    assert!(exact > 6, "{exact}");
    let args = linli::db::query::Args::new();
    let (db, args) = (&app.st.db, &args);
    let page = |cap: i64| {
        let count = linli::db::query::capped_count("SELECT 1 FROM places", cap);
        async move {
            linli::db::query::page_counted::<(uuid::Uuid,)>(db, "SELECT id FROM places ORDER BY id", &count, args, 3, 0)
                .await
        }
    };
    let (rows, total) = page(5).await.unwrap();
    assert_eq!((rows.len(), total), (3, 6), "more than 5");
    let (_, total) = page(10_000).await.unwrap();
    assert_eq!(total, exact);
}

/// A queue's total is counted differently from its page (by index ranges, capped), so it is
/// checked against the page for every kind of viewer: by place (located, held, or a part
/// dispatched there; each request once), by department (its parts), with and without filters.
#[tokio::test]
async fn area_totals_match_the_requests_listed_for_every_viewer() {
    let app = TestApp::new().await;
    let desk = token_client(&app, "bureau").await;
    let liuhang = app.place_id("柳航里社区").await;
    let yongning = app.place_id("永宁社区").await;
    let mut created = Vec::new();
    for (category, place) in [
        ("sewer_blocked", liuhang),
        ("sewer_blocked", liuhang),
        ("sewage_overflow", yongning),
        ("sewer_blocked", yongning),
    ] {
        let body = format!(r#"{{"category":"{category}","description":"楼下井盖冒水","place_id":"{place}"}}"#);
        let r = desk.send_json(Method::POST, "/api/v1/requests", &body, &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        created.push(r.json());
    }
    // The first, located in 柳航里, goes to 永宁 and to a department as well: two parts.
    let paiwu: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM organisations WHERE name = '大同市政排污所'")
            .fetch_one(c)
            .await)
        .unwrap();
    let first = &created[0];
    let r = desk
        .send_json(
            Method::POST,
            &format!("/api/v1/requests/{}/dispatch", first["id"].as_str().unwrap()),
            &format!(r#"{{"version":{},"units":["org:{}","place:{yongning}"]}}"#, first["version"], paiwu.0),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let number = first["number"].as_str().unwrap();

    let mut totals = Vec::new();
    let mut clients = vec![("bureau", desk)];
    for account in ["zhenhua.mgr", "wenbichen", "paiwu"] {
        clients.push((account, token_client(&app, account).await));
    }
    // Every request holds the words: a search walks the term index and counts from it
    // (located by the index's path, held or with a part by the requests' ids), and must list
    // and count what the queue does, in the same order; with a status it probes instead.
    let word = |w: &str| format!("&q={}", urlencode(w));
    let filters = [
        String::new(),
        "&category=sewer_blocked".into(),
        "&status=dispatched".into(),
        "&status=closed".into(),
        word("井盖"),
        word("楼下井盖冒水"),
        word("冒水") + "&category=sewer_blocked",
        word("井盖") + "&status=dispatched",
    ];
    for (account, c) in &clients {
        let mut unfiltered = Vec::new();
        for filter in &filters {
            let q = c.get(&format!("/api/v1/requests?queue=area&page_size=100{filter}")).await;
            assert_eq!(q.status, StatusCode::OK, "{}", q.body);
            let q = q.json();
            let items = q["items"].as_array().unwrap();
            assert_eq!(q["total"].as_u64().unwrap() as usize, items.len(), "{account} {filter}: total = listed");
            let listed = items.iter().any(|i| i["number"] == number);
            if filter != "&status=closed" {
                assert!(listed, "{account} {filter}: the request dispatched to it is listed");
            }
            let numbers: Vec<&str> = items.iter().map(|i| i["number"].as_str().unwrap()).collect();
            if filter.is_empty() {
                totals.push((*account, items.len()));
                unfiltered = numbers.iter().map(|n| n.to_string()).collect();
            } else if filter.starts_with("&q=") && !filter.contains("&category") && !filter.contains("&status") {
                assert_eq!(numbers, unfiltered, "{account} {filter}: the same requests, newest first");
            }
        }
        let q = c.get(&format!("/api/v1/requests?queue=area{}", word("井盖漏水"))).await.json();
        assert_eq!(q["total"], 0, "{account}: a phrase not in the text");
    }
    // Paged one by one, the walk goes on where the last page stopped.
    let desk = &clients[0].1;
    let mut paged = Vec::new();
    for page in 1..=5 {
        let q = desk.get(&format!("/api/v1/requests?queue=area&page_size=1&page={page}{}", word("冒水"))).await.json();
        assert_eq!(q["total"], 4);
        paged.extend(q["items"].as_array().unwrap().iter().map(|i| i["number"].as_str().unwrap().to_string()));
    }
    let mut newest_first: Vec<String> = created.iter().map(|r| r["number"].as_str().unwrap().to_string()).collect();
    newest_first.reverse();
    assert_eq!(paged, newest_first);
    let total = |a: &str| totals.iter().find(|(x, _)| *x == a).unwrap().1;
    assert_eq!(total("paiwu"), 1, "a department: its part's request, once");
    assert_eq!(total("wenbichen"), 3, "永宁's two and the one dispatched there, once");
    assert_eq!(total("bureau"), 4, "every request of the district, once");

    // A grid's area, where nothing was ever dispatched (the page then skips the probe of each
    // request's parts), and after a request located elsewhere is dispatched to the grid.
    let grid = token_client(&app, "yongtai.grid").await;
    let (grid_place,): (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT up.place_id FROM user_places up JOIN users u ON u.id = up.user_id WHERE u.account = 'yongtai.grid'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    let second = &created[1];
    let grid_area = || async {
        let q = grid.get("/api/v1/requests?queue=area&page_size=100").await.json();
        let numbers: Vec<String> =
            q["items"].as_array().unwrap().iter().map(|i| i["number"].as_str().unwrap().to_string()).collect();
        assert_eq!(q["total"].as_u64().unwrap() as usize, numbers.len(), "the grid: total = listed");
        numbers
    };
    assert!(!grid_area().await.iter().any(|n| n == &second["number"]), "not the grid's before dispatch");
    let desk = &clients[0].1;
    let r = desk
        .send_json(
            Method::POST,
            &format!("/api/v1/requests/{}/dispatch", second["id"].as_str().unwrap()),
            &format!(r#"{{"version":{},"units":["place:{grid_place}"]}}"#, second["version"]),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(grid_area().await, vec![second["number"].as_str().unwrap().to_string()], "dispatched to the grid");
}

/// Every queue lists only requests its reader may open: whatever a role's places say, nothing
/// appears in a list that its detail page would answer as unknown (a department's place binding
/// covers the district, but it reads requests only through its parts).
#[tokio::test]
async fn every_queue_lists_only_requests_its_reader_may_open() {
    let app = TestApp::new().await;
    // Two requests waiting for dispatch, never sent to the sewer works.
    let desk = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    for text in ["楼道灯不亮", "小区门口路灯坏了"] {
        let body = format!(r#"{{"category":"street_light","description":"{text}","place_id":"{yongning}"}}"#);
        let r = desk.send_json(Method::POST, "/api/v1/requests", &body, &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let paiwu = app.login("paiwu").await;
    assert_eq!(paiwu.get("/api/v1/requests?queue=dispatch").await.json()["total"], 0, "not the department's");
    for (_, account) in crate::harness::ROLE_ACCOUNTS {
        let c = app.login(account).await;
        for queue in ["dispatch", "mine", "area", "overdue", "callback"] {
            let r = c.get(&format!("/api/v1/requests?queue={queue}&page_size=100")).await;
            if r.status == StatusCode::FORBIDDEN {
                continue;
            }
            assert_eq!(r.status, StatusCode::OK, "{account} {queue}: {}", r.body);
            for item in r.json()["items"].as_array().unwrap() {
                let id = item["id"].as_str().unwrap();
                let one = c.get(&format!("/api/v1/requests/{id}")).await;
                assert_eq!(
                    one.status,
                    StatusCode::OK,
                    "{account} lists {} in {queue} but cannot open it",
                    item["number"]
                );
            }
        }
    }
}
