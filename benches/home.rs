//! Home page (工作台) latency of each role at district scale, against a database filled by
//! `linli gen` (with `--requests` for the request queues).
//!
//!   cargo bench --bench home -- [--iterations 400] [--connections 4] [--tsv results.tsv]
//!
//! The database comes from the normal configuration (LINLI_DATABASE_URL, LINLI_DATA_DIR,
//! LINLI_SECRET_KEY or the flags of the same names), migrated first as `linli serve` would. For
//! each role it renders the home of that role's demo account (`home::render_for`: every query
//! of the page and its template, without the HTTP layer) from `--connections` tasks at once
//! until `--iterations` renders are timed, after a warm-up, and reports p50/p95/p99/max and
//! whether p95 stays under the 50 ms budget. `scripts/bench-home` runs it on SQLite and
//! PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use linli::app::AppState;
use linli::config::ConfigArgs;
use linli::db::Db;

#[derive(Parser)]
#[command(about = "Home page latency per role against a `linli gen` database")]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Timed renders per role.
    #[arg(long, default_value_t = 400)]
    iterations: usize,
    /// Renders in flight at once (each holds its own pool connection while it queries).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Untimed renders per role before the timed ones.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Append one tab-separated line per role to this file.
    #[arg(long)]
    tsv: Option<PathBuf>,
    /// Label of the TSV lines (default: the backend).
    #[arg(long)]
    label: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One demo account per role (the accounts `linli demo` and `linli gen` create).
const ACCOUNTS: [(&str, &str); 10] = [
    ("grid_worker", "yongtai.grid"),
    ("social_worker", "wenbichen"),
    ("station_manager", "zhenhua.mgr"),
    ("department_handler", "paiwu"),
    ("community_staff", "changmin"),
    ("bureau_admin", "bureau"),
    ("auditor", "auditor"),
    ("system_admin", "sysadmin"),
    ("partner_staff", "yanjun"),
    ("volunteer", "volunteer"),
];

/// The budget of the issue: p95 of each role's home under this many milliseconds.
const BUDGET_MS: f64 = 50.0;

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINLI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.resolve()?;
    let db = Db::connect(&cfg).await?;
    linli::app::migrate(&db).await.context("applying migrations")?;
    let keys = Arc::new(cfg.keyring()?);
    let files = Arc::new(linli::files::Files::open(&cfg)?);
    let st = AppState { db: db.clone(), cfg: Arc::new(cfg), metrics: linli::ops::install_metrics(), keys, files };
    let backend = format!("{:?}", db.backend()).to_lowercase();
    let label = args.label.clone().unwrap_or_else(|| backend.clone());
    let count = async |sql: &str| -> anyhow::Result<i64> {
        let (n,): (i64,) = linli::read!(&db, |c| sqlx::query_as(sql).fetch_one(c).await)?;
        Ok(n)
    };
    println!(
        "# home pages on {backend}: {} people, {} cases, {} requests, {} hazards, {} audit rows; {} at once",
        count("SELECT COUNT(*) FROM persons").await?,
        count("SELECT COUNT(*) FROM cases").await?,
        count("SELECT COUNT(*) FROM requests").await?,
        count("SELECT COUNT(*) FROM hazards").await?,
        count("SELECT COUNT(*) FROM audit_log").await?,
        args.connections
    );
    println!(
        "{:<20} {:<14} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "role", "account", "n", "KiB", "p50 ms", "p95 ms", "p99 ms", "max ms", "<50ms"
    );
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for (role, account) in ACCOUNTS {
        let caller = linli::auth::caller_for_account(&db, account)
            .await?
            .with_context(|| format!("no account {account}: load the demo accounts with `linli gen`"))?;
        let caller = Arc::new(caller);
        let page = linli::home::render_for(&st, &caller).await.map_err(|e| anyhow::anyhow!("{role}: {e}"))?;
        for _ in 0..args.warmup {
            linli::home::render_for(&st, &caller).await.map_err(|e| anyhow::anyhow!("{role}: {e}"))?;
        }
        let per_task = args.iterations.div_ceil(args.connections.max(1));
        let mut tasks = Vec::new();
        for _ in 0..args.connections.max(1) {
            let (st, caller) = (st.clone(), caller.clone());
            tasks.push(tokio::spawn(async move {
                let mut ms = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    let t = Instant::now();
                    linli::home::render_for(&st, &caller).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(ms)
            }));
        }
        let mut ms = Vec::new();
        for t in tasks {
            ms.extend(t.await??);
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        let (p50, p95, p99, max) = (pct(&ms, 0.5), pct(&ms, 0.95), pct(&ms, 0.99), ms[ms.len() - 1]);
        let ok = p95 < BUDGET_MS;
        if !ok {
            failed.push(role);
        }
        println!(
            "{role:<20} {account:<14} {:>5} {:>8.1} {p50:>8.2} {p95:>8.2} {p99:>8.2} {max:>8.2} {:>6}",
            ms.len(),
            page.len() as f64 / 1024.0,
            if ok { "yes" } else { "NO" }
        );
        lines.push(format!(
            "{label}\t{role}\t{}\t{p50:.3}\t{p95:.3}\t{p99:.3}\t{max:.3}\t{}",
            ms.len(),
            args.connections
        ));
    }
    if let Some(path) = &args.tsv {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        for l in lines {
            writeln!(f, "{l}")?;
        }
    }
    db.close().await;
    anyhow::ensure!(failed.is_empty(), "p95 over {BUDGET_MS} ms: {failed:?}");
    Ok(())
}
