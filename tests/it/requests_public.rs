//! What the public reads of requests (issue 21, item 1): nothing typed is public until it is
//! published; what is published is redacted (phones, IDs, names, rooms; the address stops at
//! the building); staff notes are internal unless their writer chooses; unpublished numbers
//! answer exactly like numbers that do not exist, so walking the feed reveals nothing.

use axum::http::{Method, StatusCode};

use crate::harness::{Client, TestApp};

/// Everything that must never reach an anonymous caller from these tests' requests.
const SECRETS: &[&str] = &["13812341234", "王小芳", "501室", "2单元", "13900001111", "201室", "1单元", "李建国"];

fn assert_clean(what: &str, body: &str) {
    for s in SECRETS {
        assert!(!body.contains(s), "{what} shows {s:?}: {body}");
    }
}

/// Every public view of a request: the feed, the request by number, its updates, in JSON and XML.
async fn public_views(anon: &Client<'_>, number: &str) -> Vec<(String, crate::harness::Resp)> {
    let mut out = Vec::new();
    for path in [
        "/open311/v2/requests.json".to_string(),
        "/open311/v2/requests.xml".to_string(),
        format!("/open311/v2/requests/{number}.json"),
        format!("/open311/v2/requests/{number}.xml"),
        format!("/open311/v2/requests.json?service_request_id={number}"),
        "/open311/v2/servicerequestupdates.json".to_string(),
        "/open311/v2/servicerequestupdates.xml".to_string(),
    ] {
        let r = anon.get(&path).await;
        out.push((path, r));
    }
    out
}

async fn request_row(app: &TestApp, number: &str) -> (uuid::Uuid, i64) {
    linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id, version FROM requests WHERE number = $1")
        .bind(number)
        .fetch_one(c)
        .await)
    .unwrap()
}

async fn newest_number(app: &TestApp) -> String {
    let (n,): (String,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT number FROM requests ORDER BY created_at DESC, number DESC LIMIT 1"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    n
}

#[tokio::test]
async fn a_residents_report_is_published_without_phone_name_or_room() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let r = anon
        .post_form(
            "/report",
            &[
                ("category", "street_light"),
                ("description", "我是王小芳，电话13812341234，御河九号小区3号楼2单元501室门口路灯不亮"),
                ("address", "御河九号小区3号楼2单元501室"),
                ("reporter_name", "王小芳"),
                ("phone", "13812341234"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let link = r.location();
    let number = newest_number(&app).await;

    let track = anon.get(&link).await;
    assert_eq!(track.status, StatusCode::OK);
    assert_clean("the tracking page", &track.body);
    assert!(track.body.contains("路灯不亮") && track.body.contains("3号楼"), "{}", track.body);

    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await;
    assert_eq!(one.status, StatusCode::OK, "a resident's own report is public: {}", one.body);
    let rec = &one.json()[0];
    let address = rec["address"].as_str().unwrap();
    assert!(address.ends_with("御河九号小区3号楼"), "the address stops at the building: {address}");
    let description = rec["description"].as_str().unwrap();
    assert!(description.contains("路灯不亮") && description.contains("王**"), "{description}");
    for (path, r) in public_views(&anon, &number).await {
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_clean(&path, &r.body);
    }
    // Staff still read the original.
    let desk = app.login("bureau").await;
    let (id, _) = request_row(&app, &number).await;
    let page = desk.get(&format!("/requests/{id}")).await;
    assert!(page.body.contains("2单元501室") && page.body.contains("id=\"public-text\""), "{}", page.body);
}

#[tokio::test]
async fn a_staff_intake_is_internal_until_the_desk_publishes_it_in_its_own_words() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let desk = app.login("bureau").await;
    let place = app.place_id("民和社区").await.to_string();
    let r = desk
        .post_form(
            "/requests",
            &[
                ("category", "heating"),
                ("description", "80岁独居老人李建国家中暖气不热，电话13900001111"),
                ("address", "民和社区3号楼1单元201室"),
                ("place_id", &place),
                ("reporter_name", "李建国"),
                ("phone", "13900001111"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let number = newest_number(&app).await;
    let (id, version) = request_row(&app, &number).await;

    // Not public: by number it answers exactly like a number that was never given.
    let missing = anon.get("/open311/v2/requests/2099-999999.json").await;
    let hidden = anon.get(&format!("/open311/v2/requests/{number}.json")).await;
    assert_eq!(hidden.status, missing.status);
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.body.replace(&number, "N"), missing.body.replace("2099-999999", "N"));
    for (path, r) in public_views(&anon, &number).await {
        if path.contains(&number) {
            let never = anon.get(&path.replace(&number, "2099-999999")).await;
            assert_eq!(
                (r.status, r.body.replace(&number, "N")),
                (never.status, never.body.replace("2099-999999", "N"))
            );
        } else {
            assert!(!r.body.contains(&number), "{path} lists an unpublished request: {}", r.body);
        }
        assert_clean(&path, &r.body);
    }
    let token = anon.get(&format!("/open311/v2/tokens/{id}.json")).await;
    assert_eq!(token.status, StatusCode::NOT_FOUND, "{}", token.body);

    // The desk publishes it; the public reads the derived wording, never the original.
    let page = desk.get(&format!("/requests/{id}")).await;
    assert!(page.body.contains("id=\"publication-form\""), "the desk may publish");
    let auto_text = page.between("id=\"f-public-text\" rows=\"3\" maxlength=\"2000\">", "</textarea>").unwrap();
    assert!(!auto_text.contains("13900001111") && !auto_text.contains("李建国"), "{auto_text}");
    let r = desk
        .post_form(
            &format!("/requests/{id}/publication"),
            &[
                ("version", &version.to_string()),
                ("published", "on"),
                ("public_text", &auto_text),
                ("public_address", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.json()[0]["address"], "民和社区3号楼", "the address to the building, the place said once");
    for (path, r) in public_views(&anon, &number).await {
        assert_clean(&path, &r.body);
    }
    let stored: (Option<String>,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT public_text FROM requests WHERE id = $1")
            .bind(id)
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!(stored.0, None, "sent back unchanged, the wording stays derived from the original");

    // Worded by hand: that is what the public reads, and it is redacted too.
    let version = request_row(&app, &number).await.1.to_string();
    let r = desk
        .post_form(
            &format!("/requests/{id}/publication"),
            &[
                ("version", &version),
                ("published", "on"),
                ("public_text", "民和社区一户居民家中暖气不热，已联系供热公司。回电13900001111"),
                ("public_address", "民和社区3号楼1单元201室"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let rec = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json()[0].clone();
    assert!(rec["description"].as_str().unwrap().starts_with("民和社区一户居民家中暖气不热"), "{rec}");
    assert_eq!(rec["address"], "民和社区3号楼", "a hand-written address stops at the building too");
    assert_clean("the hand-worded request", &rec.to_string());

    // A stale form keeps what was typed and says so; withdrawn, it is gone again.
    let r = desk
        .post_form(
            &format!("/requests/{id}/publication"),
            &[("version", &version), ("public_text", "我写的新说法"), ("public_address", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert!(r.body.contains("我写的新说法") && r.body.contains("id=\"publication-alert\""), "{}", r.body);
    let version = request_row(&app, &number).await.1.to_string();
    let r = desk
        .post_form(
            &format!("/requests/{id}/publication"),
            &[("version", &version), ("public_text", ""), ("public_address", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(anon.get(&format!("/open311/v2/requests/{number}.json")).await.status, StatusCode::NOT_FOUND);
    let audited = app
        .count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = 'request.publication' AND entity_id = '{id}'"))
        .await;
    assert_eq!(audited, 3, "every change of what the public reads is audited");
}

#[tokio::test]
async fn staff_notes_stay_internal_unless_their_writer_makes_them_public() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let key = linli::open311::clients::register(&app.st.db, "测试应用", "", None).await.unwrap().1;
    let fields = [
        ("api_key", key.as_str()),
        ("service_code", "sewer_blocked"),
        ("address_string", "宏安小区2号楼"),
        ("description", "下水井堵塞"),
    ];
    let r = anon.post_form("/open311/v2/requests.json", &fields).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let number = r.json()[0]["service_request_id"].as_str().unwrap().to_string();
    let (id, version) = request_row(&app, &number).await;
    let (org,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM organisations WHERE name = '大同市政排污所'")
            .fetch_one(c)
            .await)
        .unwrap();

    // 派单 with an internal note, as the form sends it by default.
    let desk = app.login("bureau").await;
    let dispatch = [
        ("version", version.to_string()),
        ("units", format!("org:{org}")),
        ("note", "联系王小芳13812341234，住2单元501室".to_string()),
    ];
    let dispatch: Vec<(&str, &str)> = dispatch.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = desk.post_form(&format!("/requests/{id}/dispatch"), &dispatch).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // The drainage works signs, writes a note for the public, resolves with an internal one.
    let unit = app.login("paiwu").await;
    let part = || async {
        let p: (uuid::Uuid, i64) =
            linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id, version FROM request_parts WHERE request_id = $1")
                .bind(id)
                .fetch_one(c)
                .await)
            .unwrap();
        (p.0, p.1.to_string())
    };
    let steps: [&[(&str, &str)]; 3] = [
        &[("action", "sign")],
        &[("action", "note"), ("note", "已到现场，预计两天内疏通。咨询电话13812341234"), ("public", "on")],
        &[("action", "resolve"), ("note", "已疏通。王小芳13812341234说2单元501室还有味")],
    ];
    for step in steps {
        let (pid, v) = part().await;
        let mut fields = vec![("version", v.as_str())];
        fields.extend_from_slice(step);
        let r = unit.post_form(&format!("/request-parts/{pid}"), &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{step:?}: {}", r.body);
    }
    // 回访 with an internal note.
    let version = request_row(&app, &number).await.1.to_string();
    let r = desk
        .post_form(
            &format!("/requests/{id}/callback"),
            &[("version", &version), ("satisfaction", "satisfied"), ("note", "王小芳表示满意")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    for (path, r) in public_views(&anon, &number).await {
        assert_clean(&path, &r.body);
        assert!(!r.body.contains("联系王") && !r.body.contains("已疏通"), "{path} shows an internal note: {}", r.body);
    }
    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json()[0].clone();
    assert_eq!(one["status"], "closed");
    // The status note is the latest public step in words; the internal callback note stays out.
    assert_eq!(one["status_notes"], "回访 · 满意", "{one}");
    let updates = anon.get("/open311/v2/servicerequestupdates.json").await;
    assert!(updates.body.contains("预计两天内疏通"), "the public note is an update: {}", updates.body);

    // Staff see which notes the public reads, and the desk can take one back.
    let page = desk.get(&format!("/requests/{id}")).await;
    assert_eq!(page.body.matches("class=\"badge public-note\"").count(), 1, "one public note: {}", page.body);
    let (event,): (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id FROM request_events WHERE request_id = $1 AND note_public"
    )
    .bind(id)
    .fetch_one(c)
    .await)
    .unwrap();
    let worker = app.login("wenbichen").await;
    let r = worker.post_form(&format!("/request-events/{event}/withdraw-note"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a social worker does not route requests");
    let r = desk.post_form(&format!("/request-events/{event}/withdraw-note"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json()[0].clone();
    assert_eq!(one["status_notes"], "回访 · 满意", "{one}");
    let updates = anon.get("/open311/v2/servicerequestupdates.json").await;
    assert!(!updates.body.contains("预计两天内疏通"), "{}", updates.body);
    assert!(updates.body.contains(&number), "the step itself stays public news");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'request.note_withdrawn'").await, 1);

    // Through the API, a dispatch note is internal unless `note_public` says otherwise.
    let api_body = serde_json::json!({ "units": [], "note": "x", "note_public": true, "evil": 1 });
    let r = desk.send_json(Method::POST, &format!("/api/v1/requests/{id}/dispatch"), &api_body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "unknown fields are refused: {}", r.body);
}

/// Walking the feed by number: every request in the database, published or not, and numbers
/// past the end. Published ones answer; every other answers exactly as a number never given.
#[tokio::test]
async fn walking_the_feed_by_number_reveals_only_published_requests() {
    let app = TestApp::new().await;
    linli::demo::load_casework(&app.st.db, &app.st.keys).await.unwrap();
    linli::demo::load_requests_and_hazards(&app.st.db, &app.st.keys).await.unwrap();
    let anon = app.anon();
    let rows: Vec<(String, bool)> =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT number, published FROM requests ORDER BY number")
            .fetch_all(c)
            .await)
        .unwrap();
    assert!(rows.iter().any(|r| r.1) && rows.iter().any(|r| !r.1), "the demo has both: {rows:?}");
    let missing = anon.get("/open311/v2/requests/2099-999999.json").await.body.replace("2099-999999", "N");
    for (number, published) in &rows {
        let r = anon.get(&format!("/open311/v2/requests/{number}.json")).await;
        if *published {
            assert_eq!(r.status, StatusCode::OK, "{number}");
        } else {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{number}");
            assert_eq!(r.body.replace(number.as_str(), "N"), missing, "{number}");
        }
    }
    let listed = anon.get("/open311/v2/requests.json?page_size=500").await.json();
    let listed: Vec<&str> =
        listed.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap()).collect();
    let published: Vec<&str> = rows.iter().filter(|r| r.1).map(|r| r.0.as_str()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, published, "the feed lists exactly the published requests");
}

/// The publication API: If-Match, 412 on a stale version, unknown fields refused, and only
/// those who route requests may change it.
#[tokio::test]
async fn the_publication_api_checks_version_fields_and_role() {
    let app = TestApp::new().await;
    linli::demo::load_casework(&app.st.db, &app.st.keys).await.unwrap();
    linli::demo::load_requests_and_hazards(&app.st.db, &app.st.keys).await.unwrap();
    let (id, version): (uuid::Uuid, i64) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id, version FROM requests WHERE NOT published AND status = 'accepted' ORDER BY number LIMIT 1"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    let desk = app.login("bureau").await;
    let path = format!("/api/v1/requests/{id}/publication");
    let body = serde_json::json!({ "published": true, "public_text": "路灯不亮" }).to_string();
    let stale = desk.send_json(Method::POST, &path, &body, &[("if-match", &format!("\"{}\"", version - 1))]).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.body);
    let evil = serde_json::json!({ "published": true, "description": "x" }).to_string();
    let r = desk.send_json(Method::POST, &path, &evil, &[("if-match", &format!("\"{version}\""))]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let long = serde_json::json!({ "published": true, "public_text": "长".repeat(linli::requests::model::MAX_DESCRIPTION + 1) }).to_string();
    let r = desk.send_json(Method::POST, &path, &long, &[("if-match", &format!("\"{version}\""))]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = desk.send_json(Method::POST, &path, &body, &[("if-match", &format!("\"{version}\""))]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let json = r.json();
    assert_eq!(json["published"], true);
    assert_eq!(json["public_text"], "路灯不亮");
    let worker = app.login("wenbichen").await;
    let r = worker.send_json(Method::POST, &path, &body, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a social worker does not route requests: {}", r.body);
}

/// A resident linked to a staff intake: the desk publishes the derived wording, and the
/// resident's name is not in it; wording the desk writes itself is published as written but
/// for phone and ID numbers.
#[tokio::test]
async fn a_linked_residents_name_stays_out_and_the_desks_own_wording_stands() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let desk = app.login("zhenhua.mgr").await;
    let place = app.place_id("永宁社区").await;
    let body = serde_json::json!({"name": "王鹏飞", "birth_date": "1950-03-04", "place_id": place}).to_string();
    let r = desk.send_json(Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let person = r.json()["id"].as_str().unwrap().to_string();
    let intake = serde_json::json!({
        "category": "heating",
        "description": "王鹏飞反映家中暖气不热，王鹏飞的母亲卧床",
        "place_id": place,
        "person_id": person,
    });
    let r = desk.send_json(Method::POST, "/api/v1/requests", &intake.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let created = r.json();
    assert_eq!(created["published"], false, "linked to a resident: internal until published");
    let (id, number) = (created["id"].as_str().unwrap().to_string(), created["number"].as_str().unwrap().to_string());
    let path = format!("/api/v1/requests/{id}/publication");
    let version = created["version"].as_i64().unwrap();
    let r =
        desk.send_json(Method::POST, &path, r#"{"published": true}"#, &[("if-match", &format!("\"{version}\""))]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rec = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json()[0].clone();
    let description = rec["description"].as_str().unwrap();
    assert!(!description.contains("王鹏飞") && description.contains("王**反映"), "{description}");

    let worded = "1单元到4单元全部停水，预计12-15日恢复，咨询0352-5123456";
    let body = serde_json::json!({ "public_text": worded }).to_string();
    let r = desk.send_json(Method::POST, &path, &body, &[("if-match", "*")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rec = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json()[0].clone();
    assert_eq!(rec["description"], "1单元到4单元全部停水，预计12-15日恢复，咨询************");
}

/// What an attacker typed to slip data past the redaction (full-width digits, spaced and
/// Chinese numerals, control characters (refused), a handle, a name in the address) stays off every
/// public view of a request posted through Open311; a resident's multi-line report is taken.
#[tokio::test]
async fn disguised_personal_data_posted_through_open311_stays_off_the_public_views() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let key = crate::open311::api_key(&app).await;
    let hidden = anon
        .post_form(
            "/open311/v2/requests.json",
            &[
                ("api_key", &key),
                ("service_code", "street_light"),
                ("address_string", "振华南街"),
                ("description", "电话138\u{1}1234\u{1}1234"),
            ],
        )
        .await;
    assert_eq!(hidden.status, StatusCode::BAD_REQUEST, "control characters are refused: {}", hidden.body);
    assert!(hidden.body.contains("控制字符"), "{}", hidden.body);
    let r = anon
        .post_form(
            "/open311/v2/requests.json",
            &[
                ("api_key", &key),
                ("service_code", "street_light"),
                ("address_string", "御河九号小区3号楼王小芳家2单元五零一室"),
                ("first_name", "小芳"),
                ("last_name", "王"),
                (
                    "description",
                    "路灯不亮\n我是王小芳，电话１３８１２３４１２３４或一三八 一二三四 一二三四，微信号 wangxf1980，王　小 芳",
                ),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let number = r.json()[0]["service_request_id"].as_str().unwrap().to_string();
    for (path, r) in public_views(&anon, &number).await {
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_clean(&path, &r.body);
        for s in ["１３８１２３４", "一三八", "wangxf1980", "五零一", "小芳"] {
            assert!(!r.body.contains(s), "{path} shows {s:?}: {}", r.body);
        }
    }
    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json();
    assert_eq!(one[0]["address"], "平城区 御河九号小区3号楼王**家", "{one}");
    assert!(one[0]["description"].as_str().unwrap().starts_with("路灯不亮\n"), "{one}");

    let r = anon
        .post_form(
            "/report",
            &[
                ("category", "street_light"),
                ("description", "路灯不亮。\r\n晚上八点以后整条路都是黑的。"),
                ("address", "御河九号小区3号楼"),
                ("reporter_name", "王小芳"),
                ("phone", "13812341234"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "a report of two lines is taken: {}", r.body);
    let stored: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT description FROM requests WHERE channel = 'web'")
            .fetch_one(c)
            .await)
        .unwrap();
    assert!(stored.0.contains("\n晚上八点"), "{:?}", stored.0);
}

/// Anonymising a person (a deletion request) takes their name out of the requests linked to
/// them, and their phone and name as reporter: the public wording was redacted with the linked
/// name, which is no longer known afterwards, so the name must not survive in the text.
#[tokio::test]
async fn an_anonymised_residents_name_leaves_the_requests_linked_to_them() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let desk = app.login("zhenhua.mgr").await;
    let place = app.place_id("永宁社区").await;
    let body =
        serde_json::json!({"name": "王鹏飞", "birth_date": "1950-03-04", "place_id": place, "phone": "13700001234"});
    let r = desk.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let person = r.json()["id"].as_str().unwrap().to_string();
    let intake = serde_json::json!({
        "category": "heating",
        "description": "王鹏飞反映家中暖气不热，王　鹏飞的老伴也说冷",
        "place_id": place,
        "person_id": person,
        "reporter_name": "王 鹏飞",
        "phone": "13700001234",
    });
    let r = desk.send_json(Method::POST, "/api/v1/requests", &intake.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let created = r.json();
    let (id, number) = (created["id"].as_str().unwrap().to_string(), created["number"].as_str().unwrap().to_string());
    let path = format!("/api/v1/requests/{id}/publication");
    let r = desk.send_json(Method::POST, &path, r#"{"published": true}"#, &[("if-match", "*")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = desk
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{person}/anonymise"),
            r#"{"reason": "本人申请删除个人信息"}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    for (path, r) in public_views(&anon, &number).await {
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(!r.body.contains("鹏飞"), "{path} shows the anonymised name: {}", r.body);
    }
    let inside = desk.get(&format!("/api/v1/requests/{id}")).await;
    assert_eq!(inside.status, StatusCode::OK, "{}", inside.body);
    for s in ["鹏飞", "13700001234", "1234"] {
        assert!(!inside.body.contains(s), "staff still read {s:?}: {}", inside.body);
    }
    let page = desk.get(&format!("/requests/{id}")).await;
    assert!(!page.body.contains("鹏飞") && page.body.contains("(已匿名)反映家中暖气不热"), "{}", page.body);
}

/// The public choice on dispatch and callback notes: ticked, the note reaches the resident,
/// redacted (through the API for the dispatch, the page form for the callback).
#[tokio::test]
async fn a_dispatch_or_callback_note_its_writer_makes_public_reaches_the_resident_redacted() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let key = crate::open311::api_key(&app).await;
    let fields = [("api_key", key.as_str()), ("service_code", "sewer_blocked"), ("address_string", "宏安小区2号楼")];
    let r = anon.post_form("/open311/v2/requests.json", &fields).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let number = r.json()[0]["service_request_id"].as_str().unwrap().to_string();
    let (id, version) = request_row(&app, &number).await;
    let (org,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM organisations WHERE name = '大同市政排污所'")
            .fetch_one(c)
            .await)
        .unwrap();
    let desk = app.login("bureau").await;
    let body = serde_json::json!({
        "version": version, "units": [format!("org:{org}")],
        "note": "已派排污所，联系电话13812341234", "note_public": true,
    });
    let r = desk.send_json(Method::POST, &format!("/api/v1/requests/{id}/dispatch"), &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json()[0].clone();
    assert_eq!(one["status_notes"], "派单 · 大同市政排污所：已派排污所，联系电话***********", "{one}");

    let unit = app.login("paiwu").await;
    for step in [[("action", "sign"), ("note", "")], [("action", "resolve"), ("note", "已疏通")]] {
        let p: (uuid::Uuid, i64) =
            linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id, version FROM request_parts WHERE request_id = $1")
                .bind(id)
                .fetch_one(c)
                .await)
            .unwrap();
        let v = p.1.to_string();
        let mut fields = vec![("version", v.as_str())];
        fields.extend_from_slice(&step);
        let r = unit.post_form(&format!("/request-parts/{}", p.0), &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{step:?}: {}", r.body);
    }
    let version = request_row(&app, &number).await.1.to_string();
    let r = desk
        .post_form(
            &format!("/requests/{id}/callback"),
            &[
                ("version", &version),
                ("satisfaction", "satisfied"),
                ("note", "回访满意，居民王小芳说谢谢"),
                ("note_public", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let one = anon.get(&format!("/open311/v2/requests/{number}.json")).await.json()[0].clone();
    assert_eq!(one["status"], "closed");
    let notes = one["status_notes"].as_str().unwrap();
    assert!(notes.starts_with("回访 · 满意：回访满意") && !notes.contains("王小芳"), "{one}");
    let updates = anon.get("/open311/v2/servicerequestupdates.json").await;
    assert!(updates.body.contains("已派排污所") && !updates.body.contains("13812341234"), "{}", updates.body);
}

/// Before filing, a resident at a point sees the open published reports near it, in their
/// public form only (an unpublished staff intake and a far one are not there); looking writes
/// nothing. Then the report goes in with a photo, which staff see and the public does not.
#[tokio::test]
async fn a_resident_sees_open_reports_nearby_and_files_with_a_photo() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let key = crate::open311::api_key(&app).await;
    let (lat, lon) = crate::open311::near_grid("和阳社区/第一网格");
    let fields = [
        ("api_key", key.as_str()),
        ("service_code", "sewer_blocked"),
        ("lat", lat.as_str()),
        ("long", lon.as_str()),
        ("description", "我是王小芳，电话13812341234，路口井盖缺失"),
    ];
    let r = anon.post_form("/open311/v2/requests.json", &fields).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let near_number = r.json()[0]["service_request_id"].as_str().unwrap().to_string();
    // A staff intake at the same point stays internal; a report 2 km away is not near.
    let desk = app.login("bureau").await;
    let body =
        serde_json::json!({"category": "sewer_blocked", "description": "李建国家下水堵塞", "lat": lat, "lon": lon});
    let r = desk.send_json(Method::POST, "/api/v1/requests", &body.to_string(), &[]).await;
    assert!(r.status.is_success(), "{}", r.body);
    let (far_lat, far_lon) = crate::open311::near_grid("永宁社区/第一网格");
    let far = [("api_key", key.as_str()), ("service_code", "street_light"), ("lat", &far_lat), ("long", &far_lon)];
    let r = anon.post_form("/open311/v2/requests.json", &far).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let far_number = r.json()[0]["service_request_id"].as_str().unwrap().to_string();

    let before = app.count("SELECT COUNT(*) FROM requests").await;
    let page = anon.get(&format!("/report?lat={lat}&lon={lon}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let nearby = page.between("id=\"nearby\"", "</section>").expect("the nearby list");
    assert!(nearby.contains(&near_number) && nearby.contains("井盖缺失"), "{nearby}");
    assert!(!nearby.contains(&far_number), "{nearby}");
    assert_eq!(nearby.matches("class=\"nearby-report\"").count(), 1, "{nearby}");
    assert_clean("/report nearby", &page.body);
    // Without script: the page's own button, with everything typed kept and nothing written.
    let look = [
        ("category", "sewer_blocked"),
        ("description", "井盖没了，晚上危险"),
        ("lat", lat.as_str()),
        ("lon", lon.as_str()),
        ("look", "1"),
    ];
    let r = anon.post_form("/report", &look).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains(&near_number) && r.body.contains("井盖没了，晚上危险"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, before);
    assert_eq!(app.count("SELECT COUNT(*) FROM rate_limits WHERE bucket LIKE 'report:%'").await, 0);
    // Nothing near a point without reports; no list without a point.
    assert!(anon.get("/report?lat=40.0&lon=113.09").await.body.contains("id=\"nearby-none\""));
    assert!(!anon.get("/report").await.body.contains("class=\"nearby-report\""));

    // Filed with a photo: the tracking page; the photo is the request's, for staff only.
    let mut report: Vec<(&str, &str)> = look[..4].to_vec();
    report.push(("phone", "13900001111"));
    let photo = linli::files::samples::jpeg_with_gps(200, 150);
    let bad = anon.post_multipart("/report", &report, &[("photos", "a.jpg", b"<html></html>")]).await;
    assert_eq!(bad.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", bad.body);
    assert!(bad.body.contains("井盖没了，晚上危险"), "typed text kept");
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, before);
    let r = anon.post_multipart("/report", &report, &[("photos", "well.jpg", &photo)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with("/track/"));
    let number = newest_number(&app).await;
    let (id, _) = request_row(&app, &number).await;
    let files: Vec<(uuid::Uuid,)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id FROM files WHERE owner_kind = 'request' AND owner_id = $1"
    )
    .bind(id)
    .fetch_all(c)
    .await)
    .unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(desk.get(&format!("/files/{}", files[0].0)).await.status, StatusCode::OK);
    assert_ne!(anon.get(&format!("/files/{}", files[0].0)).await.status, StatusCode::OK);
    let (place,): (String,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT p.name FROM requests r JOIN places p ON p.id = r.place_id WHERE r.id = $1"
    )
    .bind(id)
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(place, "第一网格", "the point placed it");
}

/// The nearby list measures from a report's published point (about ten metres), never the
/// stored one: looking from the exact spot a resident reported from reads the same as from
/// anywhere within the published square, so moving one's own point cannot find it.
#[tokio::test]
async fn the_nearby_list_measures_from_the_published_point_not_the_exact_one() {
    let app = TestApp::new().await;
    let anon = app.anon();
    let key = crate::open311::api_key(&app).await;
    let (lat, lon) = crate::open311::near_grid("和阳社区/第一网格");
    let (lat, lon): (f64, f64) = (lat.parse().unwrap(), lon.parse().unwrap());
    // A point 3.4 m north and 3.8 m east of a published one (4 decimals).
    let (plat, plon) = ((lat * 1e4).round() / 1e4, (lon * 1e4).round() / 1e4);
    let (exact_lat, exact_lon) = (format!("{:.7}", plat + 0.0000306), format!("{:.7}", plon + 0.0000447));
    let fields = [
        ("api_key", key.as_str()),
        ("service_code", "sewer_blocked"),
        ("lat", exact_lat.as_str()),
        ("long", exact_lon.as_str()),
        ("description", "路口井盖缺失"),
    ];
    let r = anon.post_form("/open311/v2/requests.json", &fields).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let distance = |page: &crate::harness::Resp| {
        let nearby = page.between("id=\"nearby\"", "</section>").expect("the nearby list");
        let at = nearby.find("约 ").expect("a distance");
        nearby[at..at + nearby[at..].find(" 米").unwrap() + 4].to_string()
    };
    let from_exact = anon.get(&format!("/report?lat={exact_lat}&lon={exact_lon}")).await;
    let from_published = anon.get(&format!("/report?lat={plat:.4}&lon={plon:.4}")).await;
    assert_eq!(distance(&from_published), "约 0 米");
    assert_eq!(distance(&from_exact), "约 10 米", "the exact spot is not where the list reads 0");
}
