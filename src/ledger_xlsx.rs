//! The one workbook writer behind every xlsx the application hands out (rosters, the service,
//! hazard and metrics ledgers, an import's rejected rows, the import template).
//!
//! A 台账 is printed, signed and filed, and opened by people who sort and filter it. So each
//! sheet gets: a title row and a row naming the unit, the period and the export time; a bold
//! header that stays frozen, carries an autofilter and repeats on every printed page; typed cells
//! (numbers as numbers, dates as dates with a date format, links as links); widths fitted to the
//! content (a CJK character counts twice); landscape A4 printing fitted to the page width; and
//! where the ledger is signed, a 制表人 / 审核人 / 日期 line under the last row.
//!
//! Text is made safe on the way out: a cell starting with = + - @ or a tab/CR is prefixed with
//! `'` so that no spreadsheet (or a CSV made from it) runs it as a formula, and bidirectional
//! controls (U+202E …) are removed so a name cannot reorder what a printed row says.
//! `tabular::read` takes that `'` off again, so a file we wrote imports back unchanged.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, Formula, Url, Workbook, Worksheet, XlsxError};

/// One typed cell.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A number shown with one decimal (hours, amounts).
    Decimal(f64),
    Date(NaiveDate),
    /// Shown in Beijing time to the minute.
    Time(DateTime<Utc>),
    /// A link (absolute URL or a path on this site) with its text.
    Link {
        url: String,
        text: String,
    },
    /// A formula whose `{r}` stands for the cell's own Excel row; `value` is cached for readers
    /// that do not calculate, and `None` (0/0) caches an empty string, never a misleading 0.
    Rate {
        formula: String,
        value: Option<f64>,
        percent: bool,
    },
    Blank,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
    pub fn opt_date(d: Option<NaiveDate>) -> Cell {
        d.map(Cell::Date).unwrap_or(Cell::Blank)
    }
    pub fn opt_time(t: Option<DateTime<Utc>>) -> Cell {
        t.map(Cell::Time).unwrap_or(Cell::Blank)
    }
}

/// One sheet of a ledger.
pub struct Sheet<'a> {
    /// The tab's name (at most 31 characters; Excel forbids `[]:*?/\`).
    pub name: &'a str,
    /// The title row, e.g. 隐患排查整治台账. `None` writes the header in the first row, for files
    /// meant to be imported again (rejected rows, the template).
    pub title: Option<&'a str>,
    /// The place (or station) the ledger is about.
    pub unit: &'a str,
    /// "2026-12-01 至 2026-12-31", or empty for a list without a period.
    pub period: String,
    pub headers: &'a [&'a str],
    pub rows: Vec<Vec<Cell>>,
    /// 制表人 / 审核人 / 日期 under the last row.
    pub signature: bool,
    /// Columns formatted as text, so that what a user types there later (an ID number, a phone)
    /// stays as typed instead of turning into a number like 1.4E+17; with the width of an ID.
    pub text_columns: &'a [usize],
}

/// Characters that make a spreadsheet treat text as a formula (or CSV injection).
const FORMULA_STARTS: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// Bidirectional embedding, override and isolate controls, and the implicit marks.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// User text as it may leave in a spreadsheet or CSV: without bidi controls, and with a `'`
/// before a leading formula character.
pub fn neutralise(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !is_bidi_control(*c)).collect();
    if clean.starts_with(FORMULA_STARTS) { format!("'{clean}") } else { clean }
}

/// Excel shows a CJK character about twice as wide as a Latin one.
fn display_width(s: &str) -> usize {
    s.lines().map(|l| l.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum::<usize>()).max().unwrap_or(0)
}

fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_ymd(d.year().clamp(1900, 9999) as u16, d.month() as u8, d.day() as u8)
}

fn excel_time(t: DateTime<Utc>) -> Result<ExcelDateTime, XlsxError> {
    let l = t.with_timezone(&chrono_tz::Asia::Shanghai).naive_local();
    excel_date(l.date())?.and_hms(l.hour() as u16, l.minute() as u8, 0)
}

/// Beijing time of an export, as printed in the title row.
fn now_local() -> String {
    Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m-%d %H:%M").to_string()
}

/// Sheet names must be unique, non-empty, ≤ 31 chars and free of `[]:*?/\`.
fn sheet_name(name: &str) -> String {
    let n: String = name.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect();
    if n.trim().is_empty() { "Sheet1".into() } else { n }
}

/// Writes one sheet into the book.
pub fn add_sheet(book: &mut Workbook, s: &Sheet) -> Result<(), XlsxError> {
    let ws = book.add_worksheet();
    ws.set_name(sheet_name(s.name))?;
    write_sheet(ws, s)
}

fn write_sheet(ws: &mut Worksheet, s: &Sheet) -> Result<(), XlsxError> {
    let cols = s.headers.len().max(1) as u16;
    let last_col = cols - 1;
    let title_fmt = Format::new().set_bold().set_font_size(16).set_align(FormatAlign::Center);
    let info_fmt = Format::new().set_align(FormatAlign::Left);
    let head_fmt =
        Format::new().set_bold().set_background_color(0xE7EEF7).set_border(rust_xlsxwriter::FormatBorder::Thin);
    let date_fmt = Format::new().set_num_format("yyyy-mm-dd");
    let time_fmt = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let dec_fmt = Format::new().set_num_format("0.0");
    let pct_fmt = Format::new().set_num_format("0.0%");
    // A 0/0 rate caches "" rather than rust_xlsxwriter's default 0.
    ws.set_formula_result_default("");

    let mut header_row = 0u32;
    if let Some(title) = s.title {
        let info = [
            format!("填报单位：{}", neutralise(s.unit)),
            if s.period.is_empty() { String::new() } else { format!("统计期间：{}", s.period) },
            format!("导出时间：{}", now_local()),
        ]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("    ");
        if last_col > 0 {
            ws.merge_range(0, 0, 0, last_col, title, &title_fmt)?;
            ws.merge_range(1, 0, 1, last_col, &info, &info_fmt)?;
        } else {
            ws.write_string_with_format(0, 0, title, &title_fmt)?;
            ws.write_string_with_format(1, 0, &info, &info_fmt)?;
        }
        ws.set_row_height(0, 26)?;
        header_row = 2;
    }

    let mut widths: Vec<usize> = s.headers.iter().map(|h| display_width(h) + 2).collect();
    widths.resize(cols as usize, 4);
    for (c, h) in s.headers.iter().enumerate() {
        ws.write_string_with_format(header_row, c as u16, *h, &head_fmt)?;
    }
    let first = header_row + 1;
    for (i, row) in s.rows.iter().enumerate() {
        let r = first + i as u32;
        for (c, cell) in row.iter().enumerate().take(cols as usize) {
            let col = c as u16;
            let w = match cell {
                Cell::Text(t) => {
                    let t = neutralise(t);
                    ws.write_string(r, col, &t)?;
                    display_width(&t)
                }
                Cell::Int(n) => {
                    ws.write_number(r, col, *n as f64)?;
                    n.to_string().len()
                }
                Cell::Decimal(x) => {
                    ws.write_number_with_format(r, col, *x, &dec_fmt)?;
                    format!("{x:.1}").len()
                }
                Cell::Date(d) => {
                    ws.write_datetime_with_format(r, col, excel_date(*d)?, &date_fmt)?;
                    10
                }
                Cell::Time(t) => {
                    ws.write_datetime_with_format(r, col, excel_time(*t)?, &time_fmt)?;
                    16
                }
                Cell::Link { url, text } => {
                    let text = neutralise(text);
                    ws.write_url_with_text(r, col, Url::new(url.as_str()), &text)?;
                    display_width(&text)
                }
                Cell::Rate { formula, value, percent } => {
                    let f = Formula::new(formula.replace("{r}", &(r + 1).to_string()))
                        .set_result(value.map(|v| v.to_string()).unwrap_or_default());
                    ws.write_formula_with_format(r, col, f, if *percent { &pct_fmt } else { &dec_fmt })?;
                    8
                }
                Cell::Blank => 0,
            };
            // Long free text wraps in print rather than making one column a page wide.
            widths[c] = widths[c].max(w.min(48) + 2);
        }
    }
    let text_fmt = Format::new().set_num_format("@");
    for (c, w) in widths.iter().enumerate() {
        if s.text_columns.contains(&c) {
            ws.set_column_width(c as u16, (*w).clamp(20, 50) as f64)?;
            ws.set_column_format(c as u16, &text_fmt)?;
        } else {
            ws.set_column_width(c as u16, (*w).clamp(6, 50) as f64)?;
        }
    }
    let last_row = first + s.rows.len() as u32 - 1;
    ws.set_freeze_panes(first, 0)?;
    ws.autofilter(header_row, 0, last_row.max(header_row), last_col)?;
    ws.set_landscape();
    ws.set_paper_size(9); // A4
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(header_row, header_row)?;
    if s.signature {
        let r = last_row.max(header_row) + 2;
        let line = "制表人：________________        审核人：________________        日期：________________";
        if last_col > 0 {
            ws.merge_range(r, 0, r, last_col, line, &info_fmt)?;
        } else {
            ws.write_string(r, 0, line)?;
        }
    }
    Ok(())
}

/// An xlsx file in an API answer, as the OpenAPI document describes it: a binary string, which
/// client generators turn into a file (a bare `Vec<u8>` would read as a list of integers).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct XlsxFile(pub Vec<u8>);

/// A workbook of the given sheets, as bytes.
pub fn workbook(sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    for s in sheets {
        add_sheet(&mut book, s)?;
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_quoted_and_bidi_controls_go() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for s in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutralise(s).starts_with('\''), "{s:?}");
        }
        assert_eq!(neutralise("王\u{202E}芳"), "王芳");
        assert_eq!(neutralise("\u{202E}=1"), "'=1", "a control cannot hide a formula");
        assert_eq!(neutralise("王芳 13800001111"), "王芳 13800001111");
        assert_eq!(display_width("王芳ab"), 6);
    }
}
