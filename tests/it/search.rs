//! People search on both backends: best match first and paged, surnames read as surnames and
//! polyphonic given names under every reading, and the start-up re-index of names written by
//! an older build.

use axum::http::{Method, StatusCode};

use crate::harness::{Client, TestApp, urlencode};

/// Registers people in this order (so the first is the oldest, last by id) and returns their ids.
async fn register_all(c: &Client<'_>, place: uuid::Uuid, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let body = serde_json::json!({"name": name, "place_id": place}).to_string();
        let r = c.send_json(Method::POST, "/api/v1/people?confirm_new=true", &body, &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{name}: {}", r.body);
        ids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    ids
}

/// The names the API finds for `q`, in its order, with the total.
async fn found(c: &Client<'_>, q: &str, extra: &str) -> (Vec<String>, i64) {
    let r = c.get(&format!("/api/v1/people?q={}{extra}", urlencode(q))).await;
    assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
    let v = r.json();
    let names = v["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    (names, v["total"].as_i64().unwrap())
}

fn position(names: &[String], name: &str) -> usize {
    names.iter().position(|n| n == name).unwrap_or_else(|| panic!("{name} not in {names:?}"))
}

#[tokio::test]
async fn the_exact_name_comes_first_then_prefixes_then_pinyin_then_initials() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    // The best matches are registered first: newest-first order would put them last.
    register_all(
        &worker,
        yongning,
        &["祁芸", "赵敏", "祁芸华", "赵敏华", "张明华", "周萌", "钱祁芸", "赵民", "祁芸芳"],
    )
    .await;

    let (names, total) = found(&worker, "祁芸", "").await;
    assert_eq!(total, 4, "{names:?}");
    assert_eq!(names[0], "祁芸", "the exact name first: {names:?}");
    assert!(position(&names, "祁芸华") < position(&names, "钱祁芸"), "a name starting so before one containing it");
    assert!(position(&names, "祁芸芳") < position(&names, "钱祁芸"));

    // Initials: the whole initials (zm) before longer ones starting so (zmh).
    let (names, _) = found(&worker, "zm", "").await;
    for exact in ["赵敏", "周萌", "赵民"] {
        for longer in ["赵敏华", "张明华"] {
            assert!(position(&names, exact) < position(&names, longer), "{exact} before {longer}: {names:?}");
        }
    }
    // Full pinyin: the whole of it (zhaomin: 赵敏, 赵民) before a longer one (zhaominhua).
    let (names, _) = found(&worker, "zhaomin", "").await;
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[2], "赵敏华", "{names:?}");
    // A full pinyin prefix (qiyun…) ranks above initials that happen to start the same way.
    let (names, _) = found(&worker, "qiyun", "").await;
    assert_eq!(names[0], "祁芸", "{names:?}");
}

#[tokio::test]
async fn search_results_come_in_pages_on_the_api_and_the_search_page() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    let mut names: Vec<String> = (0..23).map(|i| format!("祁芸{}", ["华", "芳", "丽", "明", "强"][i % 5])).collect();
    names.insert(0, "祁芸".to_string());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    register_all(&worker, yongning, &refs).await;

    // The API pages by rank: page 1 starts with the exact name, and pages do not overlap.
    let (first, total) = found(&worker, "祁芸", "&page_size=10").await;
    assert_eq!((first.len(), total), (10, 24));
    assert_eq!(first[0], "祁芸");
    let third = worker.get(&format!("/api/v1/people?q={}&page_size=10&page=3", urlencode("祁芸"))).await.json();
    assert_eq!(third["items"].as_array().unwrap().len(), 4);
    assert!(third["items"].as_array().unwrap().iter().all(|p| p["name"] != "祁芸"));

    // The page shows 20 with a link to the rest, which shows the other 4.
    let page = worker.get(&format!("/search?q={}", urlencode("祁芸"))).await;
    assert_eq!(page.status, StatusCode::OK);
    let hits = page.between("id=\"people-hits\"", "</ul>").unwrap();
    assert_eq!(hits.matches("<li>").count(), 20);
    assert!(page.body.contains("共 24 条"), "the total is shown");
    let next = format!("/search?q={}&#38;page=2", urlencode("祁芸"));
    assert!(
        page.body.contains(&next),
        "a link to page 2: {}",
        page.between("people-pager", "</nav>").unwrap_or_default()
    );
    let page2 = worker.get(&format!("/search?q={}&page=2", urlencode("祁芸"))).await;
    assert_eq!(page2.between("id=\"people-hits\"", "</ul>").unwrap().matches("<li>").count(), 4);

    // Another station's worker finds none of them, on any page.
    let other = app.login("leizeyu").await;
    assert_eq!(found(&other, "祁芸", "").await.1, 0);
}

#[tokio::test]
async fn surnames_are_found_by_their_surname_reading_and_given_names_by_every_reading() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    register_all(
        &worker,
        yongning,
        &["曾小红", "单田芳", "解玉兰", "仇德明", "朴志英", "区永华", "查建国", "盖文", "尉迟敬德", "万俟雅言", "张乐"],
    )
    .await;
    for (q, name) in [
        ("zeng", "曾小红"),
        ("zengxiaohong", "曾小红"),
        ("zxh", "曾小红"),
        ("shantianfang", "单田芳"),
        ("stf", "单田芳"),
        ("xieyulan", "解玉兰"),
        ("qiudeming", "仇德明"),
        ("piaozhiying", "朴志英"),
        ("ouyonghua", "区永华"),
        ("zhajianguo", "查建国"),
        ("gewen", "盖文"),
        ("yuchijingde", "尉迟敬德"),
        ("ycjd", "尉迟敬德"),
        ("moqiyayan", "万俟雅言"),
        // 乐 in a given name is read both ways.
        ("zhangle", "张乐"),
        ("zhangyue", "张乐"),
    ] {
        let (names, _) = found(&worker, q, "").await;
        assert!(names.iter().any(|n| n == name), "{q} finds {name}: {names:?}");
    }
    // The surname's everyday reading is not its reading as a name.
    let (names, _) = found(&worker, "cengxiaohong", "").await;
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn names_indexed_by_an_older_build_are_indexed_again_once_by_racing_instances() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    let ids = register_all(&worker, yongning, &["曾小红", "单田芳", "仇德明"]).await;
    // As an older build left them: every name's rows as its common reading, of kind text.
    let db = &app.st.db;
    for (id, old) in ids.iter().zip([["cengxiaohong", "cxh"], ["dantianfang", "dtf"], ["choudeming", "cdm"]]) {
        let id = uuid::Uuid::parse_str(id).unwrap();
        let mut tx = db.begin().await.unwrap();
        linli::write!(&mut tx, |c| sqlx::query(
            "DELETE FROM search_terms WHERE entity_id = $1 AND term >= 'a' AND term < '{'"
        )
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
        .unwrap();
        for term in old {
            linli::write!(&mut tx, |c| sqlx::query(
                "INSERT INTO search_terms (term, entity, entity_id, person_id, path)
                 SELECT $1, 'person', id, id, path FROM persons WHERE id = $2"
            )
            .bind(term)
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let mut tx = db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query(
        "UPDATE search_reindex SET version = 1, cursor_id = NULL WHERE entity = 'person'"
    )
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    assert!(!found(&worker, "zxh", "").await.0.contains(&"曾小红".to_string()), "not found before the re-index");

    // Three instances start at once, in batches of two.
    let (a, b, c) = tokio::join!(
        linli::search::reindex_all(db, 2),
        linli::search::reindex_all(db, 2),
        linli::search::reindex_all(db, 2)
    );
    // The demo's requests and hazards were never marked indexed in this database: they go too.
    let records = app.count("SELECT COUNT(*) FROM persons WHERE merged_into IS NULL AND anonymised_at IS NULL").await
        + app.count("SELECT COUNT(*) FROM requests").await
        + app.count("SELECT COUNT(*) FROM hazards").await;
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(i64::try_from(a + b + c).unwrap(), records, "each record once ({a} + {b} + {c})");
    assert_eq!(
        app.count("SELECT version FROM search_reindex WHERE entity = 'person'").await,
        linli::search::NAME_TERMS_VERSION
    );
    assert_eq!(
        app.count("SELECT MIN(version) FROM search_reindex WHERE entity <> 'person'").await,
        linli::search::TEXT_TERMS_VERSION
    );
    for (q, name) in [("zxh", "曾小红"), ("shantianfang", "单田芳"), ("qiudeming", "仇德明")] {
        assert!(found(&worker, q, "").await.0.contains(&name.to_string()), "{q}");
    }
    assert!(!found(&worker, "cxh", "").await.0.contains(&"曾小红".to_string()), "the old readings are gone");
    // One row per term: no batch was written twice.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM (SELECT term, entity_id FROM search_terms GROUP BY term, entity_id HAVING COUNT(*) > 1) d")
            .await,
        0
    );
    // Done: a later start does nothing.
    assert_eq!(linli::search::reindex_all(db, 2).await.unwrap(), 0);
}

/// The numbers of the requests or hazards a list answer holds, with its total.
async fn numbers(c: &Client<'_>, path: &str) -> (Vec<String>, i64) {
    let r = c.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    let v = r.json();
    let items = v["items"].as_array().unwrap().iter().map(|x| x["number"].as_str().unwrap().to_string()).collect();
    (items, v["total"].as_i64().unwrap())
}

#[tokio::test]
async fn requests_and_hazards_are_found_by_their_text_inside_the_scope() {
    let app = TestApp::new().await;
    let mgr = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let body = serde_json::json!({"category": "sewer_blocked", "description": "小区门口铸铁井盖松动，夜里车过哐当响", "place_id": yongning});
    let r = mgr.send_json(Method::POST, "/api/v1/requests", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let number = r.json()["number"].as_str().unwrap().to_string();
    let body = serde_json::json!({"category": "fire", "risk_level": "major", "description": "楼道堆放纸箱堵塞消防通道", "place_id": yongning});
    let r = mgr.send_json(Method::POST, "/api/v1/hazards", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let hazard = r.json()["number"].as_str().unwrap().to_string();

    // A two-character word, a longer phrase, and words that are not in the text.
    let (found, _) = numbers(&mgr, &format!("/api/v1/requests?queue=area&q={}", urlencode("井盖"))).await;
    assert!(found.contains(&number), "{found:?}");
    for q in ["哐当", "铸铁井盖松动", "ktang"] {
        let (found, total) = numbers(&mgr, &format!("/api/v1/requests?queue=area&q={}", urlencode(q))).await;
        let want = if q == "ktang" { (vec![], 0) } else { (vec![number.clone()], 1) };
        assert_eq!((found.clone(), total), want, "{q}");
    }
    for q in ["井盖冒水", "消防通道", "铸铁哐当松动"] {
        assert_eq!(numbers(&mgr, &format!("/api/v1/requests?queue=area&q={}", urlencode(q))).await.1, 0, "{q}");
    }
    assert_eq!(
        numbers(&mgr, &format!("/api/v1/hazards?status=all&q={}", urlencode("纸箱堵塞"))).await.0,
        vec![hazard.clone()]
    );
    assert_eq!(numbers(&mgr, &format!("/api/v1/hazards?status=all&q={}", urlencode("哐当"))).await.1, 0);

    // The queue and the register have a search box that keeps what was typed.
    let page = mgr.get(&format!("/requests?queue=area&q={}", urlencode("哐当"))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&number) && page.body.contains("name=\"q\""), "{}", page.body);
    assert!(page.body.contains("value=\"哐当\""));
    let form = page.between("<form method=\"get\" class=\"filters\">", "</form>").unwrap();
    assert!(form.contains("name=\"queue\" value=\"area\""), "a search stays in its queue: {form}");
    let page = mgr.get(&format!("/requests?queue=area&q={}", urlencode("消防通道"))).await;
    assert!(!page.body.contains(&number));
    let page = mgr.get(&format!("/hazards?q={}", urlencode("纸箱堵塞"))).await;
    assert!(page.body.contains(&hazard), "{}", page.body);
    let page = mgr.get(&format!("/hazards?q={}", urlencode("哐当"))).await;
    assert!(!page.body.contains(&hazard));

    // One route for all three, each section paged.
    let all = mgr.get(&format!("/api/v1/search?q={}&page_size=5", urlencode("哐当"))).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let all = all.json();
    assert_eq!(all["requests"]["total"], 1);
    assert_eq!(all["requests"]["items"][0]["number"], number.as_str());
    assert_eq!((all["hazards"]["total"].as_i64(), all["people"]["page_size"].as_i64()), (Some(0), Some(5)));
    assert_eq!(mgr.get("/api/v1/search?q=%20").await.status, StatusCode::BAD_REQUEST);
    // A huge query is read up to its first words, not sent whole to the database.
    let huge = "井盖".repeat(2_000);
    assert_eq!(mgr.get(&format!("/api/v1/search?q={}", urlencode(&huge))).await.status, StatusCode::OK);

    // Another street finds neither, by any route; a department handler reads no people nor
    // hazards, and only the requests dispatched to it.
    let other = app.login("leizeyu").await;
    assert_eq!(numbers(&other, &format!("/api/v1/requests?queue=area&q={}", urlencode("哐当"))).await.1, 0);
    assert_eq!(numbers(&other, &format!("/api/v1/hazards?status=all&q={}", urlencode("纸箱堵塞"))).await.1, 0);
    let all = other.get(&format!("/api/v1/search?q={}", urlencode("哐当"))).await.json();
    assert_eq!((all["requests"]["total"].as_i64(), all["hazards"]["total"].as_i64()), (Some(0), Some(0)));
    let dept = app.login("paiwu").await;
    let all = dept.get(&format!("/api/v1/search?q={}", urlencode("哐当"))).await.json();
    assert!(all.get("people").is_none() && all.get("hazards").is_none(), "{all}");
    assert_eq!(all["requests"]["total"], 0, "not dispatched to the department");
}

#[tokio::test]
async fn an_anonymised_name_is_no_longer_found_in_request_text() {
    let app = TestApp::new().await;
    let mgr = app.login("zhenhua.mgr").await;
    let place = app.place_id("永宁社区").await;
    let body = serde_json::json!({"name": "祁芸", "birth_date": "1950-03-04", "place_id": place});
    let r = mgr.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let person = r.json()["id"].as_str().unwrap().to_string();
    let intake = serde_json::json!({
        "category": "heating", "description": "祁芸反映家中暖气不热", "place_id": place, "person_id": person,
    });
    let r = mgr.send_json(Method::POST, "/api/v1/requests", &intake.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let number = r.json()["number"].as_str().unwrap().to_string();
    let by_name = format!("/api/v1/requests?queue=area&q={}", urlencode("祁芸"));
    assert_eq!(numbers(&mgr, &by_name).await.0, vec![number.clone()]);

    let path = format!("/api/v1/people/{person}/anonymise");
    let r = mgr.send_json(Method::POST, &path, r#"{"reason": "本人申请删除个人信息"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(numbers(&mgr, &by_name).await.1, 0, "the name is not findable in the request any more");
    assert_eq!(numbers(&mgr, &format!("/api/v1/requests?queue=area&q={}", urlencode("暖气"))).await.0, vec![number]);
    assert_eq!(app.count("SELECT COUNT(*) FROM search_terms WHERE term = '祁芸'").await, 0);
}

/// PostgreSQL sessions plan without parallel workers: their start-up cost a search count that
/// found nothing 7–11 ms (benches/search.rs). SQLite has no such plans.
#[tokio::test]
async fn postgres_sessions_plan_without_parallel_workers() {
    let app = TestApp::new().await;
    if app.st.db.backend() != linli::db::Backend::Postgres {
        return;
    }
    for _ in 0..3 {
        let (workers,): (String,) =
            linli::read!(&app.st.db, |c| sqlx::query_as("SHOW max_parallel_workers_per_gather").fetch_one(c).await)
                .unwrap();
        assert_eq!(workers, "0");
    }
}
