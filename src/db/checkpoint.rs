//! WAL checkpoints off the writer's path.
//!
//! By default SQLite checkpoints inside the commit that takes the write-ahead log past 1,000
//! pages: that commit copies the log's pages back into the database file and syncs it while
//! every caller whose write it carries waits. An intake writes a row and a leaf of each of a
//! dozen indexes, so one intake in fifty paid for a checkpoint, about a third of the average
//! commit (perf on benches/requests.rs at one connection). Here the writer checkpoints only
//! as a backstop ([`BACKSTOP_PAGES`]); a task on a connection of its own runs a PASSIVE
//! checkpoint every [`INTERVAL`]. A passive checkpoint runs beside writers and readers (it
//! never takes the write lock) and copies each page once however often it was rewritten since
//! the last one, so fewer, later checkpoints also copy less.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use tokio::sync::oneshot;

/// How often the log is copied back. At intake's peak on one connection the log grows by a
/// few thousand pages in this time.
const INTERVAL: Duration = Duration::from_millis(250);

/// The writer's own automatic checkpoint, for when the task cannot keep up or has stopped:
/// 16,384 pages of 4 KiB, a 64 MiB log.
pub const BACKSTOP_PAGES: u32 = 16_384;

/// The log file is cut back to this size after a checkpoint, so a burst does not leave a
/// large file behind.
pub const LOG_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Keeps the checkpoint task running; it stops when the last clone of the database handle
/// (and so this) is dropped.
#[derive(Clone)]
pub struct Checkpointer {
    _stop: Arc<oneshot::Sender<()>>,
}

impl Checkpointer {
    /// Opens the task's connection (read-write, a small cache) and starts it on the current
    /// Tokio runtime.
    pub async fn start(opts: SqliteConnectOptions) -> Result<Checkpointer, sqlx::Error> {
        let conn = opts.pragma("cache_size", "-256").connect().await?;
        let (stop_tx, stop) = oneshot::channel();
        tokio::spawn(run(conn, stop));
        Ok(Checkpointer { _stop: Arc::new(stop_tx) })
    }
}

async fn run(mut conn: SqliteConnection, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        // (busy, pages in the log, pages copied back); busy only with a TRUNCATE/RESTART
        // checkpoint waiting on others, which this is not.
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut conn).await {
            Ok((_, log, copied)) => {
                metrics::gauge!("linli_sqlite_wal_pages").set(log as f64);
                metrics::gauge!("linli_sqlite_wal_pages_copied").set(copied as f64);
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the writer's backstop checkpoint remains"),
        }
    }
    let _ = sqlx::Connection::close(conn).await;
}
