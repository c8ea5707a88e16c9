//! Case work through the real router on both backends: people with sealed and masked numbers,
//! duplicates, tags, scope, search, stale saves, and a case from intake to closure.

use axum::http::{Method, StatusCode};

use crate::harness::{Client, TestApp, urlencode};

/// A valid ID number for a birth date and sequence (check character computed).
fn id_number(region: &str, birth: &str, seq: &str) -> String {
    let first17 = format!("{region}{birth}{seq}");
    format!("{first17}{}", linli::people::identity::check_char(&first17))
}

pub(crate) async fn register(c: &Client<'_>, body: serde_json::Value) -> serde_json::Value {
    let r = c.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.json()
}

#[tokio::test]
async fn people_numbers_are_validated_sealed_masked_and_revealed_with_an_audited_reason() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    // The 17th digit is odd: a man.
    let male = id_number("140202", "19860302", "121");
    // A bad check character, a future birth date and a sex that contradicts the number: all named.
    let mut bad = male.clone();
    bad.replace_range(17..18, if male.ends_with('1') { "2" } else { "1" });
    let form = [
        ("name", "王鹏"),
        ("id_number", bad.as_str()),
        ("birth_date", "2099-01-01"),
        ("place_id", &yongning.to_string()),
    ];
    let r = worker.post_form("/people", &form).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("校验位不正确"), "{}", r.body);
    assert!(r.body.contains("value=\"王鹏\""), "typed input kept");
    let r = worker
        .post_form(
            "/people",
            &[("name", "王鹏"), ("id_number", &male), ("sex", "female"), ("place_id", &yongning.to_string())],
        )
        .await;
    assert!(r.body.contains("性别与身份证号不一致"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 0, "nothing half-written");

    // A lower-case x is normalised; the number is sealed at rest and masked on screen.
    let with_x = loop_x_id();
    let phone = "13800131234";
    let p = register(
        &worker,
        serde_json::json!({"name": "王鹏", "id_number": with_x.to_lowercase(), "phone": phone, "place_id": yongning}),
    )
    .await;
    let pid = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["id_masked"], format!("{}********{}", &with_x[..6], &with_x[14..]));
    assert_eq!(p["phone_masked"], "138****1234");
    assert_eq!(p["birth_date"], format!("{}-{}-{}", &with_x[6..10], &with_x[10..12], &with_x[12..14]));
    let stored: (Option<String>, Option<String>) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id_sealed, phone_sealed FROM persons").fetch_one(c).await)
            .unwrap();
    let (sealed_id, sealed_phone) = (stored.0.unwrap(), stored.1.unwrap());
    assert!(!sealed_id.contains(&with_x) && !sealed_phone.contains(phone), "sealed at rest");
    let page = worker.get(&format!("/people/{pid}")).await;
    assert!(!page.body.contains(&with_x) && page.body.contains("********"), "masked on screen");

    // One person, one record: the same number again is refused, with or without the x.
    let again = worker
        .send_json(
            Method::POST,
            "/api/v1/people",
            &serde_json::json!({"name": "王朋", "id_number": with_x, "place_id": yongning}).to_string(),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.json()["code"], "person.id_registered");

    // Revealing needs a reason, and each reveal is audited.
    let r = worker.post_form(&format!("/people/{pid}/reveal"), &[("field", "id_number"), ("reason", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!r.body.contains(&with_x));
    let r = worker
        .post_form(&format!("/people/{pid}/reveal"), &[("field", "id_number"), ("reason", "办理低保材料核对")])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(&with_x), "revealed once");
    let audited = app
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.reveal' AND detail LIKE '%低保材料核对%'")
        .await;
    assert_eq!(audited, 1);
    // A community worker sees masked numbers only and may not reveal.
    let staff = app.login("changmin").await;
    let r = staff.post_form(&format!("/people/{pid}/reveal"), &[("field", "phone"), ("reason", "核对")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// An ID number ending in X (some sequence makes the check character X).
fn loop_x_id() -> String {
    (0..1000)
        .map(|n| format!("14020219460315{n:03}"))
        .map(|first| format!("{first}{}", linli::people::identity::check_char(&first)))
        .find(|id| id.ends_with('X'))
        .unwrap()
}

#[tokio::test]
async fn same_name_birth_and_place_is_offered_as_a_match_and_tags_respect_age() {
    let app = TestApp::new().await;
    let worker = app.login("zhengjiangbo").await;
    let minhe = app.place_id("民和社区").await;
    let body = serde_json::json!({"name": "王芳", "birth_date": "1945-06-01", "place_id": minhe});
    let first = register(&worker, body.clone()).await;
    let dup = worker.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.json()["details"][0]["id"], first["id"]);
    let forced = worker.send_json(Method::POST, "/api/v1/people?confirm_new=true", &body.to_string(), &[]).await;
    assert_eq!(forced.status, StatusCode::CREATED, "a namesake can still be registered on purpose");

    let pid = first["id"].as_str().unwrap();
    let child_tag = worker
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{pid}/tags"),
            r#"{"tag": "left_behind_child", "source": "走访"}"#,
            &[],
        )
        .await;
    assert_eq!(child_tag.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(child_tag.body.contains("tag.child_tag_on_adult"), "{}", child_tag.body);
    let alone = worker
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{pid}/tags"),
            r#"{"tag": "独居", "source": "入户走访核实"}"#,
            &[],
        )
        .await;
    assert_eq!(alone.status, StatusCode::CREATED, "{}", alone.body);
    let listed = worker.get("/api/v1/people?tag=living_alone").await.json();
    assert_eq!(listed["total"], 1);
}

/// Pages of `/api/v1/people?{query}` with two rows each: newest id first, together the whole
/// list, every page (one past the end too) with the list's total. Returns the total.
async fn pages_agree(c: &Client<'_>, query: &str) -> i64 {
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
    };
    let all = c.get(&format!("/api/v1/people?{query}&page_size=200")).await.json();
    let total = all["total"].as_i64().unwrap();
    let want = ids(&all);
    assert_eq!(want.len() as i64, total, "{query}");
    let mut sorted = want.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(want, sorted, "{query}: newest id first");
    let mut got = Vec::new();
    for page in 1..=total / 2 + 2 {
        let r = c.get(&format!("/api/v1/people?{query}&page_size=2&page={page}")).await.json();
        assert_eq!(r["total"], total, "{query} page {page}");
        got.extend(ids(&r));
    }
    assert_eq!(got, want, "{query}");
    total
}

#[tokio::test]
async fn people_lists_by_tag_clients_or_name_page_in_id_order_with_one_total() {
    let app = TestApp::new().await;
    let worker = app.login("zhengjiangbo").await;
    let minhe = app.place_id("民和社区").await;
    for (i, name) in ["侯明远", "侯明达", "侯明辉", "侯明杰", "侯明轩"].into_iter().enumerate() {
        let body = serde_json::json!({"name": name, "birth_date": format!("194{i}-03-01"), "place_id": minhe});
        let pid = register(&worker, body).await["id"].as_str().unwrap().to_string();
        let r = worker
            .send_json(Method::POST, &format!("/api/v1/people/{pid}/tags"), r#"{"tag": "独居", "source": "走访"}"#, &[])
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        if i % 2 == 0 {
            let body = serde_json::json!({"person_id": pid, "domain": "elderly_care", "source": "visit", "summary": "独居，定期探访"});
            let case = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
            assert_eq!(case.status, StatusCode::CREATED, "{}", case.body);
        }
    }
    assert_eq!(pages_agree(&worker, &format!("q={}", urlencode("侯明"))).await, 5);
    assert!(pages_agree(&worker, "tag=living_alone").await >= 5);
    let clients = pages_agree(&worker, &format!("tag=living_alone&clients=true&place_id={minhe}")).await;
    assert!(clients >= 3);
    assert_eq!(pages_agree(&worker, &format!("tag=living_alone&clients=true&q={}", urlencode("侯明"))).await, 3);
    let none = worker.get(&format!("/api/v1/people?tag=extreme_poverty&q={}", urlencode("侯明"))).await.json();
    assert_eq!((none["total"].as_i64(), none["items"].as_array().map(Vec::len)), (Some(0), Some(0)));
}

#[tokio::test]
async fn another_station_cannot_see_or_find_a_client_by_list_search_timeline_or_id() {
    let app = TestApp::new().await;
    let zhenhua = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    let p =
        register(&zhenhua, serde_json::json!({"name": "王芳", "birth_date": "1944-02-02", "place_id": yongning})).await;
    let pid = p["id"].as_str().unwrap();
    let body = serde_json::json!({"person_id": pid, "domain": "elderly_care", "source": "visit", "summary": "独居高龄，需定期探访"});
    let case = zhenhua.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(case.status, StatusCode::CREATED, "{}", case.body);
    let case_id = case.json()["id"].as_str().unwrap().to_string();

    // Found by Chinese name, pinyin and initials inside the station.
    for q in ["王芳", "wangfang", "wf", "芳"] {
        let hits = zhenhua.get(&format!("/api/v1/people?q={}", urlencode(q))).await.json();
        assert_eq!(hits["total"], 1, "search {q}");
    }
    let notes = zhenhua.get(&format!("/search?q={}", urlencode("探访"))).await;
    assert!(notes.body.contains(case.json()["number"].as_str().unwrap()), "case text is searchable");

    let qingyuan = app.login("leizeyu").await;
    for path in [
        "/api/v1/people".to_string(),
        format!("/api/v1/people?q={}", urlencode("王芳")),
        "/api/v1/people?q=wf".to_string(),
        "/api/v1/cases".to_string(),
    ] {
        let r = qingyuan.get(&path).await;
        assert_eq!(r.json()["total"], 0, "{path}: {}", r.body);
    }
    for path in [
        format!("/people/{pid}"),
        format!("/api/v1/people/{pid}"),
        format!("/api/v1/people/{pid}/timeline"),
        format!("/cases/{case_id}"),
        format!("/api/v1/cases/{case_id}"),
    ] {
        assert_eq!(qingyuan.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let page = qingyuan.get(&format!("/search?q={}", urlencode("王芳"))).await;
    assert!(!page.body.contains(pid), "search page shows nothing of another station");
    let due = qingyuan.get("/api/v1/follow-ups?days=60").await.json();
    assert_eq!(due["cases"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_stale_save_is_refused_and_the_typed_input_is_kept() {
    let app = TestApp::new().await;
    let worker = app.login("hanjianwei").await;
    let place = app.place_id("北馨园社区").await;
    let p =
        register(&worker, serde_json::json!({"name": "李桂兰", "birth_date": "1950-05-05", "place_id": place})).await;
    let pid = p["id"].as_str().unwrap();
    // Someone else saves first.
    let put = serde_json::json!({"name": "李桂兰", "birth_date": "1950-05-05", "place_id": place, "room": "301"});
    let ok = worker
        .send_json(Method::PUT, &format!("/api/v1/people/{pid}"), &put.to_string(), &[("if-match", "\"1\"")])
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.headers["etag"], "\"2\"");
    let stale = worker
        .send_json(Method::PUT, &format!("/api/v1/people/{pid}"), &put.to_string(), &[("if-match", "\"1\"")])
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    // The form with the old version: refused with a message, and what was typed stays.
    let form = [
        ("name", "李桂兰"),
        ("birth_date", "1950-05-05"),
        ("place_id", &place.to_string()),
        ("room", "502"),
        ("version", "1"),
    ];
    let r = worker.post_form(&format!("/people/{pid}"), &form).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("已被他人修改") && r.body.contains("value=\"502\""), "{}", r.body);
}

#[tokio::test]
async fn a_case_from_intake_through_plan_services_and_closure() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let p =
        register(&worker, serde_json::json!({"name": "王鹏", "birth_date": "1986-03-02", "place_id": yongning})).await;
    let pid = p["id"].as_str().unwrap();

    // Intake on the person page: the number people quote comes from the station.
    let r = worker
        .post_form(&format!("/people/{pid}/cases"), &[("domain", ""), ("source", "walk_in"), ("summary", "")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = worker
        .post_form(
            &format!("/people/{pid}/cases"),
            &[("domain", "social_assistance"), ("source", "walk_in"), ("summary", "尿毒症，家庭困难")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let case_path = r.location();
    let case_id = case_path.trim_start_matches("/cases/").to_string();
    let year = chrono::Datelike::year(&linli::people::store::today());
    let case = worker.get(&format!("/api/v1/cases/{case_id}")).await.json();
    assert_eq!(case["number"], format!("振华-{year}-0001"));
    assert_eq!(case["status"], "intake");
    assert_eq!(case["tier"], "standard");

    // A plan action without an owner is refused; what was typed stays on the form.
    let plan = [
        ("goals", "稳定病情，恢复部分就业"),
        ("action", "链接社区公益岗位"),
        ("owner", ""),
        ("due_on", "2030-01-31"),
        ("review_on", "2030-03-01"),
        ("tier", "standard"),
    ];
    let r = worker.post_form(&format!("{case_path}/plan"), &plan).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("每项措施须有负责人") && r.body.contains("链接社区公益岗位"), "{}", r.body);
    let mut plan = plan.to_vec();
    plan[2] = ("owner", "温碧晨");
    assert_eq!(worker.post_form(&format!("{case_path}/plan"), &plan).await.status, StatusCode::SEE_OTHER);
    // Only the station manager approves.
    assert_eq!(worker.post_form(&format!("{case_path}/plan/approve"), &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(manager.post_form(&format!("{case_path}/plan/approve"), &[]).await.status, StatusCode::SEE_OTHER);

    // Service records: a phone follow-up moves the next follow-up one interval on.
    let today = linli::people::store::today();
    let rec = serde_json::json!({"kind": "resource_linking", "minutes": 60, "notes": "经社区联系到一份门卫工作"});
    let r = worker.send_json(Method::POST, &format!("/api/v1/cases/{case_id}/records"), &rec.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let rec = serde_json::json!({"kind": "phone_follow_up", "minutes": 15, "notes": "电话回访，透析规律，情绪稳定"});
    let r = worker.send_json(Method::POST, &format!("/api/v1/cases/{case_id}/records"), &rec.to_string(), &[]).await;
    assert_eq!(r.json()["next_follow_up_on"], (today + chrono::Duration::days(30)).to_string());
    let future = serde_json::json!({"kind": "home_visit", "minutes": 30, "notes": "x", "occurred_on": "2099-01-01"});
    let r = worker.send_json(Method::POST, &format!("/api/v1/cases/{case_id}/records"), &future.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The timeline shows it all, newest first.
    let tl = worker.get(&format!("/api/v1/people/{pid}/timeline")).await.json();
    let kinds: Vec<&str> = tl.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["person.registered", "case.opened", "plan.approved", "record.resource_linking", "record.phone_follow_up"]
    {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    assert_eq!(*kinds.last().unwrap(), "person.registered");

    // Closure needs a reason and the manager's approval.
    let r = worker.post_form(&format!("{case_path}/close"), &[("reason", " ")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        worker.post_form(&format!("{case_path}/close"), &[("reason", "已就业，病情稳定，目标达成")]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        worker.post_form(&format!("{case_path}/close/decision"), &[("decision", "approve")]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        manager.post_form(&format!("{case_path}/close/decision"), &[("decision", "approve")]).await.status,
        StatusCode::SEE_OTHER
    );
    let case = worker.get(&format!("/api/v1/cases/{case_id}")).await.json();
    assert_eq!(case["status"], "closed");
    assert_eq!(case["closure_reason"], "已就业，病情稳定，目标达成");
    let r = worker.send_json(Method::POST, &format!("/api/v1/cases/{case_id}/records"), &rec.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a closed case takes no records");
    let kpi = manager.get("/api/v1/follow-ups").await.json();
    assert_eq!(kpi["kpis"][0]["closed_cases"], 1);
}

#[tokio::test]
async fn an_elder_over_80_living_alone_is_due_weekly_and_shows_overdue() {
    let app = TestApp::new().await;
    let worker = app.login("zhengjiangbo").await;
    let minhe = app.place_id("民和社区").await;
    let p = register(&worker, serde_json::json!({"name": "王芳", "birth_date": "1944-08-08", "place_id": minhe})).await;
    let pid = p["id"].as_str().unwrap();
    let r = worker
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{pid}/tags"),
            r#"{"tag": "living_alone", "source": "入户核实"}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let body = serde_json::json!({"person_id": pid, "domain": "elderly_care", "source": "visit", "summary": "教她使用智能手机"});
    let case = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await.json();
    assert_eq!(case["tier"], "elder_80_alone");
    let today = linli::people::store::today();
    assert_eq!(case["next_follow_up_on"], (today + chrono::Duration::days(7)).to_string());
    let due = worker.get("/cases/due").await;
    assert!(due.body.contains("王芳") && !due.body.contains("已超期"), "{}", due.body);
    // Ten days pass without a visit.
    let past = today - chrono::Duration::days(3);
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query("UPDATE cases SET next_follow_up_on = $1")
        .bind(past)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    let due = worker.get("/cases/due").await;
    assert!(due.body.contains("已超期"), "overdue shows");
    let kpi = worker.get("/api/v1/follow-ups").await.json();
    assert_eq!(kpi["kpis"][0]["overdue"], 1);
    // A visit today puts the next one a week out.
    let case_id = case["id"].as_str().unwrap();
    let rec = serde_json::json!({"kind": "home_visit", "minutes": 45, "notes": "入户走访，教会视频通话"});
    let r = worker.send_json(Method::POST, &format!("/api/v1/cases/{case_id}/records"), &rec.to_string(), &[]).await;
    assert_eq!(r.json()["next_follow_up_on"], (today + chrono::Duration::days(7)).to_string());
}

#[tokio::test]
async fn a_childs_record_needs_the_case_team_or_a_grant_and_every_opening_is_recorded() {
    let app = TestApp::new().await;
    let worker = app.login("leizeyu").await;
    let dachi = app.place_id("大齿社区").await;
    let birth = (linli::people::store::today() - chrono::Duration::days(365 * 10)).to_string();
    let p = register(&worker, serde_json::json!({"name": "小阳", "birth_date": birth, "place_id": dachi})).await;
    let pid = p["id"].as_str().unwrap();
    // Not on the case team yet: refused, and the refusal is recorded.
    assert_eq!(worker.get(&format!("/people/{pid}")).await.status, StatusCode::FORBIDDEN);
    let body = serde_json::json!({"person_id": pid, "domain": "child_welfare", "source": "referral", "summary": "父亲去世，母亲患病，孩子孤僻"});
    let case = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(case.status, StatusCode::CREATED, "{}", case.body);
    assert_eq!(case.json()["tier"], "standard");
    assert_eq!(worker.get(&format!("/people/{pid}")).await.status, StatusCode::OK, "the case worker opens it");
    assert!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'child.denied'").await >= 1);
    assert!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'child.open'").await >= 1);
}

#[tokio::test]
async fn keys_rotate_reseals_numbers_and_blind_indexes_so_the_old_key_can_go() {
    use linli::crypto::Keyring;
    let app = TestApp::new().await;
    let old_spec = Keyring::generate_spec();
    let old = Keyring::parse(&old_spec).unwrap();
    let everything = linli::staff::store::everything();
    let actor = linli::audit::Actor::system("test");
    let id = id_number("140202", "19500101", "011");
    let input = linli::people::model::PersonInput {
        name: "张大爷".into(),
        id_number: Some(id.clone()),
        phone: Some("13900001234".into()),
        place_id: app.place_id("永宁社区").await,
        ..Default::default()
    };
    let p = match linli::people::store::create(&app.st.db, &old, &everything, &actor, &input, false).await {
        Ok(p) => p,
        Err(_) => panic!("create failed"),
    };
    let new_spec = Keyring::generate_spec().replacen("k1:", "k2:", 1);
    let both = Keyring::parse(&format!("{new_spec},{old_spec}")).unwrap();
    let people = linli::cli::keys::rotate(&app.st.db, &both).await.unwrap().of("persons");
    assert_eq!(people, 1);
    assert_eq!(
        linli::cli::keys::rotate(&app.st.db, &both).await.unwrap().of("persons"),
        0,
        "a second run has nothing left to do"
    );
    // Only the new key now: the number opens, and the blind index still finds the person.
    let new_only = Keyring::parse(&new_spec).unwrap();
    let shown = linli::people::store::reveal(
        &app.st.db,
        &new_only,
        &everything,
        &actor,
        p.id,
        linli::people::store::Secret::IdNumber,
        "核对",
    )
    .await
    .unwrap();
    assert_eq!(shown.as_deref(), Some(id.as_str()));
    let again = linli::people::store::create(&app.st.db, &new_only, &everything, &actor, &input, true).await;
    assert!(
        matches!(again, Err(linli::people::store::CreateError::IdRegistered(_))),
        "one person, one record across rotation"
    );
}

/// A transfer moves the client with the case: the receiving station reads the person, the
/// timeline and the whole case (each record still naming who wrote it, and the transfer's
/// reason); the sending station reads none of it, answered like missing and absent from lists
/// and search.
#[tokio::test]
async fn a_transferred_client_is_read_at_the_receiving_station_and_no_longer_at_the_sending_one() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let p = register(&worker, serde_json::json!({"name": "赵大妈", "birth_date": "1950-02-02", "place_id": yongning}))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"person_id": pid, "domain": "elderly_care", "source": "visit", "summary": "将搬到开源街道女儿家"});
    let case = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await.json();
    let cid = case["id"].as_str().unwrap().to_string();
    let rec = serde_json::json!({"kind": "home_visit", "minutes": 30, "notes": "振华站最后一次走访"});
    assert_eq!(
        worker.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec.to_string(), &[]).await.status,
        StatusCode::CREATED
    );
    let kaiyuan: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM stations WHERE name = '开源街道社工站'")
            .fetch_one(c)
            .await)
        .unwrap();
    let kaiyuan = kaiyuan.0.to_string();
    // A worker cannot transfer; the manager must give a reason.
    assert_eq!(
        worker
            .post_form(&format!("/cases/{cid}/transfer"), &[("station_id", &kaiyuan), ("reason", "搬家")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        manager.post_form(&format!("/cases/{cid}/transfer"), &[("station_id", &kaiyuan), ("reason", "")]).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = manager
        .post_form(&format!("/cases/{cid}/transfer"), &[("station_id", &kaiyuan), ("reason", "随女儿迁居开源街道")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    crate::casework_transfers::accept(&app, &cid).await;

    // The receiving station: the client, the timeline, the case with its number and history.
    let kmgr = app.login("kaiyuan.mgr").await;
    for path in [format!("/people/{pid}"), format!("/api/v1/people/{pid}"), format!("/api/v1/people/{pid}/timeline")] {
        let r = kmgr.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path} at the receiving station");
    }
    let held = kmgr.get(&format!("/api/v1/cases/{cid}")).await.json();
    assert_eq!(held["number"], case["number"]);
    assert_eq!(held["station_name"], "开源街道社工站");
    let records = held["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "history follows");
    assert_eq!(
        (records[0]["created_by_name"].as_str(), records[0]["station_name"].as_str()),
        (Some("温碧晨"), Some("振华街道社工站")),
        "who wrote it stays"
    );
    let page = kmgr.get(&format!("/cases/{cid}")).await;
    assert!(page.body.contains("随女儿迁居开源街道"), "the reason is on the case page");
    assert!(page.body.contains("record-form"), "the receiving station writes in it");
    let rec2 = serde_json::json!({"kind": "phone_follow_up", "minutes": 10, "notes": "开源站电话回访"});
    assert_eq!(
        kmgr.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec2.to_string(), &[]).await.status,
        StatusCode::CREATED
    );
    let found = kmgr.get("/api/v1/people?q=赵大妈").await.json();
    assert_eq!(found["total"], 1, "found by name at the receiving station: {found}");
    assert!(kmgr.get("/search?q=振华站最后一次走访").await.body.contains(&format!("/cases/{cid}")));

    // The sending station reads none of it: missing on every id, absent from lists and search.
    for c in [&worker, &manager] {
        for path in [
            format!("/people/{pid}"),
            format!("/api/v1/people/{pid}"),
            format!("/api/v1/people/{pid}/timeline"),
            format!("/cases/{cid}"),
            format!("/api/v1/cases/{cid}"),
        ] {
            assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND, "{path} at the sending station");
        }
        let list = c.get("/api/v1/people?q=赵大妈").await.json();
        assert_eq!(list["total"], 0, "{list}");
        assert!(!c.get("/api/v1/people?page_size=100").await.body.contains(&pid));
        assert!(!c.get("/api/v1/cases").await.body.contains(&cid));
        let search = c.get("/search?q=赵大妈").await;
        assert!(!search.body.contains(&pid), "the name search does not find the client");
        assert!(!c.get("/search?q=振华站最后一次走访").await.body.contains(&cid), "nor the notes");
    }
    assert_eq!(
        worker.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec.to_string(), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    // A third station sees nothing; the bureau sees the resident and the case.
    let third = app.login("leizeyu").await;
    assert_eq!(third.get(&format!("/cases/{cid}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(third.get(&format!("/people/{pid}")).await.status, StatusCode::NOT_FOUND);
    let bureau = app.login("bureau").await;
    assert_eq!(bureau.get(&format!("/people/{pid}")).await.status, StatusCode::OK);
    assert_eq!(bureau.get(&format!("/cases/{cid}")).await.status, StatusCode::OK);
}

/// The client moved with the case can move house at the receiving station, and a record of the
/// same person found while registering names a duplicate only where it may be opened.
#[tokio::test]
async fn the_receiving_station_edits_the_transferred_client_and_the_sending_one_cannot() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let p = register(&worker, serde_json::json!({"name": "钱奶奶", "birth_date": "1948-08-08", "place_id": yongning}))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let body =
        serde_json::json!({"person_id": pid, "domain": "elderly_care", "source": "visit", "summary": "随子女迁居"});
    let cid = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let kaiyuan: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM stations WHERE name = '开源街道社工站'")
            .fetch_one(c)
            .await)
        .unwrap();
    let r = manager
        .post_form(&format!("/cases/{cid}/transfer"), &[("station_id", &kaiyuan.0.to_string()), ("reason", "迁居")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    crate::casework_transfers::accept(&app, &cid).await;
    // The sending station can no longer change or tag the record.
    let edit = serde_json::json!({"name": "钱奶奶", "birth_date": "1948-08-08", "place_id": yongning, "version": p["version"]});
    let r = worker.send_json(Method::PUT, &format!("/api/v1/people/{pid}"), &edit.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let tag = r#"{"tag": "living_alone", "source": "走访"}"#;
    assert_eq!(
        worker.send_json(Method::POST, &format!("/api/v1/people/{pid}/tags"), tag, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    // The receiving station records her new address in its street; the case follows her there.
    let kworker = app.login("zhengjiangbo").await;
    let minhe = app.place_id("民和社区").await;
    let moved =
        serde_json::json!({"name": "钱奶奶", "birth_date": "1948-08-08", "place_id": minhe, "version": p["version"]});
    let r = kworker.send_json(Method::PUT, &format!("/api/v1/people/{pid}"), &moved.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let minhe_path: (String,) = linli::read!(&app.st.db, |c| sqlx::query_as("SELECT path FROM places WHERE id = $1")
        .bind(minhe)
        .fetch_one(c)
        .await)
    .unwrap();
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM cases WHERE person_path = '{}'", minhe_path.0)).await,
        1,
        "the case knows where its client lives"
    );
    assert_eq!(worker.get(&format!("/people/{pid}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(kworker.get(&format!("/people/{pid}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn two_records_of_one_person_merge_keeping_history_and_rights_requests_are_served() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let id = id_number("140202", "19480404", "021");
    let a = register(
        &worker,
        serde_json::json!({"name": "孙桂英", "birth_date": "1948-04-04", "place_id": yongning, "phone": "13700001111"}),
    )
    .await;
    let b = register(
        &worker,
        serde_json::json!({"name": "孙桂英", "id_number": id, "place_id": app.place_id("振华社区(示例)").await}),
    )
    .await;
    let (aid, bid) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let body = serde_json::json!({"person_id": aid, "domain": "elderly_care", "source": "visit", "summary": "空巢老人，行动不便"});
    let case = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await.json();
    let m = serde_json::json!({"into": bid, "reason": "同一人重复建档"});
    let merged = worker.send_json(Method::POST, &format!("/api/v1/people/{aid}/merge"), &m.to_string(), &[]).await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    assert_eq!(merged.json()["phone_masked"], "137****1111", "the number moves to the record that stays");
    let kept = worker.get(&format!("/api/v1/cases/{}", case["id"].as_str().unwrap())).await.json();
    assert_eq!(kept["person_id"], bid, "the case follows");
    let hits = worker.get(&format!("/api/v1/people?q={}", urlencode("孙桂英"))).await.json();
    assert_eq!(hits["total"], 1, "one person, one record");
    let again = worker.send_json(Method::POST, &format!("/api/v1/people/{aid}/merge"), &m.to_string(), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Access request: the full record with numbers, for the person, audited.
    let r = manager
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{bid}/access-export"),
            r#"{"reason": "本人书面申请查阅"}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let full = r.json();
    assert_eq!(full["id_number"], id);
    assert_eq!(full["cases"].as_array().unwrap().len(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.access_export'").await, 1);

    // Deletion request: identity goes, statutory records stay, the name no longer finds them.
    let r = manager
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{bid}/anonymise"),
            r#"{"reason": "本人申请删除个人信息"}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.json()["id_masked"].is_null());
    assert_eq!(worker.get(&format!("/api/v1/people?q={}", urlencode("孙桂英"))).await.json()["total"], 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM cases").await, 1, "the case record stays");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM persons WHERE id_sealed IS NOT NULL OR phone_sealed IS NOT NULL").await,
        0
    );
}

#[tokio::test]
async fn acting_on_a_childs_record_by_id_needs_the_case_team_too() {
    let app = TestApp::new().await;
    let worker = app.login("zhengjiangbo").await;
    let birth = (linli::people::store::today() - chrono::Duration::days(365 * 8)).to_string();
    let phone = "13600001234";
    let p = register(&worker, serde_json::json!({"name": "小明", "birth_date": birth, "phone": phone, "place_id": app.place_id("民和社区").await})).await;
    let pid = p["id"].as_str().unwrap();
    let r = worker.post_form(&format!("/people/{pid}/reveal"), &[("field", "phone"), ("reason", "联系监护人")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.body.contains(phone));
    let tag = worker
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{pid}/tags"),
            r#"{"tag": "left_behind_child", "source": "走访"}"#,
            &[],
        )
        .await;
    assert_eq!(tag.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.reveal'").await, 0);
    // The station manager grants the worker a few days; then it opens.
    let manager = app.login("kaiyuan.mgr").await;
    let g = manager
        .post_form(
            &format!("/people/{pid}/grants"),
            &[("account", "zhengjiangbo"), ("days", "3"), ("reason", "协助核实留守情况")],
        )
        .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER, "{}", g.body);
    let tag = worker
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{pid}/tags"),
            r#"{"tag": "left_behind_child", "source": "走访"}"#,
            &[],
        )
        .await;
    assert_eq!(tag.status, StatusCode::CREATED, "{}", tag.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'child.grant'").await, 1);
}

#[tokio::test]
async fn the_person_page_offers_namesakes_for_merging_and_managers_the_rights_forms() {
    let app = TestApp::new().await;
    let worker = app.login("hanjianwei").await;
    let place = app.place_id("北馨园社区").await;
    let body = serde_json::json!({"name": "刘秀兰", "birth_date": "1952-12-12", "place_id": place});
    let a = register(&worker, body.clone()).await;
    let b = worker.send_json(Method::POST, "/api/v1/people?confirm_new=true", &body.to_string(), &[]).await.json();
    let (aid, bid) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let page = worker.get(&format!("/people/{aid}")).await;
    assert!(page.body.contains("id=\"namesakes\"") && page.body.contains(bid), "namesake offered");
    assert!(!page.body.contains("id=\"rights\""), "rights forms are the manager's");
    let r = worker.post_form(&format!("/people/{aid}/merge"), &[("into", bid), ("reason", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"action-error\""));
    let r = worker.post_form(&format!("/people/{aid}/merge"), &[("into", bid), ("reason", "同一人，重复登记")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("/people/{bid}"));
    assert!(!worker.get(&format!("/people/{bid}")).await.body.contains("id=\"namesakes\""));
}

#[tokio::test]
async fn the_bureau_sets_follow_up_intervals_and_publishes_instrument_versions() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let zero = bureau
        .send_json(
            Method::POST,
            "/api/v1/follow-up-tiers",
            r#"{"code": "standard", "name": "一般个案", "interval_days": 0}"#,
            &[],
        )
        .await;
    assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(zero.body.contains("tier.interval_range"));
    let ok = bureau
        .send_json(
            Method::POST,
            "/api/v1/follow-up-tiers",
            r#"{"code": "standard", "name": "一般个案", "interval_days": 21}"#,
            &[],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let worker = app.login("wenbichen").await;
    assert_eq!(
        worker
            .send_json(
                Method::POST,
                "/api/v1/follow-up-tiers",
                r#"{"code": "x", "name": "x", "interval_days": 3}"#,
                &[]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // An assessment made now keeps version 1 after the bureau publishes version 2.
    let p = register(
        &worker,
        serde_json::json!({"name": "周老汉", "birth_date": "1940-01-01", "place_id": app.place_id("永宁社区").await}),
    )
    .await;
    let body =
        serde_json::json!({"person_id": p["id"], "domain": "elderly_care", "source": "visit", "summary": "行动不便"});
    let case = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await.json();
    assert_eq!(
        case["next_follow_up_on"],
        (linli::people::store::today() + chrono::Duration::days(21)).to_string(),
        "the new interval applies"
    );
    let insts = worker.get("/api/v1/instruments").await.json();
    let adl = insts.as_array().unwrap().iter().find(|i| i["code"] == "elderly_adl").unwrap().clone();
    let cid = case["id"].as_str().unwrap();
    let mut form: Vec<(String, String)> = vec![("instrument_id".into(), adl["id"].as_str().unwrap().into())];
    for item in adl["items"].as_array().unwrap() {
        form.push((format!("item_{}", item["key"].as_str().unwrap()), "0".into()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(worker.post_form(&format!("/cases/{cid}/assessments"), &pairs).await.status, StatusCode::SEE_OTHER);
    let mut v2 = adl.clone();
    v2.as_object_mut()
        .unwrap()
        .retain(|k, _| ["code", "name", "domain", "items", "bands", "reassess_days"].contains(&k.as_str()));
    v2["items"].as_array_mut().unwrap().pop();
    let r = bureau.send_json(Method::POST, "/api/v1/instruments", &v2.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["version"], 2);
    let detail = worker.get(&format!("/api/v1/cases/{cid}")).await.json();
    assert_eq!(detail["assessments"][0]["instrument_version"], 1);
    assert_eq!(detail["assessments"][0]["score"], 100);
    let current = worker.get("/api/v1/instruments").await.json();
    assert!(current.as_array().unwrap().iter().any(|i| i["code"] == "elderly_adl" && i["version"] == 2));
    let mut bad = v2.clone();
    bad["items"] = serde_json::json!([]);
    assert_eq!(
        bureau.send_json(Method::POST, "/api/v1/instruments", &bad.to_string(), &[]).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn a_registered_id_outside_the_scope_is_refused_without_saying_whose_it_is() {
    let app = TestApp::new().await;
    let zhenhua = app.login("wenbichen").await;
    let id = id_number("140202", "19550505", "031");
    register(
        &zhenhua,
        serde_json::json!({"name": "钱秀英", "id_number": id, "place_id": app.place_id("永宁社区").await}),
    )
    .await;
    let other = app.login("zhengjiangbo").await;
    let body = serde_json::json!({"name": "钱某", "id_number": id, "place_id": app.place_id("民和社区").await});
    let r = other.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["code"], "person.id_registered");
    assert!(!r.body.contains("钱秀英") && !r.body.contains("永宁社区") && !r.body.contains("********"), "{}", r.body);
}

/// A transfer offer sent twice at once (a double click): one offer is recorded, the other is
/// refused (a case has one pending offer at a time), and nothing moves.
#[tokio::test]
async fn a_transfer_sent_twice_at_once_moves_the_case_once() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let p = register(&worker, serde_json::json!({"name": "孙大爷", "birth_date": "1940-01-01", "place_id": yongning}))
        .await;
    let body =
        serde_json::json!({"person_id": p["id"], "domain": "elderly_care", "source": "visit", "summary": "搬家"});
    let cid = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (kaiyuan,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM stations WHERE name = '开源街道社工站'")
            .fetch_one(c)
            .await)
        .unwrap();
    let url = format!("/cases/{cid}/transfer");
    let form = [("station_id", kaiyuan.to_string()), ("reason", "迁居开源".to_string())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (a, b) = tokio::join!(manager.post_form(&url, &form), manager.post_form(&url, &form));
    let statuses = [a.status, b.status];
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::SEE_OTHER).count(), 1, "{statuses:?}");
    assert!(statuses.contains(&StatusCode::CONFLICT), "{statuses:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM case_transfer_offers").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM case_transfers").await, 0, "an offer moves nothing");
}

/// A child's case refused to a worker outside its team is refused on every route: its writes
/// (records, assessments, plan, closure) answer 403 as its page does, lists leave out its
/// summary, and the note search does not find it.
#[tokio::test]
async fn a_childs_case_refused_to_a_worker_is_refused_to_writes_lists_and_search_too() {
    let app = TestApp::new().await;
    let manager = app.login("kaiyuan.mgr").await;
    let birth = (linli::people::store::today() - chrono::Duration::days(365 * 9)).to_string();
    let p = register(
        &manager,
        serde_json::json!({"name": "小阳", "birth_date": birth, "place_id": app.place_id("民和社区").await}),
    )
    .await;
    let summary = "患先天性心脏病，母亲患病，需长期照护";
    let body =
        serde_json::json!({"person_id": p["id"], "domain": "social_assistance", "source": "visit", "summary": summary});
    let r = manager.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let cid = r.json()["id"].as_str().unwrap().to_string();

    let worker = app.login("zhengjiangbo").await;
    assert_eq!(worker.get(&format!("/api/v1/cases/{cid}")).await.status, StatusCode::FORBIDDEN);
    let writes = [
        (
            Method::POST,
            format!("/api/v1/cases/{cid}/records"),
            r#"{"kind": "home_visit", "minutes": 30, "notes": "探访"}"#,
        ),
        (
            Method::PUT,
            format!("/api/v1/cases/{cid}/plan"),
            r#"{"goals": "x", "actions": [], "review_on": "2027-06-01"}"#,
        ),
        (Method::POST, format!("/api/v1/cases/{cid}/closure"), r#"{"reason": "probe"}"#),
        (Method::POST, format!("/api/v1/cases/{cid}/assessments"), r#"{"answers": {}}"#),
    ];
    for (method, path, body) in writes {
        let r = worker.send_json(method, &path, body, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert!(!r.body.contains(summary), "{path}");
    }
    let r = worker
        .post_form(&format!("/cases/{cid}/records"), &[("kind", "home_visit"), ("minutes", "30"), ("notes", "探访")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM service_records").await, 0, "nothing written");
    let case = manager.get(&format!("/api/v1/cases/{cid}")).await.json();
    assert_eq!(case["case"]["status"].as_str().or(case["status"].as_str()), Some("intake"), "{case}");

    let list = worker.get("/api/v1/cases?page_size=100").await;
    assert!(list.body.contains(&cid) && !list.body.contains(summary), "listed without its summary: {}", list.body);
    let found = worker.get(&format!("/search?q={}", "%E5%BF%83%E8%84%8F%E7%97%85")).await;
    assert!(!found.body.contains(summary) && !found.body.contains(&cid), "{}", found.body);
    // The manager, who may open it, still finds it.
    let found = manager.get(&format!("/search?q={}", "%E5%BF%83%E8%84%8F%E7%97%85")).await;
    assert!(found.body.contains(&cid), "{}", found.body);
}

/// The timeline reads each kind of case event once for all of a person's cases: every record,
/// plan and assessment still names and links the case it belongs to, and the person page lists
/// both cases beside it.
#[tokio::test]
async fn a_person_with_two_cases_has_each_cases_events_on_the_timeline_under_its_own_case() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let p = register(&worker, serde_json::json!({"name": "赵文华", "birth_date": "1951-07-09", "place_id": yongning}))
        .await;
    let pid = p["id"].as_str().unwrap();
    let mut cases = Vec::new();
    for (domain, summary, notes) in
        [("social_assistance", "低保复核", "核对家庭收入材料"), ("elderly_care", "独居照护", "上门查看居家安全")]
    {
        let r = worker
            .post_form(
                &format!("/people/{pid}/cases"),
                &[("domain", domain), ("source", "walk_in"), ("summary", summary)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let case_id = r.location().trim_start_matches("/cases/").to_string();
        let rec = serde_json::json!({"kind": "home_visit", "minutes": 40, "notes": notes});
        let r =
            worker.send_json(Method::POST, &format!("/api/v1/cases/{case_id}/records"), &rec.to_string(), &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let number =
            worker.get(&format!("/api/v1/cases/{case_id}")).await.json()["number"].as_str().unwrap().to_string();
        cases.push((case_id, number));
    }
    // A plan approved on the second case only.
    let plan = [
        ("goals", "居家安全"),
        ("action", "安装燃气报警器"),
        ("owner", "温碧晨"),
        ("due_on", "2030-01-31"),
        ("review_on", "2030-03-01"),
        ("tier", "standard"),
    ];
    let second = format!("/cases/{}", cases[1].0);
    assert_eq!(worker.post_form(&format!("{second}/plan"), &plan).await.status, StatusCode::SEE_OTHER);
    assert_eq!(manager.post_form(&format!("{second}/plan/approve"), &[]).await.status, StatusCode::SEE_OTHER);

    let tl = worker.get(&format!("/api/v1/people/{pid}/timeline")).await.json();
    let events = tl.as_array().unwrap();
    let of = |kind: &str| -> Vec<(String, String)> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| (e["href"].as_str().unwrap_or("").to_string(), e["title"].as_str().unwrap().to_string()))
            .collect()
    };
    let opened = of("case.opened");
    let visits = of("record.home_visit");
    assert_eq!(opened.len(), 2, "{tl}");
    assert_eq!(visits.len(), 2, "{tl}");
    for (case_id, number) in &cases {
        let href = format!("/cases/{case_id}");
        assert!(opened.iter().any(|(h, t)| *h == href && t.starts_with(number.as_str())), "{opened:?}");
        assert!(visits.iter().any(|(h, t)| *h == href && t.starts_with(number.as_str())), "{visits:?}");
    }
    assert_eq!(of("plan.approved"), vec![(second.clone(), cases[1].1.clone())]);
    assert_eq!(events.last().unwrap()["kind"], "person.registered");

    let page = worker.get(&format!("/people/{pid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for (case_id, number) in &cases {
        assert!(page.body.contains(number.as_str()) && page.body.contains(&format!("/cases/{case_id}")), "{number}");
    }
    assert!(page.body.contains("核对家庭收入材料") && page.body.contains("上门查看居家安全"));
}
