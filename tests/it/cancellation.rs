//! Writers that are stopped half-way — a client hangs up and its handler is dropped at whatever
//! await it had reached — must leave the database's connections clean: the next write works,
//! and nothing acknowledged is lost. On SQLite the one writer connection is ours; on
//! PostgreSQL a cancelled transaction's pooled connection must go back outside any
//! transaction (sqlx's own `begin` forgets a BEGIN that reached the server when it is
//! cancelled before the answer, so `Db::begin` must not be cancellable there).

use std::time::{Duration, Instant};

use linli::db::{Backend, Db};
use rand::{Rng, SeedableRng};

use crate::harness::TestApp;

async fn create_table(db: &Db) {
    let mut tx = db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query("CREATE TABLE cancel_probe (n BIGINT PRIMARY KEY)")
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
}

async fn insert_and_commit(db: Db, n: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    linli::write!(&mut tx, |c| sqlx::query("INSERT INTO cancel_probe (n) VALUES ($1)")
        .bind(n)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await
}

async fn rows(db: &Db) -> Vec<i64> {
    let rows: Vec<(i64,)> =
        linli::read!(db, |c| sqlx::query_as("SELECT n FROM cancel_probe ORDER BY n").fetch_all(c).await).unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

/// Spins for `micros` without yielding: the writer's statements run on other threads (SQLite's
/// connection thread, PostgreSQL's server), so the abort lands wherever they have got to.
fn spin(micros: u64) {
    let until = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_aborted_at_random_points_leave_every_connection_clean() {
    let app = TestApp::new().await;
    let db = app.st.db.clone();
    create_table(&db).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let rounds = if db.backend() == Backend::Sqlite { 3000 } else { 1500 };
    let mut acknowledged = Vec::new();
    let mut aborted = 0;
    for round in 0..rounds {
        // Three writers at once, so that aborts also land while one waits for another.
        let tasks: Vec<_> =
            (0..3).map(|k| (round * 3 + k, tokio::spawn(insert_and_commit(db.clone(), round * 3 + k)))).collect();
        spin(rng.gen_range(0..600));
        for (n, task) in tasks {
            task.abort();
            match task.await {
                Ok(Ok(())) => acknowledged.push(n),
                Ok(Err(e)) => panic!("write {n} failed instead of being written or aborted: {e}"),
                Err(_) => aborted += 1,
            }
        }
        // On PostgreSQL a connection left inside a transaction is absorbed by its next
        // user's BEGIN, so look at every pooled connection while the round's are fresh.
        if let Db::Postgres(pool, _) = &db {
            assert_every_connection_clean(pool, round).await;
        }
    }
    assert!(aborted > rounds, "most writers were stopped half-way ({aborted} of {})", rounds * 3);

    // The next write works, at once.
    let last = rounds * 3 + 1;
    tokio::time::timeout(Duration::from_secs(10), insert_and_commit(db.clone(), last))
        .await
        .expect("the writer is free")
        .expect("the write after the storm succeeds");
    let kept = rows(&db).await;
    assert!(kept.contains(&last), "the last write is committed and visible to readers");
    let lost: Vec<_> = acknowledged.iter().filter(|n| !kept.contains(n)).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}

/// Every pooled connection is outside any transaction: a savepoint outside a transaction
/// block is refused (and changes nothing), inside one it is taken.
async fn assert_every_connection_clean(pool: &sqlx::PgPool, round: i64) {
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        let mut conn = pool.acquire().await.unwrap();
        let probe = sqlx::Executor::execute(&mut *conn, "SAVEPOINT probe").await;
        assert!(
            probe.is_err_and(|e| e.to_string().contains("transaction block")),
            "round {round}: a pooled connection was left inside a transaction by a cancelled writer"
        );
        held.push(conn);
    }
}

/// If the writer's connection is ever found inside a transaction nobody owns (whatever left it
/// there), the next write rolls it back and goes on rather than failing until a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_writer_heals_a_transaction_it_does_not_own() {
    let app = TestApp::new().await;
    let db = app.st.db.clone();
    create_table(&db).await;
    let Db::Sqlite { write, .. } = &db else { return };
    {
        let mut conn = write.lock().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut **conn).await.unwrap();
        sqlx::query("INSERT INTO cancel_probe (n) VALUES (1)").execute(&mut **conn).await.unwrap();
    }
    insert_and_commit(db.clone(), 2).await.expect("the write after a stray transaction succeeds");
    assert_eq!(rows(&db).await, vec![2], "the stray transaction's row was rolled back, the write kept");
}
