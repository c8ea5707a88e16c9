//! Exports are real 台账: typed cells, a title row with the unit, period and export time, a
//! frozen, filtered header repeated on printed pages, landscape printing one page wide, a
//! signature line, photo links on the hazard ledger, neutralised formula text, no bidi controls,
//! and 0/0 rates left blank in the metrics file.

use std::io::Read;

use axum::http::{Method, StatusCode};
use calamine::{Data, Reader};
use linli::files::samples::jpeg_with_gps;

use crate::harness::TestApp;

/// Every cell of the first sheet (or the named one), as calamine reads it.
fn sheet(bytes: &[u8], name: Option<&str>) -> (String, Vec<Vec<Data>>) {
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let name = name.map(str::to_string).unwrap_or_else(|| book.sheet_names()[0].clone());
    let range = book.worksheet_range(&name).unwrap();
    // The range starts at its first used cell: the title in A1.
    assert_eq!(range.start(), Some((0, 0)));
    (name, range.rows().map(|r| r.to_vec()).collect())
}

/// One part of the xlsx package (XML), as text.
fn part(bytes: &[u8], path: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut f = zip.by_name(path).unwrap_or_else(|_| panic!("no {path}"));
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

fn text(d: &Data) -> String {
    d.to_string()
}

/// The layout every ledger shares, read from the package: frozen below the header, an
/// autofilter on it, the header repeated when printed, landscape, one page wide.
fn assert_ledger_layout(bytes: &[u8], header_row: u32) {
    let ws = part(bytes, "xl/worksheets/sheet1.xml");
    assert!(
        ws.contains(&format!("ySplit=\"{}\"", header_row + 1)) && ws.contains("state=\"frozen\""),
        "frozen header: {ws}"
    );
    assert!(ws.contains(&format!("<autoFilter ref=\"A{}:", header_row + 1)), "autofilter on the header");
    assert!(ws.contains("orientation=\"landscape\""), "landscape");
    assert!(ws.contains("fitToWidth=\"1\"") || ws.contains("<pageSetUpPr fitToPage=\"1\"/>"), "fitted to the width");
    assert!(ws.contains("fitToHeight=\"0\""), "as many pages down as needed");
    let wb = part(bytes, "xl/workbook.xml");
    assert!(wb.contains("_xlnm.Print_Titles"), "header rows repeat on each page: {wb}");
    assert!(ws.contains("<col "), "column widths set");
}

#[tokio::test]
async fn the_hazard_ledger_has_typed_cells_a_title_a_signature_and_photo_links_that_stay_scoped() {
    let app = TestApp::new().await;
    let grid = app.login("yongtai.grid").await;
    let place = crate::hazards::liuhangli_grid(&app).await;
    // A description that a spreadsheet would run, and an address reversed by U+202E.
    let evil = "=HYPERLINK(\"http://evil.example/\",\"点此\")";
    let fields = [
        ("category", "fire"),
        ("risk_level", "general"),
        ("description", evil),
        ("address", "3号楼\u{202E}东侧楼道"),
        ("place_id", &place),
    ];
    let photo = jpeg_with_gps(64, 48);
    let r = grid.post_multipart("/hazards", &fields, &[("photos", "IMG_1.jpg", &photo)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    let bureau = app.login("bureau").await;
    let x = bureau.get(&format!("/hazards/ledger.xlsx?place_id={place}")).await;
    assert_eq!(x.status, StatusCode::OK, "{}", x.body);
    let (name, rows) = sheet(&x.bytes, None);
    assert_eq!(name, "隐患台账");
    assert_eq!(text(&rows[0][0]), "隐患排查整治台账");
    let info = text(&rows[1][0]);
    assert!(
        info.contains("填报单位：第一网格") && info.contains("统计期间：") && info.contains("导出时间："),
        "{info}"
    );
    let header: Vec<String> = rows[2].iter().map(text).collect();
    assert_eq!(header[..4], ["序号", "隐患编号", "排查日期", "来源"]);
    assert_eq!(header.last().unwrap(), "照片");
    let line = &rows[3];
    assert_eq!(line[0], Data::Float(1.0), "序号 is a number");
    assert!(matches!(line[2], Data::DateTime(_)), "排查日期 is a date: {:?}", line[2]);
    assert!(text(&line[6]).ends_with("3号楼东侧楼道"), "the bidi control is gone: {}", text(&line[6]));
    assert_eq!(text(&line[9]), format!("'{evil}"), "formula text is neutralised");
    assert_eq!(text(line.last().unwrap()), "照片1");
    let signature = rows.iter().skip(4).flat_map(|r| r.iter()).map(text).collect::<String>();
    assert!(signature.contains("制表人") && signature.contains("审核人") && signature.contains("日期"), "{signature}");
    assert_ledger_layout(&x.bytes, 2);
    let styles = part(&x.bytes, "xl/styles.xml");
    assert!(styles.contains("formatCode=\"yyyy-mm-dd\""), "a date format");

    // The photo cell links to the photo's page, which checks the reader's scope when followed.
    let rels = part(&x.bytes, "xl/worksheets/_rels/sheet1.xml.rels");
    let start = rels.find("Target=\"http://").expect("an external link") + "Target=\"".len();
    let url = &rels[start..start + rels[start..].find('"').unwrap()];
    let path = &url[url.find("/files/").expect("a photo link")..];
    assert_eq!(bureau.get(path).await.status, StatusCode::OK);
    let elsewhere = app.login("changmin").await;
    assert_eq!(elsewhere.get(path).await.status, StatusCode::NOT_FOUND, "outside the scope, as unknown");
}

/// Behind a proxy under a base path, the photo links of the hazard ledger carry the prefix and
/// the proxy's host, so they open from the file on the user's desk.
#[tokio::test]
async fn the_hazard_ledgers_photo_links_carry_the_base_path_and_the_proxys_host() {
    let mut app = TestApp::new().await;
    let place = crate::hazards::liuhangli_grid(&app).await;
    let session = {
        let grid = app.login("yongtai.grid").await;
        let fields =
            [("category", "fire"), ("risk_level", "general"), ("description", "楼道堆放杂物"), ("place_id", &place)];
        let r = grid.post_multipart("/hazards", &fields, &[("photos", "IMG_1.jpg", &jpeg_with_gps(64, 48))]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        app.login("bureau").await.cookie
    };
    app.reconfigure(|c| {
        c.base_path = "/linli".into();
        c.trusted_proxies = 1;
    });
    let mut bureau = app.anon();
    bureau.cookie = session;
    let x = bureau
        .raw(
            Method::GET,
            &format!("/linli/hazards/ledger.xlsx?place_id={place}"),
            &[("x-forwarded-host", "linli.example.org"), ("x-forwarded-proto", "https")],
            Vec::new(),
        )
        .await;
    assert_eq!(x.status, StatusCode::OK, "{} {}", x.location(), x.body);
    let rels = part(&x.bytes, "xl/worksheets/_rels/sheet1.xml.rels");
    assert!(rels.contains("Target=\"https://linli.example.org/linli/files/"), "{rels}");
}

#[tokio::test]
async fn the_metrics_file_leaves_0_0_rates_blank_and_keeps_its_formulas() {
    let app = TestApp::new().await;
    let bureau = app.login("bureau").await;
    // A month without a single request: every rate of the total row divides 0 by 0.
    let x = bureau.get("/requests/metrics.xlsx?from=2024-01-01&to=2024-01-31&by=street").await;
    assert_eq!(x.status, StatusCode::OK, "{}", x.body);
    let (_, rows) = sheet(&x.bytes, Some("指标"));
    assert_eq!(text(&rows[0][0]), "诉求办理考核指标");
    assert!(text(&rows[1][0]).contains("2024-01-01 至 2024-01-31"));
    assert_eq!(text(&rows[2][4]), "响应率");
    let total = rows.last().unwrap();
    assert_eq!(text(&total[0]), "合计");
    assert_eq!(total[1], Data::Float(0.0), "counts are numbers");
    for col in [4, 7, 9, 12, 14] {
        assert!(
            matches!(&total[col], Data::Empty) || total[col] == Data::String(String::new()),
            "0/0 in column {col} is blank, not a cached 0: {:?}",
            total[col]
        );
    }
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(x.bytes.clone())).unwrap();
    let formulas = book.worksheet_formula("指标").unwrap();
    let n = rows.len();
    assert_eq!(formulas.get_value((n as u32 - 1, 4)).unwrap(), &format!("IF(C{n}=0,\"\",D{n}/C{n})"));
    assert_ledger_layout(&x.bytes, 2);
}

#[tokio::test]
async fn the_roster_and_service_ledger_are_typed_neutralised_and_signed() {
    let app = TestApp::new().await;
    let c = app.login("wenbichen").await;
    let yongning = app.place_id("永宁社区").await;
    let body = serde_json::json!({"name": "@王\u{202E}芳", "birth_date": "1950-03-04", "place_id": yongning});
    let p = c.send_json(Method::POST, "/api/v1/people", &body.to_string(), &[]).await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
    let pid = p.json()["id"].as_str().unwrap().to_string();

    let x = c.get("/people/export.xlsx").await;
    assert_eq!(x.status, StatusCode::OK);
    let (name, rows) = sheet(&x.bytes, None);
    assert_eq!(name, "居民名册");
    assert_eq!(text(&rows[0][0]), "居民花名册");
    assert_eq!(text(&rows[2][1]), "姓名");
    let line = rows.iter().find(|r| text(&r[1]).contains("王芳")).expect("the person");
    assert_eq!(text(&line[1]), "'@王芳", "neutralised, without the bidi control");
    match &line[3] {
        Data::DateTime(d) => assert_eq!(d.as_datetime().unwrap().date().to_string(), "1950-03-04"),
        other => panic!("birth date is a date: {other:?}"),
    }
    assert!(rows.iter().flatten().any(|d| text(d).contains("制表人")));
    assert_ledger_layout(&x.bytes, 2);

    let case =
        serde_json::json!({"person_id": pid, "domain": "elderly_care", "source": "visit", "summary": "高龄独居"});
    let case = c.send_json(Method::POST, "/api/v1/cases", &case.to_string(), &[]).await.json();
    let cid = case["id"].as_str().unwrap();
    let rec = serde_json::json!({"kind": "home_visit", "minutes": 45, "notes": "-2 层车库漏水已报修"});
    let r = c.send_json(Method::POST, &format!("/api/v1/cases/{cid}/records"), &rec.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let x = c.get("/cases/ledger.xlsx").await;
    assert_eq!(x.status, StatusCode::OK);
    let (name, rows) = sheet(&x.bytes, None);
    assert_eq!(name, "服务台账");
    let line = rows.iter().find(|r| text(&r[2]) == case["number"].as_str().unwrap()).expect("the record");
    assert!(matches!(line[0], Data::DateTime(_)), "服务日期 is a date: {:?}", line[0]);
    assert_eq!(line[5], Data::Float(45.0), "minutes are a number");
    assert_eq!(text(&line[8]), "'-2 层车库漏水已报修");
    assert!(rows.iter().flatten().any(|d| text(d).contains("审核人")));
    assert_ledger_layout(&x.bytes, 2);
}

#[tokio::test]
async fn user_text_is_a_bidi_island_on_every_page() {
    let app = TestApp::new().await;
    let css = app.anon().get("/static/linli.css").await;
    assert_eq!(css.status, StatusCode::OK);
    let rule = css.body.lines().find(|l| l.contains("unicode-bidi: isolate")).expect("an isolate rule");
    for sel in ["td", "th", "dd", "label", "li", "a"] {
        assert!(rule.split('{').next().unwrap().split(',').any(|s| s.trim() == sel), "{sel} in {rule}");
    }
}
