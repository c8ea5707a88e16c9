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
    // Actions are shown by name (codes stay as the filter list's values only).
    assert!(page.body.contains("<td data-label=\"操作\">登录失败</td>"), "{}", page.body);
    assert!(!page.body.contains("<td data-label=\"操作\">新增区划</td>"));
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
        // Every answer carries its own request id (the access log's); nothing else may differ.
        let without_id = |h: &axum::http::HeaderMap| {
            let mut h = h.clone();
            h.remove("x-request-id");
            h
        };
        assert_eq!(without_id(&a.headers), without_id(&b.headers), "{template}: the same headers");
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

/// The attack of issue 21: with the database in hand, drop the trigger, change a row, recompute
/// the SHA-256 chain from there and move `audit_head` along. The chain is keyed with a secret
/// kept outside the database, so the recomputed links do not verify.
#[tokio::test]
async fn a_row_forged_with_its_chain_and_head_recomputed_is_detected() {
    let app = TestApp::new().await;
    let db = &app.st.db;
    type Link = (
        i64,
        chrono::DateTime<chrono::Utc>,
        Option<uuid::Uuid>,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
    );
    let rows: Vec<Link> = linli::read!(db, |c| sqlx::query_as(
        "SELECT seq, at, actor_id, actor, action, entity, entity_id, ip, detail FROM audit_log ORDER BY seq"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    assert!(rows.len() > 20, "the demo city leaves a chain to forge");
    let forged_seq = 7;
    let mut tx = db.begin().await.unwrap();
    linli::write!(&mut tx, |c| async {
        match db.backend() {
            linli::db::Backend::Sqlite => {
                sqlx::query("DROP TRIGGER audit_log_no_update").execute(&mut *c).await.map(|r| r.rows_affected())?
            }
            linli::db::Backend::Postgres => sqlx::query("DROP TRIGGER audit_log_no_update ON audit_log")
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())?,
        };
        let mut prev = "0".repeat(64);
        for (seq, at, actor_id, actor, action, entity, entity_id, ip, detail) in &rows {
            let detail = if *seq == forged_seq { "{\"forged\":true}".to_string() } else { detail.clone() };
            let hash = linli::audit::ChainInput {
                seq: *seq,
                at: *at,
                actor_id: *actor_id,
                actor,
                action,
                entity,
                entity_id: entity_id.as_deref(),
                ip: ip.as_deref().unwrap_or(""),
                detail: &detail,
            }
            .hash(&prev);
            sqlx::query("UPDATE audit_log SET detail = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
                .bind(&detail)
                .bind(&prev)
                .bind(&hash)
                .bind(seq)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())?;
            prev = hash;
        }
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&prev)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    }
    .await)
    .unwrap();
    tx.commit().await.unwrap();
    let report = linli::audit::store::verify_chain(db).await.unwrap();
    assert_eq!(report.first_break.map(|(seq, _)| seq), Some(forged_seq), "{report:?}");
}

/// Without the key nothing in the chain can be forged, but rows can be cut from its end with
/// the head moved back: the shorter chain is whole. An anchor kept outside the database finds
/// the cut; rows written after the anchor are fine.
#[tokio::test]
async fn rows_cut_from_the_end_are_found_against_an_anchor() {
    let app = TestApp::new().await;
    let db = &app.st.db;
    let anchor = linli::audit::store::anchor(db).await.unwrap().expect("the demo wrote rows");
    let line = anchor.to_string();
    assert_eq!(line.parse::<linli::audit::store::Anchor>().unwrap(), anchor);
    app.login("bureau").await;
    let later = linli::audit::store::verify_against(db, std::slice::from_ref(&anchor)).await.unwrap();
    assert!(later.first_break.is_none() && later.rows > anchor.seq, "{later:?}");

    let keep = anchor.seq - 5;
    let mut tx = db.begin().await.unwrap();
    linli::write!(&mut tx, |c| async {
        match db.backend() {
            linli::db::Backend::Sqlite => {
                sqlx::query("DROP TRIGGER audit_log_no_delete").execute(&mut *c).await.map(|r| r.rows_affected())?
            }
            linli::db::Backend::Postgres => sqlx::query("DROP TRIGGER audit_log_no_update ON audit_log")
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())?,
        };
        sqlx::query("DELETE FROM audit_log WHERE seq > $1")
            .bind(keep)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = (SELECT hash FROM audit_log WHERE seq = $1) WHERE id = 1")
            .bind(keep)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    }
    .await)
    .unwrap();
    tx.commit().await.unwrap();
    let alone = linli::audit::store::verify_chain(db).await.unwrap();
    assert!(alone.first_break.is_none(), "a cut end is whole on its own: {alone:?}");
    let against = linli::audit::store::verify_against(db, std::slice::from_ref(&anchor)).await.unwrap();
    assert_eq!(against.first_break.map(|(seq, _)| seq), Some(anchor.seq), "{against:?}");
    // An anchor is for one row: another MAC for a row that is there does not pass either.
    let wrong = linli::audit::store::Anchor { seq: keep, mac: anchor.mac.clone() };
    let r = linli::audit::store::verify_against(db, &[wrong]).await.unwrap();
    assert_eq!(r.first_break.map(|(seq, _)| seq), Some(keep), "{r:?}");
}

/// Links name their key. After a rotation (`linli keys rotate` appends a row under the new key)
/// the chain verifies with both keys, and still with the new one alone: the old links are
/// covered by the new row's MAC. The old key alone cannot vouch for the newest link.
#[tokio::test]
async fn the_chain_verifies_across_a_key_rotation_and_without_the_old_key() {
    use linli::crypto::Keyring;
    use std::sync::Arc;
    let app = TestApp::new().await;
    let k1 = app.st.cfg.secret_key.clone().unwrap();
    let k2 = Keyring::generate_spec().replacen("k1:", "k2:", 1);
    let both = Keyring::parse(&format!("{k2},{k1}")).unwrap();
    let rotated = app.st.db.with_keys(Arc::new(Keyring::parse(&format!("{k2},{k1}")).unwrap()));
    linli::cli::keys::rotate(&rotated, &both).await.unwrap();
    let r = linli::audit::store::verify_chain(&rotated).await.unwrap();
    assert!(r.first_break.is_none() && r.unchecked == 0, "{r:?}");
    let new_only = app.st.db.with_keys(Arc::new(Keyring::parse(&k2).unwrap()));
    let r = linli::audit::store::verify_chain(&new_only).await.unwrap();
    assert!(r.first_break.is_none() && r.unchecked > 0, "{r:?}");
    let old_only = app.st.db.with_keys(Arc::new(Keyring::parse(&k1).unwrap()));
    let r = linli::audit::store::verify_chain(&old_only).await.unwrap();
    assert_eq!(r.first_break.map(|(_, why)| why), Some("not covered by a MAC the keyring can check"), "{r:?}");
}

/// A chain from before links were keyed (no MACs) does not pass as it is; the migration that
/// adds MACs appends one keyed link after it, once. A chain stripped of its MACs later (someone
/// with the database file, who edited rows meanwhile) is never keyed over by a later start and
/// never chained onto. A row without a MAC after keyed ones is a break, even with keyed links
/// after it: the app writes none once the chain is keyed.
#[tokio::test]
async fn a_legacy_chain_is_keyed_once_and_a_stripped_one_never() {
    let app = TestApp::new().await;
    let db = &app.st.db;
    let strip = |sql: &'static str| async move {
        let mut tx = db.begin().await.unwrap();
        linli::write!(&mut tx, |c| async {
            match db.backend() {
                linli::db::Backend::Sqlite => sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_update")
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())?,
                linli::db::Backend::Postgres => sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log")
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())?,
            };
            sqlx::query(sql).execute(&mut *c).await.map(|r| r.rows_affected())
        }
        .await)
        .unwrap();
        tx.commit().await.unwrap();
    };
    strip("UPDATE audit_log SET mac = NULL").await;
    let r = linli::audit::store::verify_chain(db).await.unwrap();
    assert_eq!(r.first_break, Some((1, "not covered by a MAC the keyring can check")), "{r:?}");
    // A chain stripped of its MACs after they were added is not keyed over by the next start
    // (that would vouch for whatever was edited while they were gone), nor chained onto.
    linli::app::migrate(db).await.unwrap();
    let r = linli::audit::store::verify_chain(db).await.unwrap();
    assert_eq!(r.first_break, Some((1, "not covered by a MAC the keyring can check")), "{r:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.keyed'").await, 0);
    let refused = linli::audit::record_alone(
        db,
        &linli::audit::Actor::system("test"),
        linli::audit::Entry { action: "test", entity: "test", entity_id: None, detail: serde_json::json!({}) },
    )
    .await;
    assert!(refused.is_err(), "nothing is chained onto an unkeyed head");
    // A legacy chain (before MACs) is keyed once, by the migration that adds them.
    linli::audit::key_the_chain(db).await.unwrap();
    let r = linli::audit::store::verify_chain(db).await.unwrap();
    assert!(r.first_break.is_none(), "{r:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.keyed'").await, 1);
    linli::audit::key_the_chain(db).await.unwrap();
    linli::app::migrate(db).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.keyed'").await, 1, "once");
    app.login("bureau").await;
    strip("UPDATE audit_log SET mac = NULL WHERE seq = (SELECT MAX(seq) FROM audit_log) - 1").await;
    let r = linli::audit::store::verify_chain(db).await.unwrap();
    let newest = app.count("SELECT MAX(seq) FROM audit_log").await;
    assert_eq!(r.first_break, Some((newest - 1, "row without a MAC after keyed rows")), "{r:?}");
}

/// Appends a row as someone with the database file but not the key would: hash and head
/// recomputed, the MAC left out or made up. Returns its sequence number.
async fn append_forged(db: &linli::db::Db, mac: Option<&str>) -> i64 {
    use chrono::SubsecRound;
    let (seq, prev): (i64, String) =
        linli::read!(db, |c| sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(c).await)
            .unwrap();
    let seq = seq + 1;
    let at = chrono::Utc::now().trunc_subsecs(6);
    let detail = "{\"forged\":true}";
    let hash = linli::audit::ChainInput {
        seq,
        at,
        actor_id: None,
        actor: "bureau",
        action: "staff.disable",
        entity: "user",
        entity_id: None,
        ip: "10.0.0.1",
        detail,
    }
    .hash(&prev);
    let mut tx = db.begin().await.unwrap();
    linli::write!(&mut tx, |c| async {
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_id, actor, action, entity, entity_id, ip, detail, prev_hash, hash, mac)
             VALUES ($1, $2, NULL, 'bureau', 'staff.disable', 'user', NULL, '10.0.0.1', $3, $4, $5, $6)",
        )
        .bind(seq)
        .bind(at)
        .bind(detail)
        .bind(&prev)
        .bind(&hash)
        .bind(mac)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&hash)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    }
    .await)
    .unwrap();
    tx.commit().await.unwrap();
    seq
}

fn test_entry() -> linli::audit::Entry<'static> {
    linli::audit::Entry { action: "test.after", entity: "test", entity_id: None, detail: serde_json::Value::Null }
}

/// Someone with the database file (not the key) appends a row without a MAC, hash and head
/// recomputed. `check` names it; and the app refuses to chain onto that head, since its next
/// keyed link would cover (launder) the forged row.
#[tokio::test]
async fn unkeyed_rows_after_keyed_ones_are_a_break_and_never_chained_onto() {
    let app = TestApp::new().await;
    let db = &app.st.db;
    let forged = append_forged(db, None).await;
    let r = linli::audit::store::verify_chain(db).await.unwrap();
    assert_eq!(r.first_break, Some((forged, "row without a MAC after keyed rows")), "{r:?}");
    let op = linli::audit::Actor::system("test");
    assert!(linli::audit::record_alone(db, &op, test_entry()).await.is_err(), "the app does not chain onto it");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'test.after'").await, 0);
    let r = linli::audit::store::verify_chain(db).await.unwrap();
    assert_eq!(r.first_break, Some((forged, "row without a MAC after keyed rows")), "still reported: {r:?}");
}

/// A head with a MAC made up without the key is not chained onto either.
#[tokio::test]
async fn a_head_with_a_made_up_mac_is_never_chained_onto() {
    let app = TestApp::new().await;
    let db = &app.st.db;
    let fake = "k1:0000000000000000000000000000000000000000000000000000000000000000";
    let forged = append_forged(db, Some(fake)).await;
    let op = linli::audit::Actor::system("test");
    assert!(linli::audit::record_alone(db, &op, test_entry()).await.is_err());
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'test.after'").await, 0);
    let r = linli::audit::store::verify_chain(db).await.unwrap();
    assert_eq!(r.first_break.map(|(s, _)| s), Some(forged), "{r:?}");
}
