//! Operations endpoints: liveness, readiness, Prometheus metrics (on a listener of their own);
//! and request metrics; the access log; checks said at start.

pub mod access;
pub mod process;

use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::web::{Access, AppState, RouteDef, r};

pub fn routes() -> Vec<RouteDef> {
    vec![
        r(Method::GET, "/healthz", Access::Public, healthz),
        r(Method::GET, "/readyz", Access::Public, readyz),
        r(Method::GET, "/static/{name}", Access::Public, crate::web::assets::serve),
    ]
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(st): State<AppState>) -> Response {
    match st.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Prometheus's /metrics, served on `LINLI_METRICS_LISTEN` only: route names, counts and
/// timings are for the operators, not for the public listener.
pub fn metrics_router(st: AppState) -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(metrics)).with_state(st)
}

async fn metrics(State(st): State<AppState>) -> Response {
    process::sample();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], st.metrics.render()).into_response()
}

/// Counts requests and their latency per route template (never per concrete path: ids would
/// explode the label set).
pub fn observe(method: &Method, route: &'static str, status: StatusCode, elapsed: Duration) {
    let labels =
        [("method", method.to_string()), ("route", route.to_string()), ("status", status.as_u16().to_string())];
    metrics::counter!("linli_http_requests_total", &labels).increment(1);
    metrics::histogram!("linli_http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
}

pub fn install_metrics() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
                .expect("static buckets")
                .install_recorder()
                .expect("metrics recorder installs once");
            // Descriptions go to the recorder installed; before it they would be lost.
            process::describe();
            handle
        })
        .clone()
}

/// Marks imports whose instance died every half minute (their lease ran out), and every five
/// minutes deletes expired sessions, old idempotency keys, rate-limit windows and import batches.
pub async fn janitor(db: crate::db::Db, session_max: Duration) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    for pass in 0u64.. {
        tick.tick().await;
        let now = chrono::Utc::now();
        let done =
            if pass % 10 == 0 { sweep(&db, session_max, now).await } else { expire_import_leases(&db, now).await };
        if let Err(e) = done {
            tracing::warn!(error = %e, "janitor pass failed");
        }
    }
}

async fn expire_import_leases(db: &crate::db::Db, now: chrono::DateTime<chrono::Utc>) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let n = crate::people::import::expire_leases(&mut tx, now).await?;
    tx.commit().await?;
    Ok(n)
}

/// This instance as the owner of the imports it runs: its host and the address it listens on.
/// No two live processes listen on one address of one host, and a process started again there
/// has the same name, so at start it knows which running imports were its predecessor's.
pub fn instance_name(listen: &str) -> String {
    #[cfg(unix)]
    let host = {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into buf.
        let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if ok { String::from_utf8_lossy(&buf[..end]).into_owned() } else { String::new() }
    };
    #[cfg(not(unix))]
    let host = std::env::var("COMPUTERNAME").unwrap_or_default();
    format!("{}@{listen}", if host.is_empty() { "localhost" } else { &host })
}

/// Deletes stored files no record names and older than a day (see `files::sweep`), once a day
/// from start-up. Several instances doing it at once only repeat each other's deletes.
pub async fn file_sweeper(db: crate::db::Db, files: std::sync::Arc<crate::files::Files>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
    loop {
        tick.tick().await;
        let older_than = chrono::Utc::now() - chrono::Duration::hours(24);
        match crate::files::sweep::sweep(&db, &files, older_than, true).await {
            Ok(r) if r.orphans.is_empty() => {}
            Ok(r) => tracing::info!(deleted = r.orphans.len(), examined = r.examined, "unreferenced files deleted"),
            Err(e) => tracing::warn!(error = %e, "file sweep failed"),
        }
    }
}

/// Indexes again the names indexed by an older build (`search::reindex_all`), once at start
/// and in the background: search works meanwhile, finding those names by their old readings.
pub async fn search_reindex(db: crate::db::Db) {
    match crate::search::reindex_all(&db, 500).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(records = n, "search index brought up to date"),
        Err(e) => tracing::warn!(error = %e, "re-indexing for search failed; the next start resumes it"),
    }
}

/// Escalates overdue requests (超时督办) every minute. Each request's escalation is one
/// conditional UPDATE, so several instances running this at once escalate it once.
pub async fn sla_watch(db: crate::db::Db) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        match crate::requests::store::escalate_overdue(&db, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(escalated = n, "overdue requests escalated"),
            Err(e) => tracing::warn!(error = %e, "overdue escalation pass failed"),
        }
    }
}

/// One janitor pass. Plain idempotent deletes: safe when several instances run it at once.
/// Returns how many rows went.
pub async fn sweep(
    db: &crate::db::Db,
    session_max: Duration,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, sqlx::Error> {
    // A session older than its absolute limit can never be used again.
    let session_max = chrono::Duration::from_std(session_max).unwrap_or(chrono::Duration::hours(12));
    let mut tx = db.begin().await?;
    let gone = crate::write!(&mut tx, |c| {
        let a = sqlx::query("DELETE FROM sessions WHERE created_at < $1")
            .bind(now - session_max)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())?;
        let b = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(now - chrono::Duration::hours(24))
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())?;
        let d = sqlx::query("DELETE FROM rate_limits WHERE win < $1")
            .bind(now.timestamp() - 3600)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())?;
        Ok::<u64, sqlx::Error>(a + b + d)
    })?;
    let imports = crate::people::import::sweep(&mut tx, now).await?;
    tx.commit().await?;
    Ok(gone + imports)
}

/// The month from which next year's holiday table is expected: the State Council publishes
/// it in October or November, and without it every deadline from 1 January is counted over a
/// plain week (holidays as working days, 调休 Saturdays as rest).
pub const HOLIDAYS_DUE_FROM_MONTH: u32 = 10;

/// The year the holiday table should cover and does not, if any: this year always, next year
/// from October on. `starts` are the first days of the table's ranges.
pub fn holiday_year_missing(today: chrono::NaiveDate, starts: &[chrono::NaiveDate]) -> Option<i32> {
    use chrono::Datelike;
    let has = |year: i32| starts.iter().any(|d| d.year() == year);
    if !has(today.year()) {
        Some(today.year())
    } else if today.month() >= HOLIDAYS_DUE_FROM_MONTH && !has(today.year() + 1) {
        Some(today.year() + 1)
    } else {
        None
    }
}

/// Warns at start when the holiday table lacks a year it should have (see
/// [`holiday_year_missing`]); returns that year.
pub async fn warn_on_holiday_gap(db: &crate::db::Db, today: chrono::NaiveDate) -> Result<Option<i32>, sqlx::Error> {
    let starts: Vec<chrono::NaiveDate> =
        crate::requests::store::holiday_rows(db).await?.into_iter().map(|r| r.start_on).collect();
    let missing = holiday_year_missing(today, &starts);
    if let Some(year) = missing {
        tracing::warn!(
            year,
            "the holiday table (节假日与调休) has no entries for {year}: deadlines in {year} count every weekday as a working day until the bureau enters the State Council's schedule at /requests/calendar"
        );
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::holiday_year_missing;
    use chrono::NaiveDate;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn next_years_holidays_are_expected_from_october() {
        let with_2026 = [d(2026, 1, 1), d(2026, 10, 1)];
        let with_both = [d(2026, 10, 1), d(2027, 1, 1)];
        assert_eq!(holiday_year_missing(d(2026, 9, 30), &with_2026), None);
        assert_eq!(holiday_year_missing(d(2026, 10, 1), &with_2026), Some(2027));
        assert_eq!(holiday_year_missing(d(2026, 12, 7), &with_2026), Some(2027));
        assert_eq!(holiday_year_missing(d(2026, 12, 7), &with_both), None);
        assert_eq!(holiday_year_missing(d(2027, 3, 1), &with_2026), Some(2027), "this year missing");
        assert_eq!(holiday_year_missing(d(2026, 3, 1), &[]), Some(2026));
    }
}
