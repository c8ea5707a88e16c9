//! The authorisation table: every route × every role (and anonymous) × expected outcome.
//! Built against `app::all_routes()`, so a route added without rows here fails this test.
//!
//! Outcomes: `O` passes the guard and the scope (any answer but 401/403/404/login redirect),
//! `F` 403, `N` 404 (outside the caller's scope, indistinguishable from missing),
//! `L` sent to log in (303 to /login for pages, 401 for the API).
//! Columns: anonymous, bureau_admin, system_admin, auditor, station_manager (振华),
//! social_worker (振华), community_staff (万城社区), grid_worker (柳航里), department_handler,
//! partner_staff (清远), volunteer (文兴社区).
//!
//! Path ids: places → 永宁社区 (振华街道); people, person-tags, cases → a client of 振华 with a tag and a case; staff → hanjianwei (迎宾街道); estates → 宏安小区;
//! organisations → 彦君工作室; stations → 振华街道社工站; tokens → a token of the bureau admin;
//! requests, request parts, events and extensions → a request in 永宁社区 dispatched to that community;
//! hazards → a hazard in 永宁社区 linked to the client; files → its photo; patrols → a patrol of 永宁社区.

use axum::http::{Method, StatusCode};

use crate::harness::{Client, ROLE_ACCOUNTS, TestApp};

const TABLE: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "OOOOOOOOOOO"),
    ("GET", "/readyz", "OOOOOOOOOOO"),
    ("GET", "/static/{name}", "OOOOOOOOOOO"),
    ("GET", "/api/v1/openapi.json", "OOOOOOOOOOO"),
    ("GET", "/login", "OOOOOOOOOOO"),
    ("POST", "/login", "OOOOOOOOOOO"),
    ("GET", "/login/totp", "OOOOOOOOOOO"),
    ("POST", "/login/totp", "OOOOOOOOOOO"),
    ("POST", "/locale", "OOOOOOOOOOO"),
    ("GET", "/", "LOOOOOOOOOO"),
    ("GET", "/account", "LOOOOOOOOOO"),
    ("GET", "/account/password", "LOOOOOOOOOO"),
    ("POST", "/account/password", "LOOOOOOOOOO"),
    ("POST", "/account/tokens", "LOOOOOOOOOO"),
    ("POST", "/account/tokens/{id}/revoke", "LONNNNNNNNN"),
    ("GET", "/api/v1/me", "LOOOOOOOOOO"),
    ("GET", "/places", "LOOFOOOOOOO"),
    ("GET", "/places/new", "LOOFFFFFFFF"),
    ("POST", "/places", "LOOFFFFFFFF"),
    ("GET", "/places/import", "LOOFFFFFFFF"),
    ("POST", "/places/import", "LOOFFFFFFFF"),
    ("POST", "/places/import/commit", "LOOFFFFFFFF"),
    ("GET", "/places/{id}", "LOOFOONNONN"),
    ("GET", "/places/{id}/edit", "LOOFFFFFFFF"),
    ("POST", "/places/{id}", "LOOFFFFFFFF"),
    ("POST", "/places/{id}/move", "LOOFFFFFFFF"),
    ("POST", "/places/{id}/active", "LOOFFFFFFFF"),
    ("GET", "/estates", "LOOFOOOOOOO"),
    ("GET", "/estates/new", "LOOFFFFFFFF"),
    ("POST", "/estates", "LOOFFFFFFFF"),
    ("GET", "/estates/{id}/edit", "LOOFFFFFFFF"),
    ("POST", "/estates/{id}", "LOOFFFFFFFF"),
    ("GET", "/organisations", "LOOFOOOOOOO"),
    ("GET", "/organisations/new", "LOOFFFFFFFF"),
    ("POST", "/organisations", "LOOFFFFFFFF"),
    ("GET", "/organisations/{id}/edit", "LOOFFFFFFFF"),
    ("POST", "/organisations/{id}", "LOOFFFFFFFF"),
    ("GET", "/stations", "LOOFOOOOOOO"),
    ("GET", "/stations/new", "LOOFFFFFFFF"),
    ("POST", "/stations", "LOOFFFFFFFF"),
    ("GET", "/stations/{id}/edit", "LOOFFFFFFFF"),
    ("POST", "/stations/{id}", "LOOFFFFFFFF"),
    ("GET", "/staff", "LOOFOFFFFFF"),
    ("GET", "/staff/new", "LOOFFFFFFFF"),
    ("POST", "/staff", "LOOFFFFFFFF"),
    ("GET", "/staff/{id}", "LOOFNFFFFFF"),
    ("GET", "/staff/{id}/edit", "LOOFFFFFFFF"),
    ("POST", "/staff/{id}", "LOOFFFFFFFF"),
    ("POST", "/staff/{id}/disabled", "LOOFFFFFFFF"),
    ("POST", "/staff/{id}/reset-password", "LOOFFFFFFFF"),
    ("PUT", "/api/v1/staff/{id}", "LOOFFFFFFFF"),
    ("POST", "/api/v1/staff/{id}/disabled", "LOOFFFFFFFF"),
    ("POST", "/api/v1/staff/{id}/password-reset", "LOOFFFFFFFF"),
    ("GET", "/audit", "LOFOFFFFFFF"),
    ("GET", "/api/v1/audit", "LOFOFFFFFFF"),
    ("GET", "/api/v1/places", "LOOFOOOOOOO"),
    ("POST", "/api/v1/places", "LOOFFFFFFFF"),
    ("GET", "/api/v1/places/{id}", "LOOFOONNONN"),
    ("PATCH", "/api/v1/places/{id}", "LOOFFFFFFFF"),
    ("POST", "/api/v1/places/{id}/move", "LOOFFFFFFFF"),
    ("GET", "/api/v1/organisations", "LOOFOOOOOOO"),
    ("GET", "/api/v1/estates", "LOOFOOOOOOO"),
    ("GET", "/api/v1/stations", "LOOFOOOOOOO"),
    ("GET", "/api/v1/staff", "LOOFOFFFFFF"),
    ("GET", "/api/v1/staff/{id}", "LOOFNFFFFFF"),
    ("POST", "/api/v1/staff", "LOOFFFFFFFF"),
    ("GET", "/people", "LOFFOOOOFFF"),
    ("GET", "/people/new", "LOFFOOOOFFF"),
    ("POST", "/people", "LOFFOOOOFFF"),
    ("GET", "/people/import", "LOFFOOOOFFF"),
    ("POST", "/people/import", "LOFFOOOOFFF"),
    ("POST", "/people/import/commit", "LOFFOOOOFFF"),
    ("GET", "/people/import/{id}", "LNFFNNNNFFF"),
    ("GET", "/people/import/template.xlsx", "LOFFOOOOFFF"),
    ("GET", "/people/import/{id}/rejects.xlsx", "LNFFNNNNFFF"),
    ("GET", "/people/export.xlsx", "LOFFOOOOFFF"),
    ("GET", "/people/export-requests", "LOFFOOOOFFF"),
    ("POST", "/people/export-requests", "LOFFOOOOFFF"),
    ("POST", "/people/export-requests/{id}/decision", "LNFFNFFFFFF"),
    ("GET", "/people/export-requests/{id}/download", "LNFFNNNNFFF"),
    ("GET", "/people/{id}", "LOFFOONNFFF"),
    ("GET", "/people/{id}/edit", "LOFFOONNFFF"),
    ("POST", "/people/{id}", "LOFFOONNFFF"),
    ("POST", "/people/{id}/reveal", "LOFFOOFFFFF"),
    ("POST", "/people/{id}/tags", "LOFFOONNFFF"),
    ("POST", "/person-tags/{id}/end", "LOFFOONNFFF"),
    ("POST", "/api/v1/person-tags/{id}/end", "LOFFOONNFFF"),
    ("POST", "/people/{id}/cases", "LFFFOOFFFFF"),
    ("POST", "/people/{id}/grants", "LFFFOFFFFFF"),
    ("POST", "/child-grants/{id}/revoke", "LFFFOFFFFFF"),
    ("POST", "/people/{id}/merge", "LFFFOOFFFFF"),
    ("POST", "/people/{id}/access-export", "LFFFOFFFFFF"),
    ("POST", "/people/{id}/anonymise", "LFFFOFFFFFF"),
    ("GET", "/search", "LOFFOOOOFFF"),
    ("GET", "/api/v1/people", "LOFFOOOOFFF"),
    ("POST", "/api/v1/people", "LOFFOOOOFFF"),
    ("POST", "/api/v1/people/imports", "LOFFOOOOFFF"),
    ("GET", "/api/v1/people/imports/{id}", "LNFFNNNNFFF"),
    ("POST", "/api/v1/people/imports/{id}/commit", "LNFFNNNNFFF"),
    ("GET", "/api/v1/people/imports/{id}/rejects", "LNFFNNNNFFF"),
    ("GET", "/api/v1/people/{id}", "LOFFOONNFFF"),
    // An incomplete body is refused (400) before the record is looked up; it reveals nothing.
    ("PUT", "/api/v1/people/{id}", "LOFFOOOOFFF"),
    ("GET", "/api/v1/people/{id}/timeline", "LOFFOONNFFF"),
    ("GET", "/api/v1/people/{id}/household", "LOFFOONNFFF"),
    ("POST", "/api/v1/people/{id}/tags", "LOFFOOOOFFF"),
    ("POST", "/api/v1/people/{id}/reveal", "LOFFOOFFFFF"),
    ("POST", "/api/v1/people/{id}/merge", "LFFFOOFFFFF"),
    ("POST", "/api/v1/people/{id}/access-export", "LFFFOFFFFFF"),
    ("POST", "/api/v1/people/{id}/anonymise", "LFFFOFFFFFF"),
    ("GET", "/cases", "LOFFOOFFFFF"),
    ("GET", "/cases/due", "LOFFOOFFFFF"),
    ("GET", "/cases/ledger.xlsx", "LOFFOOFFFFF"),
    ("GET", "/cases/{id}", "LOFFOOFFFFF"),
    ("POST", "/cases/{id}/assessments", "LFFFOOFFFFF"),
    ("POST", "/cases/{id}/plan", "LFFFOOFFFFF"),
    ("POST", "/cases/{id}/plan/approve", "LFFFOFFFFFF"),
    ("POST", "/cases/{id}/records", "LFFFOOFFFFF"),
    ("POST", "/cases/{id}/close", "LFFFOOFFFFF"),
    ("POST", "/cases/{id}/close/decision", "LFFFOFFFFFF"),
    ("POST", "/cases/{id}/transfer", "LFFFOFFFFFF"),
    ("GET", "/cases/transfers", "LFFFOFFFFFF"),
    ("POST", "/cases/transfers/{id}/accept", "LFFFNFFFFFF"),
    ("POST", "/cases/transfers/{id}/refuse", "LFFFNFFFFFF"),
    ("POST", "/cases/transfers/{id}/withdraw", "LFFFNFFFFFF"),
    ("POST", "/cases/{id}/reassign", "LFFFOFFFFFF"),
    ("POST", "/case-records/{id}/reveal", "LOFFFFFFFFF"),
    ("GET", "/api/v1/cases", "LOFFOOFFFFF"),
    ("POST", "/api/v1/cases", "LFFFOOFFFFF"),
    ("GET", "/api/v1/cases/{id}", "LOFFOOFFFFF"),
    ("POST", "/api/v1/cases/{id}/records", "LFFFOOFFFFF"),
    ("PUT", "/api/v1/cases/{id}/plan", "LFFFOOFFFFF"),
    ("GET", "/api/v1/cases/{id}/assessments", "LOFFOOFFFFF"),
    ("POST", "/api/v1/cases/{id}/assessments", "LFFFOOFFFFF"),
    ("POST", "/api/v1/cases/{id}/plan/approval", "LFFFOFFFFFF"),
    ("POST", "/api/v1/cases/{id}/closure", "LFFFOOFFFFF"),
    ("POST", "/api/v1/cases/{id}/closure/decision", "LFFFOFFFFFF"),
    ("POST", "/api/v1/cases/{id}/reassignment", "LFFFOFFFFFF"),
    ("POST", "/api/v1/cases/{id}/transfer-offers", "LFFFOFFFFFF"),
    ("GET", "/api/v1/transfer-offers", "LFFFOFFFFFF"),
    ("POST", "/api/v1/transfer-offers/{id}/accept", "LFFFNFFFFFF"),
    ("POST", "/api/v1/transfer-offers/{id}/refuse", "LFFFOFFFFFF"),
    ("POST", "/api/v1/transfer-offers/{id}/withdraw", "LFFFNFFFFFF"),
    ("GET", "/api/v1/follow-ups", "LOFFOOFFFFF"),
    ("GET", "/api/v1/follow-up-tiers", "LOFFOOFFFFF"),
    ("POST", "/api/v1/follow-up-tiers", "LOFFFFFFFFF"),
    ("GET", "/api/v1/instruments", "LOFFOOFFFFF"),
    ("POST", "/api/v1/instruments", "LOFFFFFFFFF"),
    ("GET", "/cases/settings", "LOFFFFFFFFF"),
    ("POST", "/cases/settings/tiers/{code}", "LOFFFFFFFFF"),
    ("POST", "/cases/settings/instruments/{code}", "LOFFFFFFFFF"),
    ("GET", "/requests", "LOFFOOOOOFF"),
    ("GET", "/requests/new", "LOFFOOOOFFF"),
    ("GET", "/requests/metrics", "LOFFOFOFOFF"),
    ("GET", "/requests/metrics.xlsx", "LOFFOFOFOFF"),
    ("GET", "/api/v1/requests/metrics", "LOFFOFOFOFF"),
    ("POST", "/requests", "LOFFOOOOFFF"),
    ("GET", "/requests/{id}", "LOFFOONNNFF"),
    ("POST", "/requests/{id}/dispatch", "LOFFOFNFFFF"),
    ("POST", "/requests/{id}/callback", "LOFFOFNFFFF"),
    ("POST", "/requests/{id}/publication", "LOFFOFNFFFF"),
    ("POST", "/request-events/{id}/withdraw-note", "LOFFOFNFFFF"),
    ("POST", "/requests/{id}/merge", "LOFFOFNFFFF"),
    ("POST", "/requests/{id}/escalate", "LOFFOFFFFFF"),
    ("POST", "/requests/{id}/reveal-phone", "LOFFOFNFFFF"),
    ("POST", "/request-parts/{id}", "LFFFOONNNFF"),
    ("POST", "/request-parts/{id}/extension", "LFFFOONNNFF"),
    ("POST", "/request-parts/{id}/reassign", "LOFFOFNFFFF"),
    ("POST", "/request-extensions/{id}/decision", "LOFFOFNFFFF"),
    ("POST", "/api/v1/request-parts/{id}/extension", "LFFFOONNNFF"),
    ("POST", "/api/v1/request-extensions/{id}/decision", "LOFFOFNFFFF"),
    ("GET", "/api/v1/requests", "LOFFOOOOOFF"),
    ("POST", "/api/v1/requests", "LOFFOOOOFFF"),
    ("GET", "/api/v1/requests/{id}", "LOFFOONNNFF"),
    ("POST", "/api/v1/requests/{id}/dispatch", "LOFFOFNFFFF"),
    ("POST", "/api/v1/requests/{id}/callback", "LOFFOFNFFFF"),
    ("POST", "/api/v1/requests/{id}/publication", "LOFFOFNFFFF"),
    ("POST", "/api/v1/request-parts/{id}/actions", "LFFFOONNNFF"),
    ("GET", "/hazards", "LOFFOOOOFFF"),
    ("GET", "/hazards/new", "LOFFOOOOFFF"),
    ("POST", "/hazards", "LOFFOOOOFFF"),
    ("GET", "/hazards/ledger.xlsx", "LOFFOFOFFFF"),
    ("GET", "/hazards/{id}", "LOFFOONNFFF"),
    ("POST", "/hazards/{id}/step", "LOFFOONNFFF"),
    ("GET", "/patrols", "LOFFOOOOFFF"),
    ("GET", "/patrols/new", "LOFFOFOFFFF"),
    ("POST", "/patrols", "LOFFOFOFFFF"),
    ("GET", "/patrols/{id}", "LOFFOONNFFF"),
    ("POST", "/patrols/{id}", "LOFFOONNFFF"),
    ("GET", "/api/v1/hazards", "LOFFOOOOFFF"),
    ("GET", "/api/v1/search", "LOFFOOOOOFF"),
    ("POST", "/api/v1/hazards", "LOFFOOOOFFF"),
    ("GET", "/api/v1/hazards/{id}", "LOFFOONNFFF"),
    ("POST", "/api/v1/hazards/{id}/steps", "LOFFOONNFFF"),
    ("GET", "/api/v1/patrols", "LOFFOOOOFFF"),
    ("POST", "/api/v1/patrols", "LOFFOFOFFFF"),
    ("GET", "/api/v1/patrols/{id}", "LOFFOONNFFF"),
    ("POST", "/api/v1/patrols/{id}/completion", "LOFFOONNFFF"),
    ("GET", "/files/{id}", "LONNOONNNNN"),
    ("GET", "/map", "LOFFOOOOOFF"),
    ("GET", "/request-categories", "LOFFFFFFFFF"),
    ("GET", "/request-categories/new", "LOFFFFFFFFF"),
    ("GET", "/request-categories/{name}/edit", "LOFFFFFFFFF"),
    ("POST", "/request-categories", "LOFFFFFFFFF"),
    ("GET", "/request-calendar", "LOFFFFFFFFF"),
    ("POST", "/request-calendar", "LOFFFFFFFFF"),
    ("GET", "/report", "OOOOOOOOOOO"),
    ("POST", "/report", "OOOOOOOOOOO"),
    ("GET", "/track/{code}", "OOOOOOOOOOO"),
    ("POST", "/track/{code}/note", "OOOOOOOOOOO"),
    // Open311 is public to read; posting needs an app's api_key (403 without one, for everyone).
    ("GET", "/open311/v2/{file}", "OOOOOOOOOOO"),
    ("POST", "/open311/v2/{file}", "FFFFFFFFFFF"),
    ("GET", "/open311/v2/services/{file}", "OOOOOOOOOOO"),
    ("GET", "/open311/v2/requests/{file}", "OOOOOOOOOOO"),
    ("GET", "/open311/v2/tokens/{file}", "OOOOOOOOOOO"),
    // These change the caller's own session, so they run last.
    ("POST", "/account/totp", "LOOOOOOOOOO"),
    ("POST", "/logout", "OOOOOOOOOOO"),
];

fn classify(path: &str, status: StatusCode, location: &str) -> char {
    let api = path.starts_with("/api/");
    match status {
        StatusCode::FORBIDDEN => 'F',
        StatusCode::NOT_FOUND => 'N',
        StatusCode::UNAUTHORIZED if api => 'L',
        StatusCode::SEE_OTHER if location == "/login" && !path.starts_with("/login") && path != "/logout" => 'L',
        _ => 'O',
    }
}

#[tokio::test]
async fn every_route_has_a_row_for_every_role_and_the_outcomes_hold() {
    let app = TestApp::new().await;
    let routes = linli::app::all_routes();
    let declared: Vec<(String, String)> = routes.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    let missing: Vec<_> =
        declared.iter().filter(|(m, p)| !TABLE.iter().any(|(tm, tp, _)| tm == m && tp == p)).collect();
    assert!(missing.is_empty(), "routes without rows in the authorisation table: {missing:?}");
    let stale: Vec<_> = TABLE.iter().filter(|(m, p, _)| !declared.iter().any(|(dm, dp)| dm == m && dp == p)).collect();
    assert!(stale.is_empty(), "rows for routes that no longer exist: {stale:?}");
    assert_eq!(ROLE_ACCOUNTS.len(), linli::auth::Role::ALL.len(), "one account per role");

    let ids = [
        ("/places/", app.place_id("永宁社区").await.to_string()),
        ("/staff/", app.user_id("hanjianwei").await.to_string()),
    ];
    let est: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM estates WHERE name = '宏安小区'")
            .fetch_one(c)
            .await)
        .unwrap();
    let org: (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id FROM organisations WHERE name = '彦君传统文化传媒工作室'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    let sta: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM stations WHERE name = '振华街道社工站'")
            .fetch_one(c)
            .await)
        .unwrap();

    let mut clients: Vec<Client> = vec![app.anon()];
    for (_, account) in ROLE_ACCOUNTS {
        clients.push(app.login(account).await);
    }
    let tok = clients[1].post_form("/account/tokens", &[("name", "policy")]).await;
    assert_eq!(tok.status, StatusCode::OK);
    let token_id: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM api_tokens").fetch_one(c).await).unwrap();

    // A client of 振华街道社工站 (永宁社区), with a tag and a case, opened by its social worker.
    let worker = &clients[5];
    let yongning = app.place_id("永宁社区").await;
    let body = serde_json::json!({"name": "王鹏", "birth_date": "1986-03-02", "place_id": yongning}).to_string();
    let person = worker.send_json(Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(person.status, StatusCode::CREATED, "{}", person.body);
    let person_id = person.json()["id"].as_str().unwrap().to_string();
    let tag = worker
        .send_json(
            Method::POST,
            &format!("/api/v1/people/{person_id}/tags"),
            r#"{"tag": "serious_illness", "source": "医院诊断"}"#,
            &[],
        )
        .await;
    assert_eq!(tag.status, StatusCode::CREATED, "{}", tag.body);
    let tag_id = tag.json()["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"person_id": person_id, "domain": "social_assistance", "source": "walk_in", "summary": "尿毒症，家庭困难"});
    let case = worker.send_json(Method::POST, "/api/v1/cases", &body.to_string(), &[]).await;
    assert_eq!(case.status, StatusCode::CREATED, "{}", case.body);
    let case_id = case.json()["id"].as_str().unwrap().to_string();
    let rec = serde_json::json!({"kind": "counselling", "minutes": 30, "notes": "谈话"});
    let rec = worker.send_json(Method::POST, &format!("/api/v1/cases/{case_id}/records"), &rec.to_string(), &[]).await;
    assert_eq!(rec.status, StatusCode::CREATED, "{}", rec.body);
    let record_id: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM service_records").fetch_one(c).await).unwrap();
    let record_id = record_id.0.to_string();
    let grant = clients[4]
        .post_form(
            &format!("/people/{person_id}/grants"),
            &[("account", "wenbichen"), ("days", "1"), ("reason", "policy")],
        )
        .await;
    assert_eq!(grant.status, StatusCode::SEE_OTHER, "{}", grant.body);
    let grant_id: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM child_access_grants").fetch_one(c).await).unwrap();

    // A request in 永宁社区 taken by 振华's social worker, dispatched by its manager to the
    // community, with an extension asked for by the worker.
    let yongning_s = yongning.to_string();
    let taken = worker
        .post_form(
            "/requests",
            &[("category", "garbage_piled"), ("description", "楼下垃圾堆放"), ("place_id", &yongning_s)],
        )
        .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.body);
    let request_id = taken.location().trim_start_matches("/requests/").to_string();
    let dispatched = clients[4]
        .post_form(
            &format!("/requests/{request_id}/dispatch"),
            &[("version", "1"), ("units", &format!("place:{yongning}"))],
        )
        .await;
    assert_eq!(dispatched.status, StatusCode::SEE_OTHER, "{}", dispatched.body);
    let part_id: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM request_parts").fetch_one(c).await).unwrap();
    let part_id = part_id.0.to_string();
    let signed = worker.post_form(&format!("/request-parts/{part_id}"), &[("version", "1"), ("action", "sign")]).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let asked = worker
        .post_form(&format!("/request-parts/{part_id}/extension"), &[("days", "2"), ("reason", "等待物业配合")])
        .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    let event_id: (uuid::Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id FROM request_events WHERE request_id = $1 ORDER BY at LIMIT 1"
    )
    .bind(uuid::Uuid::parse_str(&request_id).unwrap())
    .fetch_one(c)
    .await)
    .unwrap();
    let extension_id: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM request_extensions").fetch_one(c).await).unwrap();

    // A resident's report from the public page, for its tracking link.
    let reported = app
        .anon()
        .post_form(
            "/report",
            &[
                ("category", "street_light"),
                ("description", "路灯不亮"),
                ("address", "永宁社区门口"),
                ("phone", "13900001111"),
            ],
        )
        .await;
    assert_eq!(reported.status, StatusCode::SEE_OTHER, "{}", reported.body);
    let tracking = reported.location().trim_start_matches("/track/").split('?').next().unwrap().to_string();
    // Published, so that the public routes have the request to read.
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query("UPDATE requests SET published = TRUE WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&request_id).unwrap())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    let request_number: (String,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT number FROM requests WHERE id = $1")
            .bind(uuid::Uuid::parse_str(&request_id).unwrap())
            .fetch_one(c)
            .await)
        .unwrap();

    // A hazard in 永宁社区 registered by the worker with a photo, and a patrol planned there.
    let photo = linli::files::samples::jpeg_with_gps(64, 48);
    let hazard = worker
        .post_multipart(
            "/hazards",
            &[
                ("category", "fire"),
                ("risk_level", "high"),
                ("description", "楼道堆放纸箱"),
                ("place_id", &yongning_s),
                ("person_id", &person_id),
            ],
            &[("photos", "photo.jpg", &photo)],
        )
        .await;
    assert_eq!(hazard.status, StatusCode::SEE_OTHER, "{}", hazard.body);
    let hazard_id = hazard.location().trim_start_matches("/hazards/").to_string();
    let file_id: (uuid::Uuid,) =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT id FROM files").fetch_one(c).await).unwrap();
    let patrol = clients[4]
        .post_form(
            "/patrols",
            &[
                ("place_id", &yongning_s),
                ("checklist", "fire"),
                ("area", "永宁社区1号楼"),
                ("due_on", &linli::hazards::store::today().to_string()),
            ],
        )
        .await;
    assert_eq!(patrol.status, StatusCode::SEE_OTHER, "{}", patrol.body);
    let patrol_id = patrol.location().trim_start_matches("/patrols/").to_string();

    let mut failures = Vec::new();
    for (method, template, expected) in TABLE {
        let id = if template.contains("/hazards/") {
            hazard_id.clone()
        } else if template.contains("/patrols/") {
            patrol_id.clone()
        } else if template.starts_with("/files/") {
            file_id.0.to_string()
        } else if template.contains("/requests/") {
            request_id.clone()
        } else if template.contains("/request-parts/") {
            part_id.clone()
        } else if template.starts_with("/request-events/") {
            event_id.0.to_string()
        } else if template.contains("/request-extensions/") {
            extension_id.0.to_string()
        } else if template.contains("/places/") {
            ids[0].1.clone()
        } else if template.contains("/staff/") {
            ids[1].1.clone()
        } else if template.starts_with("/estates") {
            est.0.to_string()
        } else if template.starts_with("/organisations") {
            org.0.to_string()
        } else if template.starts_with("/stations") {
            sta.0.to_string()
        } else if template.contains("/people/") {
            person_id.clone()
        } else if template.starts_with("/child-grants/") {
            grant_id.0.to_string()
        } else if template.starts_with("/case-records/") {
            record_id.clone()
        } else if template.contains("/person-tags/") {
            tag_id.clone()
        } else if template.contains("/cases/") || template.contains("/transfer-offers/") {
            // An offer's routes get the case's id: an offer unknown to everyone.
            case_id.clone()
        } else if template.starts_with("/account/tokens") {
            token_id.0.to_string()
        } else {
            String::new()
        };
        let file = match *template {
            "/open311/v2/services/{file}" => "sewer_blocked.json".to_string(),
            "/open311/v2/requests/{file}" => format!("{}.json", request_number.0),
            "/open311/v2/tokens/{file}" => format!("{request_id}.json"),
            _ => "services.json".to_string(),
        };
        let name = if template.starts_with("/request-categories/") { "sewer_blocked" } else { "linli.css" };
        let path = template
            .replace("{id}", &id)
            .replace("{name}", name)
            .replace("/track/{code}", &format!("/track/{tracking}"))
            .replace("{file}", &file);
        let method: Method = method.parse().unwrap();
        for (i, client) in clients.iter().enumerate() {
            let want = expected.chars().nth(i).unwrap();
            let r = if method == Method::GET {
                client.get(&path).await
            } else if path.starts_with("/api/") {
                client.send_json(method.clone(), &path, "{}", &[]).await
            } else {
                client.post_form(&path, &[]).await
            };
            assert!(r.status.as_u16() < 500, "{method} {path} as column {i} gave {}: {}", r.status, r.body);
            let got = classify(&path, r.status, &r.location());
            if got != want {
                failures.push(format!("{method} {template} column {i}: expected {want}, got {got} ({})", r.status));
            }
        }
    }
    assert!(failures.is_empty(), "authorisation table mismatches:\n{}", failures.join("\n"));
}
