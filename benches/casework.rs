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
use linli::auth::Caller;
use linli::cases::store as cases;
use linli::config::ConfigArgs;
use linli::db::Db;
use linli::people::store::{self as people, PersonFilter};
use linli::read;
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
    /// Timed imports of a generated roster (each a new file; its people are deleted after).
    #[arg(long, default_value_t = 3)]
    import_runs: usize,
    /// Rows of each generated roster.
    #[arg(long, default_value_t = 100_000)]
    import_rows: usize,
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
    linli::app::migrate(&db).await.context("applying migrations")?;
    let keys = Arc::new(cfg.keyring()?);
    let files = Arc::new(linli::files::Files::open(&cfg).unwrap());
    let st = AppState { db: db.clone(), cfg: Arc::new(cfg), metrics: linli::ops::install_metrics(), keys, files };
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

    // (e) Import of a 100,000-row xlsx roster into 开源街道's communities, as the import page
    // does it: read the file, check every row (the preview), then check again and write all
    // new people in one transaction (the commit).
    if args.import_runs > 0 && only.is_none_or(|o| "e) import".contains(o)) {
        stats.extend(import_bench(&st, &mut rng, args.import_runs, args.import_rows).await?);
    }

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
    linli::auth::caller_for_account(db, account).await?.with_context(|| format!("no account {account}"))
}

const SURNAMES: &[char] = &['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴', '徐', '孙', '马', '胡', '郭'];
const GIVEN: &[char] =
    &['芳', '伟', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳', '杰', '娟', '涛', '明', '秀', '英', '华'];

/// A roster as a station would upload it: ID numbers, households of one to three, tags.
fn roster_xlsx(rng: &mut StdRng, run: usize, rows: usize, communities: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    let head = ["姓名", "身份证号", "联系电话", "社区", "楼栋", "单元", "室", "与户主关系", "户号", "人群标签"];
    for (i, h) in head.iter().enumerate() {
        ws.write_string(0, i as u16, *h)?;
    }
    let mut household = 0usize;
    let mut members = 0usize;
    let mut head_age = 0;
    for r in 0..rows {
        let line = r as u32 + 1;
        // One to three people per household.
        if r == 0 || members >= 3 || !rng.gen_bool(0.4) {
            household += 1;
            members = 0;
        }
        let year = rng.gen_range(1935..2005);
        let birth = format!("{year}{:02}{:02}", rng.gen_range(1..=12), rng.gen_range(1..=28));
        // Area codes outside the generated district's (so every row is new), one per thousand
        // rows (so area, birth date and sequence never repeat within a file).
        let first17 = format!("{:02}{:04}{birth}{:03}", 41 + run % 40, r / 1000, r % 1000);
        let id = format!("{first17}{}", linli::people::identity::check_char(&first17));
        let name: String = [
            SURNAMES[rng.gen_range(0..SURNAMES.len())],
            GIVEN[rng.gen_range(0..GIVEN.len())],
            GIVEN[rng.gen_range(0..GIVEN.len())],
        ]
        .iter()
        .collect();
        let age = 2026 - year;
        if members == 0 {
            head_age = age;
        }
        let relation = if members == 0 {
            "户主"
        } else if age + 15 < head_age {
            "子女"
        } else {
            "配偶"
        };
        let tag = if age >= 61 && members == 0 && rng.gen_bool(0.15) { "独居" } else { "" };
        let cells = [
            name,
            id,
            format!("13{:09}", rng.gen_range(0..1_000_000_000u64)),
            format!("开源街道/{}", communities[household % communities.len()]),
            format!("{}", household % 30 + 1),
            "1".into(),
            format!("{}", 100 + household % 600),
            relation.into(),
            format!("R{run}-{household}"),
            tag.into(),
        ];
        for (i, v) in cells.iter().enumerate() {
            ws.write_string(line, i as u16, v)?;
        }
        members += 1;
    }
    Ok(book.save_to_buffer()?)
}

async fn import_bench(st: &AppState, rng: &mut StdRng, runs: usize, rows: usize) -> anyhow::Result<Vec<Stat>> {
    use linli::people::import;
    let who = caller(&st.db, "zhengjiangbo").await?;
    let mut args = linli::db::query::Args::new();
    let sql = format!(
        "SELECT name FROM places WHERE kind = 'community' AND {} ORDER BY path",
        args.scope("path", &who.scope)
    );
    let communities: Vec<String> =
        linli::db::query::all::<(String,)>(&st.db, &sql, &args).await?.into_iter().map(|r| r.0).collect();
    anyhow::ensure!(!communities.is_empty(), "no communities in zhengjiangbo's scope");
    let names = [
        "e) import 100k rows: read the xlsx",
        "e) import 100k rows: preview (check every row)",
        "e) import 100k rows: commit (re-check, one transaction)",
        "e) import 100k rows: total (read + preview + commit)",
    ];
    let mut ms: [Vec<f64>; 4] = Default::default();
    let mut created = 0usize;
    for run in 0..runs {
        let bytes = roster_xlsx(rng, run, rows, &communities)?;
        let since = chrono::Utc::now();
        let t0 = Instant::now();
        let table = linli::tabular::read(&bytes, "roster.xlsx").map_err(|e| anyhow::anyhow!("{e}"))?;
        let parsed = import::rows_from_table(&table).map_err(|p| anyhow::anyhow!("{} problems", p.len()))?;
        let t1 = Instant::now();
        let plan = import::plan(&st.db, &st.keys, &who.scope, &parsed).await?;
        anyhow::ensure!(
            plan.problems.is_empty(),
            "generated roster has problems: {:?}",
            &plan.problems[..3.min(plan.problems.len())]
        );
        let t2 = Instant::now();
        let n = import::commit(&st.db, &st.keys, &who.scope, &who.actor(), &parsed, "bench.xlsx", &|_| {})
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let t3 = Instant::now();
        created += n;
        for (i, d) in [t1 - t0, t2 - t1, t3 - t2, t3 - t0].into_iter().enumerate() {
            ms[i].push(d.as_secs_f64() * 1000.0);
        }
        eprintln!("import run {run}: {n} people, {:.1} s", (t3 - t0).as_secs_f64());
        remove_imported(&st.db, who.user_id, since).await?;
    }
    Ok(names
        .into_iter()
        .zip(ms)
        .map(|(name, mut ms)| {
            ms.sort_by(f64::total_cmp);
            Stat { name: name.into(), n: runs, rows: created as f64 / runs as f64, ms }
        })
        .collect())
}

/// Takes the benchmark's imported people out again (untimed), so runs stay comparable.
/// Imported people only carry their own name terms (entity_id = person id), which the entity
/// index finds; there is no index on search_terms.person_id.
async fn remove_imported(db: &Db, user: Uuid, since: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    for sql in [
        "DELETE FROM search_terms WHERE entity_id IN (SELECT id FROM persons WHERE created_by = $1 AND created_at >= $2)",
        "DELETE FROM person_tags WHERE person_id IN (SELECT id FROM persons WHERE created_by = $1 AND created_at >= $2)",
        "DELETE FROM household_events WHERE person_id IN (SELECT id FROM persons WHERE created_by = $1 AND created_at >= $2)",
        "DELETE FROM persons WHERE created_by = $1 AND created_at >= $2",
        "DELETE FROM households WHERE created_by = $1 AND created_at >= $2",
    ] {
        linli::write!(&mut tx, |c| sqlx::query(sql)
            .bind(user)
            .bind(since)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(())
}
