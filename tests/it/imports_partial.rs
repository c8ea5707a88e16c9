//! A roster with some bad rows: the good rows import now, the bad ones come back as an xlsx in
//! the template's columns with a reason column, and the fixed file (or the whole file again)
//! adds each person once. The template is a file; the JSON API does the same.

use axum::http::StatusCode;
use calamine::Reader;

use crate::harness::{Client, TestApp};
use crate::people_import::{id_number, upload};

fn rows_of(bytes: &[u8], sheet: usize) -> Vec<Vec<String>> {
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = book.worksheet_range_at(sheet).unwrap().unwrap();
    range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
}

const HEADER: &str = "姓名,身份证号,性别,出生日期,联系电话,社区,小区,楼栋,单元,室,与户主关系,户号,人群标签";

/// Five people, two of them in a community that does not exist (a typo) and one with a bad phone.
fn roster() -> String {
    let a = id_number("19440808", "022");
    let b = id_number("19520315", "031");
    format!(
        "{HEADER}\n\
         王芳,{a},女,,13800001111,民和社区,,3,1,201,户主,A1,独居\n\
         赵敏,,女,1961-02-03,,民和社区,,5,2,302,,,\n\
         钱六,{b},男,,,民禾社区,,,,,,,\n\
         孙七,,女,1970-02-02,,民禾社区,,,,,,,\n\
         周八,,男,1960-03-03,12345,民和社区,,,,,,,\n\
         刘强,,男,1975-07-07,,民和社区/第一网格,,,,,,,\n"
    )
}

/// Sends the preview's commit form as the browser does: every hidden field it carries.
async fn commit(c: &Client<'_>, body: &str) -> crate::harness::Resp {
    let hidden = |name: &str| {
        body.split(&format!("name=\"{name}\" value=\"")).nth(1).and_then(|s| s.split('"').next()).map(String::from)
    };
    let batch = hidden("batch").expect("a commit is offered");
    let mut fields = vec![("batch", batch)];
    for name in ["rejects", "bad_rows"] {
        if let Some(v) = hidden(name) {
            fields.push((name, v));
        }
    }
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.post_form("/people/import/commit", &fields).await
}

#[tokio::test]
async fn good_rows_import_now_and_the_bad_rows_come_back_to_fix_and_import_once() {
    let app = TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    let r = upload(&c, "名册.csv", roster().as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "good rows can go in: {}", r.body);
    assert!(r.body.contains("import-partial") && r.body.contains("导入无误的行 (3)"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 0, "nothing before the commit");
    let rejects =
        r.between("id=\"import-rejects\" href=\"/people/import/", "/rejects.xlsx\"").expect("bad rows to download");

    let done = commit(&c, &r.body).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("已导入 3 人"), "{}", done.body);
    // The rows left out are still offered, to fix.
    let left = done.between("id=\"import-left-out\"", "</p>").expect("the rows left out are named");
    assert!(left.contains(&format!("/people/import/{rejects}/rejects.xlsx")) && left.contains("(3)"), "{left}");
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 3);
    let audit =
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'person.import' AND detail LIKE '%\"created\":3%'");
    assert_eq!(audit.await, 1, "one audit row for the import");

    // The bad rows, in the template's columns, with their row number and what is wrong.
    let x = c.get(&format!("/people/import/{rejects}/rejects.xlsx")).await;
    assert_eq!(x.status, StatusCode::OK, "the file is still there after the commit");
    let rows = rows_of(&x.bytes, 0);
    let mut header: Vec<&str> = HEADER.split(',').collect();
    header.extend(["原行号", "问题"]);
    assert_eq!(rows[0], header);
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!((rows[1][0].as_str(), rows[1][13].as_str()), ("钱六", "4"));
    assert!(rows[1][14].contains("社区：找不到该社区"), "{}", rows[1][14]);
    assert_eq!(rows[3][0], "周八");
    assert!(rows[3][14].contains("联系电话"), "{}", rows[3][14]);
    // Nobody else gets the file, not even a colleague: it answers like an unknown id.
    let other = app.login("wenbichen").await;
    assert_eq!(other.get(&format!("/people/import/{rejects}/rejects.xlsx")).await.status, StatusCode::NOT_FOUND);

    // Fixed in a spreadsheet and uploaded as it is: the typo corrected, the phone cleared.
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (col, v) in row.iter().enumerate() {
            let v = match (r, col) {
                (1.., 5) => v.replace("民禾", "民和"),
                (1.., 4) => String::new(),
                _ => v.clone(),
            };
            ws.write_string(r as u32, col as u16, &v).unwrap();
        }
    }
    let fixed = book.save_to_buffer().unwrap();
    let r = upload(&c, "名册-待修改.xlsx", &fixed).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("import-rejects"), "no bad rows left: {}", r.body);
    let done = commit(&c, &r.body).await;
    assert!(done.body.contains("已导入 3 人"), "{}", done.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 6);

    // The whole original file again: its good rows are recognised as registered (its bad rows
    // are still bad as written); the fixed file again: all three registered.
    let r = upload(&c, "名册.csv", roster().as_bytes()).await;
    assert!(r.body.contains("已登记（跳过，不会重复导入）: 3"), "{}", r.body);
    assert!(!r.body.contains("import-commit"), "nothing new to import");
    let r = upload(&c, "名册-待修改.xlsx", &fixed).await;
    assert!(r.body.contains("已登记（跳过，不会重复导入）: 3") && !r.body.contains("import-commit"), "{}", r.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 6);
}

#[tokio::test]
async fn the_template_is_an_xlsx_with_its_columns_as_text_and_a_sheet_explaining_each_column() {
    let app = TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    let page = c.get("/people/import").await;
    assert!(
        page.body.contains("href=\"/people/import/template.xlsx\"") && !page.body.contains("<pre"),
        "{}",
        page.body
    );
    let x = c.get("/people/import/template.xlsx").await;
    assert_eq!(x.status, StatusCode::OK);
    assert!(x.headers["content-type"].to_str().unwrap().contains("spreadsheetml"));
    let rows = rows_of(&x.bytes, 0);
    assert_eq!(rows[0].join(","), HEADER);
    assert_eq!(rows.len(), 1, "no example row to be imported by mistake: {rows:?}");
    // 身份证号, 联系电话 and 户号 are text columns ("@"), wide enough for an ID.
    let sheet = zip_part(&x.bytes, "xl/worksheets/sheet1.xml");
    let styles = zip_part(&x.bytes, "xl/styles.xml");
    assert!(styles.contains("formatCode=\"@\""), "{styles}");
    for col in [2, 5, 12] {
        assert!(sheet.contains(&format!("<col min=\"{col}\" max=\"{col}\" width=\"20")), "column {col}: {sheet}");
    }
    let notes = rows_of(&x.bytes, 1);
    assert_eq!(notes[0][..3], ["列名", "是否必填", "填写要求"]);
    for col in HEADER.split(',') {
        let line = notes.iter().find(|r| r[0] == col).unwrap_or_else(|| panic!("{col} explained"));
        assert!(!line[2].is_empty());
    }
    assert_eq!(notes.iter().find(|r| r[0] == "姓名").unwrap()[1], "必填");
    assert_eq!(notes.iter().find(|r| r[0] == "姓名").unwrap()[3], "王芳", "the example is in the notes");
    // Filled in as the notes show, the template goes back in.
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    for (c, h) in HEADER.split(',').enumerate() {
        ws.write_string(0, c as u16, h).unwrap();
    }
    for (c, v) in notes[1..=HEADER.split(',').count()].iter().map(|n| n[3].clone()).enumerate() {
        ws.write_string(1, c as u16, v).unwrap();
    }
    let r = upload(&c, "居民导入模板.xlsx", &book.save_to_buffer().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("王芳"), "{}", r.body);
}

fn zip_part(bytes: &[u8], path: &str) -> String {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut s = String::new();
    zip.by_name(path).unwrap().read_to_string(&mut s).unwrap();
    s
}

#[tokio::test]
async fn the_api_checks_an_upload_commits_the_good_rows_and_hands_back_the_bad_ones() {
    let app = TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    let r = c.post_multipart("/api/v1/people/imports", &[], &[("file", "名册.csv", roster().as_bytes())]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    assert_eq!((v["ready"].as_u64(), v["bad_rows"].as_u64(), v["existing"].as_u64()), (Some(3), Some(3), Some(0)));
    let problem = &v["problems"][0];
    assert_eq!((problem["row"].as_u64(), problem["code"].as_str()), (Some(4), Some("people_import.place_unknown")));
    assert!(problem["message"].as_str().unwrap().contains("找不到"));
    let batch = v["batch"].as_str().unwrap();
    let rejects = v["rejects"].as_str().unwrap();
    let x = c.get(&format!("/api/v1/people/imports/{rejects}/rejects")).await;
    assert_eq!(x.status, StatusCode::OK);
    assert_eq!(rows_of(&x.bytes, 0).len(), 4);

    let done = c.post_multipart(&format!("/api/v1/people/imports/{batch}/commit"), &[], &[]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!((done.json()["status"].as_str(), done.json()["done"].as_i64()), (Some("done"), Some(3)));
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 3);
    let again = c.post_multipart(&format!("/api/v1/people/imports/{batch}/commit"), &[], &[]).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "a second commit shows the first: {}", again.body);
    assert_eq!(again.json()["status"], "done");
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 3);
    let s = c.get(&format!("/api/v1/people/imports/{batch}")).await;
    assert_eq!(s.json()["done"], 3);

    // Someone else's batch, an unreadable file, no file: 404, 422, 422 — never a 500.
    let other = app.login("wenbichen").await;
    assert_eq!(other.get(&format!("/api/v1/people/imports/{batch}")).await.status, StatusCode::NOT_FOUND);
    let bad = c.post_multipart("/api/v1/people/imports", &[], &[("file", "x.xlsx", b"PK\x03\x04 not a zip")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let none = c.post_multipart("/api/v1/people/imports", &[("note", "x")], &[]).await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", none.body);
    let doc = c.get("/api/v1/openapi.json").await.json();
    assert!(doc["paths"]["/api/v1/people/imports"]["post"]["responses"]["422"].is_object());
    assert!(doc["paths"]["/api/v1/people/imports/{id}/commit"]["post"]["responses"]["404"].is_object());
}

/// A client that hangs up while its commit is under way does not stop it: whatever the moment,
/// the batch is either still waiting for its commit or imported whole, never claimed with
/// nothing running it.
#[tokio::test]
async fn a_commit_cut_off_by_a_hang_up_is_either_not_started_or_finished() {
    let app = TestApp::new().await;
    let c = app.login("zhengjiangbo").await;
    for round in 0..12u64 {
        let roster = format!(
            "{HEADER}\n挂断{round}甲,,女,1950-01-0{},,民和社区,,,,,,,\n挂断{round}乙,,男,1951-02-0{},,民和社区,,,,,,,\n",
            round % 9 + 1,
            round % 9 + 1
        );
        let r = upload(&c, "名册.csv", roster.as_bytes()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let batch = r.between("name=\"batch\" value=\"", "\"").expect("a commit is offered");
        let cut = std::time::Duration::from_micros(300 * round);
        let _ = tokio::time::timeout(cut, c.post_form("/people/import/commit", &[("batch", &batch)])).await;
        let id = uuid::Uuid::parse_str(&batch).unwrap();
        let mut status = String::new();
        for _ in 0..100 {
            let row: (String,) =
                linli::read!(&app.st.db, |c| sqlx::query_as("SELECT status FROM import_batches WHERE id = $1")
                    .bind(id)
                    .fetch_one(c)
                    .await)
                .unwrap();
            status = row.0;
            if status != "running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(status == "ready" || status == "done", "round {round}: {status}");
    }
}
