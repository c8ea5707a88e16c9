//! Reading spreadsheets people actually have: xlsx and xls (calamine) and CSV in UTF-8 or GBK.
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

/// Columns read from a workbook; every importer's template has far fewer.
const MAX_COLUMNS: u32 = 64;

/// [`read`] on a blocking thread: a large file takes seconds to parse, which must not hold up
/// the async workers serving everyone else.
pub async fn read_off_runtime(bytes: Vec<u8>, filename: String) -> Result<Table, TableError> {
    tokio::task::spawn_blocking(move || read(&bytes, &filename)).await.unwrap_or(Err(TableError::Unreadable))
}

fn read_workbook(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, TableError> {
    // xlsx is read cell by cell: calamine's whole-sheet range is as large as the span of the
    // used cells, so one cell at XFD1048576 in a 5 KB file would ask for half a terabyte.
    if let Ok(mut book) = calamine::Xlsx::new(Cursor::new(bytes.to_vec())) {
        return read_xlsx_cells(&mut book);
    }
    // Any other zip (ods, xlsb) is refused: calamine expands an ods cell's
    // `number-columns-repeated` into that many cells, so one attribute in a tiny file asks for
    // gigabytes, and neither format has a reader by cell. Users are asked for xlsx or CSV.
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(TableError::Unreadable);
    }
    // Legacy xls: at most 65,536 × 256 cells, so its range stays bounded.
    let mut book =
        calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).map_err(|_| TableError::Unreadable)?;
    let range = book.worksheet_range_at(0).ok_or(TableError::Empty)?.map_err(|_| TableError::Unreadable)?;
    let first_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    Ok(range.rows().enumerate().map(|(i, row)| (first_row + i + 1, row.iter().map(cell_text).collect())).collect())
}

/// The first sheet's non-empty cells, row by row, within [`MAX_COLUMNS`] and [`MAX_ROWS`].
fn read_xlsx_cells<RS: std::io::Read + std::io::Seek>(
    book: &mut calamine::Xlsx<RS>,
) -> Result<Vec<(usize, Vec<String>)>, TableError> {
    let name = book.sheet_names().first().cloned().ok_or(TableError::Empty)?;
    let mut cells = book.worksheet_cells_reader(&name).map_err(|_| TableError::Unreadable)?;
    let mut rows: std::collections::BTreeMap<u32, Vec<String>> = std::collections::BTreeMap::new();
    while let Some(cell) = cells.next_cell().map_err(|_| TableError::Unreadable)? {
        let (r, c) = cell.get_position();
        if c >= MAX_COLUMNS {
            continue;
        }
        let text = cell_text(&Data::from(cell.get_value().clone()));
        if text.is_empty() {
            continue;
        }
        let row = rows.entry(r).or_default();
        if row.len() <= c as usize {
            row.resize(c as usize + 1, String::new());
        }
        row[c as usize] = text;
        if rows.len() > MAX_ROWS + 1 {
            return Err(TableError::TooManyRows);
        }
    }
    Ok(rows.into_iter().map(|(r, cells)| (r as usize + 1, cells)).collect())
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
    // Newlines counted so far, up to byte `counted`: each record counts only those since the
    // last one (counting from the start each time made a 1 MB file take minutes).
    let (mut counted, mut newlines) = (0usize, 0usize);
    let bytes = text.as_bytes();
    for rec in reader.records() {
        let rec = rec.map_err(|_| TableError::Unreadable)?;
        // csv skips blank lines; the line number keeps row numbers as the user sees them.
        let line = rec
            .position()
            .map(|p| {
                // The position may point at blank lines before the record: step over them.
                let mut start = (p.byte() as usize).max(counted);
                while start < bytes.len() && (bytes[start] == b'\n' || bytes[start] == b'\r') {
                    start += 1;
                }
                newlines += bytes[counted..start].iter().filter(|b| **b == b'\n').count();
                counted = start;
                newlines + 1
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

    /// One cell at the sheet's far corner: read cell by cell in a few kilobytes, not as a
    /// 16,384 × 1,048,576 range (which aborted the process).
    #[test]
    fn a_cell_at_the_far_corner_of_a_sheet_is_ignored_not_allocated() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        ws.write_string(0, 0, "姓名").unwrap();
        ws.write_string(3, 0, "王芳").unwrap();
        ws.write_string(1_048_575, 16_383, "x").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let t = read(&bytes, "far.xlsx").unwrap();
        assert_eq!(t.headers, vec!["姓名"]);
        assert_eq!(t.rows, vec![(4, vec!["王芳".to_string()])]);
    }

    /// Line numbers stay as the user sees them across blank lines and quoted line breaks, in a
    /// large file too (each record counts the lines since the previous one).
    #[test]
    fn csv_line_numbers_over_blank_lines_and_quoted_breaks() {
        let t = read("a,b\n\n1,\"x\ny\"\n\n\n2,3\n".as_bytes(), "x.csv").unwrap();
        assert_eq!(t.rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![3, 7]);
        let mut big = String::from("a,b\n");
        for i in 0..60_000 {
            big.push_str(&format!("{i},x\n\n"));
        }
        let t = read(big.as_bytes(), "big.csv").unwrap();
        assert_eq!(t.rows.last().unwrap().0, 2 + 2 * 59_999);
    }

    /// An ods whose one cell repeats itself a billion times is refused, not expanded.
    #[test]
    fn an_ods_is_refused_whatever_it_repeats() {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file("mimetype", stored).unwrap();
        zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet").unwrap();
        zip.start_file("content.xml", stored).unwrap();
        zip.write_all(
            br#"<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="S"><table:table-row><table:table-cell table:number-columns-repeated="1000000000" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#,
        )
        .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(matches!(read(&bytes, "bomb.ods"), Err(TableError::Unreadable)));
    }
}
