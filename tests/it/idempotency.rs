use axum::http::{Method, StatusCode};

use crate::harness::TestApp;

#[tokio::test]
async fn a_replay_returns_the_first_response() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("武定街道").await;
    let body = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"幂等社区\"}}");
    let a = c.send_json(Method::POST, "/api/v1/places", &body, &[("idempotency-key", "k-1")]).await;
    let b = c.send_json(Method::POST, "/api/v1/places", &body, &[("idempotency-key", "k-1")]).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(b.status, StatusCode::CREATED);
    assert_eq!(a.body, b.body);
    assert_eq!(b.headers.get("idempotent-replayed").unwrap(), "true");
    let other = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"别的社区\"}}");
    let r = c.send_json(Method::POST, "/api/v1/places", &other, &[("idempotency-key", "k-1")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "same key, different request");
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE name = '幂等社区'").await, 1);
}

#[tokio::test]
async fn fifty_parallel_duplicates_make_one_record() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("古城街道").await;
    let body = format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"并发社区\"}}");
    let futures =
        (0..50).map(|_| c.send_json(Method::POST, "/api/v1/places", &body, &[("idempotency-key", "parallel-1")]));
    let results = futures::future::join_all(futures).await;
    let first = &results[0].body;
    for r in &results {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(&r.body, first);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE name = '并发社区'").await, 1);
}

#[tokio::test]
async fn forty_parallel_writes_all_land() {
    // On SQLite every write queues for the single writer instead of failing "database is locked".
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let street = app.place_id("水泊寺街道").await;
    let bodies: Vec<String> = (0..40)
        .map(|i| format!("{{\"parent_id\":\"{street}\",\"kind\":\"community\",\"name\":\"并行{i}\"}}"))
        .collect();
    let results =
        futures::future::join_all(bodies.iter().map(|b| c.send_json(Method::POST, "/api/v1/places", b, &[]))).await;
    for r in &results {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE name LIKE '并行%'").await, 40);
    let report = linli::audit::store::verify_chain(&app.st.db).await.unwrap();
    assert!(report.first_break.is_none(), "the audit chain stays whole under concurrent writers");
}

/// Issue 21, item 16: an instance killed in the middle of a keyed request (its runtime stops
/// wherever it is and its database connections close, as with `kill -9`) must not leave the
/// key locked. Another instance's retry replays the answer if the write committed and its
/// answer was kept, runs the write if it never committed, and otherwise says the write was
/// done; it never answers "in progress", and the key never makes a second record. The killing
/// point is random over the length of a request, round after round.
#[test]
fn a_key_held_by_an_instance_that_died_is_freed_or_answered() {
    use rand::{Rng, SeedableRng};
    let main = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut app = main.block_on(TestApp::new());
    // A dead instance's claim is free once its lease runs out: short here, so rounds are quick.
    app.reconfigure(|c| c.idempotency_lease = std::time::Duration::from_millis(300));
    let (token, street) = main.block_on(async {
        let c = app.login("bureau").await;
        let page = c.post_form("/account/tokens", &[("name", "崩溃")]).await;
        (page.between("id=\"new-token\">", "<").expect("a token"), app.place_id("武定街道").await)
    });
    let mut api = app.anon();
    api.token = Some(token.clone());
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let mut full_request = std::time::Duration::ZERO;
    let mut outcomes = std::collections::BTreeMap::<(&str, String), usize>::new();
    let mut round = 0;
    // Forty rounds, and on until an instance has died holding a claim it had not committed.
    while round < 40 || (!outcomes.keys().any(|(at_death, _)| *at_death == "claimed") && round < 400) {
        round += 1;
        let claims_before = main.block_on(app.count("SELECT COUNT(*) FROM idempotency_keys"));
        let key = format!("dies-{round}");
        let name = format!("猝死社区{round}");
        let body = format!(r#"{{"parent_id":"{street}","kind":"community","name":"{name}"}}"#);
        // Instance A: its own connections to the same database, on a runtime of its own.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let instance = rt.block_on(async {
            let db = linli::db::Db::connect(&app.st.cfg).await.unwrap();
            linli::app::router(linli::app::AppState { db, ..app.st.clone() })
        });
        let req = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/api/v1/places")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .body(axum::body::Body::from(body.clone()))
            .unwrap();
        let started = std::time::Instant::now();
        let task = rt.spawn(tower::ServiceExt::oneshot(instance, req));
        if round == 1 {
            // The first round runs to the end: how long a request takes sets the killing range.
            let res = rt.block_on(task).unwrap().unwrap();
            assert_eq!(res.status(), StatusCode::CREATED);
            full_request = started.elapsed();
        } else {
            std::thread::sleep(full_request.mul_f64(rng.gen_range(0.0..0.8)));
        }
        drop(rt);
        // What the dead instance left: no claim, a claim, a claim marked committed, or an answer.
        // A statement it sent before dying may still finish (a COMMIT the server or SQLite's
        // thread already has): read under the write lock (SQLite) or the claim's row lock.
        let left: Option<(bool, bool)> = main.block_on(async {
            let mut tx = app.st.db.begin().await.unwrap();
            let lock = if app.st.db.backend() == linli::db::Backend::Postgres { " FOR UPDATE" } else { "" };
            linli::write!(&mut tx, |c| async {
                let (claims,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM idempotency_keys").fetch_one(&mut *c).await.unwrap();
                if claims == claims_before {
                    return None;
                }
                let sql =
                    format!("SELECT committed, done FROM idempotency_keys ORDER BY created_at DESC LIMIT 1{lock}");
                sqlx::query_as(&sql).fetch_optional(&mut *c).await.unwrap()
            }
            .await)
        });
        let at_death = match left {
            None => "no claim",
            Some((_, true)) => "answered",
            Some((true, false)) => "committed",
            Some((false, false)) => "claimed",
        };
        // Instance B (the test app) gets the client's retry.
        let retry = main.block_on(api.send_json(Method::POST, "/api/v1/places", &body, &[("idempotency-key", &key)]));
        let outcome = if retry.status == StatusCode::CREATED {
            if retry.headers.contains_key("idempotent-replayed") { "replayed" } else { "ran again" }.to_string()
        } else {
            format!("{} {}", retry.status, retry.body)
        };
        let expected = match at_death {
            "no claim" | "claimed" => "ran again",
            "committed" => "answer lost",
            _ => "replayed",
        };
        let outcome = if outcome.contains("idempotency_answer_lost") { "answer lost".to_string() } else { outcome };
        assert_eq!(outcome, expected, "round {round}: the instance died with its key {at_death}");
        let made = main.block_on(app.count(&format!("SELECT COUNT(*) FROM places WHERE name = '{name}'")));
        assert_eq!(made, 1, "round {round}: {outcome}, and {made} records");
        *outcomes.entry((at_death, outcome)).or_default() += 1;
    }
    eprintln!("deaths and retries: {outcomes:?}");
}

/// Item 17: the idempotency layer holds a keyed body to the route's own limit (uploads take
/// more than the general 2 MB), and its errors, like every error under /open311/, come in
/// Open311's format.
#[tokio::test]
async fn a_keyed_upload_gets_the_routes_limit_and_open311_errors_stay_open311() {
    let mut app = TestApp::new().await;
    let key = linli::open311::clients::register(&app.st.db, "幂等上传", "", None).await.unwrap().1;
    let mut photo = linli::files::samples::jpeg_with_gps(200, 150);
    photo.resize(app.st.cfg.max_body_bytes + 512 * 1024, 0);
    let plain = o311_post(&app, &key, "requests.json", "照片较大，无幂等键", &photo, &[]).await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.body);
    let keyed =
        o311_post(&app, &key, "requests.json", "照片较大，有幂等键", &photo, &[("idempotency-key", "big-photo")]).await;
    assert_eq!(keyed.status, StatusCode::CREATED, "a photo over 2 MB with a key: {}", keyed.body);
    let again =
        o311_post(&app, &key, "requests.json", "照片较大，有幂等键", &photo, &[("idempotency-key", "big-photo")]).await;
    assert_eq!((again.status, again.body.as_str()), (StatusCode::CREATED, keyed.body.as_str()));

    // Over the route's limit (lowered here): 413 in Open311's error list, JSON or XML, keyed or not.
    app.reconfigure(|c| c.max_import_bytes = 2 * 1024 * 1024);
    for (file, keyed) in [("requests.json", false), ("requests.json", true), ("requests.xml", true)] {
        let headers: &[(&str, &str)] = if keyed { &[("idempotency-key", "too-big")] } else { &[] };
        let r = o311_post(&app, &key, file, "太大", &photo, headers).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{file} keyed={keyed}: {}", r.body);
        assert_open311_error(file, &r);
    }
    // A key that is not one: Open311's error list too.
    let r = o311_post(&app, &key, "requests.json", "坏键", b"x", &[("idempotency-key", "")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_open311_error("requests.json", &r);
}

/// Item 17: a body over the outer limit (the largest any route takes) is refused before it is
/// read, in the format of where it was sent: JSON under /api/, Open311's list under /open311/,
/// a page elsewhere.
#[tokio::test]
async fn a_body_over_the_outer_limit_is_refused_in_the_format_of_its_path() {
    let mut app = TestApp::new().await;
    app.reconfigure(|c| {
        c.max_body_bytes = 64 * 1024;
        c.max_import_bytes = 256 * 1024;
    });
    let c = app.login("bureau").await;
    let huge = vec![b'a'; 300 * 1024];
    let len = huge.len().to_string();
    let headers = |ct| [("content-type", ct), ("content-length", len.as_str()), ("x-csrf-token", c.csrf.as_str())];
    let sent = async |path: &str, ct: &'static str| c.raw(Method::POST, path, &headers(ct), huge.clone()).await;
    let api = sent("/api/v1/places", "application/json").await;
    assert_eq!(api.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(api.json()["code"], "too_large", "{}", api.body);
    let o311 = sent("/open311/v2/requests.xml", "application/x-www-form-urlencoded").await;
    assert_eq!(o311.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_open311_error("requests.xml", &o311);
    let page = sent("/places", "application/x-www-form-urlencoded").await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/html"), "{}", page.body);
    assert!(page.body.contains("<html"), "{}", page.body);
}

/// Item 17: `If-Match: *` is "any current version" (RFC 9110): accepted where a version may be
/// sent and where one is required, while a stale number is still 412.
#[tokio::test]
async fn if_match_star_means_any_current_version() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let id = app.place_id("民和社区").await;
    let path = format!("/api/v1/places/{id}");
    let r = c.send_json(Method::PATCH, &path, r#"{"name":"民和社区","code":"MH"}"#, &[("if-match", "*")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = c.send_json(Method::PATCH, &path, r#"{"name":"旧版本"}"#, &[("if-match", "\"1\"")]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.body);
    // A request's dispatch needs a version: `*` stands for the one it has.
    let beixin = app.place_id("北馨园社区").await;
    let body = format!(r#"{{"category":"sewage_overflow","description":"井盖冒水","place_id":"{beixin}"}}"#);
    let created = c.send_json(Method::POST, "/api/v1/requests", &body, &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let rid = created.json()["id"].as_str().unwrap().to_string();
    let r = c
        .send_json(
            Method::POST,
            &format!("/api/v1/requests/{rid}/dispatch"),
            &format!(r#"{{"units":["place:{beixin}"]}}"#),
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "dispatched");
}

async fn o311_post(
    app: &TestApp,
    key: &str,
    file: &str,
    description: &str,
    photo: &[u8],
    headers: &[(&str, &str)],
) -> crate::harness::Resp {
    let fields = [
        ("api_key", key),
        ("service_code", "street_light"),
        ("lat", "40.09"),
        ("long", "113.30"),
        ("description", description),
    ];
    let (ct, body) = multipart(&fields, &[("media", "lamp.jpg", photo)]);
    let len = body.len().to_string();
    let mut all = vec![("content-type", ct.as_str()), ("content-length", len.as_str())];
    all.extend_from_slice(headers);
    app.anon().raw(Method::POST, &format!("/open311/v2/{file}"), &all, body).await
}

fn assert_open311_error(file: &str, r: &crate::harness::Resp) {
    if file.ends_with(".xml") {
        assert!(r.body.starts_with("<?xml") && r.body.contains("<errors>"), "{}", r.body);
    } else {
        let list = r.json();
        let first = &list.as_array().unwrap_or_else(|| panic!("a list: {}", r.body))[0];
        assert_eq!(first["code"], r.status.as_u16(), "{}", r.body);
        assert!(first["description"].as_str().is_some_and(|d| !d.is_empty()), "{}", r.body);
    }
}

fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----linli-idempotency-7d1f";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    for (k, name, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A reveal's answer holds the full ID number: with an Idempotency-Key it is not stored in
/// the idempotency table (where it would sit in clear), and a second call with the same key
/// reveals again with an audit row of its own instead of replaying the first answer.
#[tokio::test]
async fn a_keyed_reveal_is_neither_stored_nor_replayed_without_its_audit_row() {
    let app = TestApp::new().await;
    let worker = app.login("wenbichen").await;
    let number = crate::people_import::id_number("19860302", "121");
    let p = crate::casework::register(
        &worker,
        serde_json::json!({"name": "王鹏", "id_number": number, "place_id": app.place_id("永宁社区").await}),
    )
    .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let body = r#"{"field":"id_number","reason":"办理低保材料核对"}"#;
    let path = format!("/api/v1/people/{pid}/reveal");
    for _ in 0..2 {
        let r = worker.send_json(Method::POST, &path, body, &[("idempotency-key", "reveal-once")]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.json()["value"], number);
    }
    let stored: Vec<(Option<Vec<u8>>,)> =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT body FROM idempotency_keys").fetch_all(c).await).unwrap();
    let leaked = stored.iter().filter_map(|(b,)| b.as_ref()).any(|b| String::from_utf8_lossy(b).contains(&number));
    assert!(!leaked, "the revealed number is not kept in the idempotency table");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.reveal'").await, 2);
}

/// Answers that show a secret once (a new account's one-time password, a new API token) are
/// sealed in the idempotency table, and a retry with the same key still gets the same answer.
#[tokio::test]
async fn answers_holding_a_secret_are_sealed_at_rest_and_still_replayed() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let body = serde_json::json!({"account": "new.sw", "display_name": "新社工", "role": "social_worker",
        "place_ids": [app.place_id("振华街道").await]})
    .to_string();
    let first = bureau.send_json(Method::POST, "/api/v1/staff", &body, &[("idempotency-key", "staff-1")]).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let password = first.json()["one_time_password"].as_str().unwrap().to_string();
    let again = bureau.send_json(Method::POST, "/api/v1/staff", &body, &[("idempotency-key", "staff-1")]).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(again.json()["one_time_password"], password.as_str());
    let stored: Vec<(Option<Vec<u8>>,)> =
        linli::read!(&app.st.db, |c| sqlx::query_as("SELECT body FROM idempotency_keys").fetch_all(c).await).unwrap();
    assert!(!stored.is_empty());
    for (b,) in &stored {
        let b = String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned();
        assert!(!b.contains(&password) && !b.contains("new.sw"), "stored in clear: {b}");
    }
}

/// An anonymous caller's key is not honoured (nothing is claimed or stored for it); an Open311
/// app's, with a valid api_key, is.
#[tokio::test]
async fn keys_are_honoured_for_signed_in_callers_and_open311_apps_only() {
    let app = TestApp::new().await;
    let before = app.count("SELECT COUNT(*) FROM idempotency_keys").await;
    let form = [("account", "nobody"), ("password", "wrong-password-here")];
    let body = serde_urlencoded::to_string(form).unwrap().into_bytes();
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("idempotency-key", "anon-1")];
    let r = app.anon().raw(Method::POST, "/login", &headers, body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM idempotency_keys").await, before, "no claim for an anonymous post");

    let key = linli::open311::clients::register(&app.st.db, "幂等应用", "", None).await.unwrap().1;
    let photo = linli::files::samples::jpeg_with_gps(20, 15);
    let first = o311_post(&app, &key, "requests.json", "路灯不亮", &photo, &[("idempotency-key", "app-1")]).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = o311_post(&app, &key, "requests.json", "路灯不亮", &photo, &[("idempotency-key", "app-1")]).await;
    assert_eq!((again.status, again.body.as_str()), (StatusCode::CREATED, first.body.as_str()), "replayed");
    assert_eq!(app.count("SELECT COUNT(*) FROM idempotency_keys").await, before + 1);
}
