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
