//! Transfers as offers: 振华's manager offers a case to 开源街道社工站; the case stays with 振华
//! until 开源's manager accepts (it moves with its history) or refuses with a reason (it stays,
//! and 振华 reads why); 振华 may withdraw. One pending offer per case; only the receiving
//! station's manager decides; of decisions at once exactly one is taken.

use axum::http::{Method, StatusCode};

use crate::casework::register;
use crate::casework_transfers::pending_offer;
use crate::harness::{Client, TestApp};

async fn station(app: &TestApp, name: &str) -> String {
    let (id,): (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM stations WHERE name = $1")
        .bind(name)
        .fetch_one(c)
        .await)
    .unwrap();
    id.to_string()
}

/// A 振华 client with a tag, a case with a plan and a counselling note; returns (person, case).
async fn offered_case(app: &TestApp, worker: &Client<'_>, manager: &Client<'_>) -> (String, String) {
    let yongning = app.place_id("永宁社区").await;
    let p =
        register(worker, serde_json::json!({"name": "赵桂芝", "birth_date": "1946-04-04", "place_id": yongning})).await;
    let pid = p["id"].as_str().unwrap().to_string();
    let tag = serde_json::json!({"tag": "living_alone", "source": "入户走访"}).to_string();
    let r = worker.send_json(Method::POST, &format!("/api/v1/people/{pid}/tags"), &tag, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let body = serde_json::json!({"person_id": pid, "domain": "elderly_care", "source": "visit", "summary": "独居，将随女儿迁居"});
    let r = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let cid = r.json()["id"].as_str().unwrap().to_string();
    let plan = serde_json::json!({"goals": "每周电话问候，协助办理迁居", "actions": [{"action": "电话问候", "owner": "社工"}], "review_on": "2027-06-01"});
    let r = worker.send_json(Method::PUT, &format!("/api/v1/cases/{cid}/plan"), &plan.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rec = serde_json::json!({"kind": "home_visit", "minutes": 30, "notes": "振华站走访记录：家中整洁"});
    let r = worker.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let to = station(app, "开源街道社工站").await;
    let r = manager
        .post_form(&format!("/cases/{cid}/transfer"), &[("station_id", to.as_str()), ("reason", "随女儿迁居开源街道")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    (pid, cid)
}

/// Offered, the case stays and is worked at 振华; 开源's manager reads what they need to decide
/// (number, name, tags, reason, plan) but not the notes; accepted, it moves with its history.
#[tokio::test]
async fn an_accepted_offer_moves_the_case_with_its_history_and_before_that_nothing_moves() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let (pid, cid) = offered_case(&app, &worker, &manager).await;
    let number = manager.get(&format!("/api/v1/cases/{cid}")).await.json()["number"].as_str().unwrap().to_string();

    // Still 振华's: read, worked, shown as offered; 开源 does not read the case or the client.
    let page = manager.get(&format!("/cases/{cid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.between("id=\"offer-pending\"", "</div>").unwrap().contains("开源街道社工站"));
    assert!(page.body.contains("id=\"withdraw-form\"") && !page.body.contains("id=\"transfer-form\""));
    let rec = serde_json::json!({"kind": "phone_follow_up", "minutes": 5, "notes": "电话确认迁居日期"});
    let r = worker.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "the sender keeps working the case: {}", r.body);
    for path in [format!("/cases/{cid}"), format!("/api/v1/cases/{cid}"), format!("/people/{pid}")] {
        assert_eq!(kmgr.get(&path).await.status, StatusCode::NOT_FOUND, "{path} before accepting");
    }
    // What 开源's manager reads to decide.
    let offers = kmgr.get("/cases/transfers").await;
    assert_eq!(offers.status, StatusCode::OK);
    let offer = pending_offer(&app, &cid).await;
    let card = offers.between(&format!("id=\"offer-{offer}\""), "</section>").unwrap();
    for shown in
        [number.as_str(), "赵桂芝", "独居", "随女儿迁居开源街道", "每周电话问候，协助办理迁居", "振华街道社工站"]
    {
        assert!(card.contains(shown), "{shown} in {card}");
    }
    assert!(
        !offers.body.contains("家中整洁") && !offers.body.contains("电话确认迁居日期"),
        "no notes before accepting"
    );
    let listed = kmgr.get("/api/v1/transfer-offers").await.json();
    assert_eq!(listed[0]["incoming"], true, "{listed}");
    assert_eq!(listed[0]["case_number"], number.as_str());
    let sent = manager.get("/api/v1/transfer-offers").await.json();
    assert_eq!(
        (sent[0]["incoming"].as_bool(), sent[0]["url"].as_str()),
        (Some(false), Some(format!("/cases/{cid}").as_str()))
    );

    // Accepted: it moves, with every record, to 开源, whose manager now works it.
    let r = kmgr.post_form(&format!("/cases/transfers/{offer}/accept"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let held = kmgr.get(&format!("/api/v1/cases/{cid}")).await.json();
    assert_eq!(held["station_name"], "开源街道社工站");
    assert_eq!(held["worker_name"], "开源街道社工站 孙站长");
    assert_eq!(held["records"].as_array().unwrap().len(), 2, "the history follows: {held}");
    assert_eq!(kmgr.get(&format!("/people/{pid}")).await.status, StatusCode::OK);
    for c in [&worker, &manager] {
        assert_eq!(
            c.get(&format!("/cases/{cid}")).await.status,
            StatusCode::NOT_FOUND,
            "the sender no longer reads it"
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM case_transfers").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('case.transfer_offer', 'case.transfer_accept')")
            .await,
        2
    );
    // The decision shows on the case page and the timeline.
    let page = kmgr.get(&format!("/cases/{cid}")).await;
    let list = page.between("id=\"offer-list\"", "</ol>").unwrap();
    assert!(list.contains("已接收") && list.contains("孙站长"), "{list}");
    let tl = kmgr.get(&format!("/api/v1/people/{pid}/timeline")).await.json();
    assert!(tl.as_array().unwrap().iter().any(|e| e["kind"] == "case.transferred"), "{tl}");
    // Once accepted, no second decision.
    let again = kmgr.post_form(&format!("/cases/transfers/{offer}/accept"), &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
}

/// Refused: a reason is required (the typed one kept when refused), the case stays, and the
/// sender reads the reason on the case page, the offers page and the person's timeline.
#[tokio::test]
async fn a_refused_offer_keeps_the_case_and_tells_the_sender_why() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let (pid, cid) = offered_case(&app, &worker, &manager).await;
    let offer = pending_offer(&app, &cid).await;
    let r = kmgr.post_form(&format!("/cases/transfers/{offer}/refuse"), &[("reason", "  ")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.between(&format!("id=\"offer-{offer}\""), "</section>").unwrap().contains("has-error"));
    let r = kmgr
        .send_json(Method::POST, &format!("/api/v1/transfer-offers/{offer}/refuse"), "{\"reason\":\"\"}", &[])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(pending_offer(&app, &cid).await, offer, "still pending");

    let r =
        kmgr.post_form(&format!("/cases/transfers/{offer}/refuse"), &[("reason", "该户实际仍居住在永宁社区")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = manager.get(&format!("/cases/{cid}")).await;
    assert_eq!(page.status, StatusCode::OK, "the case stays");
    assert!(page.between("id=\"offer-list\"", "</ol>").unwrap().contains("该户实际仍居住在永宁社区"));
    assert!(page.body.contains("id=\"transfer-form\""), "it may be offered again");
    let sent = manager.get("/cases/transfers").await;
    assert!(sent.between("id=\"outgoing-list\"", "</table>").unwrap().contains("该户实际仍居住在永宁社区"));
    let tl = manager.get(&format!("/api/v1/people/{pid}/timeline")).await.json();
    assert!(
        tl.as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "case.transfer_refused" && e["detail"] == "该户实际仍居住在永宁社区"),
        "{tl}"
    );
    assert_eq!(kmgr.get(&format!("/cases/{cid}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT COUNT(*) FROM case_transfers").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'case.transfer_refuse'").await, 1);
}

/// Withdrawn by the sender, the offer can no longer be accepted; a second offer while one is
/// pending is refused (page and API), and after the withdrawal a new one may be made.
#[tokio::test]
async fn one_pending_offer_per_case_and_a_withdrawn_one_cannot_be_accepted() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let (_, cid) = offered_case(&app, &worker, &manager).await;
    let offer = pending_offer(&app, &cid).await;
    let to = station(&app, "开源街道社工站").await;
    let r =
        manager.post_form(&format!("/cases/{cid}/transfer"), &[("station_id", to.as_str()), ("reason", "再次")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("已有一份待对方处理的转出申请"), "{}", r.body);
    let body = serde_json::json!({"station_id": to, "reason": "再次"}).to_string();
    let r = manager.send_json(Method::POST, &format!("/api/v1/cases/{cid}/transfer-offers"), &body, &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.json()["code"], "transfer.pending");
    assert_eq!(app.count("SELECT COUNT(*) FROM case_transfer_offers").await, 1);

    // The receiving manager cannot withdraw it (not theirs to withdraw: as if unknown).
    let r = kmgr.post_form(&format!("/cases/transfers/{offer}/withdraw"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = manager.post_form(&format!("/cases/transfers/{offer}/withdraw"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = kmgr.send_json(Method::POST, &format!("/api/v1/transfer-offers/{offer}/accept"), "", &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.json()["code"], "transfer.decided");
    assert_eq!(manager.get(&format!("/cases/{cid}")).await.status, StatusCode::OK, "the case stays");
    assert_eq!(app.count("SELECT COUNT(*) FROM case_transfers").await, 0);
    // A new offer, through the API this time.
    let r = manager.send_json(Method::POST, &format!("/api/v1/cases/{cid}/transfer-offers"), &body, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["state"], "pending");
}

/// Only the receiving station's manager decides: the sender's manager, a third station's
/// manager and a worker of the receiving station are answered as for an unknown offer (or,
/// for a role that never decides, 403).
#[tokio::test]
async fn only_the_receiving_manager_accepts_or_refuses() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let (_, cid) = offered_case(&app, &worker, &manager).await;
    let offer = pending_offer(&app, &cid).await;
    // 清远's social worker made a manager of 清远街道社工站 for this test.
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query("UPDATE users SET role = 'station_manager' WHERE account = 'leizeyu'")
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    let third = app.login("leizeyu").await;
    let unknown = uuid::Uuid::now_v7();
    for (c, who) in [(&manager, "the sender"), (&third, "a third station")] {
        for path in [format!("/cases/transfers/{offer}/accept"), format!("/cases/transfers/{unknown}/accept")] {
            assert_eq!(c.post_form(&path, &[]).await.status, StatusCode::NOT_FOUND, "{who}: {path}");
        }
        let r = c
            .send_json(Method::POST, &format!("/api/v1/transfer-offers/{offer}/refuse"), "{\"reason\":\"不接\"}", &[])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{who}");
        assert!(!c.get("/cases/transfers").await.body.contains(&format!("offer-{offer}")), "{who} does not list it");
    }
    let kworker = app.login("zhengjiangbo").await;
    assert_eq!(kworker.post_form(&format!("/cases/transfers/{offer}/accept"), &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        kworker.send_json(Method::POST, &format!("/api/v1/transfer-offers/{offer}/accept"), "", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(pending_offer(&app, &cid).await, offer, "still pending");
}

/// 50 accepts at once (and a refusal and a withdrawal among them): exactly one decision is
/// taken, the case moves at most once, and every other answer is 409.
#[tokio::test]
async fn fifty_parallel_decisions_take_exactly_one() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let (_, cid) = offered_case(&app, &worker, &manager).await;
    let offer = pending_offer(&app, &cid).await;
    let accept = format!("/api/v1/transfer-offers/{offer}/accept");
    let refuse = format!("/api/v1/transfer-offers/{offer}/refuse");
    let withdraw = format!("/api/v1/transfer-offers/{offer}/withdraw");
    let mut calls = Vec::new();
    for _ in 0..50 {
        calls.push(kmgr.send_json(Method::POST, &accept, "", &[]));
    }
    let (all, refused, withdrawn) = tokio::join!(
        futures::future::join_all(calls),
        kmgr.send_json(Method::POST, &refuse, "{\"reason\":\"不接\"}", &[]),
        manager.send_json(Method::POST, &withdraw, "", &[]),
    );
    let mut statuses: Vec<u16> = all.iter().map(|r| r.status.as_u16()).collect();
    statuses.push(refused.status.as_u16());
    statuses.push(withdrawn.status.as_u16());
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 51, "{statuses:?}");
    let moved = app.count("SELECT COUNT(*) FROM case_transfers").await;
    let state: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT state FROM case_transfer_offers").fetch_one(c).await)
            .unwrap();
    assert_eq!(moved, i64::from(state.0 == "accepted"), "{}", state.0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('case.transfer_accept', 'case.transfer_refuse', 'case.transfer_withdraw')")
            .await,
        1
    );
}

/// A pending offer is on both managers' homes (工作台): the receiver's to decide, linking to the
/// offers page, the sender's as waiting on the other station; nobody else's; gone once decided.
#[tokio::test]
async fn a_pending_offer_shows_on_both_managers_homes_until_it_is_decided() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let (_, cid) = offered_case(&app, &worker, &manager).await;
    let number = manager.get(&format!("/api/v1/cases/{cid}")).await.json()["number"].as_str().unwrap().to_string();
    let section =
        |page: &crate::harness::Resp| page.between("id=\"home-transfer_offers\"", "</section>").unwrap_or_default();
    let theirs = section(&kmgr.get("/").await);
    assert!(theirs.contains(&number) && theirs.contains("赵桂芝"), "the receiver's home: {theirs}");
    assert!(theirs.contains("振华街道社工站") && theirs.contains("/cases/transfers#offer-"), "{theirs}");
    let mine = section(&manager.get("/").await);
    assert!(mine.contains(&number) && mine.contains("开源街道社工站"), "the sender's home: {mine}");
    assert!(mine.contains(&format!("/cases/{cid}")), "{mine}");
    assert!(section(&worker.get("/").await).is_empty(), "a social worker's home has no offers");

    let offer = pending_offer(&app, &cid).await;
    let r = kmgr.post_form(&format!("/cases/transfers/{offer}/refuse"), &[("reason", "不在本站服务范围")]).await;
    assert!(r.status.is_redirection() || r.status == axum::http::StatusCode::OK, "{}", r.body);
    assert!(!section(&kmgr.get("/").await).contains(&number), "decided: off the receiver's home");
    assert!(!section(&manager.get("/").await).contains(&number), "decided: off the sender's home");
}

/// Closing a case withdraws the offer still pending on it: the receiving manager's list no
/// longer holds it, and a late accept finds it decided instead of moving a closed case.
#[tokio::test]
async fn closing_a_case_withdraws_its_pending_offer() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let manager = app.login("zhenhua.mgr").await;
    let kmgr = app.login("kaiyuan.mgr").await;
    let (_, cid) = offered_case(&app, &worker, &manager).await;
    let offer = pending_offer(&app, &cid).await;
    let pending = kmgr.get("/api/v1/transfer-offers").await;
    assert_eq!(pending.status, StatusCode::OK, "{}", pending.body);
    assert!(pending.body.contains(&offer), "{}", pending.body);

    let r = worker.post_form(&format!("/cases/{cid}/close"), &[("reason", "随女儿迁居外省，无需继续服务")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = manager.post_form(&format!("/cases/{cid}/close/decision"), &[("decision", "approve")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let state: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT state FROM case_transfer_offers WHERE id = $1")
            .bind(uuid::Uuid::parse_str(&offer).unwrap())
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!(state.0, "withdrawn");
    let pending = kmgr.get("/api/v1/transfer-offers").await;
    assert!(!pending.body.contains(&offer), "{}", pending.body);
    let r = kmgr.send_json(Method::POST, &format!("/api/v1/transfer-offers/{offer}/accept"), "", &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.json()["code"], "transfer.decided");
    assert_eq!(app.count("SELECT COUNT(*) FROM case_transfers").await, 0);
}
