//! Group commit on SQLite's one writer.
//!
//! Every SQLite write goes through one connection, and each transaction ends in its own
//! commit: a WAL append of every page it touched and, with `synchronous = FULL`, an fsync.
//! A resident request touches a leaf page of each of its table's indexes; requests that
//! arrive together touch mostly the same pages (ids, numbers and times all grow). Work sent
//! through [`Db::write_grouped`](super::Db::write_grouped) while the writer is busy waits in
//! a queue; the next transaction runs everything waiting, one piece after the other, and
//! commits once. Each caller gets its answer only after that commit is durable.
//!
//! A piece of work that fails must not take the others down with it, nor leave half its
//! writes in theirs. Rather than a savepoint around each piece (two more statements for
//! every piece, for a case that is rare once input is validated), a failed piece rolls the
//! whole batch back and every piece of it runs again in a transaction of its own: the one
//! that failed fails alone, with its own error, and the others commit. This is why work is a
//! function of its data that can run more than once: everything it writes is rolled back
//! before it runs again.
//!
//! The queue is work in flight, not state: a process that stops loses only calls that have
//! not been answered yet, exactly as with a transaction of their own. PostgreSQL does its own
//! group commit; there `write_grouped` is a plain transaction.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::Tx;
use super::claims::{self, Claim};
use super::writer::Writer;
use crate::crypto::Keyring;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Work for [`Db::write_grouped`](super::Db::write_grouped): writes `data` in the
/// transaction it is given, and may be called again after a rollback.
pub type Work<D, T, E> = for<'t> fn(&'t D, &'t mut Tx) -> BoxFuture<'t, Result<T, E>>;

/// At most this many pieces of work share a commit, so that the writer is handed on to
/// other writers (its lock is fair) within a few milliseconds.
const MAX_BATCH: usize = 64;

/// Pieces of work waiting for the writer; the sending side of the batcher's queue.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Box<dyn Job>>,
    counts: Arc<Counts>,
}

/// How well writes shared commits since the start (also on /metrics).
#[derive(Debug, Default)]
struct Counts {
    commits: AtomicU64,
    writes: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStats {
    /// Transactions committed by the batcher.
    pub commits: u64,
    /// Pieces of work those transactions carried.
    pub writes: u64,
}

impl Counts {
    fn committed(&self, writes: usize) {
        let writes = writes as u64;
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(writes, Ordering::Relaxed);
        metrics::counter!("linli_group_commits_total").increment(1);
        metrics::counter!("linli_group_commit_writes_total").increment(writes);
    }
}

/// One caller's work with its answer channel, its type erased so that different work
/// shares a batch.
trait Job: Send {
    /// Runs the work in `tx`; false when it failed (its error is kept for [`Job::answer`]).
    fn run<'t>(&'t mut self, tx: &'t mut Tx) -> BoxFuture<'t, bool>;
    /// The work's writes were lost after it ran: the commit (or the begin) failed with `e`.
    fn failed(&mut self, e: sqlx::Error);
    /// Sends the caller the outcome of the last run.
    fn answer(self: Box<Self>);
}

struct Typed<D, T, E> {
    data: D,
    work: Work<D, T, E>,
    /// The caller's keyring (for its audit rows) and Idempotency-Key claim (marked with its
    /// writes): the batch runs on the batcher's task, not the caller's.
    keys: Arc<Keyring>,
    claim: Option<Claim>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<D, T, E> Job for Typed<D, T, E>
where
    D: Send + Sync + 'static,
    T: Send + 'static,
    E: From<sqlx::Error> + Send + 'static,
{
    fn run<'t>(&'t mut self, tx: &'t mut Tx) -> BoxFuture<'t, bool> {
        Box::pin(async move {
            if let Tx::Sqlite(t) = tx {
                t.set_keys(self.keys.clone());
            }
            let mut outcome = (self.work)(&self.data, tx).await;
            if outcome.is_ok()
                && let Some(claim) = &self.claim
                && let Err(e) = claims::mark(tx, claim).await
            {
                outcome = Err(E::from(e));
            }
            let ok = outcome.is_ok();
            self.outcome = Some(outcome);
            ok
        })
    }
    fn failed(&mut self, e: sqlx::Error) {
        self.outcome = Some(Err(E::from(e)));
    }
    fn answer(self: Box<Self>) {
        let outcome = self.outcome.unwrap_or_else(|| Err(E::from(sqlx::Error::WorkerCrashed)));
        // The caller may have gone (its client hung up); the writes stand either way.
        let _ = self.reply.send(outcome);
    }
}

impl GroupCommit {
    /// Starts the batcher on the current Tokio runtime. It ends when the last `GroupCommit`
    /// (and so the last `Db` clone) is dropped.
    pub fn start(write: Writer) -> GroupCommit {
        let (queue, rx) = mpsc::channel(1024);
        let counts = Arc::new(Counts::default());
        tokio::spawn(batcher(write, rx, counts.clone()));
        GroupCommit { queue, counts }
    }

    pub fn stats(&self) -> GroupStats {
        GroupStats {
            commits: self.counts.commits.load(Ordering::Relaxed),
            writes: self.counts.writes.load(Ordering::Relaxed),
        }
    }

    pub async fn run<D, T, E>(
        &self,
        data: D,
        work: Work<D, T, E>,
        keys: Arc<Keyring>,
        claim: Option<Claim>,
    ) -> Result<T, E>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Typed { data, work, keys, claim, outcome: None, reply });
        if self.queue.send(job).await.is_err() {
            return Err(E::from(sqlx::Error::PoolClosed));
        }
        // Dropped unanswered only if the batch panicked; its transaction was rolled back.
        answer.await.unwrap_or_else(|_| Err(E::from(sqlx::Error::WorkerCrashed)))
    }
}

async fn batcher(write: Writer, mut rx: mpsc::Receiver<Box<dyn Job>>, counts: Arc<Counts>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        // A batch of its own task: a panic in some work drops that batch's answers (their
        // callers see an error) but not the batcher.
        let _ = tokio::spawn(run_batch(write.clone(), jobs, counts.clone())).await;
    }
}

async fn run_batch(write: Writer, mut jobs: Vec<Box<dyn Job>>, counts: Arc<Counts>) {
    if jobs.len() > 1 && together(&write, &mut jobs).await {
        counts.committed(jobs.len());
        for job in jobs {
            job.answer();
        }
        return;
    }
    for mut job in jobs {
        if alone(&write, job.as_mut()).await {
            counts.committed(1);
        }
        job.answer();
    }
}

/// Runs every job in one transaction; false (and nothing written) if any of them or the
/// commit failed.
async fn together(write: &Writer, jobs: &mut [Box<dyn Job>]) -> bool {
    let Ok(mut tx) = write.begin().await.map(Tx::Sqlite) else { return false };
    for job in jobs.iter_mut() {
        if !job.run(&mut tx).await {
            // Dropping the transaction rolls it back.
            return false;
        }
    }
    tx.commit().await.is_ok()
}

/// Runs one job in a transaction of its own; true if it committed.
async fn alone(write: &Writer, job: &mut dyn Job) -> bool {
    let mut tx = match write.begin().await.map(Tx::Sqlite) {
        Ok(tx) => tx,
        Err(e) => {
            job.failed(e);
            return false;
        }
    };
    if !job.run(&mut tx).await {
        return false;
    }
    match tx.commit().await {
        Ok(()) => true,
        Err(e) => {
            job.failed(e);
            false
        }
    }
}
