//! Request metrics against hand-counted figures: five requests driven through their life,
//! their timestamps then set to a known history, and every rate checked on the page, in the
//! JSON and in the spreadsheet (whose rate cells are formulas over the counts).

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use uuid::Uuid;

use crate::harness::{Client, TestApp};

async fn id_of(app: &TestApp, sql: &str, name: &str) -> Uuid {
    let row: (Uuid,) = linli::read!(&app.st.db, |c| sqlx::query_as(sql).bind(name).fetch_one(c).await).unwrap();
    row.0
}

async fn version(app: &TestApp, id: &str) -> String {
    let id = Uuid::parse_str(id).unwrap();
    let row: (i64,) = linli::read!(&app.st.db, |c| sqlx::query_as("SELECT version FROM requests WHERE id = $1")
        .bind(id)
        .fetch_one(c)
        .await)
    .unwrap();
    row.0.to_string()
}

async fn part(app: &TestApp, request: &str) -> (String, String) {
    let request = Uuid::parse_str(request).unwrap();
    let row: (Uuid, i64) = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT id, version FROM request_parts WHERE request_id = $1 AND status IN ('dispatched', 'signed')"
    )
    .bind(request)
    .fetch_one(c)
    .await)
    .unwrap();
    (row.0.to_string(), row.1.to_string())
}

async fn take(desk: &Client<'_>, place: &str, category: &str, text: &str) -> String {
    let r = desk.post_form("/requests", &[("category", category), ("description", text), ("place_id", place)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    r.location().trim_start_matches("/requests/").to_string()
}

async fn step(app: &TestApp, who: &Client<'_>, request: &str, action: &str, note: &str) {
    let (pid, pv) = part(app, request).await;
    let r =
        who.post_form(&format!("/request-parts/{pid}"), &[("version", &pv), ("action", action), ("note", note)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.body);
}

async fn callback(app: &TestApp, desk: &Client<'_>, request: &str, level: &str, note: &str) {
    let v = version(app, request).await;
    let r = desk
        .post_form(
            &format!("/requests/{request}/callback"),
            &[("version", &v), ("satisfaction", level), ("note", note)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
}

/// Sets some of a request's clock columns to a known history.
async fn history(app: &TestApp, id: &str, cols: &[(&str, chrono::DateTime<Utc>)]) {
    let id = Uuid::parse_str(id).unwrap();
    let mut tx = app.st.db.begin().await.unwrap();
    for (col, at) in cols {
        let sql = format!("UPDATE requests SET {col} = $1 WHERE id = $2");
        linli::write!(&mut tx, |c| sqlx::query(&sql).bind(*at).bind(id).execute(c).await.map(|r| r.rows_affected()))
            .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn rates_by_street_community_category_department_and_month_match_a_hand_count() {
    let app = TestApp::new().await;
    let desk = app.login("bureau").await;
    let beixin = app.place_id("北馨园社区").await.to_string();
    let wancheng = app.place_id("万城社区").await.to_string();
    let paiwu_org = id_of(&app, "SELECT id FROM organisations WHERE name = $1", "大同市政排污所").await;
    let paiwu = app.login("paiwu").await;
    let worker = app.login("hanjianwei").await;

    // A: to the drainage department, answered and resolved in time, resident satisfied.
    let a = take(&desk, &beixin, "sewage_overflow", "A 污水外溢").await;
    let v = version(&app, &a).await;
    let r = desk
        .post_form(&format!("/requests/{a}/dispatch"), &[("version", &v), ("units", &format!("org:{paiwu_org}"))])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    step(&app, &paiwu, &a, "sign", "").await;
    step(&app, &paiwu, &a, "resolve", "已疏通").await;
    callback(&app, &desk, &a, "satisfied", "").await;
    // B: to the community, late on both clocks, the resident very unhappy, resolved again and
    // waiting for its second callback.
    let b = take(&desk, &beixin, "sewage_overflow", "B 污水外溢").await;
    let v = version(&app, &b).await;
    let r = desk
        .post_form(&format!("/requests/{b}/dispatch"), &[("version", &v), ("units", &format!("place:{beixin}"))])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    step(&app, &worker, &b, "sign", "").await;
    step(&app, &worker, &b, "resolve", "清掏").await;
    callback(&app, &desk, &b, "very_dissatisfied", "还在冒水").await;
    step(&app, &worker, &b, "resolve", "更换管道").await;
    // C: taken, never answered, its response deadline gone. D: in 万城社区, another street's
    // category, nothing due yet. E: merged into C, so not counted.
    let c = take(&desk, &beixin, "sewage_overflow", "C 污水外溢").await;
    let d = take(&desk, &wancheng, "street_light", "D 路灯不亮").await;
    let e = take(&desk, &beixin, "sewage_overflow", "E 同一处污水").await;
    let v = version(&app, &e).await;
    let r = desk.post_form(&format!("/requests/{e}/merge"), &[("version", &v), ("into", &c)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let t0 = Utc::now() - Duration::days(7);
    let h = Duration::hours;
    history(
        &app,
        &a,
        &[
            ("created_at", t0),
            ("response_due", t0 + h(24)),
            ("responded_at", t0 + h(2)),
            ("resolve_due", t0 + h(120)),
            ("resolved_at", t0 + h(48)),
        ],
    )
    .await;
    history(
        &app,
        &b,
        &[
            ("created_at", t0),
            ("response_due", t0 + h(24)),
            ("responded_at", t0 + h(30)),
            ("resolve_due", t0 + h(120)),
            ("resolved_at", t0 + h(144)),
        ],
    )
    .await;
    history(&app, &c, &[("created_at", t0), ("response_due", Utc::now() - h(1)), ("resolve_due", Utc::now() + h(72))])
        .await;
    assert!(d != e);

    let today = linli::hazards::store::today();
    let period = format!("from={}&to={today}", today - Duration::days(30));
    // The whole district, counted by hand: A, B, C, D count (E is merged).
    //   response: due A, B (answered), C (deadline gone) = 3; on time A = 1
    //   resolution: due A, B (resolved) = 2; on time A = 1
    //   resolved now: A (closed), B (resolved) = 2 of 4
    //   rated A (satisfied), B (very dissatisfied) = 2; satisfied 1
    //   handling: 48 h + 144 h over 2 = 96 h
    let j = desk.get(&format!("/api/v1/requests/metrics?{period}&by=street")).await;
    assert_eq!(j.status, StatusCode::OK, "{}", j.body);
    let j = j.json();
    assert_eq!(j["formula_version"], "1.0");
    let total = &j["total"];
    let counts = |t: &serde_json::Value| {
        [
            "counted",
            "response_due",
            "responded_on_time",
            "resolve_due",
            "resolved_on_time",
            "resolved",
            "rated",
            "satisfied",
        ]
        .iter()
        .map(|k| t[*k].as_i64().unwrap())
        .collect::<Vec<_>>()
    };
    assert_eq!(counts(total), [4, 3, 1, 2, 1, 2, 2, 1], "{total}");
    assert!((total["handling_hours"].as_f64().unwrap() - 192.0).abs() < 0.01, "{total}");
    let rows = j["rows"].as_array().unwrap();
    let row = |label: &str| rows.iter().find(|r| r["label"] == label).unwrap_or_else(|| panic!("{label}: {rows:?}"));
    // Both communities are in 迎宾街道.
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(counts(row("迎宾街道")), [4, 3, 1, 2, 1, 2, 2, 1]);

    let j = desk.get(&format!("/api/v1/requests/metrics?{period}&by=community")).await.json();
    let rows = j["rows"].as_array().unwrap().clone();
    let find = |label: &str| rows.iter().find(|r| r["label"] == label).cloned().unwrap();
    assert_eq!(counts(&find("北馨园社区")), [3, 3, 1, 2, 1, 2, 2, 1]);
    assert_eq!(counts(&find("万城社区")), [1, 0, 0, 0, 0, 0, 0, 0]);

    let j = desk.get(&format!("/api/v1/requests/metrics?{period}&by=category")).await.json();
    let rows = j["rows"].as_array().unwrap().clone();
    let by_code = |k: &str| counts(rows.iter().find(|r| r["key"] == k).unwrap());
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(by_code("sewage_overflow"), [3, 3, 1, 2, 1, 2, 2, 1]);
    assert_eq!(by_code("street_light")[0], 1);

    // By department: only A went to a department.
    let j = desk.get(&format!("/api/v1/requests/metrics?{period}&by=department")).await.json();
    let rows = j["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["label"], "大同市政排污所");
    assert_eq!(counts(&rows[0]), [1, 1, 1, 1, 1, 1, 1, 1]);
    assert!((rows[0]["handling_hours"].as_f64().unwrap() - 48.0).abs() < 0.01);

    // By month the rows add up to the total.
    let j = desk.get(&format!("/api/v1/requests/metrics?{period}&by=month")).await.json();
    let rows = j["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["key"].as_str().unwrap().len() == 7), "{rows:?}");
    assert_eq!(rows.iter().map(|r| r["counted"].as_i64().unwrap()).sum::<i64>(), 4);

    // The department sees its own part only; 万城社区's staff only their community's request.
    let j = paiwu.get(&format!("/api/v1/requests/metrics?{period}")).await.json();
    assert_eq!(counts(&j["total"]), [1, 1, 1, 1, 1, 1, 1, 1]);
    let changmin = app.login("changmin").await;
    let j = changmin.get(&format!("/api/v1/requests/metrics?{period}")).await.json();
    assert_eq!(counts(&j["total"]), [1, 0, 0, 0, 0, 0, 0, 0]);

    // The page shows each rate with its numerator and denominator, and the written rules.
    let page = desk.get(&format!("/requests/metrics?{period}&by=community")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let total_row = page.between("id=\"metrics-total\"", "</tr>").unwrap();
    for shown in ["33.3% <small class=\"frac\">(1/3)", "50.0% <small class=\"frac\">(1/2)", "96.0"] {
        assert!(total_row.contains(shown), "{shown} in {total_row}");
    }
    assert!(page.body.contains("响应率 = 按时响应数 ÷ 应响应数"), "the formula is on the page");
    assert!(page.body.contains("口径版本 1.0"));

    // The spreadsheet: the counts, and each rate as a formula over them with its value cached.
    let x = desk.get(&format!("/requests/metrics.xlsx?{period}&by=community")).await;
    assert_eq!(x.status, StatusCode::OK, "{}", x.body);
    use calamine::Reader;
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(x.bytes.clone())).unwrap();
    let sheet = book.worksheet_range("指标").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    // Under the title and the unit/period line.
    assert_eq!(rows[2][..5], ["维度", "纳入统计数", "应响应数", "按时响应数", "响应率"]);
    let last = rows.last().unwrap();
    assert_eq!(last[0], "合计");
    assert_eq!(last[1..4], ["4", "3", "1"]);
    let rate: f64 = last[4].parse().unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "cached response rate {rate}");
    let formulas = book.worksheet_formula("指标").unwrap();
    let n = rows.len();
    let f = formulas.get_value((n as u32 - 1, 4)).unwrap();
    assert_eq!(f, &format!("IF(C{n}=0,\"\",D{n}/C{n})"));
    let rules = book.worksheet_range("口径").unwrap();
    assert!(rules.rows().any(|r| r.iter().any(|c| c.to_string().contains("满意率 ="))));
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'metrics.export'").await, 1);

    // Bad periods and dimensions: 422 with the typed values kept, on the page and the API.
    let bad = desk.get("/requests/metrics?from=2026-13-01&to=2026-01-01&by=community").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("日期格式应为 YYYY-MM-DD") && bad.body.contains("2026-13-01"), "{}", bad.body);
    let bad = desk.get("/requests/metrics?from=2026-05-01&to=2026-04-01").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("期间无效"));
    let far = desk.get("/api/v1/requests/metrics?from=2026-01-01&to=262142-12-31").await;
    assert_eq!(far.status, StatusCode::UNPROCESSABLE_ENTITY, "a far year is a typo, not a 500");
    let bad = desk.get("/api/v1/requests/metrics?by=weather").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["code"], "invalid");
}
