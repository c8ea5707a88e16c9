//! Importing the place tree: a preview lists every bad row before anything is written; a clean
//! file lands in one go; the same file again adds nothing.

use axum::http::{Method, StatusCode};

use crate::harness::{Client, Resp, TestApp};

async fn upload(c: &Client<'_>, name: &str, bytes: &[u8]) -> Resp {
    let boundary = "linliBoundary7MA4YWxk";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    c.raw(Method::POST, &format!("/places/import?_csrf={}", c.csrf), &[("content-type", &ct)], body).await
}

fn decode_payload(r: &Resp) -> String {
    r.between("name=\"payload\" value=\"", "\"")
        .expect("commit form")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn bad_rows_are_listed_with_row_column_and_reason_and_nothing_is_written() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let before = app.count("SELECT COUNT(*) FROM places").await;
    let csv = "上级,类型,名称,编码\n\
               大同市/平城区/开源街道,社区,导入社区甲,DR-1\n\
               大同市/平城区/开源街道/导入社区甲,网格,甲一网格,\n\
               大同市/平城区/不存在街道,社区,孤儿社区,\n\
               大同市/平城区/开源街道,星球,火星,\n\
               ,社区,没有上级,\n\
               大同市/平城区/开源街道,社区,,\n\
               大同市/平城区/开源街道,网格,跳级网格,\n\
               大同市/云冈区/口泉街道,社区,越权社区,\n\
               大同市/平城区/开源街道,社区,导入社区甲,\n\
               大同市/平城区/开源街道,社区,坏编码,a b\n";
    let r = upload(&c, "places.csv", csv.as_bytes()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let rows: Vec<(u32, &str)> = vec![
        (4, "找不到上级"),
        (5, "类型应为"),
        (6, "上级"),
        (7, "必填"),
        (8, "上级类型不对"),
        (9, "找不到上级"),
        (10, "文件中重复"),
        (11, "编码只能"),
    ];
    for (row, reason) in rows {
        assert!(r.body.contains(&format!("<tr><td>{row}</td>")), "row {row} listed");
        assert!(r.body.contains(reason), "reason {reason}");
    }
    assert!(!r.body.contains("name=\"payload\""), "no commit offered while rows are bad");
    // A street manager may not hang places on the district above them.
    let m = app.login("zhenhua.mgr").await;
    let r = upload(&m, "p.csv", "上级,类型,名称\n大同市/平城区,街道,自封街道\n".as_bytes()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "import is for administrators");
    let s = app.login("sysadmin").await;
    let r = upload(&s, "p.csv", "上级,类型,名称\n大同市/平城区,街道,系统街道\n".as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "the city-wide administrator may");
    assert_eq!(app.count("SELECT COUNT(*) FROM places").await, before);
}

#[tokio::test]
async fn a_clean_gbk_csv_lands_in_one_go_and_a_reimport_adds_nothing() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let text = "上级,类型,名称\r\n大同市/平城区/永泰街道,社区,导入社区乙\r\n大同市/平城区/永泰街道/导入社区乙,网格,乙一网格\r\n大同市/平城区/永泰街道/导入社区乙,网格,乙二网格\r\n\r\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(text);
    let r = upload(&c, "places.csv", &gbk).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("将新增: 3") || r.body.contains("将新增</"),
        "{}",
        r.between("id=\"import-summary\">", "<").unwrap_or_default()
    );
    let payload = decode_payload(&r);
    let before = app.count("SELECT COUNT(*) FROM places").await;
    let done = c.post_form("/places/import/commit", &[("payload", &payload)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(app.count("SELECT COUNT(*) FROM places").await, before + 3);
    let grid = app.place_id("乙二网格").await;
    let parent = app.place_id("导入社区乙").await;
    let p: (Option<uuid::Uuid>,) =
        linli::read!(&app.st.db, |conn| sqlx::query_as("SELECT parent_id FROM places WHERE id = $1")
            .bind(grid)
            .fetch_one(conn)
            .await)
        .unwrap();
    assert_eq!(p.0, Some(parent));
    // Same file again: everything exists, nothing new.
    let again = upload(&c, "places.csv", &gbk).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.body.contains("没有需要新增的区划"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'place.create'").await,
        before + 3,
        "one audit row per created place"
    );
}

#[tokio::test]
async fn an_xlsx_with_numbers_and_blank_rows_imports() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    for (col, h) in ["上级", "类型", "名称", "编码"].iter().enumerate() {
        ws.write_string(0, col as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "大同市/平城区/武定街道").unwrap();
    ws.write_string(1, 1, "社区").unwrap();
    ws.write_string(1, 2, "表格社区").unwrap();
    ws.write_number(1, 3, 1024.0).unwrap();
    // Row 3 left empty on purpose.
    ws.write_string(3, 0, "大同市/平城区/武定街道/表格社区").unwrap();
    ws.write_string(3, 1, "grid").unwrap();
    ws.write_string(3, 2, "表格网格").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let r = upload(&c, "places.xlsx", &bytes).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let done = c.post_form("/places/import/commit", &[("payload", &decode_payload(&r))]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let code: (Option<String>,) =
        linli::read!(&app.st.db, |conn| sqlx::query_as("SELECT code FROM places WHERE name = '表格社区'")
            .fetch_one(conn)
            .await)
        .unwrap();
    assert_eq!(code.0.as_deref(), Some("1024"), "a number cell keeps no '.0'");
    app.place_id("表格网格").await;
}

#[tokio::test]
async fn garbage_files_and_tampered_payloads_are_refused() {
    let app = TestApp::new().await;
    let c = app.login("bureau").await;
    let r = upload(&c, "evil.xlsx", b"PK\x03\x04 definitely not a zip").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("无法读取"));
    let r = upload(&c, "empty.csv", b"").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = upload(&c, "cols.csv", "名字,别的\n甲,乙\n".as_bytes()).await;
    assert!(r.body.contains("缺少必需的列"));
    let r = c.post_form("/places/import", &[("file", "not a multipart upload")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("请以表单方式提交"), "our error page, not the framework's text");
    let r = c.post_form("/places/import/commit", &[("payload", "not json")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A payload edited to point outside the scope is re-validated and refused.
    let forged = r#"[{"row":2,"parent":"大同市/云冈区/口泉街道","kind":"社区","name":"偷渡社区","code":""}]"#;
    let r = c.post_form("/places/import/commit", &[("payload", forged)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT COUNT(*) FROM places WHERE name = '偷渡社区'").await, 0);
}
