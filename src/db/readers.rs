//! SQLite's read connections, kept by the process instead of a pool, as the writer is
//! (`writer.rs`).
//!
//! sqlx's pool pings a connection on every release (a band-aid, its comment says, for futures
//! dropped mid-statement on network databases), and it releases from a task it spawns. On
//! SQLite the ping is one more trip to the connection's thread and back per statement, for
//! nothing: a read connection holds no transaction between statements, and its thread runs the
//! commands it is sent one after another, so a statement abandoned by a caller that went away
//! is finished (its rows dropped, the statement reset) before the next caller's runs. Here a
//! release is a push onto a list. See docs/architecture.md ("The read path") for the figures.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a read waits for a connection before giving up (as the pool's acquire did).
const ACQUIRE_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Readers {
    inner: Arc<Inner>,
}

struct Inner {
    idle: Mutex<Vec<SqliteConnection>>,
    /// One permit per connection: a reader holds one while it has a connection out.
    permits: Arc<Semaphore>,
    opts: SqliteConnectOptions,
}

/// A read connection, back on the list when dropped.
pub struct Reader {
    conn: Option<SqliteConnection>,
    inner: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl Readers {
    /// Opens `size` read connections (all of them now, so a bad path fails at start-up).
    pub async fn open(opts: SqliteConnectOptions, size: usize) -> Result<Readers, sqlx::Error> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(opts.connect().await?);
        }
        Ok(Readers { inner: Arc::new(Inner { idle: Mutex::new(idle), permits: Arc::new(Semaphore::new(size)), opts }) })
    }

    pub async fn acquire(&self) -> Result<Reader, sqlx::Error> {
        let permit = tokio::time::timeout(ACQUIRE_WAIT, self.inner.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        // A connection discarded after its thread was lost is opened again here.
        let conn = match idle {
            Some(c) => c,
            None => self.inner.opts.connect().await?,
        };
        Ok(Reader { conn: Some(conn), inner: self.inner.clone(), _permit: permit })
    }

    /// Closes the connections; reads after this fail with `PoolClosed`.
    pub async fn close(&self) {
        self.inner.permits.close();
        let conns: Vec<SqliteConnection> =
            std::mem::take(&mut *self.inner.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for c in conns {
            let _ = c.close().await;
        }
    }
}

impl Reader {
    /// Keeps the connection off the list when its statement found the connection's thread gone.
    pub fn check<T>(&mut self, result: &Result<T, sqlx::Error>) {
        if let Err(sqlx::Error::WorkerCrashed) = result {
            self.conn = None;
        }
    }
}

impl Deref for Reader {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("a reader holds its connection until dropped")
    }
}

impl DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("a reader holds its connection until dropped")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.inner.idle.lock().unwrap_or_else(|e| e.into_inner()).push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqliteJournalMode;

    /// A read abandoned mid-statement (its caller gone) leaves its connection fit for the next
    /// reader: no error, no snapshot held from before a later write; and 50 reads at once share
    /// two connections.
    #[tokio::test]
    async fn an_abandoned_read_leaves_its_connection_reading_fresh_rows() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteConnectOptions::new()
            .filename(dir.path().join("r.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let mut writer = opts.connect().await.unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER)").execute(&mut writer).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)").execute(&mut writer).await.unwrap();
        let readers = Readers::open(opts.clone().read_only(true), 2).await.unwrap();
        for _ in 0..2 {
            let slow = async {
                let mut r = readers.acquire().await.unwrap();
                sqlx::query_as::<_, (i64,)>(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000)
                     SELECT COUNT(*) FROM c, t",
                )
                .fetch_one(&mut *r)
                .await
            };
            assert!(tokio::time::timeout(Duration::from_millis(50), slow).await.is_err(), "the read was abandoned");
        }
        sqlx::query("INSERT INTO t VALUES (2)").execute(&mut writer).await.unwrap();
        let reads = (0..50).map(|_| async {
            let mut r = readers.acquire().await.unwrap();
            sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM t").fetch_one(&mut *r).await.unwrap().0
        });
        let counts = futures::future::join_all(reads).await;
        assert!(counts.iter().all(|&n| n == 2), "every reader sees the later write: {counts:?}");
        readers.close().await;
        assert!(matches!(readers.acquire().await, Err(sqlx::Error::PoolClosed)));
    }
}
