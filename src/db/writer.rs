//! SQLite's one writer connection, kept by the process instead of a pool.
//!
//! All writes go through one connection. As a pool of one, sqlx handed it over at the price of
//! two round trips to the connection's thread on top of the statements: a ping on every
//! release, before the next writer could have it, and the begin and commit commands, which
//! wait for the caller to take their answer before the thread goes on. One-row transactions on
//! a copy of the 1M-request data set, in interleaved 3 s rounds: 1,866/s through the pool
//! (median of six), 2,642/s on the connection held with plain `BEGIN IMMEDIATE` and `COMMIT`
//! statements (1.33–1.51× per round). A fair lock around the connection keeps the one-writer
//! rule; the transaction is ours to end.
//!
//! A transaction dropped without a commit (an error, or a caller that went away) is rolled
//! back before the connection is handed on: by a task that holds the lock until the rollback
//! is done, or, when no runtime is left to run it, by the next `begin`.
//!
//! Every await in `begin` and `commit` may be the last: a client that hangs up drops its
//! handler wherever it is. So the slot is marked open *before* `BEGIN IMMEDIATE` is sent and
//! only marked closed once `COMMIT` has answered; a future dropped in between always leaves
//! the mark, and the mark always means "roll back before anyone else writes" (a `ROLLBACK`
//! with no transaction open is harmless). Should the connection still be found inside a
//! transaction nobody owns, `begin` rolls it back and begins again instead of failing every
//! write until a restart.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long a write waits for the connection before giving up (as the pool's acquire did).
const LOCK_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Writer {
    slot: Arc<Mutex<Slot>>,
    opts: Arc<SqliteConnectOptions>,
}

struct Slot {
    /// None only after `close`; a connection whose thread was lost is replaced by `begin`.
    conn: Option<SqliteConnection>,
    /// A transaction was begun on the connection and not ended.
    open: bool,
}

/// A write transaction: the writer's connection, locked until commit or drop.
pub struct WriteTx {
    guard: Option<OwnedMutexGuard<Slot>>,
}

impl Writer {
    pub async fn open(opts: SqliteConnectOptions) -> Result<Writer, sqlx::Error> {
        let conn = opts.connect().await?;
        Ok(Writer { slot: Arc::new(Mutex::new(Slot { conn: Some(conn), open: false })), opts: Arc::new(opts) })
    }

    /// `BEGIN IMMEDIATE`: the write lock is taken at once, so a transaction never fails
    /// half-way with "database is locked".
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let mut slot = self.ready().await?;
        // Marked before the statement goes out: if this future is dropped while BEGIN is on
        // its way, the connection may be inside a transaction, and the drop rolls it back.
        slot.open = true;
        let mut tx = WriteTx { guard: Some(slot) };
        match sqlx::query("BEGIN IMMEDIATE").execute(&mut *tx).await {
            Ok(_) => return Ok(tx),
            Err(sqlx::Error::WorkerCrashed) => {
                tx.slot().conn = Some(self.opts.connect().await?);
            }
            Err(e) if is_nested_begin(&e) => {
                tracing::warn!("the SQLite writer was inside a transaction nobody owned; rolled it back");
                metrics::counter!("linli_sqlite_writer_healed_total").increment(1);
                sqlx::query("ROLLBACK").execute(&mut *tx).await?;
            }
            Err(e) => return Err(e),
        }
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *tx).await?;
        Ok(tx)
    }

    /// The connection outside any transaction, for work that runs its own (migrations,
    /// `VACUUM INTO`).
    pub async fn lock(&self) -> Result<OwnedMutexGuard<impl DerefMut<Target = SqliteConnection>>, sqlx::Error> {
        self.ready().await
    }

    /// The slot, locked, with a connection and no transaction open on it: one left by a
    /// transaction dropped where no task could roll it back is rolled back here.
    async fn ready(&self) -> Result<OwnedMutexGuard<Slot>, sqlx::Error> {
        let mut slot = self.locked().await?;
        if slot.conn.is_none() {
            slot.conn = Some(self.opts.connect().await?);
            slot.open = false;
        }
        if slot.open {
            let _ = sqlx::query("ROLLBACK").execute(&mut **slot).await;
            slot.open = false;
        }
        Ok(slot)
    }

    /// The lock is fair: writers get the connection in the order they asked.
    async fn locked(&self) -> Result<OwnedMutexGuard<Slot>, sqlx::Error> {
        tokio::time::timeout(LOCK_WAIT, self.slot.clone().lock_owned()).await.map_err(|_| sqlx::Error::PoolTimedOut)
    }

    pub async fn close(&self) {
        if let Some(conn) = self.slot.lock().await.conn.take() {
            let _ = conn.close().await;
        }
    }
}

/// "cannot start a transaction within a transaction": the connection was left inside one.
fn is_nested_begin(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.message().contains("within a transaction"))
}

impl Deref for Slot {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("the writer's lock is handed out with a connection")
    }
}

impl DerefMut for Slot {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("the writer's lock is handed out with a connection")
    }
}

impl WriteTx {
    /// Until COMMIT has answered the slot stays marked open: dropped while it runs, the
    /// transaction is rolled back if the commit did not happen (and the ROLLBACK is a no-op
    /// if it did).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("COMMIT").execute(&mut *self).await?;
        self.slot().open = false;
        Ok(())
    }

    fn slot(&mut self) -> &mut Slot {
        self.guard.as_mut().expect("held until commit or drop")
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.guard.as_ref().expect("held until commit or drop")
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.guard.as_mut().expect("held until commit or drop")
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(mut slot) = self.guard.take() else { return };
        if !slot.open {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            // The lock goes with the task: nobody writes before the rollback is done. A
            // statement still running for a caller that went away finishes first (the
            // connection's thread takes them in order).
            rt.spawn(async move {
                // Otherwise rolled back, or there was nothing to roll back (dropped during a
                // COMMIT that went through, or before a BEGIN that never ran); a transaction
                // that somehow survived is healed by the next `begin`.
                if let Err(sqlx::Error::WorkerCrashed) = sqlx::query("ROLLBACK").execute(&mut **slot).await {
                    // A lost thread is replaced by the next `ready`.
                    slot.conn = None;
                }
                slot.open = false;
            });
        }
    }
}
