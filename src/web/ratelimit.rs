//! Fixed-window rate limits kept in the database, so every app instance counts the same hits.

use chrono::Utc;

use crate::db::Db;
use crate::write;

/// Counts one hit in `bucket`; returns false when the window's limit is exceeded.
pub async fn hit(db: &Db, bucket: &str, limit: u32, window_secs: i64) -> Result<bool, sqlx::Error> {
    let now = Utc::now().timestamp();
    let win = now - now.rem_euclid(window_secs);
    let mut tx = db.begin().await?;
    let hits: i64 = write!(&mut tx, |c| {
        let hits: (i64,) = sqlx::query_as(
            "INSERT INTO rate_limits (bucket, win, hits) VALUES ($1, $2, 1)
             ON CONFLICT (bucket, win) DO UPDATE SET hits = rate_limits.hits + 1 RETURNING hits",
        )
        .bind(bucket)
        .bind(win)
        .fetch_one(&mut *c)
        .await?;
        // Old windows are useless; dropping them here keeps the table tiny without a job.
        if hits.0 == 1 {
            sqlx::query("DELETE FROM rate_limits WHERE bucket = $1 AND win < $2")
                .bind(bucket)
                .bind(win)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())?;
        }
        Ok::<i64, sqlx::Error>(hits.0)
    })?;
    tx.commit().await?;
    Ok(hits <= i64::from(limit))
}

/// Whether `bucket` has already reached `limit` in the current window (counts nothing).
pub async fn exceeded(db: &Db, bucket: &str, limit: u32, window_secs: i64) -> Result<bool, sqlx::Error> {
    let now = Utc::now().timestamp();
    let win = now - now.rem_euclid(window_secs);
    let hits: Option<(i64,)> = crate::read!(db, |c| {
        sqlx::query_as("SELECT hits FROM rate_limits WHERE bucket = $1 AND win = $2")
            .bind(bucket)
            .bind(win)
            .fetch_optional(c)
            .await
    })?;
    Ok(hits.is_some_and(|h| h.0 >= i64::from(limit)))
}
