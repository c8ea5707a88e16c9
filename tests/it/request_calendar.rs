//! The bureau edits the holiday table on its screen: bad rows come back with their problem and
//! the typed values, nothing is written; a good year replaces the old one and the working
//! calendar the SLA clocks use follows at once.

use axum::http::StatusCode;
use chrono::{Datelike, NaiveDate};

use crate::harness::{Client, TestApp};

type Row = (String, String, String, String);

async fn year_rows(app: &TestApp, year: i32) -> Vec<Row> {
    linli::requests::store::holiday_rows(&app.st.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.start_on.year() == year)
        .map(|r| (r.name, r.kind, r.start_on.to_string(), r.end_on.to_string()))
        .collect()
}

async fn post(c: &Client<'_>, year: i32, rows: &[Row]) -> crate::harness::Resp {
    let y = year.to_string();
    let mut fields: Vec<(&str, &str)> = vec![("year", y.as_str())];
    for (name, kind, start, end) in rows {
        fields.extend([
            ("name", name.as_str()),
            ("kind", kind.as_str()),
            ("start", start.as_str()),
            ("end", end.as_str()),
        ]);
    }
    // A blank row, as the form always sends some.
    fields.extend([("name", ""), ("kind", "holiday"), ("start", ""), ("end", "")]);
    c.post_form("/request-calendar", &fields).await
}

fn row(name: &str, kind: &str, start: &str, end: &str) -> Row {
    (name.into(), kind.into(), start.into(), end.into())
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn the_bureau_publishes_next_years_schedule_and_bad_tables_are_refused_whole() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    let shipped = year_rows(&app, 2027).await;
    assert_eq!(shipped.len(), 7, "{shipped:?}");
    let page = bureau.get("/request-calendar?year=2027").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("2027-02-05") && page.body.contains("id=\"calendar-year\">2027<"), "{}", page.body);

    // An overlap: both rows marked, the typed name kept, nothing written.
    let mut rows = shipped.clone();
    rows.push(row("重复的劳动节", "holiday", "2027-05-01", "2027-05-03"));
    let r = post(&bureau, 2027, &rows).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body.matches("与另一段日期重叠").count(), 2, "{}", r.body);
    assert!(r.body.contains("value=\"重复的劳动节\""));
    // A make-up working day on a Monday; a date that does not exist; a row in another year.
    let mut rows = shipped.clone();
    rows.push(row("春节调休", "workday", "2027-02-15", "2027-02-15"));
    rows.push(row("错日", "holiday", "2027-02-30", "2027-02-30"));
    rows.push(row("跨年", "holiday", "2028-01-01", "2028-01-01"));
    let r = post(&bureau, 2027, &rows).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for msg in ["调休上班日应为周六或周日", "日期格式应为 YYYY-MM-DD", "日期不在所编辑的年份内"]
    {
        assert!(r.body.contains(msg), "{msg}: {}", r.body);
    }
    // A range running backwards.
    let r = post(&bureau, 2027, &[row("倒序", "holiday", "2027-03-05", "2027-03-01")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("结束日期早于开始日期"));
    assert_eq!(year_rows(&app, 2027).await, shipped, "nothing half-written");
    assert!(!linli::requests::store::calendar(&app.st.db).await.unwrap().is_working_day(day("2027-02-05")));

    // The published schedule: a longer Spring Festival with a Sunday worked, 中秋 dropped (its
    // row cleared).
    let mut rows: Vec<Row> = shipped.iter().filter(|r| r.2 != "2027-09-15").cloned().collect();
    for r in rows.iter_mut().filter(|r| r.2 == "2027-02-05") {
        r.3 = "2027-02-11".into();
    }
    rows.push(row("春节调休上班", "workday", "2027-02-14", "2027-02-14"));
    // Read (and so held by this process) before the edit: the edit must still count at once.
    let held = linli::requests::store::calendar(&app.st.db).await.unwrap();
    assert!(held.is_working_day(day("2027-02-10")) && !held.is_working_day(day("2027-02-14")));
    let r = post(&bureau, 2027, &rows).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/request-calendar?year=2027&saved=1");
    let page = bureau.get(&r.location()).await;
    assert!(page.body.contains("id=\"calendar-saved\""));
    let saved = year_rows(&app, 2027).await;
    assert_eq!(saved.len(), 7);
    assert!(saved.contains(&row("春节调休上班", "workday", "2027-02-14", "2027-02-14")));
    let cal = linli::requests::store::calendar(&app.st.db).await.unwrap();
    assert!(!cal.is_working_day(day("2027-02-10")), "the new holiday counts");
    assert!(cal.is_working_day(day("2027-02-14")), "the Sunday is worked");
    assert!(cal.is_working_day(day("2027-09-15")), "the cleared row is gone");
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'holiday.replace_year'").await, 1);

    // 2026 with a range running into 2027's New Year: refused against the neighbouring year.
    let mut rows2026 = year_rows(&app, 2026).await;
    let before = rows2026.clone();
    rows2026.push(row("年末", "holiday", "2026-12-31", "2027-01-01"));
    let r = post(&bureau, 2026, &rows2026).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("id=\"calendar-alert\"") && r.body.contains("与另一段日期重叠"), "{}", r.body);
    assert_eq!(year_rows(&app, 2026).await, before);

    // Only the bureau edits it.
    let mgr = app.login("zhenhua.mgr").await;
    assert_eq!(mgr.get("/request-calendar").await.status, StatusCode::FORBIDDEN);
    assert_eq!(post(&mgr, 2027, &[]).await.status, StatusCode::FORBIDDEN);
}
