//! Resident requests through the real router on both backends: phone intake with its bad
//! input, dispatch, sign, work, resolution, callback with a reopening, duplicates and merging
//! (story 6); co-handling by several units with 退单, 延期 and reassignment, scope, and the
//! overdue sweep run by two instances at once (story 7).

use axum::http::StatusCode;
use uuid::Uuid;

use crate::harness::TestApp;

async fn id_of(app: &TestApp, sql: &str, name: &str) -> Uuid {
    let row: (Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(sql).bind(name).fetch_one(c).await).unwrap();
    row.0
}

/// (status, version) of a request.
async fn state(app: &TestApp, id: &str) -> (String, i64) {
    let id = Uuid::parse_str(id).unwrap();
    linli::read!(&app.st.db, |c| sqlx::query_as("SELECT status, version FROM requests WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
    .unwrap()
}

/// (part id, status, version) of the part held by the unit named `unit`.
async fn part(app: &TestApp, request: &str, unit: &str) -> (String, String, i64) {
    let request = Uuid::parse_str(request).unwrap();
    let row: (Uuid, String, i64) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id, status, version FROM request_parts WHERE request_id = $1 AND unit_name = $2 ORDER BY created_at DESC"
    )
    .bind(request)
    .bind(unit)
    .fetch_one(c)
    .await)
    .unwrap();
    (row.0.to_string(), row.1, row.2)
}

async fn events(app: &TestApp, request: &str) -> Vec<String> {
    let request = Uuid::parse_str(request).unwrap();
    let rows: Vec<(String,)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT kind FROM request_events WHERE request_id = $1 ORDER BY at, id"
    )
    .bind(request)
    .fetch_all(c)
    .await)
    .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

fn id_from(location: &str) -> String {
    location.trim_start_matches("/requests/").to_string()
}

#[tokio::test]
async fn a_phoned_in_blocked_sewer_is_dispatched_resolved_called_back_and_reopened_when_the_resident_is_unhappy() {
    let app = TestApp::new().await;
    let desk = app.login("bureau").await;
    let beixin = app.place_id("北馨园社区").await.to_string();
    let hongan = id_of(&app, "SELECT id FROM estates WHERE name = $1", "宏安小区").await.to_string();

    // No category, no place: both named, the description kept, nothing written.
    let r = desk.post_form("/requests", &[("description", "2号楼污水外溢，楼道里都是水")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("请填写地址、选择社区或给出坐标"), "{}", r.body);
    assert!(r.body.contains("2号楼污水外溢，楼道里都是水"), "typed text kept");
    // Coordinates in Paris.
    let r = desk
        .post_form(
            "/requests",
            &[("category", "sewage_overflow"), ("description", "污水外溢"), ("lat", "48.85"), ("lon", "2.35")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("坐标不在中国境内"), "{}", r.body);
    // An unknown category.
    let r = desk
        .post_form("/requests", &[("category", "no_such"), ("description", "污水外溢"), ("place_id", &beixin)])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("没有这个诉求类别"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 0, "nothing half-written");

    let form = [
        ("category", "sewage_overflow"),
        ("description", "宏安小区2号楼下水井污水外溢，单元门口积水"),
        ("place_id", beixin.as_str()),
        ("estate_id", hongan.as_str()),
        ("building", "2号楼"),
        ("reporter_name", "李女士"),
        ("phone", "13912345678"),
    ];
    let r = desk.post_form("/requests", &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = id_from(&r.location());
    let page = desk.get(&format!("/requests/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("139****5678") && !page.body.contains("13912345678"), "phone masked");
    assert!(page.body.contains("data-status=\"accepted\""));
    let number: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT number FROM requests").fetch_one(c).await).unwrap();
    assert!(
        number.0.len() == 11 && number.0.as_bytes()[4] == b'-' && page.body.contains(&number.0),
        "a number people can quote: {}",
        number.0
    );
    let sealed = app.count("SELECT COUNT(*) FROM requests WHERE phone_sealed LIKE '%13912345678%'").await;
    assert_eq!(sealed, 0, "the phone number is sealed at rest");

    // Callback before anything is resolved.
    let (_, v) = state(&app, &id).await;
    let r = desk
        .post_form(&format!("/requests/{id}/callback"), &[("version", &v.to_string()), ("satisfaction", "satisfied")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("诉求尚未办结，不能回访"));

    // 派单 to the community.
    let r = desk
        .post_form(
            &format!("/requests/{id}/dispatch"),
            &[("version", &v.to_string()), ("units", &format!("place:{beixin}")), ("note", "请社区联系清掏")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &id).await.0, "dispatched");
    // A second dispatch with the old version is stale.
    let r = desk
        .post_form(
            &format!("/requests/{id}/dispatch"),
            &[("version", &v.to_string()), ("units", &format!("place:{beixin}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);

    // The same estate and category again: offered as a duplicate of the open one and merged into it.
    let r = desk.post_form("/requests", &form).await;
    let dup = id_from(&r.location());
    let page = desk.get(&format!("/requests/{dup}")).await;
    assert!(page.body.contains("可能重复的诉求") && page.body.contains(&number.0), "{}", page.body);
    let (_, dv) = state(&app, &dup).await;
    let r = desk.post_form(&format!("/requests/{dup}/merge"), &[("version", &dv.to_string()), ("into", &id)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &dup).await.0, "merged");
    assert!(events(&app, &id).await.contains(&"merged_in".to_string()));

    // The street's social worker sees it in the unit's queue, signs, notes and resolves it.
    let worker = app.login("hanjianwei").await;
    let queue = worker.get("/requests?queue=mine").await;
    assert!(queue.body.contains(&number.0), "{}", queue.body);
    let (pid, status, pv) = part(&app, &id, "北馨园社区").await;
    assert_eq!(status, "dispatched");
    let r = worker
        .post_form(
            &format!("/request-parts/{pid}"),
            &[("version", &pv.to_string()), ("action", "note"), ("note", "已联系")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a note before signing");
    let r =
        worker.post_form(&format!("/request-parts/{pid}"), &[("version", &pv.to_string()), ("action", "sign")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &id).await.0, "in_progress");
    let (_, _, pv) = part(&app, &id, "北馨园社区").await;
    let r = worker
        .post_form(
            &format!("/request-parts/{pid}"),
            &[
                ("version", &pv.to_string()),
                ("action", "note"),
                ("note", "已电话联系李女士，下午清掏"),
                ("public", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, _, pv) = part(&app, &id, "北馨园社区").await;
    // A resolution without notes.
    let r = worker
        .post_form(
            &format!("/request-parts/{pid}"),
            &[("version", &pv.to_string()), ("action", "resolve"), ("note", " ")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(state(&app, &id).await.0, "in_progress");
    let r = worker
        .post_form(
            &format!("/request-parts/{pid}"),
            &[("version", &pv.to_string()), ("action", "resolve"), ("note", "清理油污堵塞，管道已通")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &id).await.0, "resolved");

    // 回访: 不满意 needs a reason and reopens the request for rework.
    let (_, v) = state(&app, &id).await;
    let r = desk
        .post_form(
            &format!("/requests/{id}/callback"),
            &[("version", &v.to_string()), ("satisfaction", "dissatisfied")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = desk
        .post_form(
            &format!("/requests/{id}/callback"),
            &[("version", &v.to_string()), ("satisfaction", "dissatisfied"), ("note", "井口还在冒水")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &id).await.0, "in_progress");
    assert_eq!(part(&app, &id, "北馨园社区").await.1, "signed", "the unit works on it again");
    let (_, _, pv) = part(&app, &id, "北馨园社区").await;
    let r = worker
        .post_form(
            &format!("/request-parts/{pid}"),
            &[("version", &pv.to_string()), ("action", "resolve"), ("note", "更换井盖，疏通下游管道")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, v) = state(&app, &id).await;
    let r = desk
        .post_form(
            &format!("/requests/{id}/callback"),
            &[("version", &v.to_string()), ("satisfaction", "very_satisfied")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &id).await.0, "closed");
    assert_eq!(
        events(&app, &id).await,
        [
            "accepted",
            "dispatched",
            "merged_in",
            "signed",
            "progress",
            "resolved_part",
            "resolved",
            "reopened",
            "resolved_part",
            "resolved",
            "closed"
        ]
    );
    let (responded, resolved): (Option<i64>, Option<i64>) = (
        Some(app.count("SELECT COUNT(*) FROM requests WHERE responded_at IS NOT NULL").await),
        Some(app.count("SELECT COUNT(*) FROM requests WHERE resolved_at IS NOT NULL AND closed_at IS NOT NULL").await),
    );
    assert_eq!((responded, resolved), (Some(1), Some(1)), "response and resolution times are measured");

    // Revealing the phone needs a reason and is audited.
    let r = desk.post_form(&format!("/requests/{id}/reveal-phone"), &[("reason", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = desk.post_form(&format!("/requests/{id}/reveal-phone"), &[("reason", "回访联系")]).await;
    assert!(r.body.contains("13912345678"), "{}", r.status);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'request.reveal_phone'").await, 1);
}

#[tokio::test]
async fn a_sewer_shared_by_several_units_resolves_only_when_every_part_does() {
    let app = TestApp::new().await;
    let desk = app.login("bureau").await;
    let zhenxing = app.place_id("振兴街社区").await.to_string();
    let estate = id_of(&app, "SELECT id FROM estates WHERE name = $1", "建筑三公司家属院").await.to_string();
    let paiwu_org = id_of(&app, "SELECT id FROM organisations WHERE name = $1", "大同市政排污所").await;
    let huanwei_org = id_of(&app, "SELECT id FROM organisations WHERE name = $1", "平城区环卫服务中心").await;
    let r = desk
        .post_form(
            "/requests",
            &[
                ("category", "sewage_overflow"),
                ("description", "建筑三公司家属院附近检查井反复外溢"),
                ("place_id", &zhenxing),
                ("estate_id", &estate),
                ("phone", "13700001111"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = id_from(&r.location());
    let (_, v) = state(&app, &id).await;
    let r = desk
        .post_form(
            &format!("/requests/{id}/dispatch"),
            &[
                ("version", &v.to_string()),
                ("units", &format!("org:{paiwu_org}")),
                ("units", &format!("org:{huanwei_org}")),
                ("units", &format!("place:{zhenxing}")),
                ("note", "街道统筹，三家协同"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM request_parts").await, 3);

    // Other stations and communities cannot see it; the department sees it through its part.
    for account in ["leizeyu", "changmin", "volunteer"] {
        let c = app.login(account).await;
        let r = c.get(&format!("/requests/{id}")).await;
        assert!(matches!(r.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "{account}: {}", r.status);
    }
    let paiwu = app.login("paiwu").await;
    assert_eq!(paiwu.get(&format!("/requests/{id}")).await.status, StatusCode::OK);

    // The department signs and resolves its part; it cannot touch the community's part.
    let (pw, _, pwv) = part(&app, &id, "大同市政排污所").await;
    let (zx, _, zxv) = part(&app, &id, "振兴街社区").await;
    let r =
        paiwu.post_form(&format!("/request-parts/{zx}"), &[("version", &zxv.to_string()), ("action", "sign")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r =
        paiwu.post_form(&format!("/request-parts/{pw}"), &[("version", &pwv.to_string()), ("action", "sign")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, _, pwv) = part(&app, &id, "大同市政排污所").await;
    let r = paiwu
        .post_form(
            &format!("/request-parts/{pw}"),
            &[("version", &pwv.to_string()), ("action", "resolve"), ("note", "清掏检查井7座，疏通管道100余米")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &id).await.0, "in_progress", "one part of three is not the request");

    // The community asks for two more working days; a second ask waits for the first.
    let worker = app.login("hanjianwei").await;
    let r =
        worker.post_form(&format!("/request-parts/{zx}"), &[("version", &zxv.to_string()), ("action", "sign")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let due_before: (chrono::DateTime<chrono::Utc>,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT due FROM request_parts WHERE id = $1")
            .bind(Uuid::parse_str(&zx).unwrap())
            .fetch_one(c)
            .await)
        .unwrap();
    let r = worker.post_form(&format!("/request-parts/{zx}/extension"), &[("days", "0"), ("reason", "需协调")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = worker
        .post_form(&format!("/request-parts/{zx}/extension"), &[("days", "2"), ("reason", "需等待管道疏通后恢复路面")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = worker.post_form(&format!("/request-parts/{zx}/extension"), &[("days", "3"), ("reason", "再延")]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("已有待审批的延期申请"));
    let ext = app.count("SELECT COUNT(*) FROM request_extensions").await;
    assert_eq!(ext, 1);
    let ext_id: (Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM request_extensions").fetch_one(c).await).unwrap();
    // The worker cannot approve their own extension.
    let r = worker.post_form(&format!("/request-extensions/{}/decision", ext_id.0), &[("decision", "approve")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = desk
        .post_form(&format!("/request-extensions/{}/decision", ext_id.0), &[("decision", "approve"), ("note", "同意")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let due_after: (chrono::DateTime<chrono::Utc>,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT due FROM request_parts WHERE id = $1")
            .bind(Uuid::parse_str(&zx).unwrap())
            .fetch_one(c)
            .await)
        .unwrap();
    assert!(due_after.0 >= due_before.0 + chrono::Duration::days(2), "{:?} → {:?}", due_before.0, due_after.0);

    // 环卫 has no one signed in; the dispatcher withdraws its part with a reason.
    let (hw, _, _) = part(&app, &id, "平城区环卫服务中心").await;
    let (_, hwv) = state(&app, &id).await;
    let r = desk.post_form(&format!("/request-parts/{hw}/reassign"), &[("version", &hwv.to_string())]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a reassignment needs a reason");
    let r = desk
        .post_form(
            &format!("/request-parts/{hw}/reassign"),
            &[("version", &hwv.to_string()), ("reason", "由执法队现场处置，环卫无需参与")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(part(&app, &id, "平城区环卫服务中心").await.1, "withdrawn");
    assert_eq!(state(&app, &id).await.0, "in_progress");

    let (_, _, zxv) = part(&app, &id, "振兴街社区").await;
    let r = worker
        .post_form(
            &format!("/request-parts/{zx}"),
            &[("version", &zxv.to_string()), ("action", "resolve"), ("note", "路面恢复，居民确认")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &id).await.0, "resolved", "every active part resolved");
}

#[tokio::test]
async fn a_returned_part_goes_back_to_the_dispatcher_and_overdue_work_escalates_once() {
    let app = TestApp::new().await;
    let desk = app.login("bureau").await;
    let zhenxing = app.place_id("振兴街社区").await.to_string();
    let paiwu_org = id_of(&app, "SELECT id FROM organisations WHERE name = $1", "大同市政排污所").await;
    let r = desk
        .post_form(
            "/requests",
            &[("category", "street_light"), ("description", "振兴街路灯不亮"), ("place_id", &zhenxing)],
        )
        .await;
    let id = id_from(&r.location());
    let (_, v) = state(&app, &id).await;
    desk.post_form(
        &format!("/requests/{id}/dispatch"),
        &[("version", &v.to_string()), ("units", &format!("org:{paiwu_org}"))],
    )
    .await;
    let paiwu = app.login("paiwu").await;
    let (pw, _, pwv) = part(&app, &id, "大同市政排污所").await;
    let r =
        paiwu.post_form(&format!("/request-parts/{pw}"), &[("version", &pwv.to_string()), ("action", "return")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "退单 needs a reason");
    let r = paiwu
        .post_form(
            &format!("/request-parts/{pw}"),
            &[("version", &pwv.to_string()), ("action", "return"), ("note", "路灯不属排污所职责")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &id).await.0, "accepted", "back in the dispatch queue");
    let queue = desk.get("/requests?queue=dispatch").await;
    let number: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT number FROM requests").fetch_one(c).await).unwrap();
    assert!(queue.body.contains(&number.0));
    // The returned part is out of the department's hands.
    let r = paiwu
        .post_form(&format!("/request-parts/{pw}"), &[("version", &(pwv + 1).to_string()), ("action", "sign")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Overdue: two instances sweep at once; the request is escalated once.
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let rid = Uuid::parse_str(&id).unwrap();
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query("UPDATE requests SET resolve_due = $1 WHERE id = $2")
        .bind(past)
        .bind(rid)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    let now = chrono::Utc::now();
    let (a, b) = tokio::join!(
        linli::requests::store::escalate_overdue(&app.st.db, now),
        linli::requests::store::escalate_overdue(&app.st.db, now)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM request_events WHERE kind = 'auto_escalated'").await, 1);
    let overdue = desk.get("/requests?queue=overdue").await;
    assert!(overdue.body.contains(&number.0));
    // 督办 by hand, with a reason; a social worker may not.
    let worker = app.login("hanjianwei").await;
    let r = worker.post_form(&format!("/requests/{id}/escalate"), &[("reason", "催办")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = desk.post_form(&format!("/requests/{id}/escalate"), &[("reason", "超时未派，请街道跟进")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(app.count("SELECT escalation FROM requests").await, 2);
}

/// Resolution photos: the unit resolves its part with a photo of the work, kept with the request
/// and shown on its page; a refused file leaves the part as it was.
#[tokio::test]
async fn a_unit_resolves_with_a_photo_of_the_work() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let mgr = app.login("zhenhua.mgr").await;
    let yongning = app.place_id("永宁社区").await.to_string();
    let taken = worker
        .post_form(
            "/requests",
            &[("category", "garbage_piled"), ("description", "楼下垃圾堆放"), ("place_id", &yongning)],
        )
        .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.body);
    let request = taken.location().trim_start_matches("/requests/").to_string();
    let r = mgr
        .post_form(
            &format!("/requests/{request}/dispatch"),
            &[("version", "1"), ("units", &format!("place:{yongning}"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (part_id, _, _) = part(&app, &request, "永宁社区").await;
    let r = worker.post_form(&format!("/request-parts/{part_id}"), &[("version", "1"), ("action", "sign")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let path = format!("/request-parts/{part_id}");
    let fields = [("version", "2"), ("action", "resolve"), ("note", "已清运，地面冲洗干净")];
    let bad = worker.post_multipart(&path, &fields, &[("photos", "done.jpg", b"<html></html>")]).await;
    assert_eq!(bad.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", bad.body);
    assert_eq!(part(&app, &request, "永宁社区").await.1, "signed", "nothing half-written");
    let photo = linli::files::samples::jpeg_with_gps(200, 100);
    let ok = worker.post_multipart(&path, &fields, &[("photos", "done.jpg", &photo)]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(part(&app, &request, "永宁社区").await.1, "resolved");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM files WHERE owner_kind = 'request' AND purpose = 'resolution'").await,
        1
    );
    let page = mgr.get(&format!("/requests/{request}")).await;
    assert!(page.body.contains("data-purpose=\"resolution\""), "{}", page.body);
}

/// The bureau edits a category's time limits and adds a category; bad values, a stale form and a
/// taken code are refused; the new category is offered at once (Open311 included).
#[tokio::test]
async fn the_bureau_edits_categories_and_their_time_limits() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let list = bureau.get("/request-categories").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("/request-categories/sewer_blocked/edit"));
    let edit = bureau.get("/request-categories/sewer_blocked/edit").await;
    assert_eq!(edit.status, StatusCode::OK);
    assert_eq!(bureau.get("/request-categories/no_such/edit").await.status, StatusCode::NOT_FOUND);
    let version: (i64,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT version FROM request_categories WHERE code = 'sewer_blocked'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    let v = version.0.to_string();
    let base = |hours: &'static str, days: &'static str, version: String| {
        vec![
            ("code", "sewer_blocked".to_string()),
            ("name", "下水堵塞".to_string()),
            ("group_name", "市政".to_string()),
            ("default_unit", "community".to_string()),
            ("response_hours", hours.to_string()),
            ("resolve_days", days.to_string()),
            ("active", "on".to_string()),
            ("version", version),
        ]
    };
    let r = post_category(&bureau, base("0", "abc", v.clone())).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("时限超出允许范围") && r.body.contains("value=\"abc\""), "{}", r.body);
    let r = post_category(&bureau, base("2", "5", "999".into())).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = post_category(&bureau, base("2", "5", v.clone())).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let days: (i64,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT resolve_days FROM request_categories WHERE code = 'sewer_blocked'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(days.0, 5);
    // A new category: its code must be new; a department default needs the department.
    let new = |code: &'static str, unit: &'static str| {
        vec![
            ("code", code.to_string()),
            ("name", "共享单车乱停".to_string()),
            ("group_name", "市容".to_string()),
            ("default_unit", unit.to_string()),
            ("response_hours", "4".to_string()),
            ("resolve_days", "2".to_string()),
            ("active", "on".to_string()),
        ]
    };
    assert_eq!(
        post_category(&bureau, new("sewer_blocked", "community")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = post_category(&bureau, new("bike_parking", "department")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("须选择部门"));
    assert_eq!(
        post_category(&bureau, new("Bike Parking!", "community")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = post_category(&bureau, new("bike_parking", "community")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let services = app.anon().get("/open311/v2/services.json").await.json();
    assert!(services.as_array().unwrap().iter().any(|s| s["service_code"] == "bike_parking"));
    // Only the bureau.
    let mgr = app.login("zhenhua.mgr").await;
    assert_eq!(mgr.get("/request-categories").await.status, StatusCode::FORBIDDEN);
    assert_eq!(mgr.post_form("/request-categories", &[("code", "x")]).await.status, StatusCode::FORBIDDEN);
}

async fn post_category(c: &crate::harness::Client<'_>, fields: Vec<(&'static str, String)>) -> crate::harness::Resp {
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.post_form("/request-categories", &f).await
}

/// The overdue queue lists what a unit still owes: a request located in another street shows on
/// a street's and a department's overdue list while their parts are open, and leaves the
/// street's list once its community has finished its part (it stays in the street's area queue).
#[tokio::test]
async fn the_overdue_queue_follows_the_parts_a_unit_still_has_to_handle() {
    let app = TestApp::new().await;
    let desk = app.login("bureau").await;
    let liuhang = app.place_id("柳航里社区").await.to_string();
    let yongning = app.place_id("永宁社区").await.to_string();
    let paiwu_org = id_of(&app, "SELECT id FROM organisations WHERE name = $1", "大同市政排污所").await;
    let r = desk
        .post_form(
            "/requests",
            &[("category", "sewer_blocked"), ("description", "柳航里下水返味"), ("place_id", &liuhang)],
        )
        .await;
    let id = id_from(&r.location());
    let (_, v) = state(&app, &id).await;
    let r = desk
        .post_form(
            &format!("/requests/{id}/dispatch"),
            &[
                ("version", &v.to_string()),
                ("units", &format!("org:{paiwu_org}")),
                ("units", &format!("place:{yongning}")),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let number: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT number FROM requests").fetch_one(c).await).unwrap();
    let number = number.0;
    let street = app.login("zhenhua.mgr").await;
    let paiwu = app.login("paiwu").await;
    let community = app.login("wenbichen").await;
    assert!(!street.get("/requests?queue=overdue").await.body.contains(&number), "not yet due");

    // Past due: the request's deadline follows its parts' (a part's resolution recomputes it).
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut tx = app.st.db.begin().await.unwrap();
    for sql in ["UPDATE requests SET resolve_due = $1", "UPDATE request_parts SET due = $1"] {
        linli::write!(&mut tx, |c| sqlx::query(sql).bind(past).execute(c).await.map(|r| r.rows_affected())).unwrap();
    }
    tx.commit().await.unwrap();
    for (who, s) in [("bureau", &desk), ("zhenhua.mgr", &street), ("paiwu", &paiwu), ("wenbichen", &community)] {
        assert!(s.get("/requests?queue=overdue").await.body.contains(&number), "{who} owes work on it");
    }

    let (pid, _, pv) = part(&app, &id, "永宁社区").await;
    let r = community
        .post_form(&format!("/request-parts/{pid}"), &[("version", &pv.to_string()), ("action", "sign")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = community
        .post_form(
            &format!("/request-parts/{pid}"),
            &[("version", &(pv + 1).to_string()), ("action", "resolve"), ("note", "入户查看，楼内管道通畅")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(state(&app, &id).await.0, "in_progress", "the department's part is still open");
    assert!(!street.get("/requests?queue=overdue").await.body.contains(&number), "the street's part is done");
    assert!(street.get("/requests?queue=area").await.body.contains(&number), "still in the street's area");
    assert!(paiwu.get("/requests?queue=overdue").await.body.contains(&number), "the department still owes it");
    assert!(desk.get("/requests?queue=overdue").await.body.contains(&number), "located in the bureau's district");
}

#[tokio::test]
async fn the_demo_opens_on_the_request_and_hazard_stories_in_every_state() {
    let app = TestApp::new().await;
    linli::demo::load_casework(&app.st.db, &app.st.keys).await.unwrap();
    linli::demo::load_requests_and_hazards(&app.st.db, &app.st.keys).await.unwrap();
    let desk = app.login("bureau").await;
    async fn number_and_status(app: &TestApp, category: &str) -> (String, String) {
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT number, status FROM requests WHERE category = $1")
            .bind(category)
            .fetch_one(c)
            .await)
        .unwrap()
    }

    // Story 6 went the whole way: dispatched, signed, resolved, called back, rated.
    let (sewer, status) = number_and_status(&app, "sewage_overflow").await;
    assert_eq!(status, "closed");
    let sewer_id = id_of(&app, "SELECT id FROM requests WHERE number = $1", &sewer).await.to_string();
    assert_eq!(
        events(&app, &sewer_id).await,
        ["accepted", "published", "dispatched", "signed", "resolved_part", "resolved", "closed"]
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM requests WHERE satisfaction = 'satisfied'").await, 1);

    // Story 7 is with three units at once; the drainage works has signed and noted its work.
    let (manhole, status) = number_and_status(&app, "sewer_blocked").await;
    assert_eq!(status, "in_progress");
    let manhole_id = id_of(&app, "SELECT id FROM requests WHERE number = $1", &manhole).await.to_string();
    assert_eq!(part(&app, &manhole_id, "大同市政排污所").await.1, "signed");
    assert_eq!(part(&app, &manhole_id, "平城区环卫服务中心").await.1, "dispatched");
    assert_eq!(part(&app, &manhole_id, "迎宾街道综合行政执法队").await.1, "dispatched");
    let paiwu = app.login("paiwu").await;
    assert!(paiwu.get("/requests?queue=mine").await.body.contains(&manhole));

    // A report waits at the desk; the queues and the metrics count all three.
    let (light, status) = number_and_status(&app, "street_light").await;
    assert_eq!(status, "accepted");
    let dispatch = desk.get("/api/v1/requests?queue=dispatch").await.json();
    assert_eq!(dispatch["total"], 1);
    assert!(dispatch.to_string().contains(&light));
    assert_eq!(desk.get("/api/v1/requests?queue=area").await.json()["total"], 3);
    // The metrics label every figure on a phone's stacked rows; the map shows what is still open.
    let metrics = desk.get("/requests/metrics?by=street").await;
    assert!(metrics.body.contains("<td data-label=\"满意率\">100.0%"), "{}", metrics.body);
    let map = desk.get("/map").await;
    assert_eq!(map.between("id=\"map-count\">", "</p>").unwrap(), "图上 4", "two open requests, two hazards");

    // The grid worker's phone has today's flood patrol; two hazards are on the register.
    let grid = app.login("yongtai.grid").await;
    let patrols = grid.get("/patrols").await;
    assert!(patrols.body.contains("汛期巡查"), "{}", patrols.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards WHERE status IN ('open', 'rectifying')").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM hazards WHERE risk_level = 'major'").await, 1);
}
