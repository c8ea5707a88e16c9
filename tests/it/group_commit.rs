//! Writes that share commits (SQLite's group commit, src/db/group_commit.rs): every caller gets
//! its own answer, a failing write takes nobody else's down nor leaves half of itself behind,
//! and intake numbers stay distinct and consecutive under a crowd; a write dropped before its
//! commit leaves nothing. The same outcomes hold on PostgreSQL, where each write is a
//! transaction of its own.

use std::time::Duration;

use axum::http::StatusCode;
use linli::db::{BoxFuture, Db, Tx};

use crate::harness::TestApp;

/// A probe write: inserts row `n`, then fails on purpose when told to (after writing).
async fn probe(job: &(i64, bool), tx: &mut Tx) -> Result<i64, sqlx::Error> {
    let (n, fail) = *job;
    linli::write!(tx, |c| sqlx::query("INSERT INTO group_probe (n) VALUES ($1)")
        .bind(n)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if fail {
        return Err(sqlx::Error::Protocol(format!("probe {n} fails after writing")));
    }
    Ok(n)
}

fn probe_work<'t>(job: &'t (i64, bool), tx: &'t mut Tx) -> BoxFuture<'t, Result<i64, sqlx::Error>> {
    Box::pin(probe(job, tx))
}

async fn create_probe_table(db: &Db) {
    let mut tx = db.begin().await.unwrap();
    linli::write!(&mut tx, |c| sqlx::query("CREATE TABLE group_probe (n BIGINT PRIMARY KEY)")
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
}

async fn probe_rows(db: &Db) -> Vec<i64> {
    let rows: Vec<(i64,)> =
        linli::read!(db, |c| sqlx::query_as("SELECT n FROM group_probe ORDER BY n").fetch_all(c).await).unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_queued_behind_a_busy_writer_share_a_commit_and_a_failing_one_fails_alone() {
    let app = TestApp::new().await;
    let db = app.st.db.clone();
    create_probe_table(&db).await;
    let before = db.group_stats();

    // Hold the writer (on SQLite, the one write connection) while twenty writes arrive: 1–18
    // good, 5 twice (a unique violation), and 19 that fails after writing its row.
    let held = db.begin().await.unwrap();
    let mut jobs: Vec<(i64, bool)> = (1..=18).map(|n| (n, false)).collect();
    jobs.insert(9, (5, false));
    jobs.push((19, true));
    let mut calls = Vec::new();
    for job in jobs.clone() {
        let db = db.clone();
        calls.push(tokio::spawn(async move { db.write_grouped(job, probe_work).await }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    if before.is_some() {
        assert!(calls.iter().all(|c| !c.is_finished()), "nothing is answered before it is committed");
    }
    held.commit().await.unwrap();

    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let ok: Vec<i64> = answers.iter().filter_map(|a| a.as_ref().ok().copied()).collect();
    assert_eq!(ok.len(), 18, "every good write is answered with its own result: {answers:?}");
    let failed: Vec<String> = answers.iter().filter_map(|a| a.as_ref().err().map(|e| e.to_string())).collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().any(|e| e.contains("probe 19 fails after writing")), "{failed:?}");
    assert!(
        answers.iter().any(|a| matches!(a, Err(sqlx::Error::Database(d)) if d.is_unique_violation())),
        "the second 5 gets its own unique violation: {failed:?}"
    );
    assert_eq!(probe_rows(&db).await, (1..=18).collect::<Vec<_>>(), "19's row rolled back, the others kept");

    // On SQLite the queued writes went out in far fewer commits than writes. The two failures
    // roll their batch back and its writes run again one by one, so count only a batch that
    // went through whole: send a clean one the same way.
    if let Some(before) = before {
        let after = db.group_stats().unwrap();
        assert_eq!(after.writes - before.writes, 18, "each committed write counted once: {before:?} → {after:?}");
        let held = db.begin().await.unwrap();
        let mut calls = Vec::new();
        for n in 101..=120 {
            let db = db.clone();
            calls.push(tokio::spawn(async move { db.write_grouped((n, false), probe_work).await }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        held.commit().await.unwrap();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        let last = db.group_stats().unwrap();
        assert_eq!(last.writes - after.writes, 20);
        assert!(last.commits - after.commits <= 2, "twenty queued writes in at most two commits: {after:?} → {last:?}");
        assert_eq!(probe_rows(&db).await.len(), 38);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_calls_taken_at_once_gets_distinct_consecutive_numbers() {
    let app = TestApp::new().await;
    let desk = app.login("zhenhua.mgr").await;
    let place = app.place_id("永宁社区").await.to_string();
    let posts = (0..24).map(|i| {
        let description = format!("永宁社区{i}号楼楼道杂物堆放");
        let place = place.clone();
        let desk = &desk;
        async move {
            desk.post_form(
                "/requests",
                &[("category", "corridor_clutter"), ("description", &description), ("place_id", &place)],
            )
            .await
        }
    });
    for r in futures::future::join_all(posts).await {
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let rows: Vec<(String, i64)> = linli::read!(&app.st.db, |c| sqlx::query_as(
        "SELECT r.number, (SELECT COUNT(*) FROM request_events e WHERE e.request_id = r.id AND e.kind = 'accepted')
         FROM requests r ORDER BY r.number"
    )
    .fetch_all(c)
    .await)
    .unwrap();
    assert_eq!(rows.len(), 24);
    assert!(rows.iter().all(|r| r.1 == 1), "each with its one accepted event: {rows:?}");
    let seqs: Vec<i64> = rows.iter().map(|r| r.0[5..].parse().unwrap()).collect();
    let first = seqs[0];
    assert_eq!(seqs, (first..first + 24).collect::<Vec<_>>(), "no number skipped or given twice");
}

/// The writer does not copy the log back itself (only as a backstop at 16,384 pages); the
/// checkpoint task does, beside it: rows committed a moment ago are in the database file
/// proper, read here with the log ignored (`immutable=1`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_is_copied_back_beside_the_writer() {
    let app = TestApp::new().await;
    if app.st.db.backend() != linli::db::Backend::Sqlite {
        return; // PostgreSQL checkpoints on its own.
    }
    let db = &app.st.db;
    let mut tx = db.begin().await.unwrap();
    let autocheckpoint: (i64,) =
        linli::write!(&mut tx, |c| sqlx::query_as("PRAGMA wal_autocheckpoint").fetch_one(c).await).unwrap();
    assert_eq!(autocheckpoint.0, i64::from(linli::db::checkpoint::BACKSTOP_PAGES));
    linli::write!(&mut tx, |c| sqlx::query("CREATE TABLE checkpoint_probe (n BIGINT PRIMARY KEY)")
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    for n in 0..50i64 {
        db.write_grouped((n, false), probe_into_checkpoint_probe).await.unwrap();
    }
    let file = app.dir().join("linli.db");
    let in_file = || async {
        let url = format!("sqlite://{}?immutable=1", file.display());
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
        let n: Result<(i64,), _> = sqlx::query_as("SELECT COUNT(*) FROM checkpoint_probe").fetch_one(&mut conn).await;
        n.map(|r| r.0).unwrap_or(0)
    };
    let mut copied = 0;
    for _ in 0..40 {
        copied = in_file().await;
        if copied == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(copied, 50, "all fifty rows reached the database file within four seconds");
}

fn probe_into_checkpoint_probe<'t>(job: &'t (i64, bool), tx: &'t mut Tx) -> BoxFuture<'t, Result<i64, sqlx::Error>> {
    Box::pin(async move {
        linli::write!(tx, |c| sqlx::query("INSERT INTO checkpoint_probe (n) VALUES ($1)")
            .bind(job.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(job.0)
    })
}

/// A write transaction that ends without its commit (an error returned early, a request whose
/// client hung up and whose handler was dropped mid-write) leaves nothing behind, and the next
/// write finds the writer free and clean. On SQLite the one writer connection is the
/// process's own, and the rollback is ours to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_dropped_before_its_commit_is_rolled_back_and_the_writer_goes_on() {
    let app = TestApp::new().await;
    let db = app.st.db.clone();
    create_probe_table(&db).await;

    // Dropped after a write.
    let mut tx = db.begin().await.unwrap();
    probe(&(1, false), &mut tx).await.unwrap();
    drop(tx);
    // Dropped after a statement failed (the row 2 went in, the second 2 did not).
    let mut tx = db.begin().await.unwrap();
    probe(&(2, false), &mut tx).await.unwrap();
    let dup = probe(&(2, false), &mut tx).await;
    assert!(matches!(&dup, Err(sqlx::Error::Database(d)) if d.is_unique_violation()), "{dup:?}");
    drop(tx);
    // A task holding a transaction, cancelled while it waits.
    let held = tokio::spawn({
        let db = db.clone();
        async move {
            let mut tx = db.begin().await.unwrap();
            probe(&(3, false), &mut tx).await.unwrap();
            tokio::time::sleep(Duration::from_secs(3600)).await;
            tx.commit().await.unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    held.abort();
    assert!(held.await.unwrap_err().is_cancelled());

    let mut tx = tokio::time::timeout(Duration::from_secs(5), db.begin()).await.expect("the writer is free").unwrap();
    probe(&(4, false), &mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(probe_rows(&db).await, vec![4], "only the committed write is kept");
    assert_eq!(db.write_grouped((5, false), probe_work).await.unwrap(), 5, "grouped writes go on too");
    assert_eq!(probe_rows(&db).await, vec![4, 5]);
}
