//! Fixed-window rate limits kept in the database, so every app instance counts the same hits.

use chrono::Utc;

use crate::db::query::Args;
use crate::db::{Db, Tx};
use crate::write;

/// The part of a client address a per-address limit counts: the address itself for IPv4, its
/// /64 network for IPv6 — one subscriber line or host is handed a whole /64, and counting each
/// of its 2^64 addresses apart would give an attacker as many windows as they care to use.
/// Anything that is not an address (an opaque key from a proxy header) counts as itself.
pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or_else(|| ip.to_string(), |v4| v4.to_string()),
        _ => ip.to_string(),
    }
}

/// A limit on posts in a fixed window, counted in the database.
#[derive(Debug, Clone)]
pub struct Limit {
    pub bucket: String,
    pub max: u32,
    pub window_secs: i64,
}

impl Limit {
    pub fn new(bucket: String, max: u32, window_secs: i64) -> Limit {
        Limit { bucket, max, window_secs }
    }
    /// Whether the window is already full (reads only): refuse before doing any work.
    pub async fn exceeded(&self, db: &Db) -> Result<bool, sqlx::Error> {
        exceeded(db, &self.bucket, self.max, self.window_secs).await
    }
    /// SQL for the hits counted in the current window (NULL for none), for a caller that reads
    /// them in one statement with something else it needs; [`Limit::full`] judges the value.
    pub fn hits_sql(&self, args: &mut Args) -> String {
        hits_sql(args, &self.bucket, self.window_secs)
    }
    /// Whether `hits` (as read by [`Limit::hits_sql`]) already fill the window.
    pub fn full(&self, hits: Option<i64>) -> bool {
        full(hits, self.max)
    }
    /// Counts one hit in its own transaction; false when the window's limit is exceeded.
    pub async fn hit(&self, db: &Db) -> Result<bool, sqlx::Error> {
        hit(db, &self.bucket, self.max, self.window_secs).await
    }
    /// Counts one hit inside the caller's transaction, so that a post that writes anyway
    /// costs one commit, not two; false when the window's limit is exceeded (the caller then
    /// rolls back, and the hit with it).
    pub async fn hit_in(&self, tx: &mut Tx) -> Result<bool, sqlx::Error> {
        hit_in(tx, &self.bucket, self.max, self.window_secs).await
    }
}

/// Counts one hit in `bucket`; returns false when the window's limit is exceeded. Counted
/// whatever becomes of the request, so it is not the request's write: a keyed request that
/// then fails is still free to be retried.
pub async fn hit(db: &Db, bucket: &str, limit: u32, window_secs: i64) -> Result<bool, sqlx::Error> {
    hit_many(db, bucket, 1, limit, window_secs).await
}

/// Counts `n` hits at once (one lookup that answers for n things); false when they take the
/// window past its limit.
pub async fn hit_many(db: &Db, bucket: &str, n: u32, limit: u32, window_secs: i64) -> Result<bool, sqlx::Error> {
    crate::db::claims::aside(async {
        let mut tx = db.begin().await?;
        let ok = count_in(&mut tx, bucket, n, limit, window_secs).await?;
        tx.commit().await?;
        Ok(ok)
    })
    .await
}

async fn hit_in(tx: &mut Tx, bucket: &str, limit: u32, window_secs: i64) -> Result<bool, sqlx::Error> {
    count_in(tx, bucket, 1, limit, window_secs).await
}

async fn count_in(tx: &mut Tx, bucket: &str, n: u32, limit: u32, window_secs: i64) -> Result<bool, sqlx::Error> {
    let now = Utc::now().timestamp();
    let win = now - now.rem_euclid(window_secs);
    let n = i64::from(n);
    let hits: i64 = write!(tx, |c| {
        let hits: (i64,) = sqlx::query_as(
            "INSERT INTO rate_limits (bucket, win, hits) VALUES ($1, $2, $3)
             ON CONFLICT (bucket, win) DO UPDATE SET hits = rate_limits.hits + $3 RETURNING hits",
        )
        .bind(bucket)
        .bind(win)
        .bind(n)
        .fetch_one(&mut *c)
        .await?;
        // Old windows are useless; dropping them here keeps the table tiny without a job.
        if hits.0 == n {
            sqlx::query("DELETE FROM rate_limits WHERE bucket = $1 AND win < $2")
                .bind(bucket)
                .bind(win)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())?;
        }
        Ok::<i64, sqlx::Error>(hits.0)
    })?;
    Ok(hits <= i64::from(limit))
}

/// A hit taken before the work it limits; see [`reserve`].
#[derive(Debug)]
pub struct Reservation {
    bucket: String,
    win: i64,
}

/// Takes one hit in `bucket` if the window still has room, in one statement that both counts
/// and decides: requests arriving together, on any number of instances, cannot all pass a check
/// made before any of them is counted. None when the window is full. A reservation that turns
/// out not to count (a sign-in that succeeded) is given back with [`release`].
pub async fn reserve(db: &Db, bucket: &str, limit: u32, window_secs: i64) -> Result<Option<Reservation>, sqlx::Error> {
    // Bookkeeping, whatever becomes of the request: not a keyed request's write (`claims::aside`).
    crate::db::claims::aside(async move {
        if limit == 0 {
            return Ok(None);
        }
        let now = Utc::now().timestamp();
        let win = now - now.rem_euclid(window_secs);
        let mut tx = db.begin().await?;
        let hits: Option<i64> = write!(&mut tx, |c| {
            let hits: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO rate_limits (bucket, win, hits) VALUES ($1, $2, 1)
                 ON CONFLICT (bucket, win) DO UPDATE SET hits = rate_limits.hits + 1 WHERE rate_limits.hits < $3
                 RETURNING hits",
            )
            .bind(bucket)
            .bind(win)
            .bind(i64::from(limit))
            .fetch_optional(&mut *c)
            .await?;
            if hits.is_some_and(|h| h.0 == 1) {
                sqlx::query("DELETE FROM rate_limits WHERE bucket = $1 AND win < $2")
                    .bind(bucket)
                    .bind(win)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())?;
            }
            Ok::<_, sqlx::Error>(hits.map(|h| h.0))
        })?;
        tx.commit().await?;
        Ok(hits.map(|_| Reservation { bucket: bucket.to_string(), win }))
    })
    .await
}

/// Gives a reservation back to its window (a window that has passed is left as it was).
pub async fn release(db: &Db, r: Reservation) -> Result<(), sqlx::Error> {
    // Bookkeeping, as `reserve`.
    crate::db::claims::aside(async move {
        let mut tx = db.begin().await?;
        write!(&mut tx, |c| sqlx::query(
            "UPDATE rate_limits SET hits = hits - 1 WHERE bucket = $1 AND win = $2 AND hits > 0"
        )
        .bind(&r.bucket)
        .bind(r.win)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
        tx.commit().await
    })
    .await
}

/// Whether `bucket` has already reached `limit` in the current window (counts nothing).
pub async fn exceeded(db: &Db, bucket: &str, limit: u32, window_secs: i64) -> Result<bool, sqlx::Error> {
    let mut args = Args::new();
    let sql = format!("SELECT {}", hits_sql(&mut args, bucket, window_secs));
    let (hits,): (Option<i64>,) = crate::db::query::one(db, &sql, &args).await?;
    Ok(full(hits, limit))
}

fn full(hits: Option<i64>, limit: u32) -> bool {
    hits.is_some_and(|h| h >= i64::from(limit))
}

fn hits_sql(args: &mut Args, bucket: &str, window_secs: i64) -> String {
    let now = Utc::now().timestamp();
    let win = now - now.rem_euclid(window_secs);
    format!("(SELECT hits FROM rate_limits WHERE bucket = {} AND win = {})", args.push(bucket), args.push(win))
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_addresses_count_by_their_64_network() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff:ffff:ffff:fffe"), "2001:db8:1:2::/64");
        assert_ne!(address_key("2001:db8:1:3::1"), address_key("2001:db8:1:2::1"));
        assert_eq!(address_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("xff:opaque"), "xff:opaque");
    }
}
