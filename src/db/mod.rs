//! The two storage backends behind one type.
//!
//! Store code is written once: `read!` and `write!` expand the same body for SQLite and for
//! PostgreSQL, so each backend gets real, typed sqlx calls (sqlx `Any` cannot carry UUIDs or
//! timestamps). SQL text is shared; `$1` placeholders, `RETURNING` and `ON CONFLICT` work on both.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Transaction};

use crate::config::Config;
use crate::crypto::Keyring;

pub mod checkpoint;
pub mod claims;
pub mod group_commit;
pub mod query;
pub mod readers;
pub mod writer;

pub use group_commit::{BoxFuture, Work};

#[derive(Clone)]
pub enum Db {
    /// Reads use a pool of read-only connections; all writes go through one writer connection
    /// with `BEGIN IMMEDIATE`, so SQLite never answers "database is locked"; `group` lets
    /// concurrent small writes share that writer's commits.
    Sqlite {
        read: readers::Readers,
        write: writer::Writer,
        group: group_commit::GroupCommit,
        /// Copies the write-ahead log back into the database file beside the writer.
        checkpoints: checkpoint::Checkpointer,
        /// Keys the audit chain (every transaction carries them to `audit::record`).
        keys: Arc<Keyring>,
    },
    Postgres(PgPool, Arc<Keyring>),
}

pub enum Tx {
    Sqlite(writer::WriteTx),
    Postgres(PgTx),
}

/// A PostgreSQL transaction with the keyring of the database it was begun on.
pub struct PgTx {
    tx: Transaction<'static, Postgres>,
    keys: Arc<Keyring>,
}

impl std::ops::Deref for PgTx {
    type Target = sqlx::PgConnection;
    fn deref(&self) -> &sqlx::PgConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for PgTx {
    fn deref_mut(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$c` bound to a read pool of whichever backend is in use.
#[macro_export]
macro_rules! read {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { read, .. } => match read.acquire().await {
                Ok(mut reader) => {
                    let out: Result<_, sqlx::Error> = {
                        let $c = &mut *reader;
                        $body
                    };
                    reader.check(&out);
                    out
                }
                Err(e) => Err(e),
            },
            $crate::db::Db::Postgres($c, _) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection (`&mut *c` to use it twice).
#[macro_export]
macro_rules! write {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// The migration that adds MACs to the audit chain (`0016_integrity.sql`).
const KEYED_CHAIN_MIGRATION: i64 = 16;

/// Read connections of the SQLite pool (there is one writer).
const SQLITE_READERS: u32 = 8;

/// The SQLite page cache budget (`LINLI_SQLITE_CACHE_MB`, for the whole process) split into
/// KiB per connection: half for the writer, whose every insert touches a leaf of each index of
/// tables with a million rows, and half shared by the readers, whose queue pages read a few
/// index pages each. Each connection's cache is private and grows to its size over time, so a
/// per-connection size multiplied by nine and held the server far above its memory target.
/// benches/requests.rs at 1M requests: 48 MB took the server's peak to 104 MB once intake ran
/// at 3,000/s (the writer's cache filling on top of full readers), 32 MB to 83 MB; four readers
/// instead of eight saved a little more but halved throughput from 16 connections up (an
/// intake reads on five connections at once); a third for the writer at 36 MB bought nothing
/// measurable over half at 32 MB.
fn sqlite_cache_kib(total_mb: u32) -> (u64, u64) {
    let total_kib = u64::from(total_mb.max(4)) * 1024;
    (total_kib / 2, (total_kib / 2 / u64::from(SQLITE_READERS)).max(1024))
}

impl Db {
    /// Opens the database named by the configuration, with the configuration's keyring.
    pub async fn connect(cfg: &Config) -> anyhow::Result<Db> {
        let url = cfg.database_url.as_str();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() || path == ":memory:" || path.contains("mode=memory") {
                bail!("an in-memory SQLite database would lose every write; give a file path");
            }
            // First: without its key, nothing is made (no data directory, no empty database).
            let keys = Arc::new(cfg.keyring()?);
            let file = std::path::Path::new(path.split('?').next().unwrap_or(path));
            if let Some(parent) = file.parent()
                && !parent.as_os_str().is_empty()
            {
                crate::fsperm::private_dir(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            // An empty file is a new database to SQLite: created here it is owner-only from the
            // start, and SQLite gives its -wal and -shm the database file's permissions.
            match crate::fsperm::create_private_file(file) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(e).with_context(|| format!("creating {}", file.display()));
                }
                _ => {}
            }
            for suffix in ["", "-wal", "-shm"] {
                crate::fsperm::tighten(std::path::Path::new(&format!("{}{suffix}", file.display())));
            }
            let sync =
                if cfg.sqlite_synchronous == "NORMAL" { SqliteSynchronous::Normal } else { SqliteSynchronous::Full };
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .synchronous(sync)
                .pragma("temp_store", "memory");
            let (writer_kib, reader_kib) = sqlite_cache_kib(cfg.sqlite_cache_mb);
            let writer_opts = opts
                .clone()
                .pragma("cache_size", format!("-{writer_kib}"))
                .pragma("wal_autocheckpoint", checkpoint::BACKSTOP_PAGES.to_string())
                .pragma("journal_size_limit", checkpoint::LOG_LIMIT_BYTES.to_string());
            let write = writer::Writer::open(writer_opts).await.context("opening the SQLite database")?;
            // A local file cannot drop a connection the way a network can: the pool's ping
            // before each acquire was one more round trip to the connection's thread per
            // statement batch, for nothing.
            let read = readers::Readers::open(
                opts.clone().read_only(true).pragma("cache_size", format!("-{reader_kib}")),
                SQLITE_READERS as usize,
            )
            .await?;
            let group = group_commit::GroupCommit::start(write.clone());
            let checkpoints = checkpoint::Checkpointer::start(opts).await?;
            Ok(Db::Sqlite { read, write, group, checkpoints, keys })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            Self::connect_pg(opts, cfg.db_pool, Arc::new(cfg.keyring()?)).await
        } else {
            bail!(
                "unknown database URL scheme in {}; use sqlite://PATH or postgres://…",
                crate::config::redact_url(url)
            )
        }
    }

    /// As [`Db::connect`], for commands that look at a database rather than make one: on
    /// SQLite a missing file is an error, not a new empty database.
    pub async fn connect_existing(cfg: &Config) -> anyhow::Result<Db> {
        if let Some(file) = cfg.sqlite_path()
            && !file.exists()
        {
            bail!("no database at {}", file.display());
        }
        Db::connect(cfg).await
    }

    /// Whether Linli's tables are there (a database `linli migrate` has run on).
    pub async fn has_schema(&self) -> Result<bool, sqlx::Error> {
        let found: Option<(i64,)> = match self {
            Db::Sqlite { read, .. } => {
                sqlx::query_as("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'")
                    .fetch_optional(&mut *read.acquire().await?)
                    .await?
            }
            // to_regclass follows the search path, as the app's own queries do.
            Db::Postgres(p, _) => {
                sqlx::query_as("SELECT 1::BIGINT WHERE to_regclass('audit_log') IS NOT NULL").fetch_optional(p).await?
            }
        };
        Ok(found.is_some())
    }

    pub async fn connect_pg(opts: PgConnectOptions, size: u32, keys: Arc<Keyring>) -> anyhow::Result<Db> {
        // Linli's statements are short and many run at once. A parallel plan started two
        // workers for a part of a search count that found nothing: 7–11 ms of worker start-up
        // for a 0.1 ms answer, 24 queries a second instead of 348 (benches/search.rs, a word in
        // no request, 1M requests), and the workers take the cores the other requests need.
        // A SET once per new connection rather than a startup option, which connection
        // poolers such as PgBouncer refuse. Operators may set it on the role as well.
        let pool = PgPoolOptions::new()
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET max_parallel_workers_per_gather = 0").execute(conn).await.map(|_| ())
                })
            })
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .context("connecting to PostgreSQL")?;
        Ok(Db::Postgres(pool, keys))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(..) => Backend::Postgres,
        }
    }

    /// The keyring the audit chain is made and checked with.
    pub fn keys(&self) -> &Arc<Keyring> {
        match self {
            Db::Sqlite { keys, .. } | Db::Postgres(_, keys) => keys,
        }
    }

    /// The same database with another keyring (a rotation seen by the command line and tests).
    pub fn with_keys(&self, keys: Arc<Keyring>) -> Db {
        let mut db = self.clone();
        match &mut db {
            Db::Sqlite { keys: k, .. } | Db::Postgres(_, k) => *k = keys,
        }
        db
    }

    /// Applies the schema's migrations. True when this run added the audit chain's MAC column:
    /// the rows chained before it then owe a keyed link (`app::migrate` sees to it, a floor
    /// above, where the audit log lives).
    pub async fn migrate_schema(&self) -> anyhow::Result<bool> {
        let keyed_before = self.migration_applied(KEYED_CHAIN_MIGRATION).await;
        match self {
            Db::Sqlite { write, .. } => sqlx::migrate!("migrations/sqlite").run(&mut **write.lock().await?).await?,
            Db::Postgres(p, _) => sqlx::migrate!("migrations/postgres").run(p).await?,
        }
        Ok(!keyed_before)
    }

    /// Whether a migration was applied before (false on a new database).
    async fn migration_applied(&self, version: i64) -> bool {
        let sql = "SELECT COUNT(*) FROM _sqlx_migrations WHERE version = $1 AND success";
        let n: Result<(i64,), sqlx::Error> = match self {
            Db::Sqlite { write, .. } => match write.lock().await {
                Ok(mut c) => sqlx::query_as(sql).bind(version).fetch_one(&mut **c).await,
                Err(e) => Err(e),
            },
            Db::Postgres(p, _) => sqlx::query_as(sql).bind(version).fetch_one(p).await,
        };
        n.is_ok_and(|(n,)| n > 0)
    }

    /// A write transaction. Safe to drop at any await, the begin's own included.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite { write, keys, .. } => Tx::Sqlite(write.begin().await?.with_keys(keys.clone())),
            // sqlx 0.8 forgets a BEGIN that reached the server when its future is dropped
            // before the answer (its rollback guard only counts a begun transaction), and the
            // pool then hands the connection out inside that transaction: autocommit writes on
            // it are never committed and its locks are held. Begun in a task of its own, the
            // begin always finishes; a caller that went away drops the finished transaction,
            // which queues its rollback before the connection goes back to the pool.
            Db::Postgres(p, keys) => {
                let pool = p.clone();
                let begun = tokio::spawn(async move { pool.begin().await }).await;
                Tx::Postgres(PgTx { tx: begun.map_err(|_| sqlx::Error::WorkerCrashed)??, keys: keys.clone() })
            }
        })
    }

    /// Runs `work` on `data` in a write transaction and commits it. On SQLite, work sent by
    /// concurrent callers shares one transaction and one commit ([`group_commit`]), so `work`
    /// must write only through the transaction it is given and may run twice (after a
    /// rollback). The answer comes once the commit is durable.
    pub async fn write_grouped<D, T, E>(&self, data: D, work: Work<D, T, E>) -> Result<T, E>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
    {
        match self {
            // The batch runs on the writer's task, out of reach of the caller's task-locals:
            // the claim and the keys travel with the work.
            Db::Sqlite { group, keys, .. } => group.run(data, work, keys.clone(), claims::current()).await,
            Db::Postgres(..) => {
                let mut tx = self.begin().await?;
                let value = work(&data, &mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    /// How SQLite's writes shared commits so far; None on PostgreSQL.
    pub fn group_stats(&self) -> Option<group_commit::GroupStats> {
        match self {
            Db::Sqlite { group, .. } => Some(group.stats()),
            Db::Postgres(..) => None,
        }
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        read!(self, |c| sqlx::query("SELECT 1").execute(c).await.map(|_| ()))
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(p, _) => p.close().await,
        }
    }
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Commits; inside a request that holds an Idempotency-Key claim, the claim is marked in
    /// the same transaction, and a claim the request no longer owns rolls it back instead.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        if let Some(claim) = claims::current() {
            claims::mark(&mut self, &claim).await?;
        }
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.tx.commit().await,
        }
    }

    /// The keyring of the database this transaction writes to.
    pub fn keys(&self) -> Result<&Keyring, sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.keys(),
            Tx::Postgres(t) => Ok(&t.keys),
        }
    }
}

/// `col IN (subquery)` in the form each backend can answer from an index when it stands in an
/// OR: PostgreSQL runs a subquery under OR as a filter on every row (a sequential scan of the
/// table), but an array made from it is an index condition it can OR with others (BitmapOr);
/// SQLite unions the index lookups of either form.
pub fn id_in(backend: Backend, col: &str, subquery: &str) -> String {
    match backend {
        Backend::Sqlite => format!("{col} IN ({subquery})"),
        Backend::Postgres => format!("{col} = ANY(ARRAY({subquery}))"),
    }
}

/// Unique-constraint violations become user errors rather than 500s.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_cache_budget_is_split_between_writer_and_readers() {
        assert_eq!(sqlite_cache_kib(32), (16 * 1024, 2 * 1024), "the default");
        let (w, r) = sqlite_cache_kib(400);
        assert_eq!(w + r * u64::from(SQLITE_READERS), 400 * 1024, "the whole budget, no more");
        assert_eq!(sqlite_cache_kib(0), (2 * 1024, 1024), "a floor of 1 MB a reader");
    }
}
