//! Bulk writing for `linli gen`: one dedicated connection, multi-row INSERTs inside bounded
//! transactions, secondary indexes dropped before the load and rebuilt from their own stored
//! definitions afterwards.
//!
//! Values still go through sqlx's encoders (UUIDs as 16-byte BLOBs and timestamps as RFC 3339
//! text on SQLite, native types on PostgreSQL), so a generated row is byte-for-byte what the
//! app's own `INSERT` would have stored.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Postgres, Sqlite};
use uuid::Uuid;

/// Column types, as PostgreSQL names them for `UNNEST($n::type[])`.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Id,
    Text,
    Int,
    Date,
    Time,
    Real,
    Bool,
}

pub struct Table {
    pub name: &'static str,
    pub cols: &'static [(&'static str, Ty)],
}

/// One value of a row. Strings are shared (`Arc<str>`): paths, search terms and note texts
/// repeat millions of times.
#[derive(Debug, Clone)]
pub enum Val {
    Null,
    Id(Uuid),
    Text(Arc<str>),
    Lit(&'static str),
    Int(i64),
    Date(NaiveDate),
    Time(DateTime<Utc>),
    Real(f64),
    Bool(bool),
}

impl From<Uuid> for Val {
    fn from(v: Uuid) -> Self {
        Val::Id(v)
    }
}
impl From<Option<Uuid>> for Val {
    fn from(v: Option<Uuid>) -> Self {
        v.map_or(Val::Null, Val::Id)
    }
}
impl From<&Arc<str>> for Val {
    fn from(v: &Arc<str>) -> Self {
        Val::Text(v.clone())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v.into())
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map_or(Val::Null, Val::from)
    }
}
impl From<&'static str> for Val {
    fn from(v: &'static str) -> Self {
        Val::Lit(v)
    }
}
impl From<Option<&'static str>> for Val {
    fn from(v: Option<&'static str>) -> Self {
        v.map_or(Val::Null, Val::Lit)
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<NaiveDate> for Val {
    fn from(v: NaiveDate) -> Self {
        Val::Date(v)
    }
}
impl From<Option<NaiveDate>> for Val {
    fn from(v: Option<NaiveDate>) -> Self {
        v.map_or(Val::Null, Val::Date)
    }
}
impl From<Option<f64>> for Val {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Val::Null, Val::Real)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}
impl From<DateTime<Utc>> for Val {
    fn from(v: DateTime<Utc>) -> Self {
        Val::Time(v)
    }
}
impl From<Option<DateTime<Utc>>> for Val {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        v.map_or(Val::Null, Val::Time)
    }
}

/// What the generator sends the writer, in order.
pub enum Msg {
    /// `rows` rows of `table`, row-major.
    Insert { table: &'static Table, rows: usize, vals: Vec<Val> },
    /// Commits what is pending and starts a new section of the progress report.
    Phase(&'static str),
}

/// The connection the load runs on, tuned for it: SQLite with a 2 GB page cache, a two-thread
/// sorter and `synchronous=OFF` (a crash mid-load means generating again, nothing is lost), PostgreSQL
/// with `synchronous_commit=off` and a large `maintenance_work_mem` for the index rebuild.
pub enum Conn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl Conn {
    pub async fn open(url: &str) -> anyhow::Result<Conn> {
        if url.starts_with("sqlite://") {
            let opts = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .synchronous(SqliteSynchronous::Off)
                .pragma("cache_size", "-2000000")
                .pragma("temp_store", "memory")
                // Worker threads for the sorter: the index rebuild sorts tens of millions of keys.
                .pragma("threads", "2")
                .disable_statement_logging();
            Ok(Conn::Sqlite(SqliteConnection::connect_with(&opts).await.context("opening SQLite for the load")?))
        } else {
            let mut c = PgConnection::connect_with(&PgConnectOptions::from_str(url)?.disable_statement_logging())
                .await
                .context("connecting to PostgreSQL for the load")?;
            sqlx::raw_sql("SET synchronous_commit = off; SET maintenance_work_mem = '1GB'").execute(&mut c).await?;
            Ok(Conn::Pg(c))
        }
    }

    /// Rows per INSERT statement: ~500 on SQLite (bounded by its 32766 parameters), arrays of
    /// 5000 on PostgreSQL (one parameter per column whatever the row count).
    pub fn rows_per_statement(&self, t: &Table) -> usize {
        match self {
            Conn::Sqlite(_) => 500.min(32_000 / t.cols.len()),
            Conn::Pg(_) => 5000,
        }
    }

    pub async fn exec(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Conn::Pg(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        }
    }

    pub async fn begin(&mut self) -> Result<(), sqlx::Error> {
        self.exec(if matches!(self, Conn::Sqlite(_)) { "BEGIN IMMEDIATE" } else { "BEGIN" }).await
    }

    pub async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Conn::Sqlite(c) => c.close().await,
            Conn::Pg(c) => c.close().await,
        }
    }

    pub async fn insert(
        &mut self,
        sql_cache: &mut HashMap<(&'static str, usize), String>,
        t: &Table,
        rows: usize,
        vals: &[Val],
    ) -> anyhow::Result<()> {
        debug_assert_eq!(vals.len(), rows * t.cols.len());
        let cols = t.cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ");
        match self {
            Conn::Sqlite(c) => {
                let sql = sql_cache.entry((t.name, rows)).or_insert_with(|| {
                    let one = format!("({})", vec!["?"; t.cols.len()].join(","));
                    format!("INSERT INTO {} ({cols}) VALUES {}", t.name, vec![one; rows].join(","))
                });
                let mut q = sqlx::query::<Sqlite>(sql);
                for v in vals {
                    q = match v {
                        Val::Null => q.bind(None::<i64>),
                        Val::Id(u) => q.bind(*u),
                        Val::Text(s) => q.bind(&**s),
                        Val::Lit(s) => q.bind(*s),
                        Val::Int(i) => q.bind(*i),
                        Val::Date(d) => q.bind(*d),
                        Val::Time(t) => q.bind(*t),
                        Val::Real(x) => q.bind(*x),
                        Val::Bool(b) => q.bind(*b),
                    };
                }
                q.execute(&mut *c).await.with_context(|| format!("inserting into {}", t.name))?;
            }
            Conn::Pg(c) => {
                let sql = sql_cache.entry((t.name, 0)).or_insert_with(|| {
                    let arrays: Vec<String> = t
                        .cols
                        .iter()
                        .enumerate()
                        .map(|(i, (_, ty))| {
                            let pg = match ty {
                                Ty::Id => "uuid",
                                Ty::Text => "text",
                                Ty::Int => "int8",
                                Ty::Date => "date",
                                Ty::Time => "timestamptz",
                                Ty::Real => "float8",
                                Ty::Bool => "bool",
                            };
                            format!("${}::{pg}[]", i + 1)
                        })
                        .collect();
                    format!("INSERT INTO {} ({cols}) SELECT * FROM UNNEST({})", t.name, arrays.join(", "))
                });
                let n = t.cols.len();
                let col = |j: usize| vals.iter().skip(j).step_by(n);
                let mut q = sqlx::query::<Postgres>(sql);
                for (j, (name, ty)) in t.cols.iter().enumerate() {
                    let bad = |v: &Val| anyhow::anyhow!("{}.{name}: {v:?} is not a {ty:?}", t.name);
                    q = match ty {
                        Ty::Id => q.bind(
                            col(j)
                                .map(|v| match v {
                                    Val::Null => Ok(None),
                                    Val::Id(u) => Ok(Some(*u)),
                                    v => Err(bad(v)),
                                })
                                .collect::<anyhow::Result<Vec<Option<Uuid>>>>()?,
                        ),
                        Ty::Text => q.bind(
                            col(j)
                                .map(|v| match v {
                                    Val::Null => Ok(None),
                                    Val::Text(s) => Ok(Some(&**s)),
                                    Val::Lit(s) => Ok(Some(*s)),
                                    v => Err(bad(v)),
                                })
                                .collect::<anyhow::Result<Vec<Option<&str>>>>()?,
                        ),
                        Ty::Int => q.bind(
                            col(j)
                                .map(|v| match v {
                                    Val::Null => Ok(None),
                                    Val::Int(i) => Ok(Some(*i)),
                                    v => Err(bad(v)),
                                })
                                .collect::<anyhow::Result<Vec<Option<i64>>>>()?,
                        ),
                        Ty::Date => q.bind(
                            col(j)
                                .map(|v| match v {
                                    Val::Null => Ok(None),
                                    Val::Date(d) => Ok(Some(*d)),
                                    v => Err(bad(v)),
                                })
                                .collect::<anyhow::Result<Vec<Option<NaiveDate>>>>()?,
                        ),
                        Ty::Time => q.bind(
                            col(j)
                                .map(|v| match v {
                                    Val::Null => Ok(None),
                                    Val::Time(t) => Ok(Some(*t)),
                                    v => Err(bad(v)),
                                })
                                .collect::<anyhow::Result<Vec<Option<DateTime<Utc>>>>>()?,
                        ),
                        Ty::Real => q.bind(
                            col(j)
                                .map(|v| match v {
                                    Val::Null => Ok(None),
                                    Val::Real(x) => Ok(Some(*x)),
                                    v => Err(bad(v)),
                                })
                                .collect::<anyhow::Result<Vec<Option<f64>>>>()?,
                        ),
                        Ty::Bool => q.bind(
                            col(j)
                                .map(|v| match v {
                                    Val::Null => Ok(None),
                                    Val::Bool(b) => Ok(Some(*b)),
                                    v => Err(bad(v)),
                                })
                                .collect::<anyhow::Result<Vec<Option<bool>>>>()?,
                        ),
                    };
                }
                q.execute(&mut *c).await.with_context(|| format!("inserting into {}", t.name))?;
            }
        }
        Ok(())
    }

    /// The secondary indexes of `tables` (name, CREATE statement): not the primary keys and
    /// not the indexes behind UNIQUE constraints, which stay and keep checking.
    pub async fn secondary_indexes(&mut self, tables: &[&str]) -> Result<Vec<(String, String)>, sqlx::Error> {
        match self {
            Conn::Sqlite(c) => {
                let mut out = Vec::new();
                for t in tables {
                    let rows: Vec<(String, String)> = sqlx::query_as(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL ORDER BY name",
                    )
                    .bind(*t)
                    .fetch_all(&mut *c)
                    .await?;
                    out.extend(rows);
                }
                Ok(out)
            }
            Conn::Pg(c) => {
                let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
                sqlx::query_as(
                    "SELECT i.indexname::text, i.indexdef FROM pg_indexes i
                     WHERE i.schemaname = current_schema() AND i.tablename = ANY($1)
                       AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                                       WHERE k.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)
                     ORDER BY i.indexname",
                )
                .bind(names)
                .fetch_all(&mut *c)
                .await
            }
        }
    }
}

/// Thousands separators for progress lines.
pub fn n(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Rows written per table, in first-seen order.
#[derive(Default)]
pub struct Counts(pub Vec<(&'static str, u64)>);

impl Counts {
    fn add(&mut self, table: &'static str, rows: u64) {
        match self.0.iter_mut().find(|(t, _)| *t == table) {
            Some((_, c)) => *c += rows,
            None => self.0.push((table, rows)),
        }
    }
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, c)| c).sum()
    }
    fn line(&self) -> String {
        self.0.iter().map(|(t, c)| format!("{t} {}", n(*c))).collect::<Vec<_>>().join(", ")
    }
}

/// Runs the statements the generator sends, committing every `STATEMENTS_PER_TX` statements
/// (bounded transactions: a bounded WAL on SQLite, bounded lock and memory use on both), and
/// prints progress every two seconds. Returns the rows written per table.
pub async fn write_all(conn: &mut Conn, mut rx: tokio::sync::mpsc::Receiver<Msg>) -> anyhow::Result<Counts> {
    const STATEMENTS_PER_TX: usize = 200;
    let mut sql_cache = HashMap::new();
    let mut all = Counts::default();
    let mut phase = Counts::default();
    let mut phase_name = "";
    let mut phase_start = Instant::now();
    let mut last_report = Instant::now();
    let mut in_tx = 0usize;
    let mut open = false;
    let report = |name: &str, c: &Counts, start: Instant, done: bool| {
        let secs = start.elapsed().as_secs_f64();
        println!(
            "  {}{name}: {:.1}s, {} rows, {} rows/s ({})",
            if done { "done " } else { "" },
            secs,
            n(c.total()),
            n((c.total() as f64 / secs.max(1e-9)) as u64),
            c.line()
        );
    };
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Insert { table, rows, vals } => {
                if !open {
                    conn.begin().await?;
                    open = true;
                }
                conn.insert(&mut sql_cache, table, rows, &vals).await?;
                all.add(table.name, rows as u64);
                phase.add(table.name, rows as u64);
                in_tx += 1;
                if in_tx >= STATEMENTS_PER_TX {
                    conn.exec("COMMIT").await?;
                    open = false;
                    in_tx = 0;
                }
                if last_report.elapsed() >= Duration::from_secs(2) {
                    report(phase_name, &phase, phase_start, false);
                    last_report = Instant::now();
                }
            }
            Msg::Phase(name) => {
                if open {
                    conn.exec("COMMIT").await?;
                    open = false;
                    in_tx = 0;
                }
                if !phase_name.is_empty() {
                    report(phase_name, &phase, phase_start, true);
                }
                phase = Counts::default();
                phase_name = name;
                phase_start = Instant::now();
                last_report = Instant::now();
            }
        }
    }
    if open {
        conn.exec("COMMIT").await?;
    }
    if !phase_name.is_empty() {
        report(phase_name, &phase, phase_start, true);
    }
    Ok(all)
}
