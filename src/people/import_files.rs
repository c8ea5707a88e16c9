//! The files around a resident import: the template to fill in, and an upload's rejected rows
//! handed back to be fixed. Both have the template's columns in its order and their header in
//! the first row, so either goes back into the import page as it is.

use axum::extract::State;
use axum::response::Response;

use super::import::{self, ImportRow, Rejected};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::ledger_xlsx::{self, Cell, Sheet};
use crate::people::export::xlsx_response;
use crate::web::AppState;
use crate::web::extract::Id;

/// The template's columns: header, required, what goes in, an example.
pub const TEMPLATE: &[(&str, bool, &str, &str)] = &[
    ("姓名", true, "居民姓名", "王芳"),
    ("身份证号", false, "18 位公民身份号码；请将此列设为文本格式，避免 Excel 把它变成 1.4E+17", ""),
    ("性别", false, "男 或 女；有身份证号时可不填", "女"),
    ("出生日期", false, "YYYY-MM-DD；有身份证号时可不填", "1944-08-08"),
    ("联系电话", false, "手机或固定电话", "13800001111"),
    ("社区", true, "所在社区，重名时写 街道/社区；也可写 社区/网格", "民和社区"),
    ("小区", false, "该社区内已登记的小区名称", ""),
    ("楼栋", false, "楼号", "3"),
    ("单元", false, "单元号", "1"),
    ("室", false, "门牌号", "201"),
    ("与户主关系", false, "户主、配偶、子女、孙子女等", "户主"),
    ("户号", false, "同一户号的行归为一户", "A1"),
    ("人群标签", false, "独居、空巢、低保、残疾等，多个用顿号分隔", "独居"),
];

/// The values of a row in the template's column order.
fn cells(r: &ImportRow) -> [&str; 13] {
    [
        &r.name,
        &r.id_number,
        &r.sex,
        &r.birth_date,
        &r.phone,
        &r.place,
        &r.estate,
        &r.building,
        &r.unit,
        &r.room,
        &r.relation,
        &r.household,
        &r.tags,
    ]
}

fn headers() -> Vec<&'static str> {
    TEMPLATE.iter().map(|c| c.0).collect()
}

/// Columns whose values are digits that must stay text: ID number, phone, household number.
const TEXT_COLUMNS: &[usize] = &[1, 4, 11];

/// The template: the header only (an example row left in would be imported as a resident), its
/// number-like columns formatted as text, and a sheet explaining each column with an example.
pub fn template_bytes() -> Result<Vec<u8>, AppError> {
    let headers = headers();
    let notes = TEMPLATE
        .iter()
        .map(|(h, required, what, example)| {
            vec![Cell::text(*h), Cell::text(if *required { "必填" } else { "选填" }), Cell::text(*what), Cell::text(*example)]
        })
        .chain(std::iter::once(vec![
            Cell::text("说明"),
            Cell::Blank,
            Cell::text("第一行为表头，请勿修改；从第二行起每行一人，写法见本表“示例”列。已登记的人(同一身份证号，或同一姓名、出生日期和社区)会跳过。"),
            Cell::Blank,
        ]))
        .collect();
    let sheets = [
        Sheet {
            name: "居民",
            title: None,
            unit: "",
            period: String::new(),
            headers: &headers,
            rows: Vec::new(),
            signature: false,
            text_columns: TEXT_COLUMNS,
        },
        Sheet {
            name: "填写说明",
            title: None,
            unit: "",
            period: String::new(),
            headers: &["列名", "是否必填", "填写要求", "示例"],
            rows: notes,
            signature: false,
            text_columns: &[],
        },
    ];
    ledger_xlsx::workbook(&sheets).map_err(|e| AppError::Internal(e.into()))
}

pub async fn template(_caller: Caller) -> AppResult<Response> {
    Ok(xlsx_response(template_bytes()?, "居民导入模板.xlsx"))
}

/// The rejected rows with their original row number and what is wrong, in the caller's language.
pub fn rejects_bytes(rows: &[Rejected], tr: crate::i18n::Tr) -> Result<Vec<u8>, AppError> {
    let mut headers = headers();
    headers.extend(["原行号", "问题"]);
    let rows = rows
        .iter()
        .map(|r| {
            let reason =
                r.reasons.iter().map(|(col, code)| format!("{col}：{}", tr.t(code))).collect::<Vec<_>>().join("；");
            let mut line: Vec<Cell> = cells(&r.row).iter().map(|v| Cell::text(*v)).collect();
            line.push(Cell::Int(r.row.row as i64));
            line.push(Cell::Text(reason));
            line
        })
        .collect();
    let sheet = Sheet {
        name: "待修改",
        title: None,
        unit: "",
        period: String::new(),
        headers: &headers,
        rows,
        signature: false,
        text_columns: TEXT_COLUMNS,
    };
    ledger_xlsx::workbook(&[sheet]).map_err(|e| AppError::Internal(e.into()))
}

/// An upload's bad rows as xlsx, for its uploader only (anyone else: 404, like an unknown id).
pub async fn rejects(State(st): State<AppState>, caller: Caller, Id(id): Id) -> AppResult<Response> {
    let (file, rows) = import::rejected_rows(&st, caller.user_id, id).await?.ok_or(AppError::NotFound)?;
    let bytes = rejects_bytes(&rows, crate::i18n::Tr(caller.lang))?;
    let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(&file);
    Ok(xlsx_response(bytes, &format!("{stem}-待修改.xlsx")))
}
