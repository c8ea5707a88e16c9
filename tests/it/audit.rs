use axum::http::StatusCode;

use crate::harness::TestApp;

#[tokio::test]
async fn changes_logins_and_denials_are_audited_and_the_chain_verifies() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("永泰街道").await;
    c.post_form("/places", &[("kind", "community"), ("parent_id", &street.to_string()), ("name", "审计社区")]).await;
    app.anon().post_form("/login", &[("account", "bureau"), ("password", "definitely wrong")]).await;
    let vol = app.login("volunteer").await;
    assert_eq!(vol.get("/audit").await.status, StatusCode::FORBIDDEN);
    for action in ["place.create", "login.failure", "access.denied", "login.totp_enrolled", "login.password_ok"] {
        assert!(
            app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'")).await >= 1,
            "{action} recorded"
        );
    }
    let report = linli::audit::store::verify_chain(&app.st.db).await.unwrap();
    assert!(report.first_break.is_none(), "{report:?}");
    assert!(report.rows > 100);
    // The auditor reads and filters it.
    let a = app.login("auditor").await;
    let page = a.get("/audit?action=login.failure").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("login.failure") && !page.body.contains("place.create"));
    let api = a.get("/api/v1/audit?action=place&page_size=5").await.json();
    assert_eq!(api["items"].as_array().unwrap().len(), 5);
    let next = api["next_before"].as_i64().unwrap();
    let older = a.get(&format!("/api/v1/audit?action=place&page_size=5&before={next}")).await.json();
    assert!(older["items"][0]["seq"].as_i64().unwrap() < next);
    // No secrets or passwords land in the audit details.
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%{}%'", app.password)).await, 0);
}

#[tokio::test]
async fn the_app_cannot_change_audit_rows_and_tampering_is_detected() {
    let app = TestApp::new().await;
    let mut tx = app.st.db.begin().await.unwrap();
    let r = linli::write!(&mut tx, |c| sqlx::query("UPDATE audit_log SET actor = 'x' WHERE seq = 1")
        .execute(c)
        .await
        .map(|r| r.rows_affected()));
    assert!(r.is_err(), "trigger refuses updates");
    drop(tx);
    let mut tx = app.st.db.begin().await.unwrap();
    let r = linli::write!(&mut tx, |c| sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(c)
        .await
        .map(|r| r.rows_affected()));
    assert!(r.is_err(), "trigger refuses deletes");
    drop(tx);
    // Someone with database access drops the trigger and edits a row: `check` finds it.
    let mut tx = app.st.db.begin().await.unwrap();
    linli::write!(&mut tx, |c| async {
        match app.st.db.backend() {
            linli::db::Backend::Sqlite => {
                sqlx::query("DROP TRIGGER audit_log_no_update").execute(&mut *c).await.map(|r| r.rows_affected())?
            }
            linli::db::Backend::Postgres => sqlx::query("DROP TRIGGER audit_log_no_update ON audit_log")
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())?,
        };
        sqlx::query("UPDATE audit_log SET detail = '{\"forged\":true}' WHERE seq = 3")
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    }
    .await)
    .unwrap();
    tx.commit().await.unwrap();
    let report = linli::audit::store::verify_chain(&app.st.db).await.unwrap();
    assert_eq!(report.first_break, Some((3, "row content altered")));
}

/// An id outside the caller's scope answers exactly like a missing one; both leave an audit row
/// naming the route template and the id, and the row says whether the record exists.
#[tokio::test]
async fn reads_of_ids_outside_the_scope_are_audited_and_answer_like_missing_ones() {
    use axum::http::Method;
    let app = TestApp::new().await;
    let kaiyuan = app.login("zhengjiangbo").await;
    let minhe = app.place_id("民和社区").await;
    let body = serde_json::json!({"name": "李秀英", "birth_date": "1941-05-05", "place_id": minhe}).to_string();
    let r = kaiyuan.send_json(Method::POST, "/api/v1/people", &body, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let foreign = r.json()["id"].as_str().unwrap().to_string();
    let missing = uuid::Uuid::now_v7().to_string();
    let worker = app.login("wenbichen").await;
    let before = app.count("SELECT COUNT(*) FROM audit_log").await;
    let routes = ["/people/{id}", "/api/v1/people/{id}", "/api/v1/people/{id}/timeline"];
    for template in routes {
        let a = worker.get(&template.replace("{id}", &foreign)).await;
        let b = worker.get(&template.replace("{id}", &missing)).await;
        assert_eq!((a.status, b.status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND), "{template}");
        assert_eq!(a.bytes, b.bytes, "{template}: the same bytes");
        assert_eq!(a.headers, b.headers, "{template}: the same headers");
    }
    let tag = r#"{"tag": "living_alone", "source": "走访"}"#;
    let a = worker.send_json(Method::POST, &format!("/api/v1/people/{foreign}/tags"), tag, &[]).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    type Row = (String, String, String);
    let rows: Vec<Row> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT entity, entity_id, detail FROM audit_log WHERE action = 'access.not_found' AND actor = 'wenbichen' ORDER BY seq"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    let of = |id: &str| -> Vec<(String, serde_json::Value)> {
        rows.iter()
            .filter(|r| r.1 == id)
            .map(|r| (r.0.clone(), serde_json::from_str::<serde_json::Value>(&r.2).unwrap()))
            .collect()
    };
    let found = of(&foreign);
    let routes_seen: Vec<&str> = found.iter().map(|(_, d)| d["route"].as_str().unwrap()).collect();
    assert_eq!(
        routes_seen,
        vec![
            "GET /people/{id}",
            "GET /api/v1/people/{id}",
            "GET /api/v1/people/{id}/timeline",
            "POST /api/v1/people/{id}/tags"
        ],
        "the route template, never the concrete path"
    );
    assert!(found.iter().all(|(e, d)| d["exists"] == true && e == "person"), "{found:?}");
    let probed = of(&missing);
    assert_eq!(probed.len(), routes.len());
    assert!(probed.iter().all(|(_, d)| d["exists"] == false), "{probed:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, before + 2 * routes.len() as i64 + 1);
    // Nobody signed in, or a path that is no id route: nothing to audit.
    assert_eq!(app.anon().get(&format!("/api/v1/people/{foreign}")).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(worker.get("/no/such/page").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, before + 2 * routes.len() as i64 + 1);
    let report = linli::audit::store::verify_chain(&app.st.db).await.unwrap();
    assert!(report.first_break.is_none(), "{report:?}");
}

/// Every route with an `{id}` names the table its id is looked up in, so a 404 there is audited
/// with whether the record exists.
#[test]
fn every_id_route_names_its_table() {
    let missing: Vec<&str> = linli::app::all_routes()
        .iter()
        .map(|r| r.path)
        .filter(|p| p.contains("{id}") && linli::audit::not_found::target_of(p).is_none())
        .collect();
    assert!(missing.is_empty(), "id routes without a table: {missing:?}");
}

/// Probing ids cannot flood the hash-chained log: an account's 404s are audited up to a cap a
/// minute. 130 probes span at most two windows of the cap (60), so at most 120 rows.
#[tokio::test]
async fn probing_ids_cannot_flood_the_audit_log() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    for _ in 0..130 {
        let r = worker.get(&format!("/api/v1/people/{}", uuid::Uuid::now_v7())).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    let rows = app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'access.not_found'").await;
    assert!((60..=120).contains(&rows), "{rows} rows for 130 probes");
}
