//! Case work, continued: large imports run as a job with progress and a larger upload limit,
//! the import command, household changes on the timeline, revoking a child-record grant,
//! reassigning a case within the station, the bureau reading a counselling note with a reason,
//! and a transferred client's timeline read at the receiving station.

use axum::http::{Method, StatusCode};

use crate::casework::register;
use crate::harness::TestApp;
use crate::people_import::{id_number, upload};

fn roster_csv(n: usize) -> String {
    let mut csv = String::from("姓名,出生日期,社区,楼栋,室\n");
    for i in 0..n {
        csv.push_str(&format!("居民{i},19{:02}-03-0{},民和社区,{},{}\n", 40 + i % 50, 1 + i % 9, i % 7, 100 + i));
    }
    csv
}

#[tokio::test]
async fn a_large_import_runs_as_a_job_with_a_progress_page_and_a_larger_upload_limit() {
    let mut app = TestApp::new().await;
    let mut cfg = (*app.st.cfg).clone();
    cfg.import_inline_rows = 3;
    cfg.max_body_bytes = 1024;
    app.st.cfg = std::sync::Arc::new(cfg);
    app.router = linli::app::router(app.st.clone());
    let c = app.login("zhengjiangbo").await;
    let csv = roster_csv(120);
    assert!(csv.len() > 1024, "bigger than an ordinary request may be");
    let r = upload(&c, "大名册.csv", csv.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "imports take larger files: {}", r.body);
    assert!(r.body.contains("将新增: 120"), "the summary counts every row, not the 200 listed");
    // Other forms keep the ordinary limit.
    let long = "长".repeat(600);
    let other = c.post_form("/people", &[("name", &long)]).await;
    assert_eq!(other.status, StatusCode::PAYLOAD_TOO_LARGE);

    let batch = r.between("name=\"batch\" value=\"", "\"").expect("commit offered");
    let go = c.post_form("/people/import/commit", &[("batch", &batch)]).await;
    assert_eq!(go.status, StatusCode::SEE_OTHER, "{}", go.body);
    let status_url = go.location();
    assert_eq!(status_url, format!("/people/import/{batch}"));
    let mut last = String::new();
    for _ in 0..200 {
        let s = c.get(&status_url).await;
        assert_eq!(s.status, StatusCode::OK);
        last = s.body;
        if last.contains("data-status=\"done\"") {
            break;
        }
        assert!(last.contains("data-status=\"running\""), "{last}");
        assert!(last.contains("http-equiv=\"refresh\""), "a running import reloads itself");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(last.contains("已导入 120 人"), "{last}");
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 120);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.import'").await, 1);
    // Someone else's batch is nobody else's business.
    assert_eq!(app.login("wenbichen").await.get(&status_url).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn household_changes_show_on_every_members_timeline() {
    let app = TestApp::new().await;
    let c = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    let head =
        register(&c, serde_json::json!({"name": "周建国", "birth_date": "1948-01-01", "place_id": yongning})).await;
    let hid = head["household_id"].as_str().expect("household id").to_string();
    let body = serde_json::json!({"name": "李秀英", "birth_date": "1950-05-05", "place_id": yongning, "household_id": hid, "relation": "spouse"});
    let wife = register(&c, body).await;
    let wid = wife["id"].as_str().unwrap();
    let hpid = head["id"].as_str().unwrap();
    let page = c.get(&format!("/people/{hpid}")).await;
    assert!(page.body.contains("家庭成员加入") && page.body.contains("李秀英"), "{}", page.body);
    // She is now recorded as the head's parent by mistake, then moves out to another room.
    let got = c.get(&format!("/api/v1/people/{wid}")).await.json();
    let etag = format!("\"{}\"", got["version"]);
    let w = serde_json::json!({"name": "李秀英", "place_id": yongning, "relation": "parent", "room": "302", "version": got["version"]});
    let put = c.send_json(Method::PUT, &format!("/api/v1/people/{wid}"), &w.to_string(), &[("if-match", &etag)]).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let tl = c.get(&format!("/api/v1/people/{hpid}/timeline")).await.json();
    let kinds: Vec<&str> = tl.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["household.joined", "household.relation", "household.moved"] {
        assert!(kinds.contains(&k), "{k} on the head's timeline: {kinds:?}");
    }
    let moved = tl.as_array().unwrap().iter().find(|e| e["kind"] == "household.moved").unwrap();
    assert!(moved["detail"].as_str().unwrap().contains("302"), "{moved}");
    // Another station sees none of it.
    let other = app.login("leizeyu").await;
    assert_eq!(other.get(&format!("/api/v1/people/{hpid}/timeline")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_grant_to_open_a_childs_record_can_be_revoked_at_once() {
    let app = TestApp::new().await;
    let worker = app.login("zhengjiangbo").await;
    let birth = (linli::people::store::today() - chrono::Duration::days(365 * 8)).to_string();
    let p = register(
        &worker,
        serde_json::json!({"name": "小红", "birth_date": birth, "place_id": app.place_id("民和社区").await}),
    )
    .await;
    let pid = p["id"].as_str().unwrap();
    let manager = app.login("kaiyuan.mgr").await;
    let g = manager
        .post_form(
            &format!("/people/{pid}/grants"),
            &[("account", "zhengjiangbo"), ("days", "3"), ("reason", "核实情况")],
        )
        .await;
    assert_eq!(g.status, StatusCode::SEE_OTHER, "{}", g.body);
    assert_eq!(worker.get(&format!("/people/{pid}")).await.status, StatusCode::OK);
    let page = manager.get(&format!("/people/{pid}")).await;
    let action = page.between("action=\"/child-grants/", "/revoke\"").expect("the manager sees the grant");
    // Not the worker's to revoke.
    assert_eq!(worker.post_form(&format!("/child-grants/{action}/revoke"), &[]).await.status, StatusCode::FORBIDDEN);
    // A manager of another station does not find it.
    let other = app.login("zhenhua.mgr").await;
    assert_eq!(other.post_form(&format!("/child-grants/{action}/revoke"), &[]).await.status, StatusCode::NOT_FOUND);
    let r = manager.post_form(&format!("/child-grants/{action}/revoke"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(worker.get(&format!("/people/{pid}")).await.status, StatusCode::FORBIDDEN, "closed at once");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'child.grant_revoke'").await, 1);
    assert_eq!(manager.post_form(&format!("/child-grants/{action}/revoke"), &[]).await.status, StatusCode::NOT_FOUND);
}

/// 赵大妈's case at 振华, with one home visit and one counselling note.
async fn case_with_notes(app: &TestApp) -> (String, String) {
    let worker = app.login("wenbichen").await;
    let p = register(
        &worker,
        serde_json::json!({"name": "赵大妈", "id_number": id_number("19500202", "024"), "place_id": app.place_id("永宁社区").await}),
    )
    .await;
    let body = serde_json::json!({"person_id": p["id"], "domain": "elderly_care", "source": "visit", "summary": "丧偶后情绪低落"});
    let case = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await.json();
    let cid = case["id"].as_str().unwrap().to_string();
    for (kind, notes) in [("home_visit", "入户走访，饮食正常"), ("counselling", "谈及丧偶之痛，多次落泪")]
    {
        let rec = serde_json::json!({"kind": kind, "minutes": 40, "notes": notes});
        let r = worker.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec.to_string(), &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    (cid, p["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn the_manager_reassigns_a_case_within_the_station_with_a_reason() {
    let app = TestApp::new().await;
    let (cid, _) = case_with_notes(&app).await;
    let manager = app.login("zhenhua.mgr").await;
    let page = manager.get(&format!("/cases/{cid}")).await;
    assert!(page.body.contains("reassign-form"), "{}", page.body);
    let select = page.between("<select name=\"worker_id\"", "</select>").unwrap();
    assert!(!select.contains(" selected"), "no worker is chosen for the manager: {select}");
    let mgr_id = app.user_id("zhenhua.mgr").await.to_string();
    let elsewhere = app.user_id("leizeyu").await.to_string();
    let url = format!("/cases/{cid}/reassign");
    // Only the station's own workers, and a reason.
    let r = manager.post_form(&url, &[("worker_id", &elsewhere), ("reason", "休假")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = manager.post_form(&url, &[("worker_id", &mgr_id), ("reason", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("f-reassign-reason"));
    // A refused form keeps what was chosen and typed.
    let r = manager.post_form(&url, &[("worker_id", ""), ("reason", "温碧晨休产假")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("value=\"温碧晨休产假\""), "the reason typed is kept: {}", r.body);
    let r = manager.post_form(&url, &[("worker_id", &mgr_id), ("reason", "")]).await;
    assert!(r.body.contains(&format!("value=\"{mgr_id}\" selected")), "the worker chosen is kept");
    assert_eq!(
        app.login("wenbichen").await.post_form(&url, &[("worker_id", &mgr_id), ("reason", "休假")]).await.status,
        StatusCode::FORBIDDEN
    );
    let r = manager.post_form(&url, &[("worker_id", &mgr_id), ("reason", "温碧晨休产假")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let case = manager.get(&format!("/api/v1/cases/{cid}")).await.json();
    assert_eq!(case["worker_id"].as_str(), Some(mgr_id.as_str()));
    assert!(case["number"].as_str().unwrap().starts_with("振华-"), "the number stays");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'case.reassign'").await, 1);
}

#[tokio::test]
async fn the_bureau_reads_a_counselling_note_only_with_an_audited_reason() {
    let app = TestApp::new().await;
    let (cid, _) = case_with_notes(&app).await;
    let bureau = app.login("bureau").await;
    let page = bureau.get(&format!("/cases/{cid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("入户走访，饮食正常"));
    assert!(!page.body.contains("多次落泪"), "hidden by default");
    let rid = page.between("action=\"/case-records/", "/reveal\"").expect("the bureau is offered a reveal");
    let url = format!("/case-records/{rid}/reveal");
    let r = bureau.post_form(&url, &[("reason", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!r.body.contains("多次落泪"));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'record.reveal'").await, 0);
    let r = bureau.post_form(&url, &[("reason", "信访核查：家属投诉服务不到位")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("多次落泪"));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'record.reveal'").await, 1);
    // Nobody else reads it this way: a community worker is refused, another station finds nothing.
    assert_eq!(
        app.login("changmin").await.post_form(&url, &[("reason", "想看看内容")]).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn after_a_transfer_the_timeline_is_read_at_the_receiving_station_with_the_reason() {
    let app = TestApp::new().await;
    let (cid, pid) = case_with_notes(&app).await;
    let kaiyuan: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM stations WHERE name = '开源街道社工站'")
            .fetch_one(c)
            .await)
        .unwrap();
    let manager = app.login("zhenhua.mgr").await;
    let r = manager
        .post_form(&format!("/cases/{cid}/transfer"), &[("station_id", &kaiyuan.0.to_string()), ("reason", "迁居")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    crate::casework_transfers::accept(&app, &cid.to_string()).await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let rec = serde_json::json!({"kind": "phone_follow_up", "minutes": 10, "notes": "开源站电话回访"});
    kmgr.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec.to_string(), &[]).await;
    let tl = kmgr.get(&format!("/api/v1/people/{pid}/timeline")).await.json();
    let events: Vec<(&str, &str)> =
        tl.as_array().unwrap().iter().map(|e| (e["kind"].as_str().unwrap(), e["detail"].as_str().unwrap())).collect();
    assert!(events.contains(&("case.transferred", "迁居")), "{events:?}");
    assert!(events.contains(&("record.home_visit", "入户走访，饮食正常")), "what the old station wrote: {events:?}");
    assert!(events.contains(&("record.phone_follow_up", "开源站电话回访")), "{events:?}");
    assert!(events.contains(&("case.opened", "丧偶后情绪低落")), "{events:?}");
    let worker = app.login("wenbichen").await;
    assert_eq!(worker.get(&format!("/api/v1/people/{pid}/timeline")).await.status, StatusCode::NOT_FOUND);
}

/// A case of years of visits: its page shows the newest records a page at a time, the bureau
/// reveals a note on an older page and reads it there, and the person's timeline shows the
/// newest events with a link to every one (the API's timeline has them all).
#[tokio::test]
async fn a_case_of_many_records_pages_them_and_the_timeline_shows_the_newest_with_a_link_to_all() {
    let app = TestApp::new().await;
    let (cid, pid) = case_with_notes(&app).await;
    let worker = app.login("wenbichen").await;
    for i in 1..=118 {
        let rec = serde_json::json!({"kind": "home_visit", "minutes": 30, "notes": format!("走访记录第{i:03}次")});
        let r = worker.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec.to_string(), &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let first = worker.get(&format!("/cases/{cid}")).await;
    assert_eq!(first.status, StatusCode::OK);
    let list = first.between("id=\"record-list\">", "</ol>").expect("the records");
    assert_eq!(list.matches("<li>").count(), 50, "one page of records");
    assert!(list.contains("走访记录第118次") && list.contains("走访记录第069次"), "the newest fifty");
    assert!(!list.contains("走访记录第068次"));
    let pager = first.between("id=\"records-pager\">", "</nav>").expect("a pager under the records");
    assert!(pager.contains("1 / 3") && pager.contains("共 120 条服务记录"), "{pager}");
    assert!(pager.contains(&format!("/cases/{cid}?page=2#records")), "{pager}");
    let last = worker.get(&format!("/cases/{cid}?page=3")).await;
    let list = last.between("id=\"record-list\">", "</ol>").expect("the records");
    assert_eq!(list.matches("<li>").count(), 20);
    assert!(list.contains("走访记录第018次") && list.contains("入户走访，饮食正常") && list.contains("多次落泪"));
    assert!(!list.contains("走访记录第019次"));
    assert_eq!(worker.get(&format!("/cases/{cid}?page=x")).await.status, StatusCode::BAD_REQUEST);
    // Past the end: no records, and the pager leads back to the last page.
    let beyond = worker.get(&format!("/cases/{cid}?page=9")).await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert!(beyond.body.contains(&format!("/cases/{cid}?page=3#records")));

    // The bureau reveals the counselling note, which is on the last page: the answer is that page.
    let bureau = app.login("bureau").await;
    let page3 = bureau.get(&format!("/cases/{cid}?page=3")).await;
    assert!(!page3.body.contains("多次落泪"));
    let rid = page3.between("action=\"/case-records/", "/reveal\"").expect("the bureau is offered a reveal");
    // Without a reason: refused on the page that holds the note, where its form shows the message.
    let r = bureau.post_form(&format!("/case-records/{rid}/reveal"), &[("reason", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.between("id=\"records-pager\">", "</nav>").unwrap().contains("3 / 3"));
    assert!(r.body.contains("class=\"error\" role=\"alert\""), "the message under the note's form");
    let r =
        bureau.post_form(&format!("/case-records/{rid}/reveal"), &[("reason", "信访核查：家属投诉服务不到位")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("多次落泪"), "the revealed note is on the page shown");
    assert!(r.between("id=\"records-pager\">", "</nav>").unwrap().contains("3 / 3"));

    // The timeline: 120 records, the case opened, the person registered.
    let events = |body: &str| {
        body.split("id=\"timeline\">").nth(1).unwrap().split("</ol>").next().unwrap().matches("<li>").count()
    };
    let person = worker.get(&format!("/people/{pid}")).await;
    assert_eq!(person.status, StatusCode::OK);
    assert_eq!(events(&person.body), 100);
    assert!(person.body.contains("走访记录第118次") && !person.body.contains("走访记录第018次"), "the newest");
    assert!(person.body.contains(&format!("/people/{pid}?timeline=all#timeline")));
    let all = worker.get(&format!("/people/{pid}?timeline=all")).await;
    assert_eq!(events(&all.body), 122);
    assert!(!all.body.contains("id=\"timeline-more\""));
    let api = worker.get(&format!("/api/v1/people/{pid}/timeline")).await.json();
    assert_eq!(api.as_array().unwrap().len(), 122);
}
