//! The Idempotency-Key claim a request holds while its handler runs (`web::idempotency`), as
//! its write transactions see it.
//!
//! Every write transaction of the request marks the claim `committed` in the same transaction
//! ([`Tx::commit`](super::Tx::commit), and grouped work on SQLite), so that whatever happens
//! to the process afterwards, the claim says whether the request's write happened: a claim
//! left unmarked by a dead request is free for its retry, a marked one is not. The mark names
//! the attempt that owns the claim; an attempt whose claim a retry has taken over (its lease
//! ran out) finds no row to mark, and its transaction is rolled back instead of committing
//! beside the retry's.

use std::future::Future;

use super::Tx;
use crate::write;

#[derive(Debug, Clone)]
pub struct Claim {
    /// The `idempotency_keys` row.
    pub key: String,
    /// The attempt holding it.
    pub owner: String,
}

tokio::task_local! {
    static CLAIM: Option<Claim>;
}

/// Runs `work` as the attempt that holds `claim`: its transactions mark it.
pub async fn scope<F: Future>(claim: Claim, work: F) -> F::Output {
    CLAIM.scope(Some(claim), work).await
}

/// Runs `work` outside the request's claim: bookkeeping such as a rate-limit hit is written
/// whatever becomes of the request, and says nothing about whether its write happened.
pub async fn aside<F: Future>(work: F) -> F::Output {
    CLAIM.scope(None, work).await
}

/// The claim of the request running on this task, if any.
pub fn current() -> Option<Claim> {
    CLAIM.try_with(Clone::clone).ok().flatten()
}

/// Marks `claim` committed in `tx`; an error when the attempt no longer owns it.
pub async fn mark(tx: &mut Tx, claim: &Claim) -> Result<(), sqlx::Error> {
    let marked =
        write!(tx, |c| sqlx::query("UPDATE idempotency_keys SET committed = TRUE WHERE key = $1 AND owner = $2")
            .bind(&claim.key)
            .bind(&claim.owner)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    if marked == 1 { Ok(()) } else { Err(taken_over()) }
}

/// The error a transaction of an attempt that lost its claim ends with (it is rolled back).
fn taken_over() -> sqlx::Error {
    sqlx::Error::Protocol("the Idempotency-Key claim was taken over by a retry; not committed".into())
}
