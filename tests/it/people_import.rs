//! Bulk work on people: import from CSV (GBK) and xlsx with a preview of every bad row, one
//! transaction for the good ones, nothing new on a re-import; roster and ledger exports.

use axum::http::{Method, StatusCode};

use crate::harness::{Client, Resp, TestApp};

pub(crate) async fn upload(c: &Client<'_>, name: &str, bytes: &[u8]) -> Resp {
    let boundary = "linliBoundaryPeople42";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    c.raw(Method::POST, &format!("/people/import?_csrf={}", c.csrf), &[("content-type", &ct)], body).await
}

pub(crate) fn id_number(birth: &str, seq: &str) -> String {
    let first17 = format!("140202{birth}{seq}");
    format!("{first17}{}", linli::people::identity::check_char(&first17))
}

#[tokio::test]
async fn a_gbk_csv_with_bad_rows_is_listed_row_by_row_and_nothing_is_written() {
    let app = TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    let good = id_number("19440808", "022");
    let csv = format!(
        "姓名,身份证号,性别,出生日期,联系电话,社区,小区,楼栋,单元,室,与户主关系,户号,人群标签\n\
         王芳,{good},女,,13800001111,民和社区,,3,1,201,户主,A1,独居\n\
         李四,1.40202E+17,男,,,民和社区,,,,,,,\n\
         赵五,,男,2099-01-01,,民和社区,,,,,,,\n\
         钱六,,男,1980-01-01,,不存在社区,,,,,,,\n\
         孙七,,女,1970-02-02,,民和社区,,,,,,,留守儿童\n\
         ,,,,,,,,,,,,\n\
         周八,,男,1960-03-03,12345,民和社区,,,,,,,\n"
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&csv);
    let r = upload(&c, "名册.csv", &gbk).await;
    // 王芳's row is good: the preview offers to import it (tests/it/imports_partial.rs).
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (row, reason) in
        [(3, "被 Excel 存成了数字"), (4, "不能晚于今天"), (5, "找不到该社区"), (6, "儿童类标签"), (8, "电话号码格式")]
    {
        assert!(r.body.contains(&format!(">{row}</td>")), "row {row} listed: {}", r.body);
        assert!(r.body.contains(reason), "reason {reason}");
    }
    assert!(r.body.contains("导入无误的行 (1)"), "the good row waits for a commit: {}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 0);
}

#[tokio::test]
async fn a_clean_xlsx_lands_in_one_go_households_and_tags_included_and_again_adds_nothing() {
    let app = TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    for (i, h) in
        ["姓名", "身份证号", "出生日期", "社区", "楼栋", "室", "与户主关系", "户号", "人群标签"].iter().enumerate()
    {
        ws.write_string(0, i as u16, *h).unwrap();
    }
    let rows = [
        ["王芳", &id_number("19440808", "022"), "", "民和社区", "3", "201", "户主", "A1", "独居、低保"],
        ["王小明", "", "2016-05-01", "开源街道/民和社区", "3", "201", "孙子女", "A1", ""],
        ["刘强", "", "1975-07-07", "民和社区/第一网格", "", "", "", "", ""],
    ];
    for (r, row) in rows.iter().enumerate() {
        // Row 2 is left empty, as spreadsheets often have.
        let line = if r == 0 { 1 } else { r as u32 + 2 };
        for (i, v) in row.iter().enumerate() {
            if i == 4 && !v.is_empty() {
                ws.write_number(line, i as u16, v.parse::<f64>().unwrap()).unwrap();
            } else {
                ws.write_string(line, i as u16, *v).unwrap();
            }
        }
    }
    let bytes = book.save_to_buffer().unwrap();
    let r = upload(&c, "roster.xlsx", &bytes).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let batch = r.between("name=\"batch\" value=\"", "\"").expect("commit offered");
    let done = c.post_form("/people/import/commit", &[("batch", &batch)]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("已导入 3 人"), "{}", done.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 3);
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT household_id) FROM persons").await,
        2,
        "王芳 and her grandson share a household"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM person_tags").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.import'").await, 1);
    // The batch is used up: committing it again shows how it ended and adds nobody.
    let twice = c.post_form("/people/import/commit", &[("batch", &batch)]).await;
    assert_eq!(twice.status, StatusCode::SEE_OTHER);
    assert!(c.get(&twice.location()).await.body.contains("已导入 3 人"));
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 3);
    // The same file again: everyone is already registered.
    let again = upload(&c, "roster.xlsx", &bytes).await;
    assert!(again.body.contains("没有需要新增的人员"), "{}", again.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 3);
    // Another station's worker cannot put people into 开源's communities.
    let other = app.login("leizeyu").await;
    let r = upload(&other, "roster.xlsx", &bytes).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

fn sheet_text(bytes: &[u8]) -> String {
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    range.rows().map(|r| r.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("|")).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn rosters_and_ledgers_export_masked_without_children_and_audited() {
    let app = TestApp::new().await;
    let c = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    let id = id_number("19500101", "011");
    let body = serde_json::json!({"name": "张大爷", "id_number": id, "place_id": yongning});
    let p = c.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await.json();
    let child = serde_json::json!({"name": "张小宝", "birth_date": "2020-01-01", "place_id": yongning});
    assert_eq!(c.send_json(Method::POST, "/api/v1/people", &child.to_string(), &[]).await.status, StatusCode::CREATED);
    let bytes = export_bytes(&app, &c, "/people/export.xlsx").await;
    let text = sheet_text(&bytes);
    assert!(text.contains("张大爷") && text.contains("********"), "{text}");
    assert!(!text.contains(&id), "numbers stay masked");
    assert!(!text.contains("张小宝"), "children are left out of bulk exports");
    assert_eq!(c.get("/people/export.xlsx?tag=left_behind_child").await.status, StatusCode::CONFLICT);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.export'").await, 1);

    let pid = p["id"].as_str().unwrap();
    let case =
        serde_json::json!({"person_id": pid, "domain": "elderly_care", "source": "visit", "summary": "高龄独居"});
    let case = c.send_json(Method::POST, "/api/v1/cases", &case.to_string(), &[]).await.json();
    let cid = case["id"].as_str().unwrap();
    for (kind, notes) in [("home_visit", "入户走访，身体尚可"), ("counselling", "谈及丧偶之痛")] {
        let rec = serde_json::json!({"kind": kind, "minutes": 40, "notes": notes});
        assert_eq!(
            c.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec.to_string(), &[]).await.status,
            StatusCode::CREATED
        );
    }
    let ledger = sheet_text(&export_bytes(&app, &c, "/cases/ledger.xlsx").await);
    assert!(ledger.contains("入户走访，身体尚可") && ledger.contains(case["number"].as_str().unwrap()), "{ledger}");
    assert!(!ledger.contains("丧偶之痛"), "counselling notes stay out of the ledger");
    assert_eq!(
        c.get("/cases/ledger.xlsx?from=2026-12-01&to=2026-01-01").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn export_bytes(app: &TestApp, c: &Client<'_>, path: &str) -> Vec<u8> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .uri(path)
        .header("cookie", format!("linli_sid={}", c.cookie.clone().unwrap()))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cd = res.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(cd.contains("filename*=UTF-8''"), "{cd}");
    res.into_body().collect().await.unwrap().to_bytes().to_vec()
}

#[tokio::test]
async fn a_roster_over_the_limit_needs_a_station_manager() {
    let mut app = TestApp::new().await;
    let mut cfg = (*app.st.cfg).clone();
    cfg.export_max_people = 1;
    app.st.cfg = std::sync::Arc::new(cfg);
    app.router = linli::app::router(app.st.clone());
    let worker = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    for name in ["甲", "乙"] {
        let body = serde_json::json!({"name": format!("张{name}"), "birth_date": "1960-01-01", "place_id": yongning});
        assert_eq!(
            worker.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await.status,
            StatusCode::CREATED
        );
    }
    let r = worker.get("/people/export.xlsx").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("站长审批") && r.body.contains("export-ask"), "{}", r.body);
    // The worker asks, with the purpose; a manager of the station decides; the worker downloads once.
    let ask = worker.post_form("/people/export-requests", &[("place_id", ""), ("tag", ""), ("reason", "")]).await;
    assert_eq!(ask.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ask = worker
        .post_form("/people/export-requests", &[("place_id", ""), ("tag", ""), ("reason", "重阳节慰问名单")])
        .await;
    assert_eq!(ask.status, StatusCode::SEE_OTHER, "{}", ask.body);
    let mine = worker.get("/people/export-requests").await;
    assert!(mine.body.contains("data-status=\"pending\"") && !mine.body.contains("/download"), "{}", mine.body);
    let rid = app.count("SELECT COUNT(*) FROM export_requests WHERE status = 'pending'").await;
    assert_eq!(rid, 1);
    let (rid,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM export_requests").fetch_one(c).await).unwrap();
    let decision = format!("/people/export-requests/{rid}/decision");
    assert_eq!(worker.post_form(&decision, &[("decision", "approve")]).await.status, StatusCode::FORBIDDEN);
    let elsewhere = app.login("kaiyuan.mgr").await;
    assert!(!elsewhere.get("/people/export-requests").await.body.contains("重阳节慰问名单"));
    assert_eq!(elsewhere.post_form(&decision, &[("decision", "approve")]).await.status, StatusCode::NOT_FOUND);
    let manager = app.login("zhenhua.mgr").await;
    assert!(manager.get("/people/export-requests").await.body.contains("重阳节慰问名单"));
    assert_eq!(manager.post_form(&decision, &[("decision", "approve")]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(manager.post_form(&decision, &[("decision", "refuse")]).await.status, StatusCode::CONFLICT);
    let download = format!("/people/export-requests/{rid}/download");
    assert_eq!(manager.get(&download).await.status, StatusCode::NOT_FOUND, "only the one who asked");
    let text = sheet_text(&export_bytes(&app, &worker, &download).await);
    assert!(text.contains("张甲") && text.contains("张乙"), "{text}");
    assert_eq!(worker.get(&download).await.status, StatusCode::CONFLICT, "once");
    for action in ["export.request", "export.approve"] {
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'")).await, 1);
    }
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = 'person.export' AND detail LIKE '%{rid}%'"))
            .await,
        1
    );
    let text = sheet_text(&export_bytes(&app, &manager, "/people/export.xlsx").await);
    assert!(text.contains("张甲") && text.contains("张乙"));
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'person.export' AND detail LIKE '%\"over_limit\":true%'"
        )
        .await,
        2,
        "the worker's approved roster and the manager's own"
    );
}

/// Everything an import batch row holds as text.
async fn batch_text(app: &TestApp) -> String {
    let rows: Vec<(String,)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT file_name || '|' || rows || '|' || status || '|' || COALESCE(error, '') FROM import_batches"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
}

/// A batch as a claim by `owner` leaves it, its lease running to `lease_until`.
async fn set_running(app: &TestApp, batch: &str, owner: &str, lease_until: chrono::DateTime<chrono::Utc>) {
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query(
        "UPDATE import_batches SET status = 'running', started_at = $1, owner = $2, lease_until = $3 WHERE id = $4"
    )
    .bind(chrono::Utc::now())
    .bind(owner)
    .bind(lease_until)
    .bind(uuid::Uuid::parse_str(batch).unwrap())
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
}

const SESSION_MAX: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

#[tokio::test]
async fn a_preview_keeps_no_name_id_or_phone_in_clear_and_a_committed_batch_goes() {
    let app = TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    let id = id_number("19440808", "022");
    let csv = format!("姓名,身份证号,联系电话,社区\n王芳,{id},13800001111,民和社区\n");
    let r = upload(&c, "roster.csv", csv.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let batch = r.between("name=\"batch\" value=\"", "\"").expect("commit offered");
    let stored = batch_text(&app).await;
    for secret in [id.as_str(), "13800001111", "王芳"] {
        assert!(!stored.contains(secret), "{secret} in the waiting batch: {stored}");
    }
    let done = c.post_form("/people/import/commit", &[("batch", &batch)]).await;
    assert!(done.body.contains("已导入 1 人"), "{}", done.body);
    let (rows,): (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT rows FROM import_batches").fetch_one(c).await).unwrap();
    assert_eq!(rows, "", "the rows go with the commit");
    let later = chrono::Utc::now() + chrono::Duration::minutes(61);
    linli::ops::sweep(&app.st.db, SESSION_MAX, later).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM import_batches").await, 0, "and the batch within the hour");
}

#[tokio::test]
async fn a_preview_nobody_commits_is_deleted_within_the_hour() {
    let app = TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    let r = upload(&c, "名册.csv", "姓名,出生日期,社区\n王芳,1944-08-08,民和社区\n".as_bytes()).await;
    let batch = r.between("name=\"batch\" value=\"", "\"").expect("commit offered");
    let now = chrono::Utc::now();
    linli::ops::sweep(&app.st.db, SESSION_MAX, now + chrono::Duration::minutes(30)).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM import_batches").await, 1, "half an hour to decide");
    linli::ops::sweep(&app.st.db, SESSION_MAX, now + chrono::Duration::minutes(61)).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM import_batches").await, 0);
    let late = c.post_form("/people/import/commit", &[("batch", &batch)]).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert!(late.body.contains("请重新上传"), "{}", late.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 0);
}

#[tokio::test]
async fn a_running_import_whose_instance_died_is_marked_interrupted_and_a_live_one_is_left_alone() {
    let app = TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    let file = "姓名,出生日期,社区\n王芳,1944-08-08,民和社区\n".as_bytes();
    let mut batches = Vec::new();
    for name in ["dead", "live", "mine"] {
        batches.push(upload(&c, &format!("{name}.csv"), file).await.between("name=\"batch\" value=\"", "\"").unwrap());
    }
    let [dead, live, mine] = [&batches[0], &batches[1], &batches[2]];
    let now = chrono::Utc::now();
    let lease = chrono::Duration::seconds(linli::people::import::LEASE_SECS);
    // Claimed by an instance that died at once, by one still renewing its lease, and by the
    // instance under this one's name, which stopped a moment ago (its lease still runs).
    let me = linli::ops::instance_name(&app.st.cfg.listen);
    set_running(&app, dead, "gone-host@10.0.0.9:8080", now + lease).await;
    set_running(&app, live, "other-host@10.0.0.2:8080", now + chrono::Duration::minutes(10)).await;
    set_running(&app, mine, &me, now + chrono::Duration::minutes(10)).await;
    let status = |id: &str| {
        let (c, url) = (&c, format!("/people/import/{id}"));
        async move { c.get(&url).await.body }
    };
    let interrupted = |page: &str| page.contains("data-status=\"failed\"") && page.contains("导入被中断");
    // The janitor, three minutes on: the dead instance's lease ran out, the others' did not.
    linli::ops::sweep(&app.st.db, SESSION_MAX, now + chrono::Duration::minutes(3)).await.unwrap();
    let page = status(dead).await;
    assert!(interrupted(&page), "{page}");
    assert!(!page.contains("http-equiv=\"refresh\""), "it no longer reloads itself");
    assert!(status(live).await.contains("data-status=\"running\""));
    assert!(status(mine).await.contains("data-status=\"running\""));
    // Starting again marks the predecessor's batch at once. On PostgreSQL another instance's
    // lease still runs; on SQLite no other instance can exist.
    linli::people::import::recover_at_start(&app.st.db, &me, now).await.unwrap();
    assert!(interrupted(&status(mine).await));
    let sqlite = app.st.db.backend() == linli::db::Backend::Sqlite;
    assert_eq!(interrupted(&status(live).await), sqlite);
    // A marked batch holds no rows and is not run again.
    let (rows,): (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT rows FROM import_batches WHERE id = $1")
            .bind(uuid::Uuid::parse_str(dead).unwrap())
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!(rows, "");
    let again = c.post_form("/people/import/commit", &[("batch", dead.as_str())]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 0);
}

/// One person, one record needs "this ID number is already registered" even when the record is
/// another station's; but each such answer says someone is on a register the caller may not
/// read. Every lookup that finds one is audited (create, update, import preview), and an
/// account gets only so many an hour before the answer is 429.
#[tokio::test]
async fn id_numbers_registered_outside_the_scope_are_audited_and_an_account_gets_only_so_many() {
    let app = TestApp::new().await;
    let zhenhua = app.login("wenbichen").await;
    let kaiyuan = app.login("zhengjiangbo").await;
    let theirs = id_number("19500101", "031");
    let body = serde_json::json!({"name": "赵一", "id_number": theirs, "place_id": app.place_id("永宁社区").await});
    let r = zhenhua.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let audited = || app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.registered_elsewhere'");

    let minhe = app.place_id("民和社区").await;
    let body = serde_json::json!({"name": "某人", "id_number": theirs, "place_id": minhe}).to_string();
    let r = kaiyuan.send_json(Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(!r.body.contains("赵一"), "nothing about whom: {}", r.body);
    assert_eq!(audited().await, 1);

    let csv = format!("姓名,身份证号,社区\n某人,{theirs},民和社区\n");
    let r = upload(&kaiyuan, "名册.csv", csv.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(audited().await, 2, "the preview's match is audited");
    let (detail,): (String,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT CAST(detail AS TEXT) FROM audit_log WHERE action = 'person.registered_elsewhere' ORDER BY seq DESC LIMIT 1"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert!(detail.contains("\"import\"") && detail.contains("\"matches\":1"), "{detail}");

    // Its own station's numbers are not counted: a record in scope is the caller's to find.
    let own = id_number("19500101", "047");
    let body = serde_json::json!({"name": "钱二", "id_number": own, "place_id": minhe}).to_string();
    let created = kaiyuan.send_json(Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(kaiyuan.send_json(Method::POST, "/api/v1/people", &body, &[]).await.status, StatusCode::CONFLICT);
    assert_eq!(audited().await, 2);

    // Changing one's own record to the other station's number says it is taken: audited too.
    let qian = created.json()["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"name": "钱二", "id_number": theirs, "place_id": minhe, "version": 1}).to_string();
    let r = kaiyuan.send_json(Method::PUT, &format!("/api/v1/people/{qian}"), &body, &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("id_number"), "{}", r.body);
    assert_eq!(audited().await, 3);

    let body = serde_json::json!({"name": "某人", "id_number": theirs, "place_id": minhe}).to_string();
    let mut statuses = Vec::new();
    for _ in 0..linli::people::store::ELSEWHERE_PER_HOUR {
        statuses.push(kaiyuan.send_json(Method::POST, "/api/v1/people", &body, &[]).await.status);
    }
    let limit = linli::people::store::ELSEWHERE_PER_HOUR as usize;
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), limit - 3, "{statuses:?}");
    let last = kaiyuan.send_json(Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{}", last.body);
    assert!(last.headers.get("retry-after").is_some());
    assert!(!last.body.contains("id_registered"), "past the allowance nothing is revealed: {}", last.body);
    assert_eq!(audited().await, limit as i64);
    // Another account is counted on its own.
    let dachi = app.place_id("大齿社区").await;
    let body = serde_json::json!({"name": "某人", "id_number": theirs, "place_id": dachi}).to_string();
    let lei = app.login("leizeyu").await;
    let r = lei.send_json(Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // A file is counted by its matches, not as one lookup: one preview cannot test a whole
    // list of numbers against the city's register.
    let mut csv = String::from("姓名,身份证号,社区\n");
    for i in 0..limit {
        let n = id_number("19500101", &format!("{:03}", 100 + i));
        let body =
            serde_json::json!({"name": format!("某{i}"), "id_number": n, "place_id": app.place_id("永宁社区").await});
        let r = zhenhua.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        csv.push_str(&format!("某人{i},{n},大齿社区\n"));
    }
    let r = upload(&lei, "名册.csv", csv.as_bytes()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
}
