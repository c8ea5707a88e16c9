//! Resident-request throughput over HTTP against a running `linli serve`, with the bare
//! one-row-per-transaction insert rate of the same database settings as the ceiling.
//!
//!   cargo bench --bench requests -- --url http://127.0.0.1:18124 --password PASS
//!       [--duration 10] [--conns 1,4,16,50] [--tsv FILE] [--label sqlite] [--only WORD]
//!
//! The database comes from the normal configuration (LINLI_DATABASE_URL, LINLI_DATA_DIR,
//! LINLI_SECRET_KEY, LINLI_SQLITE_SYNCHRONOUS …), the same the server was started with: the
//! tool reads ids from it, registers its own Open311 apps, prepares dispatched parts for the
//! signing runs (through `requests::store`, as the request page would), and opens the ceiling's
//! scratch database with `Db::connect` — so the ceiling runs on exactly the server's pragmas.
//!
//! Each cell runs N connections (one keep-alive HTTP/1.1 connection each) issuing requests back
//! to back for the duration, after a short untimed warm-up per operation; every latency is kept
//! and sorted. Operations, in this order:
//! - queues, on the data set as generated: `GET /requests?queue=area|dispatch|overdue` (first
//!   page, HTML) as the bureau and as a street's station manager, `area|overdue` as a
//!   community's worker, `area` as a grid worker, and the public `GET /open311/v2/requests.json`;
//! - intake: the staff form `POST /requests` (session cookie and `_csrf`), the JSON API
//!   `POST /api/v1/requests` (bearer token; "n/a" when the server has no such route) and
//!   Open311 `POST /open311/v2/requests.json` (form-encoded, `api_key`);
//! - status change: a community signs (签收) a dispatched part, `POST /request-parts/{id}`
//!   (action=sign, version), and `POST /api/v1/request-parts/{id}/actions` when it exists.
//!
//! The ceiling: 1, 4, 16 and 50 tasks inserting one row per transaction (`Db::begin`, one
//! INSERT of a 32-column row, commit) into a scratch table — on SQLite a scratch file next to the
//! server's database, on PostgreSQL a scratch table in the server's database, dropped after.
//! The table gives each intake cell's ratio to the ceiling at the same concurrency; a
//! `capacity:` line per intake channel gives its best rate over the ceiling's best.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::http::{StatusCode, header};
use clap::Parser;
use linli::auth::Caller;
use linli::config::ConfigArgs;
use linli::db::Db;
use linli::requests::store;
use rand::Rng;
use uuid::Uuid;

#[path = "support/http.rs"]
mod http;
use http::{Cell, Op, Req, api_token, client, login, loop_cell, route_present, run_cell, send};

#[derive(Parser)]
#[command(about = "Resident-request throughput against a running linli server")]
struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The server, e.g. http://127.0.0.1:18124.
    #[arg(long)]
    url: String,
    /// The demo password (printed by `linli demo` / `linli gen`).
    #[arg(long)]
    password: String,
    /// Seconds per cell (operation × concurrency).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Concurrent connections, comma-separated.
    #[arg(long, default_value = "1,4,16,50", value_delimiter = ',')]
    conns: Vec<usize>,
    /// Staff who take and sign requests: a community's worker (intake, signing).
    #[arg(long, default_value = "changmin")]
    community_account: String,
    /// The street-level viewer of the queues (falls back to zhenhua.mgr when absent).
    #[arg(long, default_value = "gen.yingbin.mgr")]
    street_account: String,
    /// A grid worker, the narrowest viewer of the area queue.
    #[arg(long, default_value = "yongtai.grid")]
    grid_account: String,
    /// Open311 apps to register for the run: each may post 120 times a minute, so 1000 apps
    /// carry 2000 posts a second through a minute (at 200, the ×50 cell ran into 429s once
    /// group commit passed 1500 posts a second).
    #[arg(long, default_value_t = 1000)]
    open311_apps: usize,
    /// Append one tab-separated line per cell to this file.
    #[arg(long)]
    tsv: Option<PathBuf>,
    /// Label of the table and the TSV lines (default: the backend).
    #[arg(long)]
    label: Option<String>,
    /// Run only the operations whose name contains this (the ceiling always runs).
    #[arg(long)]
    only: Option<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

// ---- the ceiling ------------------------------------------------------------------------------

const CEILING_TABLE: &str = "bench_ceiling_rows";

/// One-row transactions into a 32-column scratch table through `Db::begin` (on SQLite: the one
/// writer connection with BEGIN IMMEDIATE, as the server writes).
async fn ceiling(db: &Db, conns: usize, secs: f64) -> anyhow::Result<Cell> {
    let text = "万城社区 万城华府小区 3 居民反映垃圾堆放问题，已持续数日，请尽快处理。";
    let texts: Arc<Vec<String>> = Arc::new((1..=4).map(|k| text.chars().take(k * 9).collect()).collect());
    let db = db.clone();
    loop_cell("ceiling: bare INSERT, one row per transaction", conns, secs, move || {
        let (db, texts) = (db.clone(), texts.clone());
        async move {
            let mut tx = db.begin().await?;
            let now = chrono::Utc::now();
            let id = Uuid::now_v7();
            linli::write!(&mut tx, |c| {
                let mut q = sqlx::query(
                    "INSERT INTO bench_ceiling_rows VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)",
                )
                .bind(id)
                .bind(id.to_string());
                for k in 0..10 {
                    q = q.bind(&texts[k % 4]);
                }
                for k in 0..10 {
                    q = q.bind(now + chrono::Duration::seconds(k));
                }
                for k in 0..10i64 {
                    q = q.bind(k);
                }
                q.execute(c).await.map(|r| r.rows_affected())
            })?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await
}

fn ceiling_ddl(pg: bool) -> String {
    let (id, t, n) = if pg { ("UUID", "TIMESTAMPTZ", "BIGINT") } else { ("BLOB", "TEXT", "INTEGER") };
    let mut cols = vec![format!("id {id} PRIMARY KEY"), "number TEXT NOT NULL UNIQUE".into()];
    cols.extend((0..10).map(|k| format!("s{k} TEXT NOT NULL")));
    cols.extend((0..10).map(|k| format!("t{k} {t} NOT NULL")));
    cols.extend((0..10).map(|k| format!("n{k} {n} NOT NULL")));
    format!("CREATE TABLE {CEILING_TABLE} ({})", cols.join(", "))
}

async fn exec(db: &Db, sql: &str) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    linli::write!(&mut tx, |c| sqlx::query(sql).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(())
}

// ---- setup ------------------------------------------------------------------------------------

async fn caller(db: &Db, account: &str) -> anyhow::Result<Caller> {
    linli::auth::caller_for_account(db, account).await?.with_context(|| format!("no account {account}"))
}

async fn one_col<T>(db: &Db, sql: &str, bind: &str) -> anyhow::Result<Vec<T>>
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let rows: Vec<(T,)> = linli::read!(db, |c| sqlx::query_as(sql).bind(bind).fetch_all(c).await)?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Dispatched parts of the community, ready to sign (id, version); dispatches accepted requests
/// the community holds (intake runs leave plenty) until `want` are waiting.
async fn prepare_parts(
    db: &Db,
    keys: &linli::crypto::Keyring,
    who: &Caller,
    community: &store::Unit,
    want: usize,
    queue: &Mutex<Vec<(Uuid, i64)>>,
) -> anyhow::Result<()> {
    let have = queue.lock().unwrap().len();
    if have >= want {
        return Ok(());
    }
    let t = Instant::now();
    let viewer = store::viewer(db, who).await?;
    let actor = who.actor();
    let missing = want - have;
    let mut accepted: Vec<(Uuid, i64)> = linli::read!(db, |c| {
        sqlx::query_as(
        "SELECT id, version FROM requests WHERE status = 'accepted' AND owner_path = $1 ORDER BY created_at DESC LIMIT $2"
    )
    .bind(&community.path)
    .bind(missing as i64)
    .fetch_all(c)
    .await
    })?;
    // Too few waiting (intake is slow, or did not run): take more calls first, as intake does.
    let mut created = 0;
    if accepted.len() < missing {
        let input = linli::requests::model::IntakeInput {
            category: "garbage_piled".into(),
            description: "居民来电反映楼道垃圾堆放多日无人清运，请尽快安排处理。".into(),
            place_id: Some(community.id.to_string()),
            ..Default::default()
        };
        let mut errors = linli::web::error::FieldErrors::default();
        let clean = linli::requests::model::validate_intake(&input, false, &mut errors).context("intake input")?;
        let intake = store::Intake {
            channel: linli::requests::model::Channel::Phone,
            actor: &actor,
            staff_scope: Some(&who.scope),
            client_id: None,
            attributes: serde_json::json!({}),
            photos: &[],
            limit: None,
            category: None,
        };
        while accepted.len() < missing {
            let c = store::create(db, keys, &intake, &clean).await.map_err(|e| anyhow::anyhow!("intake: {e:?}"))?;
            accepted.push((c.request.id, 1));
            created += 1;
        }
    }
    let units = [community.clone()];
    let done = AtomicUsize::new(0);
    // A few at a time, as several dispatchers would.
    futures::future::try_join_all(accepted.chunks(accepted.len().div_ceil(4).max(1)).map(|chunk| {
        let (viewer, actor, units, done) = (&viewer, &actor, &units, &done);
        async move {
            for (id, version) in chunk {
                match store::dispatch(db, viewer, actor, *id, *version, units, store::StaffNote::default()).await {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(linli::web::error::AppError::Stale) => {}
                    Err(e) => bail!("dispatching {id}: {e:?}"),
                }
            }
            anyhow::Ok(())
        }
    }))
    .await?;
    let parts: Vec<(Uuid, i64)> = linli::read!(db, |c| sqlx::query_as(
        "SELECT id, version FROM request_parts WHERE unit_id = $1 AND status = 'dispatched' ORDER BY created_at"
    )
    .bind(community.id)
    .fetch_all(c)
    .await)?;
    let n = parts.len();
    *queue.lock().unwrap() = parts;
    eprintln!(
        "  prepared: took {created} and dispatched {} requests to {} in {:.1}s; {n} parts waiting to be signed",
        done.load(Ordering::Relaxed),
        community.name,
        t.elapsed().as_secs_f64()
    );
    if n < want {
        eprintln!("  (wanted {want}: the cell may run out)");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINLI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

#[allow(clippy::too_many_lines)]
async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.resolve()?;
    let base = args.url.trim_end_matches('/').to_string();
    let db = Db::connect(&cfg).await?;
    let keyring = cfg.keyring()?;
    let label = args.label.clone().unwrap_or_else(|| format!("{:?}", db.backend()).to_lowercase());
    let only = args.only.clone();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let dur = args.duration;
    let (requests_n,): (i64,) =
        linli::read!(&db, |c| sqlx::query_as("SELECT COUNT(*) FROM requests").fetch_one(c).await)?;

    // Who does what.
    let c = client();
    for _ in 0..100 {
        if send(&c, &base, Req::get("/healthz")).await.is_ok_and(|r| r.status == StatusCode::OK) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let community_caller = caller(&db, &args.community_account).await?;
    let street_account = if caller(&db, &args.street_account).await.is_ok() {
        args.street_account.clone()
    } else {
        "zhenhua.mgr".to_string()
    };
    let staff = login(&c, &base, &args.community_account, &args.password).await?;
    let street = login(&c, &base, &street_account, &args.password).await?;
    let token = api_token(&c, &base, &staff).await?;
    let root = community_caller.scope.roots.first().context("the community account has no place")?.clone();
    let community_id: Uuid = one_col::<Uuid>(&db, "SELECT id FROM places WHERE path = $1", &root)
        .await?
        .into_iter()
        .next()
        .context("community place")?;
    let everywhere = linli::auth::Scope { roots: vec!["/".into()], casework: false };
    let community =
        store::unit(&db, &everywhere, &format!("place:{community_id}")).await?.context("the community as a unit")?;
    let places: Vec<Uuid> = one_col::<Uuid>(
        &db,
        "SELECT id FROM places WHERE active AND kind IN ('community', 'grid') AND substr(path, 1, length($1)) = $1",
        &root,
    )
    .await?;
    let estates: Vec<(Uuid,)> =
        linli::read!(&db, |c| sqlx::query_as("SELECT id FROM estates WHERE active = $1 AND community_id = $2")
            .bind(true)
            .bind(community_id)
            .fetch_all(c)
            .await)?;
    let estates: Vec<Uuid> = estates.into_iter().map(|r| r.0).collect();
    let categories: Vec<String> = store::categories(&db, true).await?.into_iter().map(|c| c.code).collect();
    anyhow::ensure!(!categories.is_empty() && !places.is_empty(), "no categories or places");
    // Open311 apps of this tool: earlier runs' first, then fresh ones with keys we know.
    {
        let mut tx = db.begin().await?;
        linli::write!(&mut tx, |c| sqlx::query("DELETE FROM open311_clients WHERE contact = 'bench-requests'")
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await?;
    }
    let mut keys = Vec::new();
    for i in 0..args.open311_apps.max(1) {
        keys.push(linli::open311::clients::register(&db, &format!("bench app {i}"), "bench-requests", None).await?.1);
    }
    let keys = Arc::new(keys);

    let mut cells: Vec<Cell> = Vec::new();
    let print = |c: &Cell| {
        eprintln!(
            "  {:<46} ×{:<3} {:>9.1} req/s  p50 {:>7.2}  p95 {:>7.2}  p99 {:>7.2} ms  ({} ok, {} failed){}",
            c.op,
            c.conns,
            c.rps(),
            c.pct(0.5),
            c.pct(0.95),
            c.pct(0.99),
            c.ok,
            c.errors,
            if c.note.is_empty() { String::new() } else { format!("  [{}]", c.note) }
        );
    };

    // The ceiling first, while the server is idle.
    let scratch_file = match cfg.database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let dir = std::path::Path::new(path.split('?').next().unwrap_or(path)).parent().context("database dir")?;
            Some(dir.join("bench-ceiling.db"))
        }
        None => None,
    };
    let remove_scratch = |file: &std::path::Path| {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    };
    let scratch = match &scratch_file {
        None => {
            exec(&db, &format!("DROP TABLE IF EXISTS {CEILING_TABLE}")).await?;
            exec(&db, &ceiling_ddl(true)).await?;
            db.clone()
        }
        Some(file) => {
            remove_scratch(file);
            let mut scfg = cfg.clone();
            scfg.database_url = format!("sqlite://{}", file.display());
            let s = Db::connect(&scfg).await?;
            exec(&s, &ceiling_ddl(false)).await?;
            s
        }
    };
    eprintln!("## {label}: {requests_n} requests in the database; {dur} s per cell");
    let mut ceilings: HashMap<usize, f64> = HashMap::new();
    for &n in &args.conns {
        let cell = ceiling(&scratch, n, dur).await?;
        print(&cell);
        ceilings.insert(n, cell.rps());
        cells.push(cell);
    }
    match &scratch_file {
        None => exec(&db, &format!("DROP TABLE IF EXISTS {CEILING_TABLE}")).await?,
        Some(file) => {
            scratch.close().await;
            remove_scratch(file);
        }
    }

    // ---- queues, on the data set as generated (before intake adds to it) ----
    let mut list_ops = Vec::new();
    // The bureau and the grid worker sign in only when their queues run: the bureau's first
    // sign-in enrols a second factor, which a later run on the same data set could not pass.
    let viewers = [
        ("bureau", None, &["area", "dispatch", "overdue"][..]),
        (street_account.as_str(), Some(&street), &["area", "dispatch", "overdue"][..]),
        (args.community_account.as_str(), Some(&staff), &["area", "overdue"][..]),
        (args.grid_account.as_str(), None, &["area"][..]),
    ];
    for (who, s, queues) in viewers {
        let name = |queue: &str| format!("queue {queue} as {who}: GET /requests?queue={queue}");
        if !queues.iter().any(|q| wanted(&name(q))) {
            continue;
        }
        let s = match s {
            Some(s) => s.clone(),
            None => login(&c, &base, who, &args.password).await?,
        };
        for &queue in queues {
            let s = s.clone();
            let path = format!("/requests?queue={queue}");
            list_ops.push(Op {
                name: name(queue),
                next: Arc::new(move |_, _| Some(Req::get(path.clone()).with(header::COOKIE, &s.cookie))),
                ok: &[StatusCode::OK],
            });
        }
    }
    list_ops.push(Op {
        name: "Open311: GET /open311/v2/requests.json".into(),
        next: Arc::new(|_, _| Some(Req::get("/open311/v2/requests.json"))),
        ok: &[StatusCode::OK],
    });
    for op in &list_ops {
        if !wanted(&op.name) {
            continue;
        }
        run_cell(&base, op, 4, (dur / 4.0).min(2.0)).await?; // warm-up
        for &n in &args.conns {
            let cell = run_cell(&base, op, n, dur).await?;
            print(&cell);
            cells.push(cell);
        }
    }

    // ---- intake ----
    let pick = {
        let (categories, places, estates) = (Arc::new(categories), Arc::new(places), Arc::new(estates));
        move || {
            let mut rng = rand::thread_rng();
            let cat = categories[rng.gen_range(0..categories.len())].clone();
            let place = places[rng.gen_range(0..places.len())].to_string();
            let estate = if !estates.is_empty() && rng.gen_bool(0.6) {
                estates[rng.gen_range(0..estates.len())].to_string()
            } else {
                String::new()
            };
            let building = if estate.is_empty() { String::new() } else { rng.gen_range(1..15).to_string() };
            let phone = format!("13{:09}", rng.gen_range(0..1_000_000_000u32));
            (cat, place, estate, building, phone)
        }
    };
    let description = "居民来电反映楼道垃圾堆放多日无人清运，气味较大，请尽快安排处理。";
    let mut ops: Vec<Op> = Vec::new();
    {
        let (s, pick) = (staff.clone(), pick.clone());
        ops.push(Op {
            name: "intake: POST /requests (staff form)".into(),
            next: Arc::new(move |_, _| {
                let (cat, place, estate, building, phone) = pick();
                Some(
                    Req::form(
                        "/requests",
                        &[
                            ("_csrf", &s.csrf),
                            ("category", &cat),
                            ("description", description),
                            ("place_id", &place),
                            ("estate_id", &estate),
                            ("building", &building),
                            ("reporter_name", "王女士"),
                            ("phone", &phone),
                        ],
                    )
                    .with(header::COOKIE, &s.cookie),
                )
            }),
            ok: &[StatusCode::SEE_OTHER],
        });
    }
    {
        let (token, pick) = (token.clone(), pick.clone());
        ops.push(Op {
            name: "intake: POST /api/v1/requests (token)".into(),
            next: Arc::new(move |_, _| {
                let (cat, place, estate, building, phone) = pick();
                let mut v = serde_json::json!({
                    "category": cat, "description": description, "place_id": place,
                    "reporter_name": "王女士", "phone": phone,
                });
                if !estate.is_empty() {
                    v["estate_id"] = estate.into();
                    v["building"] = building.into();
                }
                Some(Req::json("/api/v1/requests", &v).with(header::AUTHORIZATION, format!("Bearer {token}")))
            }),
            ok: &[StatusCode::CREATED, StatusCode::OK],
        });
    }
    {
        let (keys, pick) = (keys.clone(), pick.clone());
        let turn = Arc::new(AtomicUsize::new(0));
        ops.push(Op {
            name: "intake: POST /open311/v2/requests.json".into(),
            next: Arc::new(move |_, i| {
                let (cat, _, _, _, phone) = pick();
                let key = &keys[turn.fetch_add(1, Ordering::Relaxed) % keys.len()];
                let mut rng = rand::thread_rng();
                let (lat, lon) =
                    (format!("{:.6}", rng.gen_range(40.03..40.13)), format!("{:.6}", rng.gen_range(113.22..113.36)));
                let mut f: Vec<(&str, &str)> =
                    vec![("api_key", key), ("service_code", &cat), ("description", description)];
                if i % 2 == 0 {
                    f.extend([("lat", lat.as_str()), ("long", lon.as_str())]);
                } else {
                    f.extend([
                        ("address_string", "平城区万城社区万城华府小区3号楼"),
                        ("first_name", "女士"),
                        ("last_name", "王"),
                    ]);
                    f.push(("phone", &phone));
                }
                if cat == "elevator" {
                    f.push(("attribute[trapped]", "no"));
                }
                Some(Req::form("/open311/v2/requests.json", &f))
            }),
            ok: &[StatusCode::CREATED],
        });
    }
    let mut best_intake = 0.0f64;
    for op in &ops {
        if !wanted(&op.name) {
            continue;
        }
        // Is the route there? One untimed request.
        let first = (op.next)(0, 0).expect("intake always has work");
        if !route_present(&c, &base, op, first, &args.conns, &mut cells).await? {
            continue;
        }
        run_cell(&base, op, 4, (dur / 4.0).min(2.0)).await?; // warm-up
        for &n in &args.conns {
            let cell = run_cell(&base, op, n, dur).await?;
            print(&cell);
            best_intake = best_intake.max(cell.rps());
            cells.push(cell);
        }
    }

    // ---- status change: the community signs dispatched parts ----
    let queue: Arc<Mutex<Vec<(Uuid, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let sign_ops: Vec<(Op, bool)> = {
        let (q1, s) = (queue.clone(), staff.clone());
        let html = Op {
            name: "sign a part: POST /request-parts/{id} (form)".into(),
            next: Arc::new(move |_, _| {
                let (id, version) = q1.lock().unwrap().pop()?;
                Some(
                    Req::form(
                        format!("/request-parts/{id}"),
                        &[("_csrf", &s.csrf), ("action", "sign"), ("version", &version.to_string())],
                    )
                    .with(header::COOKIE, &s.cookie),
                )
            }),
            ok: &[StatusCode::SEE_OTHER],
        };
        let (q2, token) = (queue.clone(), token.clone());
        let api = Op {
            name: "sign a part: POST /api/v1/request-parts/{id}/actions".into(),
            next: Arc::new(move |_, _| {
                let (id, version) = q2.lock().unwrap().pop()?;
                Some(
                    Req::json(
                        format!("/api/v1/request-parts/{id}/actions"),
                        &serde_json::json!({ "action": "sign", "version": version }),
                    )
                    .with(header::AUTHORIZATION, format!("Bearer {token}")),
                )
            }),
            ok: &[StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT],
        };
        vec![(html, false), (api, true)]
    };
    let mut sign_rate = best_intake.max(50.0);
    for (op, is_api) in &sign_ops {
        if !wanted(&op.name) {
            continue;
        }
        let want = |rate: f64| ((rate * dur * 1.5) as usize).max(300);
        prepare_parts(&db, &keyring, &community_caller, &community, want(sign_rate).min(200), &queue).await?;
        if *is_api {
            let first = (op.next)(0, 0).context("no part to probe with")?;
            if !route_present(&c, &base, op, first, &args.conns, &mut cells).await? {
                continue;
            }
        }
        run_cell(&base, op, 4, (dur / 4.0).min(2.0)).await?; // warm-up
        for &n in &args.conns {
            prepare_parts(&db, &keyring, &community_caller, &community, want(sign_rate), &queue).await?;
            let cell = run_cell(&base, op, n, dur).await?;
            print(&cell);
            sign_rate = sign_rate.max(cell.rps());
            cells.push(cell);
        }
    }

    // ---- the table ----
    println!(
        "\n## {label}: {requests_n} requests in the database at the start; {} s per cell, {} cores",
        dur,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "{:<58} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}  note",
        "operation", "conns", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "failed", "×ceiling"
    );
    for c in &cells {
        let na = c.note.starts_with("n/a");
        let ratio = if c.op.starts_with("intake") && !na {
            format!("{:.2}", c.rps() / ceilings.get(&c.conns).copied().unwrap_or(f64::NAN))
        } else {
            String::new()
        };
        if na {
            println!("{:<58} {:>5} {:>9}  {}", c.op, c.conns, "n/a", c.note);
            continue;
        }
        println!(
            "{:<58} {:>5} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>9}  {}",
            c.op,
            c.conns,
            c.rps(),
            c.pct(0.5),
            c.pct(0.95),
            c.pct(0.99),
            c.ms.last().copied().unwrap_or(f64::NAN),
            c.errors,
            ratio,
            c.note
        );
    }
    println!("(×ceiling: intake req/s over the bare insert rate at the same concurrency, same database settings)");
    // Intake as a capacity: each channel's best rate against the bare insert's best. This is the
    // reading in which group commit can count (it needs intakes arriving together); at one
    // connection an intake is a whole HTTP round trip against one commit, so it is latency-bound.
    let ceiling_best = ceilings.values().copied().fold(f64::NAN, f64::max);
    let mut intakes: Vec<&Cell> = Vec::new();
    for c in cells.iter().filter(|c| c.op.starts_with("intake") && !c.note.starts_with("n/a")) {
        match intakes.iter_mut().find(|b| b.op == c.op) {
            Some(best) if best.rps() < c.rps() => *best = c,
            Some(_) => {}
            None => intakes.push(c),
        }
    }
    for c in intakes {
        println!(
            "capacity: {}: {:.1} req/s at ×{} = {:.2} of the ceiling's best ({:.1} req/s)",
            c.op,
            c.rps(),
            c.conns,
            c.rps() / ceiling_best,
            ceiling_best
        );
    }
    if let Some(path) = &args.tsv {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        for c in &cells {
            writeln!(
                f,
                "{label}\t{}\t{}\t{:.1}\t{:.3}\t{:.3}\t{:.3}\t{}\t{}",
                c.op,
                c.conns,
                c.rps(),
                c.pct(0.5),
                c.pct(0.95),
                c.pct(0.99),
                c.errors,
                c.note
            )?;
        }
    }
    db.close().await;
    Ok(())
}
