//! Transfers as the user trial met them: 振华's manager moves a case of a 永宁社区 resident to
//! 开源街道's station, 开源 serves the client and closes the case. The transfer form starts with
//! no station chosen, the sender is told where the case went, the receiving station saves the
//! record of a client living outside its street, and a closed case stops hiding the client from
//! their home station.

use axum::http::{Method, StatusCode};

use crate::casework::register;
use crate::harness::{Client, Resp, TestApp};

async fn kaiyuan_station(app: &TestApp) -> String {
    let (id,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM stations WHERE name = '开源街道社工站'")
            .fetch_one(c)
            .await)
        .unwrap();
    id.to_string()
}

/// 振华's worker opens a case for a registered person; returns the case id.
async fn open_case(worker: &Client<'_>, pid: &str) -> String {
    let body = serde_json::json!({"person_id": pid, "domain": "social_assistance", "source": "walk_in", "summary": "迁居开源街道女儿家"});
    let r = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_string()
}

/// The sending manager's transfer form, as the page posts it: an offer.
async fn transfer(manager: &Client<'_>, cid: &str, station: &str, reason: &str) -> Resp {
    manager.post_form(&format!("/cases/{cid}/transfer"), &[("station_id", station), ("reason", reason)]).await
}

/// The pending offer of a case.
pub(crate) async fn pending_offer(app: &TestApp, cid: &str) -> String {
    let (id,): (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id FROM case_transfer_offers WHERE case_id = $1 AND state = 'pending'"
    )
    .bind(uuid::Uuid::parse_str(cid).unwrap())
    .fetch_one(c)
    .await)
    .unwrap();
    id.to_string()
}

/// 开源's manager accepts the pending offer of a case on the offers page: the case moves.
pub(crate) async fn accept(app: &TestApp, cid: &str) {
    let kmgr = app.login("kaiyuan.mgr").await;
    let offer = pending_offer(app, cid).await;
    let r = kmgr.post_form(&format!("/cases/transfers/{offer}/accept"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), format!("/cases/{cid}"));
}

/// The worker holding the case asks to close it and the manager approves (both 开源's manager).
async fn close(manager: &Client<'_>, cid: &str) {
    let r = manager.post_form(&format!("/cases/{cid}/close"), &[("reason", "已在女儿家安顿，服务目标达成")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = manager.post_form(&format!("/cases/{cid}/close/decision"), &[("decision", "approve")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

/// The value a browser sends for the select `name` on a page: the option marked selected, or
/// the first one.
fn selected(body: &str, name: &str) -> String {
    let start = body.find(&format!("<select name=\"{name}\"")).unwrap_or_else(|| panic!("no select {name}"));
    let select = &body[start..start + body[start..].find("</select>").unwrap()];
    let options: Vec<&str> = select.split("<option ").skip(1).collect();
    let chosen = options.iter().find(|o| o.contains(" selected>")).or(options.first()).expect("options");
    chosen.trim_start_matches("value=\"").split('"').next().unwrap().to_string()
}

/// The value of the input with this `id` on a page.
fn typed(body: &str, id: &str) -> String {
    let at = body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no input #{id}"));
    let input = &body[body[..at].rfind("<input").unwrap()..at + body[at..].find('>').unwrap()];
    input.split("value=\"").nth(1).map(|v| v.split('"').next().unwrap().to_string()).unwrap_or_default()
}

/// Once 开源 closes the case, 王鹏's home station reads, finds and serves him again
/// (a match when registering him names his community, and it opens a new case), while the closed
/// case stays with 开源, which still reads it and its client. A third station sees nothing.
#[tokio::test]
async fn after_the_receiving_station_closes_the_case_the_home_station_serves_the_client_again() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let person = serde_json::json!({"name": "王鹏", "birth_date": "1986-03-02", "place_id": yongning});
    let pid = register(&worker, person).await["id"].as_str().unwrap().to_string();
    let cid = open_case(&worker, &pid).await;
    let r = transfer(&manager, &cid, &kaiyuan_station(&app).await, "随女儿迁居开源街道").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    accept(&app, &cid).await;
    // While 开源 holds the case open, the client is theirs alone.
    assert_eq!(worker.get(&format!("/people/{pid}")).await.status, StatusCode::NOT_FOUND);

    close(&kmgr, &cid).await;

    for c in [&worker, &manager] {
        for path in
            [format!("/people/{pid}"), format!("/api/v1/people/{pid}"), format!("/api/v1/people/{pid}/timeline")]
        {
            assert_eq!(c.get(&path).await.status, StatusCode::OK, "{path} at the home station");
        }
        assert_eq!(c.get("/api/v1/people?q=王鹏").await.json()["total"], 1, "found by name");
        assert!(c.get("/search?q=wangpeng").await.body.contains(&pid), "on the search page");
        assert!(c.get("/api/v1/people?page_size=100").await.body.contains(&pid), "on the list");
        // The case and what was written in it stay with the station that holds it.
        assert_eq!(c.get(&format!("/cases/{cid}")).await.status, StatusCode::NOT_FOUND);
        assert!(!c.get("/api/v1/cases").await.body.contains(&cid));
    }
    // Registering him again finds his record, named, instead of "outside your scope".
    let again = worker
        .post_form("/people", &[("name", "王鹏"), ("birth_date", "1986-03-02"), ("place_id", &yongning.to_string())])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("可能已登记") && again.body.contains("永宁社区"), "{}", again.body);
    assert!(!again.body.contains("不在您的管辖范围"), "{}", again.body);
    // And his home station can take him on again.
    let second = open_case(&worker, &pid).await;
    assert_eq!(worker.get(&format!("/cases/{second}")).await.status, StatusCode::OK);

    // The station that closed the case still reads it, and its client.
    for path in [format!("/cases/{cid}"), format!("/people/{pid}")] {
        assert_eq!(kmgr.get(&path).await.status, StatusCode::OK, "{path} at the closing station");
    }
    let third = app.login("leizeyu").await;
    for path in [format!("/people/{pid}"), format!("/cases/{cid}"), format!("/cases/{second}")] {
        assert_eq!(third.get(&path).await.status, StatusCode::NOT_FOUND, "{path} at a third station");
    }
}

/// The child-record rules hold at both stations once the case is closed: each manager opens the
/// child's record; a worker outside the case team (振华's former case worker, 开源's worker) is
/// refused, and so is 振华's manager while 开源 still holds the case open.
#[tokio::test]
async fn a_childs_record_after_a_closed_transfer_opens_to_each_manager_and_not_to_workers_outside_the_team() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let kworker = app.login("zhengjiangbo").await;
    let birth = (linli::people::store::today() - chrono::Duration::days(365 * 9)).to_string();
    let child = serde_json::json!({"name": "小雨", "birth_date": birth, "place_id": app.place_id("永宁社区").await});
    let pid = register(&worker, child).await["id"].as_str().unwrap().to_string();
    let cid = open_case(&worker, &pid).await;
    assert_eq!(worker.get(&format!("/people/{pid}")).await.status, StatusCode::OK, "the case worker");
    let r = transfer(&manager, &cid, &kaiyuan_station(&app).await, "随母亲迁居").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    accept(&app, &cid).await;
    assert_eq!(manager.get(&format!("/people/{pid}")).await.status, StatusCode::NOT_FOUND, "while open");

    close(&kmgr, &cid).await;

    let person = format!("/people/{pid}");
    for (c, status, who) in [
        (&manager, StatusCode::OK, "振华's manager"),
        (&kmgr, StatusCode::OK, "开源's manager"),
        (&worker, StatusCode::FORBIDDEN, "振华's worker, no longer on the case"),
        (&kworker, StatusCode::FORBIDDEN, "开源's worker, never on the case"),
    ] {
        let r = c.get(&person).await;
        assert_eq!(r.status, status, "{who}");
        if status == StatusCode::FORBIDDEN {
            assert!(!r.body.contains("随母亲迁居"), "nothing of the record for {who}");
        }
    }
    let (n,): (i64,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'child.denied' AND entity_id = $1"
    )
    .bind(&pid)
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(n, 2, "each refusal is recorded");
}

/// The transfer form names no station until one is chosen, and a transfer without one
/// is refused on the station field, keeping the typed reason; the reason's own error shows on
/// the transfer form, not on the closure form beside it.
#[tokio::test]
async fn a_transfer_needs_a_chosen_station_and_a_refused_one_keeps_the_reason() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let pid =
        register(&worker, serde_json::json!({"name": "周大爷", "birth_date": "1950-05-05", "place_id": yongning}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
    let cid = open_case(&worker, &pid).await;

    let page = manager.get(&format!("/cases/{cid}")).await;
    assert_eq!(selected(&page.body, "station_id"), "", "no station is chosen for the manager");
    let stations = page.between("<select name=\"station_id\"", "</select>").unwrap();
    assert!(stations.contains("<option value=\"\">请选择</option>"), "{stations}");

    let r = transfer(&manager, &cid, "", "随女儿迁居开源街道").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let form = r.between("id=\"transfer-form\"", "</form>").unwrap();
    assert!(form.contains("请选择接收的社工站"), "the station field says what is missing: {form}");
    assert_eq!(typed(&r.body, "f-transfer-reason"), "随女儿迁居开源街道", "the typed reason is kept");
    assert_eq!(app.count("SELECT COUNT(*) FROM case_transfer_offers").await, 0);
    assert_eq!(manager.get(&format!("/cases/{cid}")).await.status, StatusCode::OK, "the case stays");

    // A chosen station and no reason: the station stays chosen, the error is the transfer's own.
    let kaiyuan = kaiyuan_station(&app).await;
    let r = transfer(&manager, &cid, &kaiyuan, "").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(selected(&r.body, "station_id"), kaiyuan);
    let close_form = r.between("id=\"close-form\"", "</form>").unwrap();
    assert!(!close_form.contains("has-error"), "the closure form is not the one refused: {close_form}");
    let form = r.between("id=\"transfer-form\"", "</form>").unwrap();
    assert!(form.contains("has-error") && form.contains("必填"), "{form}");
    assert_eq!(app.count("SELECT COUNT(*) FROM case_transfer_offers").await, 0);
}

/// After an offer the sender stays on the case page, told it is offered and to whom; once it is
/// accepted the sender reads on the offers page which case went where, and nobody else reading
/// the same page is told anything of it.
#[tokio::test]
async fn after_a_transfer_the_sender_is_told_which_case_went_where() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let pid =
        register(&worker, serde_json::json!({"name": "吴奶奶", "birth_date": "1947-07-07", "place_id": yongning}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
    let cid = open_case(&worker, &pid).await;
    let number = manager.get(&format!("/api/v1/cases/{cid}")).await.json()["number"].as_str().unwrap().to_string();
    let r = transfer(&manager, &cid, &kaiyuan_station(&app).await, "迁居").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let to = r.location();
    assert!(to.starts_with(&format!("/cases/{cid}")), "{to}");
    let page = manager.get(&format!("/cases/{cid}")).await;
    let notice = page.between("id=\"offer-pending\"", "</div>").unwrap_or_default();
    assert!(notice.contains("开源街道社工站"), "{notice}");
    accept(&app, &cid).await;
    let list = manager.get("/cases/transfers").await;
    assert_eq!(list.status, StatusCode::OK);
    let sent = list.between("id=\"outgoing-list\"", "</table>").unwrap_or_default();
    assert!(sent.contains(&number) && sent.contains("开源街道社工站") && sent.contains("已接收"), "{sent}");
    assert!(!sent.contains(&format!("/cases/{cid}")), "the case is no longer the sender's to open: {sent}");
    for other in [&worker, &app.login("leizeyu").await] {
        let page = other.get("/cases/transfers").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "the offers page is the managers'");
    }
}

/// 开源's manager edits the record of a client living in 振华街道 (brought by the
/// transfer): the form shows where the client lives, a phone change saves and keeps the place
/// and estate, and a move is allowed only to a place of 开源's.
#[tokio::test]
async fn the_receiving_manager_saves_a_client_living_elsewhere_keeping_the_place() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let r = bureau
        .post_form("/estates", &[("community_id", &yongning.to_string()), ("name", "永宁里小区"), ("active", "on")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (estate,): (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM estates WHERE name = '永宁里小区'")
            .fetch_one(c)
            .await)
        .unwrap();
    let person = serde_json::json!({"name": "王鹏", "birth_date": "1986-03-02", "phone": "13800131234", "place_id": yongning,
        "estate_id": estate, "building": "3号楼", "room": "201"});
    let pid = register(&worker, person).await["id"].as_str().unwrap().to_string();
    let cid = open_case(&worker, &pid).await;
    let r = transfer(&manager, &cid, &kaiyuan_station(&app).await, "随女儿迁居开源街道").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    accept(&app, &cid).await;

    // The form as 开源's manager gets it shows his community and estate.
    let form = kmgr.get(&format!("/people/{pid}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(selected(&form.body, "place_id"), yongning.to_string(), "the community is shown");
    assert_eq!(selected(&form.body, "estate_id"), estate.to_string(), "the estate is shown");
    let place_options = form.between("<select name=\"place_id\"", "</select>").unwrap();
    assert!(place_options.contains("永宁社区"), "{place_options}");

    // Only the phone changes; everything else is sent as the form shows it.
    let field = |name: &str| match name {
        "place_id" | "estate_id" | "sex" | "relation" => selected(&form.body, name),
        _ => typed(&form.body, &format!("f-{name}")),
    };
    let mut sent: Vec<(String, String)> =
        ["name", "id_number", "sex", "birth_date", "place_id", "estate_id", "building", "unit", "room", "relation"]
            .iter()
            .map(|n| (n.to_string(), field(n)))
            .collect();
    sent.push(("phone".into(), "13900139000".into()));
    sent.push(("version".into(), form.between("name=\"version\" value=\"", "\"").unwrap()));
    let body: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = kmgr.post_form(&format!("/people/{pid}"), &body).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let saved = kmgr.get(&format!("/api/v1/people/{pid}")).await.json();
    assert_eq!(saved["phone_masked"], "139****9000");
    assert_eq!(saved["place_id"], yongning.to_string(), "the place is kept");
    assert_eq!(saved["estate_id"], estate.to_string(), "the estate is kept");
    assert_eq!((saved["building"].as_str(), saved["room"].as_str()), (Some("3号楼"), Some("201")));

    // A move goes only to a place of the editor's: another 振华 community is refused, named.
    let zhenhua_community = app.place_id("振华社区(示例)").await.to_string();
    let version = saved["version"].to_string();
    let moved: Vec<(&str, &str)> = body
        .iter()
        .map(|(k, v)| match *k {
            "place_id" => (*k, zhenhua_community.as_str()),
            "estate_id" => (*k, ""),
            "version" => (*k, version.as_str()),
            _ => (*k, *v),
        })
        .collect();
    let r = kmgr.post_form(&format!("/people/{pid}"), &moved).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("请选择您管辖范围内的社区或网格"), "{}", r.body);
    let same = kmgr.get(&format!("/api/v1/people/{pid}")).await.json();
    assert_eq!(same["place_id"], yongning.to_string());
    // Through the API the same: the unchanged place is kept.
    let edit = serde_json::json!({"name": "王鹏", "birth_date": "1986-03-02", "place_id": yongning, "estate_id": estate,
        "building": "3号楼", "room": "202", "version": same["version"]});
    let r = kmgr.send_json(Method::PUT, &format!("/api/v1/people/{pid}"), &edit.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["room"], "202");
}

/// A read of one person (`people::store::visible_each`, probing that person's cases) and the
/// list (`people::store::visible`, reading the exception sets whole) agree on who is visible,
/// for every person and every station's scope: while a transfer is offered, once it is
/// accepted (the client hidden from home, visible to the receiver), and after the receiver
/// closes the case (visible to both).
#[tokio::test]
async fn one_person_and_the_list_agree_on_who_a_station_sees_through_a_transfer() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let person = serde_json::json!({"name": "王鹏", "birth_date": "1986-03-02", "place_id": yongning});
    let pid = register(&worker, person).await["id"].as_str().unwrap().to_string();
    let cid = open_case(&worker, &pid).await;
    let db = &app.st.db;
    let people: Vec<(uuid::Uuid,)> =
        linli::read!(db, |c| sqlx::query_as("SELECT id FROM persons WHERE merged_into IS NULL").fetch_all(c).await)
            .unwrap();
    let people = &people;
    let agree = |stage: &'static str| async move {
        let mut seen_somewhere = 0;
        for account in ["wenbichen", "zhenhua.mgr", "kaiyuan.mgr", "leizeyu", "changmin", "bureau"] {
            let caller = linli::auth::caller_for_account(db, account).await.unwrap().unwrap();
            let filter = linli::people::store::PersonFilter::default();
            let (listed, total) = linli::people::store::list(db, &caller.scope, &filter, 100_000, 0).await.unwrap();
            assert_eq!(listed.len() as i64, total, "{stage}: {account}'s list is whole");
            let listed: std::collections::HashSet<uuid::Uuid> = listed.iter().map(|p| p.id).collect();
            for (id,) in people {
                let one = linli::people::store::get(db, &caller.scope, *id).await.unwrap().is_some();
                assert_eq!(one, listed.contains(id), "{stage}: {account} reading {id} alone and in the list");
                seen_somewhere += usize::from(one);
            }
        }
        assert!(seen_somewhere > 0, "{stage}: the comparison saw people");
    };
    agree("case open at home").await;
    let r = transfer(&manager, &cid, &kaiyuan_station(&app).await, "随女儿迁居开源街道").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    agree("transfer offered").await;
    accept(&app, &cid).await;
    let zhenhua = linli::auth::caller_for_account(db, "zhenhua.mgr").await.unwrap().unwrap();
    let pid = uuid::Uuid::parse_str(&pid).unwrap();
    assert!(linli::people::store::get(db, &zhenhua.scope, pid).await.unwrap().is_none(), "hidden from home");
    agree("transfer accepted").await;
    close(&kmgr, &cid).await;
    assert!(linli::people::store::get(db, &zhenhua.scope, pid).await.unwrap().is_some(), "home again");
    agree("case closed by the receiver").await;
}
