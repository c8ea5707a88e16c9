//! Reading spreadsheets people actually have: xlsx/xls/ods (calamine) and CSV in UTF-8 or GBK.
//! Cells come back as trimmed text with their 1-based row numbers, ready for per-row validation.

use std::io::Cursor;

use calamine::{Data, Reader};

pub struct Table {
    /// Header cells of the first non-empty row.
    pub headers: Vec<String>,
    /// (row number as the user sees it, cells).
    pub rows: Vec<(usize, Vec<String>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("import.unreadable")]
    Unreadable,
    #[error("import.empty")]
    Empty,
    #[error("import.too_many_rows")]
    TooManyRows,
}

impl TableError {
    /// The message code, for answers that carry codes (the API's field errors).
    pub fn code(&self) -> &'static str {
        match self {
            TableError::Unreadable => "import.unreadable",
            TableError::Empty => "import.empty",
            TableError::TooManyRows => "import.too_many_rows",
        }
    }
}

pub const MAX_ROWS: usize = 100_000;

pub fn read(bytes: &[u8], filename: &str) -> Result<Table, TableError> {
    let lower = filename.to_lowercase();
    let is_zip = bytes.starts_with(b"PK\x03\x04");
    let is_ole = bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]);
    let grid = if is_zip || is_ole || lower.ends_with(".xlsx") || lower.ends_with(".xls") || lower.ends_with(".ods") {
        read_workbook(bytes)?
    } else {
        read_csv(bytes)?
    };
    let mut iter = grid.into_iter().filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()));
    let (_, headers) = iter.next().ok_or(TableError::Empty)?;
    let rows: Vec<_> = iter.collect();
    if rows.len() > MAX_ROWS {
        return Err(TableError::TooManyRows);
    }
    Ok(Table { headers, rows })
}

fn read_workbook(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, TableError> {
    let mut book =
        calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).map_err(|_| TableError::Unreadable)?;
    let range = book.worksheet_range_at(0).ok_or(TableError::Empty)?.map_err(|_| TableError::Unreadable)?;
    let first_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    Ok(range.rows().enumerate().map(|(i, row)| (first_row + i + 1, row.iter().map(cell_text).collect())).collect())
}

/// Numbers typed as numbers come back without a spurious `.0`; long numbers Excel turned into
/// floats (an 18-digit ID as 1.4e17) keep the digits Excel still has, and validation catches the loss.
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => unquote(s.trim()).to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => {
            dt.as_datetime().map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_else(|| dt.to_string())
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(_) => String::new(),
    }
}

fn read_csv(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, TableError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // Excel on Chinese Windows saves CSV as GBK; anything that is not valid UTF-8 is read as GBK.
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let (decoded, _, had_errors) = encoding_rs::GBK.decode(bytes);
            if had_errors {
                return Err(TableError::Unreadable);
            }
            decoded.into_owned()
        }
    };
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|_| TableError::Unreadable)?;
        // csv skips blank lines; the line number keeps row numbers as the user sees them.
        let bytes = text.as_bytes();
        let line = rec
            .position()
            .map(|p| {
                // The position may point at blank lines before the record: step over them.
                let mut start = p.byte() as usize;
                while start < bytes.len() && (bytes[start] == b'\n' || bytes[start] == b'\r') {
                    start += 1;
                }
                bytes[..start].iter().filter(|b| **b == b'\n').count() + 1
            })
            .unwrap_or(out.len() + 1);
        out.push((line, rec.iter().map(|c| unquote(c.trim()).to_string()).collect()));
        if out.len() > MAX_ROWS + 1 {
            return Err(TableError::TooManyRows);
        }
    }
    Ok(out)
}

/// Takes off the `'` that `ledger_xlsx::neutralise` puts before a leading = + - @, so a file
/// we exported (rejected rows to fix) reads back as the user typed it.
fn unquote(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => s,
    }
}

/// Index of the first header matching any of the names (Chinese or English).
pub fn column(headers: &[String], names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_in_gbk_and_utf8_with_bom() {
        let (gbk, _, _) = encoding_rs::GBK.encode("名称,类型\n大齿社区,社区\n");
        let t = read(&gbk, "x.csv").unwrap();
        assert_eq!(t.headers, vec!["名称", "类型"]);
        assert_eq!(t.rows[0], (2, vec!["大齿社区".to_string(), "社区".to_string()]));
        let t = read("\u{feff}a,b\n\n1,2\n".as_bytes(), "x.csv").unwrap();
        assert_eq!(t.headers, vec!["a", "b"]);
        assert_eq!(t.rows, vec![(3, vec!["1".to_string(), "2".to_string()])]);
        assert!(matches!(read(b"", "x.csv"), Err(TableError::Empty)));
    }

    #[test]
    fn xlsx_numbers_and_text() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        ws.write_string(0, 0, "名称").unwrap();
        ws.write_string(0, 1, "编码").unwrap();
        ws.write_string(1, 0, "永宁社区").unwrap();
        ws.write_number(1, 1, 12.0).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let t = read(&bytes, "places.xlsx").unwrap();
        assert_eq!(t.rows, vec![(2, vec!["永宁社区".to_string(), "12".to_string()])]);
    }
}
