//! The residents' import in headless Chromium at phone width, the way a station social worker
//! uses it: upload an xlsx roster with some bad rows, watch the busy state, import the good rows,
//! fetch the bad rows as xlsx, fix them, upload the fixed roster and see only the fixed people
//! added (the others are reported as already registered, never twice).

use base64::Engine;
use calamine::Reader;
use fantoccini::{Client, Locator};

use crate::browser::{browser, click, login, serve, start_driver, text_of};
use crate::harness::TestApp;
use crate::people_import::id_number;

const HEADER: [&str; 13] = [
    "姓名",
    "身份证号",
    "性别",
    "出生日期",
    "联系电话",
    "社区",
    "小区",
    "楼栋",
    "单元",
    "室",
    "与户主关系",
    "户号",
    "人群标签",
];

/// A roster as Excel writes it: text cells, the birth dates as real date cells.
fn workbook(rows: &[Vec<String>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    let ws = book.add_worksheet();
    for (col, h) in HEADER.iter().enumerate() {
        ws.write_string(0, col as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (col, v) in row.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            if col == 3 {
                let d = rust_xlsxwriter::ExcelDateTime::parse_from_str(v).unwrap();
                ws.write_datetime_with_format(r, col as u16, &d, &date).unwrap();
            } else {
                ws.write_string(r, col as u16, v).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

fn row(cells: &[&str]) -> Vec<String> {
    let mut r: Vec<String> = cells.iter().map(|s| s.to_string()).collect();
    r.resize(HEADER.len(), String::new());
    r
}

/// Seven people of 开源街道: five good rows, and on rows 4 and 6 (counting the header as row 1)
/// a community with a typo and a phone number that cannot be one.
fn roster() -> Vec<Vec<String>> {
    let (wang, qian, li) = (id_number("19440808", "022"), id_number("19520315", "031"), id_number("19580704", "042"));
    vec![
        row(&["王芳", &wang, "女", "", "13800001111", "民和社区", "", "3", "1", "201", "户主", "A1", "独居"]),
        row(&["赵敏", "", "女", "1961-02-03", "", "民和社区", "", "5", "2", "302"]),
        row(&["钱六", &qian, "男", "", "", "民禾社区"]),
        row(&["李娟", &li, "女", "", "13900002222", "民和社区", "", "7", "1", "101"]),
        row(&["周八", "", "男", "1960-03-03", "12345", "民和社区"]),
        row(&["刘强", "", "男", "1975-07-07", "", "民和社区/第一网格"]),
        row(&["陈建国", "", "男", "1949-10-01", "13700003333", "民和社区"]),
    ]
}

fn sheet_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
}

async fn page_width(c: &Client) -> u64 {
    c.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap().as_u64().unwrap()
}

/// Records every change of the form's submit button and busy indicator in sessionStorage, which
/// outlives the page the answer replaces: the state the user saw while waiting.
async fn watch_busy(c: &Client, form: &str) {
    c.execute(
        "const form = document.querySelector(arguments[0]);
         const button = form.querySelector('button[type=submit]');
         const busy = form.querySelector('.busy');
         const text = busy.querySelector('.busy-text');
         sessionStorage.setItem('busy-log', '[]');
         new MutationObserver(() => {
           const log = JSON.parse(sessionStorage.getItem('busy-log'));
           log.push({disabled: button.disabled, shown: !busy.hidden, text: text.textContent});
           sessionStorage.setItem('busy-log', JSON.stringify(log));
         }).observe(form, {attributes: true, childList: true, characterData: true, subtree: true});",
        vec![serde_json::json!(form)],
    )
    .await
    .unwrap();
}

/// The busy texts shown while the button was disabled, in order, without repeats.
async fn busy_seen(c: &Client) -> Vec<String> {
    let log = c.execute("return sessionStorage.getItem('busy-log');", vec![]).await.unwrap();
    let log: Vec<serde_json::Value> = serde_json::from_str(log.as_str().expect("the busy log")).unwrap();
    let mut seen: Vec<String> = Vec::new();
    for e in log {
        if e["disabled"] == true && e["shown"] == true {
            let t = e["text"].as_str().unwrap().trim().to_string();
            if seen.last() != Some(&t) {
                seen.push(t);
            }
        }
    }
    seen
}

/// Chooses the file on the import page and sends it; returns the busy texts seen meanwhile.
async fn upload(c: &Client, base: &str, file: &std::path::Path) -> Vec<String> {
    c.goto(&format!("{base}/people/import")).await.unwrap();
    assert!(page_width(c).await <= 360, "the import page fits a phone");
    c.find(Locator::Css("#f-file")).await.unwrap().send_keys(&file.display().to_string()).await.unwrap();
    watch_busy(c, "#import-form").await;
    click(c, "#import-preview").await;
    busy_seen(c).await
}

/// The problems table: (row, column, reason) per line.
async fn problems(c: &Client) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for tr in c.find_all(Locator::Css("table.problems tbody tr")).await.unwrap() {
        let cells = tr.find_all(Locator::Css("td")).await.unwrap();
        let mut t = Vec::new();
        for td in cells {
            t.push(td.text().await.unwrap().trim().to_string());
        }
        out.push((t[0].clone(), t[1].clone(), t[2].clone()));
    }
    out
}

async fn present(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_social_worker_imports_the_good_rows_on_a_phone_then_fixes_the_bad_ones_from_their_xlsx_in_chromium() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::new().await;
    let base = serve(&app).await;
    let c = browser(&driver).await;
    c.set_window_size(360, 740).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    // 郑江波, social worker at the 开源街道 station.
    login(&c, &base, "zhengjiangbo", &app.password).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/", "the worker is signed in");

    // The roster with two bad rows: the button is disabled at once and the page says what it
    // is doing (uploading, then checking) until the preview replaces it.
    let first = dir.path().join("居民名册.xlsx");
    std::fs::write(&first, workbook(&roster())).unwrap();
    let busy = upload(&c, &base, &first).await;
    assert!(busy.first().is_some_and(|t| t == "正在上传…"), "the upload shows its progress: {busy:?}");
    assert!(busy.iter().any(|t| t == "正在检查各行…"), "then that the rows are being checked: {busy:?}");
    let summary = text_of(&c, "#import-summary").await;
    assert_eq!(summary, "将新增: 5 · 已登记（跳过，不会重复导入）: 0 · 错误: 2", "{summary}");
    let listed = problems(&c).await;
    assert_eq!(listed.len(), 2, "one reason per bad row: {listed:?}");
    assert_eq!((listed[0].0.as_str(), listed[0].1.as_str()), ("4", "社区"), "{listed:?}");
    assert!(listed[0].2.contains("找不到该社区"), "{listed:?}");
    assert_eq!((listed[1].0.as_str(), listed[1].1.as_str()), ("6", "联系电话"), "{listed:?}");
    assert!(listed[1].2.contains("电话号码格式不正确"), "{listed:?}");
    assert!(text_of(&c, "#import-partial").await.contains("有问题的行不会导入"));
    assert_eq!(text_of(&c, "#import-commit").await, "导入无误的行 (5)");
    assert!(page_width(&c).await <= 360, "the preview with its problems fits a phone");
    let rejects = c.find(Locator::Css("#import-rejects")).await.unwrap().attr("href").await.unwrap().unwrap();
    assert!(rejects.starts_with("/people/import/") && rejects.ends_with("/rejects.xlsx"), "{rejects}");
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 0, "nothing written before the commit");

    // Import the good rows: that button too is disabled while the rows are written.
    watch_busy(&c, "form[action='/people/import/commit']").await;
    click(&c, "#import-commit").await;
    assert_eq!(busy_seen(&c).await, ["正在导入…"]);
    assert_eq!(text_of(&c, "#import-done").await, "已导入 5 人");
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 5);
    for name in ["王芳", "赵敏", "李娟", "刘强", "陈建国"] {
        let n = app.count(&format!("SELECT COUNT(*) FROM persons WHERE name = '{name}'")).await;
        assert_eq!(n, 1, "{name} imported once");
    }
    c.goto(&format!("{base}/people")).await.unwrap();
    let list = text_of(&c, "main").await;
    for name in ["王芳", "赵敏", "李娟", "刘强", "陈建国"] {
        assert!(list.contains(name), "{name} on the residents list:\n{list}");
    }
    assert!(!list.contains("钱六") && !list.contains("周八"), "the bad rows are not imported:\n{list}");

    // The bad rows, fetched by the browser with its session: the template's columns, the row
    // they came from and what is wrong.
    let got = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => r.arrayBuffer().then(b => {
               const u = new Uint8Array(b); let s = '';
               for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
               done([r.status, r.headers.get('content-type'), btoa(s)]);
             }));",
            vec![serde_json::json!(rejects)],
        )
        .await
        .unwrap();
    assert_eq!(got[0], 200, "{got:?}");
    assert_eq!(got[1], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let bytes = base64::engine::general_purpose::STANDARD.decode(got[2].as_str().unwrap()).unwrap();
    let bad = sheet_rows(&bytes);
    let mut header: Vec<&str> = HEADER.to_vec();
    header.extend(["原行号", "问题"]);
    assert_eq!(bad[0], header);
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert_eq!((bad[1][0].as_str(), bad[1][5].as_str(), bad[1][13].as_str()), ("钱六", "民禾社区", "4"));
    assert!(bad[1][14].contains("社区：找不到该社区"), "{}", bad[1][14]);
    assert_eq!((bad[2][0].as_str(), bad[2][4].as_str(), bad[2][13].as_str()), ("周八", "12345", "6"));
    assert!(bad[2][14].contains("联系电话：电话号码格式不正确"), "{}", bad[2][14]);

    // Both rows fixed from that file and put back into the roster, which goes up again whole.
    let mut fixed = roster();
    for line in &bad[1..] {
        let mut cells: Vec<String> = line[..HEADER.len()].to_vec();
        cells[5] = cells[5].replace("民禾", "民和");
        if cells[4] == "12345" {
            cells[4] = "13600004444".into();
        }
        let at: usize = line[13].parse().unwrap();
        fixed[at - 2] = cells;
    }
    let second = dir.path().join("居民名册-已修改.xlsx");
    std::fs::write(&second, workbook(&fixed)).unwrap();
    let busy = upload(&c, &base, &second).await;
    assert!(busy.contains(&"正在检查各行…".to_string()), "{busy:?}");
    let summary = text_of(&c, "#import-summary").await;
    assert_eq!(summary, "将新增: 2 · 已登记（跳过，不会重复导入）: 5 · 错误: 0", "{summary}");
    assert!(!present(&c, "table.problems").await && !present(&c, "#import-rejects").await);
    let ready = text_of(&c, "main table").await;
    assert!(ready.contains("钱六") && ready.contains("周八") && !ready.contains("王芳"), "{ready}");
    assert_eq!(text_of(&c, "#import-commit").await, "确认导入");
    click(&c, "#import-commit").await;
    assert_eq!(text_of(&c, "#import-done").await, "已导入 2 人");
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 7, "the fixed two added, nobody twice");
    for name in ["王芳", "赵敏", "钱六", "李娟", "周八", "刘强", "陈建国"] {
        let n = app.count(&format!("SELECT COUNT(*) FROM persons WHERE name = '{name}'")).await;
        assert_eq!(n, 1, "{name} registered once");
    }
    let minhe = app.count("SELECT COUNT(*) FROM persons p JOIN places pl ON pl.id = p.place_id WHERE p.name = '钱六' AND pl.name = '民和社区'");
    assert_eq!(minhe.await, 1, "钱六 in the corrected community");

    // The same file once more: everyone is registered, nothing to import.
    upload(&c, &base, &second).await;
    let summary = text_of(&c, "#import-summary").await;
    assert_eq!(summary, "将新增: 0 · 已登记（跳过，不会重复导入）: 7 · 错误: 0", "{summary}");
    assert!(!present(&c, "#import-commit").await);
    assert!(text_of(&c, "main").await.contains("没有需要新增的人员"));
    assert_eq!(app.count("SELECT COUNT(*) FROM persons").await, 7);
    c.close().await.unwrap();
}
