//! Case-work query latency at district scale, against a database filled by `linli gen`.
//!
//!   cargo bench --bench casework -- [--iterations 300] [--tsv results.tsv]
//!
//! The database comes from the normal configuration (LINLI_DATABASE_URL, LINLI_DATA_DIR,
//! LINLI_SECRET_KEY or the flags of the same names); pending migrations are applied first, as
//! `linli serve` would. Each query runs through the store function a screen calls, with the
//! `Caller` (role and place scope) of a real demo account, for a few hundred varied inputs
//! after a warm-up, one at a time; the report gives p50/p95/p99/max and each p50 as a multiple
//! of the `SELECT 1` round trip measured in the same run. `scripts/bench-casework` runs it on
//! SQLite and PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use linli::app::AppState;
use linli::auth::{Caller, Role, Scope};
use linli::cases::store as cases;
use linli::config::ConfigArgs;
use linli::db::Db;
use linli::people::store::{self as people, PersonFilter};
use linli::read;
use linli::web::i18n::Lang;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Case-work query latency against a `linli gen` database")]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// Timed runs per query.
    #[arg(long, default_value_t = 300)]
    iterations: usize,
    /// Untimed runs per query before the timed ones.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Seed for picking inputs (people, streets, callers).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Append one tab-separated line per query to this file.
    #[arg(long)]
    tsv: Option<PathBuf>,
    /// Label of the TSV lines (default: the backend).
    #[arg(long)]
    label: Option<String>,
    /// Run only the queries whose name contains this (the baselines always run).
    #[arg(long)]
    only: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const PILOT_STREETS: [(&str, &str, &str); 4] = [
    // (street, the demo social worker there, its manager: demo or generated)
    ("开源街道", "zhengjiangbo", "kaiyuan.mgr"),
    ("迎宾街道", "hanjianwei", "gen.yingbin.mgr"),
    ("清远街道", "leizeyu", "gen.qingyuan.mgr"),
    ("振华街道", "wenbichen", "zhenhua.mgr"),
];

/// Two-character names for the second search line: common ones, some far rarer than 王芳.
const NAMES: [&str; 8] = ["李娜", "张伟", "王静", "刘洋", "李强", "张敏", "陈静", "王磊"];

struct Stat {
    name: String,
    n: usize,
    rows: f64,
    ms: Vec<f64>,
}

impl Stat {
    fn pct(&self, p: f64) -> f64 {
        let i = ((self.ms.len() as f64 * p).ceil() as usize).clamp(1, self.ms.len()) - 1;
        self.ms[i]
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // LINLI_LOG=sqlx=debug shows every statement with its time.
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINLI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.resolve()?;
    let db = Db::connect(&cfg).await?;
    db.migrate().await.context("applying migrations")?;
    let keys = Arc::new(cfg.keyring()?);
    let st = AppState { db: db.clone(), cfg: Arc::new(cfg), metrics: linli::ops::install_metrics(), keys };
    let backend = format!("{:?}", db.backend()).to_lowercase();
    let label = args.label.clone().unwrap_or_else(|| backend.clone());
    let mut rng = StdRng::seed_from_u64(args.seed);

    let count = async |sql: &str| -> anyhow::Result<i64> {
        let (n,): (i64,) = read!(&db, |c| sqlx::query_as(sql).fetch_one(c).await)?;
        Ok(n)
    };
    let (persons, cases_n, records) = (
        count("SELECT COUNT(*) FROM persons").await?,
        count("SELECT COUNT(*) FROM cases").await?,
        count("SELECT COUNT(*) FROM service_records").await?,
    );
    anyhow::ensure!(cases_n > 0, "no cases: fill the database with `linli gen` first");

    let bureau = caller(&db, "bureau").await?;
    let mut streets = Vec::new();
    for (street, worker, manager) in PILOT_STREETS {
        let (id,): (Uuid,) =
            read!(&db, |c| sqlx::query_as("SELECT id FROM places WHERE name = $1 AND kind = 'street'")
                .bind(street)
                .fetch_one(c)
                .await)?;
        let manager = match caller(&db, manager).await {
            Ok(m) => m,
            Err(_) => caller(&db, worker).await?,
        };
        streets.push((id, caller(&db, worker).await?, manager));
    }
    // Clients to open timelines of, with the street their case is at.
    let client_rows: Vec<(Uuid, String)> = read!(&db, |c| {
        sqlx::query_as(
        "SELECT c.person_id, pl.name FROM cases c JOIN stations s ON s.id = c.station_id JOIN places pl ON pl.id = s.place_id"
    )
    .fetch_all(c)
    .await
    })?;
    let mut clients: Vec<(Uuid, usize)> = client_rows
        .into_iter()
        .filter_map(|(p, street)| PILOT_STREETS.iter().position(|s| s.0 == street).map(|i| (p, i)))
        .collect();
    clients.sort();
    clients.dedup();
    clients.shuffle(&mut rng);
    let some_people: Vec<(Uuid,)> =
        read!(&db, |c| sqlx::query_as("SELECT id FROM persons ORDER BY id LIMIT 5000").fetch_all(c).await)?;

    let n = args.iterations;
    let w = args.warmup;
    let only = args.only.as_deref();
    let mut stats = Vec::new();

    stats.extend(
        measure(only, "baseline: SELECT 1", w, n, async |_| {
            db.ping().await?;
            Ok(Rows(1))
        })
        .await?,
    );
    let picks: Vec<Uuid> = (0..n + w).map(|_| some_people[rng.gen_range(0..some_people.len())].0).collect();
    stats.extend(
        measure(only, "baseline: person by id (people::store::get)", w, n, async |i| {
            Ok(Rows(people::get(&db, &bureau.scope, picks[i]).await?.map_or(0, |_| 1)))
        })
        .await?,
    );

    // (a) The client list of a street: living alone, with a case (bureau or the street's worker).
    stats.extend(
        measure(only, "a) clients of a street, tag living_alone (people::store::list)", w, n, async |i| {
            let (street, worker, _) = &streets[i % 4];
            let who = if (i / 4) % 2 == 0 { &bureau } else { worker };
            let f = PersonFilter {
                place_id: Some(*street),
                tag: Some("living_alone".into()),
                clients: Some(true),
                ..Default::default()
            };
            let (rows, _total) = people::list(&db, &who.scope, &f, 50, 50 * ((i / 8) % 3) as i64).await?;
            Ok(Rows(rows.len()))
        })
        .await?,
    );

    // (b) A client's timeline, seen by the worker of their station or by the bureau.
    stats.extend(
        measure(only, "b) person timeline (people::timeline::for_person)", w, n, async |i| {
            let (pid, s) = clients[i % clients.len()];
            let who = if i % 2 == 0 { &streets[s].1 } else { &bureau };
            let person = people::get(&db, &who.scope, pid).await?.context("client not in scope")?;
            let t = Instant::now();
            let events = linli::people::timeline::for_person(&st, who, &person)
                .await
                .map_err(|e| anyhow::anyhow!("timeline: {e:?}"))?;
            Ok(Own(events.len(), t.elapsed()))
        })
        .await?,
    );

    // (c) Searching a two-character name, the whole district or one street.
    let search = async |i: usize, q: &str| -> anyhow::Result<Got> {
        let who = if i % 5 == 4 { &bureau } else { &streets[i % 5].1 };
        let f = PersonFilter { q: Some(q.to_string()), ..Default::default() };
        Ok(Rows(people::list(&db, &who.scope, &f, 50, 0).await?.0.len()))
    };
    stats.extend(
        measure(only, "c) search 王芳 (people::store::list q=)", w, n, async |i| search(i, "王芳").await).await?,
    );
    stats.extend(
        measure(only, "c) search other 2-character names", w, n, async |i| {
            search(i, NAMES[(i / 5) % NAMES.len()]).await
        })
        .await?,
    );

    // (d) A station's due follow-ups: the worker's own (as the page shows them) or the whole
    // station's (the manager's view), due within 7 days, up to 500 rows like the page.
    stats.extend(
        measure(only, "d) due follow-ups of a station (cases::store::due)", w, n, async |i| {
            let (_, worker, manager) = &streets[i % 4];
            let rows = if (i / 4) % 2 == 0 {
                cases::due(&db, &worker.scope, Some(worker.user_id), 7, 500).await?
            } else {
                cases::due(&db, &manager.scope, None, 7, 500).await?
            };
            Ok(Rows(rows.len()))
        })
        .await?,
    );
    // The due page also shows caseload figures.
    stats.extend(
        measure(only, "   caseload figures on the due page (cases::store::kpis)", w, n, async |i| {
            let who = if i % 5 == 4 { &bureau } else { &streets[i % 5].2 };
            Ok(Rows(cases::kpis(&db, &who.scope).await?.len()))
        })
        .await?,
    );

    let base = stats[0].pct(0.5);
    println!(
        "\n## {label}: {} persons, {} cases, {} service records; {} runs per query after {} warm-up",
        persons, cases_n, records, n, w
    );
    println!(
        "{:<62} {:>5} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "query", "n", "rows", "p50 ms", "p95 ms", "p99 ms", "max ms", "p50/base"
    );
    for s in &stats {
        println!(
            "{:<62} {:>5} {:>7.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.1}",
            s.name,
            s.n,
            s.rows,
            s.pct(0.5),
            s.pct(0.95),
            s.pct(0.99),
            s.ms.last().copied().unwrap_or(0.0),
            s.pct(0.5) / base
        );
    }
    if let Some(path) = &args.tsv {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        for s in &stats {
            writeln!(
                f,
                "{label}\t{}\t{}\t{:.1}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{:.1}",
                s.name.trim(),
                s.n,
                s.rows,
                s.pct(0.5),
                s.pct(0.95),
                s.pct(0.99),
                s.ms.last().copied().unwrap_or(0.0),
                s.pct(0.5) / base
            )?;
        }
    }
    db.close().await;
    Ok(())
}

/// What one run returns: the rows it got, and for a run with untimed setup (fetching the
/// person before the timeline) the time of the measured part.
enum Got {
    Rows(usize),
    Own(usize, Duration),
}
use Got::{Own, Rows};

/// Runs `f(0..warmup)` untimed, then `f(warmup..warmup+n)` timed; nothing when `only` names
/// other queries.
async fn measure(
    only: Option<&str>,
    name: &str,
    warmup: usize,
    n: usize,
    mut f: impl AsyncFnMut(usize) -> anyhow::Result<Got>,
) -> anyhow::Result<Option<Stat>> {
    if !name.starts_with("baseline") && only.is_some_and(|o| !name.contains(o)) {
        return Ok(None);
    }
    for i in 0..warmup {
        f(i).await.with_context(|| format!("{name} (warm-up)"))?;
    }
    let mut ms = Vec::with_capacity(n);
    let mut rows = 0usize;
    for i in warmup..warmup + n {
        let t = Instant::now();
        let got = f(i).await.with_context(|| name.to_string())?;
        let total = t.elapsed();
        let (r, took) = match got {
            Rows(r) => (r, total),
            Own(r, d) => (r, d),
        };
        rows += r;
        ms.push(took.as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(Some(Stat { name: name.to_string(), n, rows: rows as f64 / n as f64, ms }))
}

/// The Caller a session of `account` would carry: role and the paths of its places.
async fn caller(db: &Db, account: &str) -> anyhow::Result<Caller> {
    let rows: Vec<(Uuid, String, String, Option<String>)> = read!(db, |c| sqlx::query_as(
        "SELECT u.id, u.display_name, u.role, p.path FROM users u
         LEFT JOIN user_places up ON up.user_id = u.id LEFT JOIN places p ON p.id = up.place_id AND p.active
         WHERE u.account = $1 ORDER BY p.path"
    )
    .bind(account)
    .fetch_all(c)
    .await)?;
    let first = rows.first().with_context(|| format!("no account {account}"))?;
    Ok(Caller {
        user_id: first.0,
        account: account.to_string(),
        display_name: first.1.clone(),
        role: Role::parse(&first.2).context("role")?,
        lang: Lang::Zh,
        scope: Scope { roots: rows.iter().filter_map(|r| r.3.clone()).collect() },
        session: None,
        ip: "bench".into(),
        must_change_password: false,
    })
}
