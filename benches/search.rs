//! Request text search throughput at district scale, against a database filled by
//! `linli gen --requests N` (which indexes each request's text as intake does).
//!
//!   cargo bench --bench search -- [--duration 5] [--conns 1,4,16] [--words 督办,出行,…] [--tsv FILE]
//!
//! The database comes from the normal configuration (LINLI_DATABASE_URL, LINLI_DATA_DIR,
//! LINLI_SECRET_KEY or the flags of the same names). For each word, viewer and concurrency, N
//! tasks run the first page of the area queue filtered by the word back to back for the
//! duration — `requests::store::list` with `ListFilter::text`, the call behind
//! `GET /requests?queue=area&q=…` and `GET /api/v1/search`, scope, joins and capped count
//! included — and report queries/s and p50/p95. The baseline, in the same run at the same
//! concurrency, is the bare SQL of the same search: the page of requests holding the word, newest
//! first, walked straight from the term index with no scope, no joins and no count (what a
//! hand-written query without the app's rules costs; before the walk it sorted every match by
//! date, one query a second). `scripts/bench-search` runs it on SQLite and PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use linli::config::ConfigArgs;
use linli::db::Db;
use linli::read;
use linli::requests::store::{self, ListFilter, Queue, Viewer};

#[derive(Parser)]
#[command(about = "Request text search throughput against a `linli gen --requests` database")]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Seconds per cell (word × viewer × concurrency).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Concurrent tasks, comma-separated.
    #[arg(long, default_value = "1,4,16", value_delimiter = ',')]
    conns: Vec<usize>,
    /// Two-character words to search for (the generated texts: 督办 and 出行 are in a fifth of
    /// the requests each, 投诉 in another fifth; a category's name in a few percent: 电梯 in
    /// 4.7 %, 路灯 in 6.7 % at seed 1). Every default must occur in the generated texts: 漏水,
    /// the default before, is in no category's name and matched no request.
    #[arg(long, default_value = "督办,出行,电梯,路灯", value_delimiter = ',')]
    words: Vec<String>,
    /// Viewers: the district (bureau), a street's manager, a community's worker.
    #[arg(long, default_value = "bureau,gen.yingbin.mgr,changmin", value_delimiter = ',')]
    accounts: Vec<String>,
    /// Append one tab-separated line per cell to this file.
    #[arg(long)]
    tsv: Option<PathBuf>,
    /// Label of the TSV lines (default: the backend).
    #[arg(long)]
    label: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

struct Cell {
    n: usize,
    secs: f64,
    rows: usize,
    ms: Vec<f64>,
}

impl Cell {
    fn qps(&self) -> f64 {
        self.n as f64 / self.secs
    }
    fn pct(&self, p: f64) -> f64 {
        let i = ((self.ms.len() as f64 * p).ceil() as usize).clamp(1, self.ms.len()) - 1;
        self.ms[i]
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINLI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

/// What one task runs once: the number of rows it read.
type Op = Arc<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<usize>> + Send>> + Send + Sync>;

async fn cell(op: Op, conns: usize, secs: f64) -> anyhow::Result<Cell> {
    for _ in 0..3 {
        op().await?;
    }
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ms, mut rows) = (Vec::new(), 0usize);
            while Instant::now() < until {
                let t = Instant::now();
                rows += op().await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok((ms, rows))
        }));
    }
    let (mut ms, mut rows) = (Vec::new(), 0);
    for t in tasks {
        let (m, r) = t.await??;
        ms.extend(m);
        rows += r;
    }
    let secs = started.elapsed().as_secs_f64();
    ms.sort_by(f64::total_cmp);
    Ok(Cell { n: ms.len(), secs, rows, ms })
}

async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.resolve()?;
    let db = Db::connect(&cfg).await?;
    linli::app::migrate(&db).await.context("applying migrations")?;
    let label = args.label.clone().unwrap_or_else(|| format!("{:?}", db.backend()).to_lowercase());
    let count = async |sql: &str| -> anyhow::Result<i64> {
        let (n,): (i64,) = read!(&db, |c| sqlx::query_as(sql).fetch_one(c).await)?;
        Ok(n)
    };
    let requests = count("SELECT COUNT(*) FROM requests").await?;
    let terms = count("SELECT COUNT(*) FROM search_terms WHERE entity = 'request'").await?;
    anyhow::ensure!(terms > 0, "no request terms: fill the database with `linli gen --requests N` first");
    println!("{label}: {requests} requests, {terms} request terms");
    let mut viewers: Vec<(String, Viewer)> = Vec::new();
    for account in &args.accounts {
        match linli::auth::caller_for_account(&db, account).await? {
            Some(c) => viewers.push((account.clone(), store::viewer(&db, &c).await?)),
            None => println!("  (no account {account}: skipped)"),
        }
    }
    let mut tsv = match &args.tsv {
        Some(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    println!(
        "{:<8} {:<16} {:>5} {:>9} {:>10} {:>8} {:>8} {:>10} {:>8}",
        "word", "viewer", "conns", "matches", "search q/s", "p50 ms", "p95 ms", "bare q/s", "ratio"
    );
    for word in &args.words {
        let sql = "SELECT COUNT(*) FROM search_terms WHERE entity = 'request' AND term = $1";
        let (matches,): (i64,) = read!(&db, |c| sqlx::query_as(sql).bind(word).fetch_one(c).await)?;
        for &conns in &args.conns {
            let bare = {
                let db = db.clone();
                let word = word.clone();
                let op: Op = Arc::new(move || {
                    let (db, word) = (db.clone(), word.clone());
                    Box::pin(async move {
                        let sql = "SELECT r.id, r.number, r.description FROM search_terms s CROSS JOIN requests r
                                   WHERE r.id = s.entity_id AND s.entity = 'request' AND s.term = $1
                                   ORDER BY s.entity_id DESC LIMIT 50";
                        let rows: Vec<(uuid::Uuid, String, String)> =
                            read!(&db, |c| sqlx::query_as(sql).bind(&word).fetch_all(c).await)?;
                        Ok(rows.len())
                    })
                });
                cell(op, conns, args.duration).await?
            };
            for (account, viewer) in &viewers {
                let op: Op = {
                    let (db, viewer, word) = (db.clone(), viewer.clone(), word.clone());
                    Arc::new(move || {
                        let (db, viewer) = (db.clone(), viewer.clone());
                        let f = ListFilter { text: Some(word.clone()), ..Default::default() };
                        Box::pin(async move { Ok(store::list(&db, &viewer, Queue::Area, &f, 50, 0).await?.0.len()) })
                    })
                };
                let c = cell(op, conns, args.duration).await?;
                println!(
                    "{word:<8} {account:<16} {conns:>5} {matches:>9} {:>10.0} {:>8.2} {:>8.2} {:>10.0} {:>8.2}",
                    c.qps(),
                    c.pct(0.5),
                    c.pct(0.95),
                    bare.qps(),
                    c.qps() / bare.qps()
                );
                if let Some(f) = tsv.as_mut() {
                    use std::io::Write;
                    writeln!(
                        f,
                        "{label}\t{requests}\t{word}\t{account}\t{conns}\t{matches}\t{:.1}\t{:.3}\t{:.3}\t{:.1}\t{:.1}",
                        c.qps(),
                        c.pct(0.5),
                        c.pct(0.95),
                        bare.qps(),
                        c.rows as f64 / c.n.max(1) as f64
                    )?;
                }
            }
        }
    }
    Ok(())
}
