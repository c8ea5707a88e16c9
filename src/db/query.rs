//! Dynamically assembled reads (scope filters, optional filters) without repeating the binding
//! loop in every store: collect the values in `Args` while writing the SQL, then run it.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::Db;
use crate::scope::Scope;

/// A row type readable from both backends.
pub trait DbRow: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}
impl<T> DbRow for T where T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}

#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Id(Uuid),
    /// A nullable reference (an actor who may be the system).
    OptId(Option<Uuid>),
    Int(i64),
    /// A BOOLEAN column (PostgreSQL refuses an integer for one).
    Bool(bool),
    Time(DateTime<Utc>),
    Date(NaiveDate),
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}
impl From<Uuid> for Arg {
    fn from(v: Uuid) -> Self {
        Arg::Id(v)
    }
}
impl From<Option<Uuid>> for Arg {
    fn from(v: Option<Uuid>) -> Self {
        Arg::OptId(v)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<NaiveDate> for Arg {
    fn from(v: NaiveDate) -> Self {
        Arg::Date(v)
    }
}
impl From<DateTime<Utc>> for Arg {
    fn from(v: DateTime<Utc>) -> Self {
        Arg::Time(v)
    }
}

/// Values for `$1…$n`, in order.
#[derive(Debug, Default, Clone)]
pub struct Args(Vec<Arg>);

impl Args {
    pub fn new() -> Args {
        Args::default()
    }
    /// Adds a value and returns its placeholder (`$n`).
    pub fn push(&mut self, v: impl Into<Arg>) -> String {
        self.0.push(v.into());
        format!("${}", self.0.len())
    }
    pub fn push_date(&mut self, v: NaiveDate) -> String {
        self.push(v)
    }
    /// `col` inside the caller's scope.
    pub fn scope(&mut self, col: &str, scope: &Scope) -> String {
        let (sql, binds) = scope.filter(col, self.0.len() + 1);
        self.0.extend(binds.into_iter().map(Arg::Text));
        sql
    }
    /// `col` inside the scope or above it (shared records such as departments).
    pub fn scope_visible(&mut self, col: &str, scope: &Scope) -> String {
        let (sql, binds) = scope.filter_visible(col, self.0.len() + 1);
        self.0.extend(binds.into_iter().map(Arg::Text));
        sql
    }
    /// `$a, $b, …` for an `IN (…)` list.
    pub fn list<T: Into<Arg> + Clone>(&mut self, values: &[T]) -> String {
        values.iter().map(|v| self.push(v.clone())).collect::<Vec<_>>().join(", ")
    }
}

macro_rules! bound {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in &$args.0 {
            q = match a {
                Arg::Text(v) => q.bind(v),
                Arg::Id(v) => q.bind(v),
                Arg::OptId(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Time(v) => q.bind(v),
                Arg::Date(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Runs a statement with its values inside a transaction; the number of rows it touched.
pub async fn execute(tx: &mut super::Tx, sql: &str, args: &Args) -> Result<u64, sqlx::Error> {
    crate::write!(tx, |c| bound!(sqlx::query(sql), args).execute(c).await.map(|r| r.rows_affected()))
}

/// Rows read inside a write transaction (so they are the rows the transaction then changes).
pub async fn tx_all<T: DbRow>(tx: &mut super::Tx, sql: &str, args: &Args) -> Result<Vec<T>, sqlx::Error> {
    crate::write!(tx, |c| bound!(sqlx::query_as::<_, T>(sql), args).fetch_all(c).await)
}

pub async fn tx_optional<T: DbRow>(tx: &mut super::Tx, sql: &str, args: &Args) -> Result<Option<T>, sqlx::Error> {
    crate::write!(tx, |c| bound!(sqlx::query_as::<_, T>(sql), args).fetch_optional(c).await)
}

pub async fn all<T: DbRow>(db: &Db, sql: &str, args: &Args) -> Result<Vec<T>, sqlx::Error> {
    crate::read!(db, |c| bound!(sqlx::query_as::<_, T>(sql), args).fetch_all(c).await)
}

pub async fn optional<T: DbRow>(db: &Db, sql: &str, args: &Args) -> Result<Option<T>, sqlx::Error> {
    crate::read!(db, |c| bound!(sqlx::query_as::<_, T>(sql), args).fetch_optional(c).await)
}

pub async fn one<T: DbRow>(db: &Db, sql: &str, args: &Args) -> Result<T, sqlx::Error> {
    crate::read!(db, |c| bound!(sqlx::query_as::<_, T>(sql), args).fetch_one(c).await)
}

/// One page of `select … FROM … WHERE …` (ORDER BY included) and a total counted by `count`
/// (a SELECT of one number), both with the same values. For lists over a whole district, where
/// an exact count would visit every row, `count` stops at a cap: see [`capped_count`].
///
/// One statement: the count rides on the page as an uncorrelated scalar subquery, which both
/// backends evaluate once, at the first row (SQLite's once-only subroutine, PostgreSQL's
/// InitPlan). A page and its count were two statements, two trips to a connection: on SQLite
/// each is a hop to the connection's thread and back, on PostgreSQL a round trip. Only a page
/// past the end, which has no row to carry the count, counts again on its own.
pub async fn page_counted<T: DbRow>(
    db: &Db,
    select: &str,
    count: &str,
    args: &Args,
    limit: i64,
    offset: i64,
) -> Result<(Vec<T>, i64), sqlx::Error> {
    let bad = || sqlx::Error::Protocol(format!("a page must be a plain SELECT … FROM: {select}"));
    let select = select.trim_start();
    if !select.starts_with("SELECT ") || select["SELECT ".len()..].trim_start().starts_with("DISTINCT ") {
        return Err(bad());
    }
    // The total goes last, so rows decoded by position (tuples) read their own columns.
    let from = top_level_from(select).ok_or_else(bad)?;
    let mut paged = args.clone();
    let sql = format!(
        "{}, ({count}) AS page_total {} LIMIT {} OFFSET {}",
        select[..from].trim_end(),
        &select[from..],
        paged.push(limit),
        paged.push(offset)
    );
    let rows = all::<Counted<T>>(db, &sql, &paged).await?;
    let total = match rows.first() {
        Some(r) => r.total,
        None if offset == 0 => 0,
        None => one::<(i64,)>(db, count, args).await?.0,
    };
    Ok((rows.into_iter().map(|r| r.row).collect(), total))
}

/// Where the statement's own `FROM` starts: the first one outside parentheses and quotes.
fn top_level_from(sql: &str) -> Option<usize> {
    let bytes = sql.as_bytes();
    let (mut depth, mut quoted) = (0i32, false);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if !quoted
                && depth == 0
                && i > 0
                && bytes[i - 1].is_ascii_whitespace()
                && bytes.get(i..i + 4).is_some_and(|w| w.eq_ignore_ascii_case(b"FROM"))
                && bytes.get(i + 4).is_some_and(u8::is_ascii_whitespace) =>
            {
                return Some(i);
            }
            _ => {}
        }
    }
    None
}

/// A row of a page with the page's total beside it ([`page_counted`]).
struct Counted<T> {
    row: T,
    total: i64,
}

impl<'r, R, T> sqlx::FromRow<'r, R> for Counted<T>
where
    R: sqlx::Row,
    T: sqlx::FromRow<'r, R>,
    &'r str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Counted { row: T::from_row(row)?, total: row.try_get("page_total")? })
    }
}

/// Counts the rows of `rows` (a SELECT) up to `cap + 1`: a total above `cap` means "more
/// than `cap`".
pub fn capped_count(rows: &str, cap: i64) -> String {
    format!("SELECT COUNT(*) FROM ({rows} LIMIT {}) capped", cap + 1)
}

pub async fn page<T: DbRow>(
    db: &Db,
    select: &str,
    count_from: &str,
    args: &Args,
    limit: i64,
    offset: i64,
) -> Result<(Vec<T>, i64), sqlx::Error> {
    page_counted(db, select, &format!("SELECT COUNT(*) {count_from}"), args, limit, offset).await
}

#[cfg(test)]
mod tests {
    use super::top_level_from;

    #[test]
    fn the_statements_own_from_is_found_past_subqueries_and_quotes() {
        let sql = "SELECT a, (SELECT COUNT(*) FROM t) AS n, 'x FROM y' AS q, '名 FROM' AS z\n FROM things WHERE b IN (SELECT b FROM u)";
        let at = top_level_from(sql).unwrap();
        assert!(sql[at..].starts_with("FROM things"), "{}", &sql[at..]);
        assert_eq!(top_level_from("SELECT from_status, '甲乙' FROMAGE"), None);
        assert_eq!(top_level_from("SELECT 1"), None);
    }
}
