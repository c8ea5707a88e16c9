//! What a page can do, the API can do, with the page's rules: assessments, plan approval and
//! closure of a case, a worker's reassignment, a deadline extension asked for and decided, a tag
//! period ended, a staff account changed, disabled and given a new password.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Client, TestApp};

async fn token_client<'a>(app: &'a TestApp, account: &str) -> Client<'a> {
    let c = app.login(account).await;
    let page = c.post_form("/account/tokens", &[("name", "接口")]).await;
    let mut api = app.anon();
    api.token = page.between("id=\"new-token\">", "<");
    assert!(api.token.is_some(), "{account} got a token");
    api
}

fn fields(r: &crate::harness::Resp) -> Vec<String> {
    r.json()["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap().to_string()).collect()
}

/// A client of 振华街道社工站 with an open case, through the API as its social worker.
async fn open_case(app: &TestApp, worker: &Client<'_>) -> (String, String) {
    let yongning = app.place_id("永宁社区").await;
    let body = json!({"name": "赵建国", "birth_date": "1950-05-06", "place_id": yongning});
    let p = worker.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    let person_id = p.json()["id"].as_str().unwrap().to_string();
    let body = json!({"person_id": person_id, "domain": "social_assistance", "source": "walk_in", "summary": "独居老人，行动不便"});
    let c = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    (person_id, c.json()["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_case_is_assessed_approved_and_closed_over_the_api() {
    let app = TestApp::new().await;
    let worker = token_client(&app, "wenbichen").await;
    let mgr = token_client(&app, "zhenhua.mgr").await;
    let elsewhere = token_client(&app, "kaiyuan.mgr").await;
    let (_, case_id) = open_case(&app, &worker).await;
    let case = |c: &crate::harness::Resp| c.json()["status"].as_str().unwrap_or_default().to_string();

    // An assessment: items unanswered are named, and nothing is written.
    let instruments = worker.get("/api/v1/instruments").await.json();
    let inst = &instruments[0];
    let path = format!("/api/v1/cases/{case_id}/assessments");
    let body = json!({"instrument_id": inst["id"], "answers": {}});
    let r = worker.send_json(Method::POST, &path, &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(fields(&r).iter().all(|f| f.starts_with("item_")) && !fields(&r).is_empty(), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM assessments").await, 0);
    let r = worker.send_json(Method::POST, &path, r#"{"answers": {}}"#, &[]).await;
    assert_eq!(fields(&r), ["instrument_id"], "{}", r.body);
    let answers: serde_json::Map<String, serde_json::Value> =
        inst["items"].as_array().unwrap().iter().map(|i| (i["key"].as_str().unwrap().to_string(), json!(0))).collect();
    let body = json!({"instrument_id": inst["id"], "answers": answers, "notes": "首次评估"});
    let r = worker.send_json(Method::POST, &path, &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let assessment = r.json();
    assert_eq!(assessment["instrument_name"], inst["name"]);
    let listed = worker.get(&path).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
    assert_eq!(listed.json()[0]["id"], assessment["id"]);
    assert_eq!(case(&worker.get(&format!("/api/v1/cases/{case_id}")).await), "assessed");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'case.assess'").await, 1);
    // Another station's manager: as if the case did not exist.
    assert_eq!(elsewhere.get(&path).await.status, StatusCode::NOT_FOUND);
    let r = elsewhere.send_json(Method::POST, &path, &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The plan: drafted by the worker, approved by the manager only, at the version read.
    let review = (linli::hazards::store::today() + chrono::Duration::days(60)).to_string();
    let plan = json!({"goals": "按时服药，每周探访", "review_on": review,
        "actions": [{"action": "每周上门探访", "owner": "文碧辰", "due_on": null}]});
    let r = worker.send_json(Method::PUT, &format!("/api/v1/cases/{case_id}/plan"), &plan.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let plan_version = r.json()[0]["version"].as_i64().unwrap();
    let approval = format!("/api/v1/cases/{case_id}/plan/approval");
    let r = worker.send_json(Method::POST, &approval, "{}", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a worker does not approve");
    let r = mgr.send_json(Method::POST, &approval, &json!({"version": plan_version + 1}).to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.body);
    let r = mgr.send_json(Method::POST, &approval, &json!({"version": plan_version}).to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()[0]["status"], "approved");
    let r = mgr.send_json(Method::POST, &approval, "{}", &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "no draft left: {}", r.body);
    assert_eq!(case(&worker.get(&format!("/api/v1/cases/{case_id}")).await), "planned");

    // Closure: asked with a reason at the case's version; refused; asked again; approved.
    let closure = format!("/api/v1/cases/{case_id}/closure");
    let r = worker.send_json(Method::POST, &closure, r#"{"reason": " "}"#, &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(fields(&r), ["reason"]);
    let current = worker.get(&format!("/api/v1/cases/{case_id}")).await;
    let etag = current.headers.get("etag").unwrap().to_str().unwrap().to_string();
    let v = current.json()["version"].as_i64().unwrap();
    let r = worker.send_json(Method::POST, &closure, r#"{"reason": "已迁出本区"}"#, &[("if-match", "\"999\"")]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.body);
    let r = worker.send_json(Method::POST, &closure, r#"{"reason": "已迁出本区"}"#, &[("if-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(case(&r), "closing");
    assert!(r.json()["version"].as_i64().unwrap() > v);
    let r = worker.send_json(Method::POST, &closure, r#"{"reason": "再次申请"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let decision = format!("/api/v1/cases/{case_id}/closure/decision");
    let r = worker.send_json(Method::POST, &decision, r#"{"decision": "approve"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = mgr.send_json(Method::POST, &decision, r#"{"decision": "maybe"}"#, &[]).await;
    assert_eq!(fields(&r), ["decision"], "{}", r.body);
    let r = elsewhere.send_json(Method::POST, &decision, r#"{"decision": "approve"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = mgr.send_json(Method::POST, &decision, r#"{"decision": "refuse"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(case(&r), "planned");
    let r = worker.send_json(Method::POST, &closure, r#"{"reason": "已迁出本区"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = mgr.send_json(Method::POST, &decision, r#"{"decision": "approve"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(case(&r), "closed");
    for (action, n) in [("plan.approve", 1), ("case.close_request", 2), ("case.close_refused", 1), ("case.close", 1)] {
        let sql = format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'");
        assert_eq!(app.count(&sql).await, n, "{action}");
    }
    // A closed case takes no assessment.
    let r = worker.send_json(Method::POST, &path, &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
}

#[tokio::test]
async fn a_case_is_given_to_another_worker_over_the_api() {
    let app = TestApp::new().await;
    let worker = token_client(&app, "wenbichen").await;
    let mgr = token_client(&app, "zhenhua.mgr").await;
    let (_, case_id) = open_case(&app, &worker).await;
    let path = format!("/api/v1/cases/{case_id}/reassignment");
    let me = app.user_id("wenbichen").await;
    let r = mgr.send_json(Method::POST, &path, &json!({"worker_id": me, "reason": "调整"}).to_string(), &[]).await;
    assert_eq!(fields(&r), ["worker_id"], "the same worker: {}", r.body);
    let outsider = app.user_id("kaiyuan.mgr").await;
    let r =
        mgr.send_json(Method::POST, &path, &json!({"worker_id": outsider, "reason": "调整"}).to_string(), &[]).await;
    assert_eq!(fields(&r), ["worker_id"], "a worker of another station: {}", r.body);
    let r = worker.send_json(Method::POST, &path, &json!({"worker_id": me, "reason": "调整"}).to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let manager = app.user_id("zhenhua.mgr").await;
    let r =
        mgr.send_json(Method::POST, &path, &json!({"worker_id": manager, "reason": "社工休假"}).to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["worker_id"], json!(manager));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'case.reassign'").await, 1);
}

#[tokio::test]
async fn an_extension_is_asked_for_and_decided_over_the_api() {
    let app = TestApp::new().await;
    let worker = token_client(&app, "wenbichen").await;
    let mgr = token_client(&app, "zhenhua.mgr").await;
    let elsewhere = token_client(&app, "kaiyuan.mgr").await;
    let yongning = app.place_id("永宁社区").await;
    let body = json!({"category": "garbage_piled", "description": "楼下垃圾堆放", "place_id": yongning});
    let r = worker.send_json(Method::POST, "/api/v1/requests", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let v = r.json()["version"].as_i64().unwrap();
    let body = json!({"version": v, "units": [format!("place:{yongning}")]});
    let r = mgr.send_json(Method::POST, &format!("/api/v1/requests/{id}/dispatch"), &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let detail = mgr.get(&format!("/api/v1/requests/{id}")).await.json();
    let part = detail["parts"][0]["id"].as_str().unwrap().to_string();
    let due_before = detail["parts"][0]["due"].as_str().unwrap().to_string();
    let pv = detail["parts"][0]["version"].as_i64().unwrap();
    let body = json!({"version": pv, "action": "sign"});
    let r =
        worker.send_json(Method::POST, &format!("/api/v1/request-parts/{part}/actions"), &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let ask = format!("/api/v1/request-parts/{part}/extension");
    let r = worker.send_json(Method::POST, &ask, r#"{"days": 0, "reason": "等待物业配合"}"#, &[]).await;
    assert_eq!(fields(&r), ["days"], "{}", r.body);
    let r = worker.send_json(Method::POST, &ask, r#"{"reason": "等待物业配合"}"#, &[]).await;
    assert_eq!(fields(&r), ["days"], "{}", r.body);
    let r = elsewhere.send_json(Method::POST, &ask, r#"{"days": 2, "reason": "等待物业配合"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM request_extensions").await, 0);
    let r = worker.send_json(Method::POST, &ask, r#"{"days": 2, "reason": "等待物业配合"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ext = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["days"], 2);
    let r = worker.send_json(Method::POST, &ask, r#"{"days": 3, "reason": "再要三天"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "one waits already: {}", r.body);
    let detail = mgr.get(&format!("/api/v1/requests/{id}")).await.json();
    assert_eq!(detail["pending_extensions"][0]["id"], json!(ext));

    let decide = format!("/api/v1/request-extensions/{ext}/decision");
    let r = worker.send_json(Method::POST, &decide, r#"{"decision": "approve"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the unit does not decide its own extension");
    let r = elsewhere.send_json(Method::POST, &decide, r#"{"decision": "approve"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = mgr.send_json(Method::POST, &decide, r#"{"decision": "refuse"}"#, &[]).await;
    assert_eq!(fields(&r), ["note"], "a refusal needs its reason: {}", r.body);
    let r = mgr.send_json(Method::POST, &decide, r#"{"decision": "approve", "note": "同意"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let detail = mgr.get(&format!("/api/v1/requests/{id}")).await.json();
    let due_after = detail["parts"][0]["due"].as_str().unwrap().to_string();
    assert!(due_after > due_before, "{due_before} → {due_after}");
    assert_eq!(detail["pending_extensions"], json!([]));
    let r = mgr.send_json(Method::POST, &decide, r#"{"decision": "approve"}"#, &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "decided once: {}", r.body);
}

#[tokio::test]
async fn a_tag_period_ends_over_the_api() {
    let app = TestApp::new().await;
    let worker = token_client(&app, "wenbichen").await;
    let elsewhere = token_client(&app, "kaiyuan.mgr").await;
    let (person_id, _) = open_case(&app, &worker).await;
    let r = worker
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{person_id}/tags"),
            r#"{"tag": "serious_illness", "source": "医院诊断"}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let tag = r.json()["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/person-tags/{tag}/end");
    let r = worker.send_json(Method::POST, &path, r#"{"ends_on": "2026-13-40"}"#, &[]).await;
    assert_eq!(fields(&r), ["ends_on"], "{}", r.body);
    let r = elsewhere.send_json(Method::POST, &path, "{}", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let sql = "SELECT COUNT(*) FROM person_tags WHERE ends_on IS NULL";
    assert_eq!(app.count(sql).await, 1, "nothing changed yet");
    let r = worker.send_json(Method::POST, &path, "{}", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["id"], json!(person_id));
    assert_eq!(app.count(sql).await, 0, "the period has ended");
}

#[tokio::test]
async fn a_staff_account_is_changed_disabled_and_reset_over_the_api() {
    let app = TestApp::new().await;
    let admin = token_client(&app, "bureau").await;
    let id = app.user_id("hanjianwei").await;
    let path = format!("/api/v1/staff/{id}");
    let current = admin.get(&path).await.json();
    let places: Vec<serde_json::Value> =
        current["places"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect();
    let mut body = json!({"account": current["account"], "display_name": "韩建伟（新）", "role": current["role"],
        "place_ids": places, "organisation_id": null, "version": current["version"].as_i64().unwrap() + 3});
    let r = admin.send_json(Method::PUT, &path, &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.body);
    body["version"] = current["version"].clone();
    body["place_ids"] = json!([]);
    let r = admin.send_json(Method::PUT, &path, &body.to_string(), &[]).await;
    assert_eq!(fields(&r), ["place_ids"], "{}", r.body);
    body["place_ids"] = json!(places);
    let r = admin.send_json(Method::PUT, &path, &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["display_name"], "韩建伟（新）");

    let r = admin.send_json(Method::POST, &format!("{path}/disabled"), r#"{"disabled": true}"#, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["disabled"], true, "{}", r.body);
    let r = admin.send_json(Method::POST, &format!("{path}/password-reset"), "", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["one_time_password"].as_str().unwrap().len(), 16);
    let r = app.anon().post_form("/login", &[("account", "hanjianwei"), ("password", &app.password)]).await;
    assert_ne!(r.location(), "/", "the old password no longer signs in");
}

/// The household the person page lists is on the API too: members in scope with their
/// relation; a member is added by registering with `household_id`; outside the scope the
/// household answers like a missing person, and a child's household keeps the child's guard.
#[tokio::test]
async fn a_household_is_read_and_grown_over_the_api() {
    let app = TestApp::new().await;
    let worker = token_client(&app, "wenbichen").await;
    let (head, _) = open_case(&app, &worker).await;
    let r = worker.get(&format!("/api/v1/people/{head}/household")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let household = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["members"].as_array().unwrap().len(), 1);

    let yongning = app.place_id("永宁社区").await;
    let body = json!({"name": "赵小宇", "birth_date": "2016-03-02", "place_id": yongning,
        "household_id": household, "relation": "grandchild"});
    let r = worker.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let child = r.json()["id"].as_str().unwrap().to_string();
    let r = worker.get(&format!("/api/v1/people/{head}/household")).await;
    assert_eq!(r.json()["id"], household.as_str());
    let members = r.json()["members"].as_array().unwrap().clone();
    let names: Vec<&str> = members.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"赵建国") && names.contains(&"赵小宇"), "{names:?}");
    let kid = members.iter().find(|m| m["name"] == "赵小宇").unwrap();
    assert_eq!(kid["relation"], "grandchild");
    assert!(kid.get("id_masked").is_none() && kid.get("birth_date").is_none(), "names and relations only: {kid}");

    // Another street's station reads neither the person nor the household.
    let other = token_client(&app, "kaiyuan.mgr").await;
    let r = other.get(&format!("/api/v1/people/{head}/household")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // The child's own record, and its household through it, keep the children's guard: the
    // worker has no case with the child and no grant (the head's household lists the child by
    // name, as the head's page does).
    let direct = worker.get(&format!("/api/v1/people/{child}")).await.status;
    let through = worker.get(&format!("/api/v1/people/{child}/household")).await.status;
    assert_eq!(direct, StatusCode::FORBIDDEN);
    assert_eq!(through, direct, "the household answers as the child's record does");
}
